import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildBundle, type BundleResult } from "./build";
import { objectCreatedEvent } from "./src/events";
import { FakeAirflow } from "./test/fake-airflow";

const PORT = 28102;
const USER = { username: "bundle-fn", password: "bundle-Pa55word" };

/** Load the bundle in a fresh Node process (a cold start), optionally invoke the handler once. */
function coldStart(
    file: string,
    env: Record<string, string>,
    event?: unknown,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const script = `
        const { handler } = require(${JSON.stringify(file)});
        const event = ${JSON.stringify(event ?? null)};
        if (event) handler(event, { awsRequestId: "bundle-test" }).then(
            (r) => console.log("RESULT " + JSON.stringify(r)),
            (e) => { console.error(e.message); process.exit(3); });`;
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ["-e", script], {
            env: { PATH: process.env.PATH ?? "", ...env },
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("error", reject);
        child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
}

describe("functions/airflow-trigger: the esbuild bundle", function () {
    this.timeout(120_000);
    let dir: string;
    let bundle: BundleResult;
    const airflow = new FakeAirflow({ port: PORT, ...USER, dags: ["batch"] });

    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "trigger-bundle-"));
        bundle = await buildBundle({ outdir: dir });
        await airflow.start();
    });
    after(async () => {
        await airflow.stop();
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("is one small file with the v3 Secrets Manager client and no AWS SDK v2", () => {
        assert.deepEqual(fs.readdirSync(dir), ["index.js"]);
        assert.equal(bundle.file, path.join(dir, "index.js"));
        assert.ok(bundle.bytes < 1024 * 1024, `bundle is ${bundle.bytes} bytes; expected < 1 MiB`);
        assert.ok((bundle.inputsByPackage["@aws-sdk/client-secrets-manager"] ?? 0) > 0);
        assert.ok((bundle.inputsByPackage["(function)"] ?? 0) > 0);
        assert.equal(bundle.inputsByPackage["aws-sdk"], undefined);
        assert.ok(
            !Object.keys(bundle.inputsByPackage).some((p) =>
                /^@aws-sdk\/client-(?!secrets-manager)/.test(p),
            ),
            "no other AWS client",
        );
    });

    it("fails its cold start with a clear message when an environment variable is missing", async () => {
        const r = await coldStart(bundle.file, {
            AIRFLOW_DAG_ID: "batch",
            AIRFLOW_CREDENTIALS_SECRET_ID: "airflow-api",
        });
        assert.notEqual(r.code, 0);
        assert.match(
            r.stderr,
            /ConfigError: airflow-trigger: invalid configuration \(environment variables\):\n {2}- AIRFLOW_API_URL is not set/,
        );
        const line = JSON.parse(r.stdout.trim().split("\n")[0]!) as Record<string, unknown>;
        assert.equal(line.event, "config_invalid");
        assert.equal(line.level, "error");
    });

    it("runs the handler from the bundle: one run created, structured logs, no secret in them", async () => {
        const event = objectCreatedEvent([
            {
                bucket: "acme-landing",
                key: "trip data/yellow_tripdata_2024-02.parquet",
                eTag: "abc",
            },
        ]);
        const r = await coldStart(
            bundle.file,
            {
                AIRFLOW_API_URL: airflow.url,
                AIRFLOW_DAG_ID: "batch",
                AIRFLOW_USERNAME: USER.username,
                AIRFLOW_PASSWORD: USER.password,
                S3_KEY_PREFIX: "trip data/",
                LOG_LEVEL: "debug",
            },
            event,
        );
        assert.equal(r.code, 0, r.stderr);
        const lines = r.stdout.trim().split("\n");
        const result = lines.find((l) => l.startsWith("RESULT "));
        assert.equal(
            (JSON.parse(result!.slice(7)) as { runs: { outcome: string }[] }).runs[0]?.outcome,
            "created",
        );
        const logs = lines
            .filter((l) => !l.startsWith("RESULT "))
            .map((l) => JSON.parse(l) as Record<string, unknown>);
        assert.deepEqual(
            logs.map((l) => l.event),
            ["cold_start", "airflow_token_issued", "dag_run_created"],
        );
        assert.equal(logs[2]?.request_id, "bundle-test");
        assert.ok(!r.stdout.includes(USER.password));
        assert.equal(airflow.runs.size, 1);
    });
});
