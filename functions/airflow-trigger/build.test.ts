import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { RUNTIME_PROVIDED, buildBundle, type BundleResult } from "./build";
import { objectCreatedEvent } from "./src/events";
import { FakeAirflow } from "./test/fake-airflow";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { startAwsEmulator } from "../../tools/local/emulators";

const PORT = 28102;
/** Where the repository's pinned SDK stands in for the runtime's `/var/runtime/node_modules`. */
const RUNTIME_NODE_PATH = path.resolve(__dirname, "..", "..", "node_modules");
const USER = { username: "bundle-fn", password: "bundle-Pa55word" };

/** Load the bundle in a fresh Node process (a cold start), optionally invoke the handler once. */
function coldStart(
    file: string,
    env: Record<string, string>,
    event?: unknown,
    invocations = 1,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const script = `
        const { handler } = require(${JSON.stringify(file)});
        const event = ${JSON.stringify(event ?? null)};
        (async () => {
            for (let i = 0; event && i < ${invocations}; i++) {
                const r = await handler(event, { awsRequestId: "bundle-test-" + i });
                console.log("RESULT " + JSON.stringify(r));
            }
        })().catch((e) => { console.error(e.message); process.exit(3); });`;
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

    it("is one file of our code only, leaving exactly the runtime's Secrets Manager client external", () => {
        assert.deepEqual(fs.readdirSync(dir), ["index.js"]);
        assert.equal(bundle.file, path.join(dir, "index.js"));
        assert.ok(bundle.bytes <= 20 * 1024, `bundle is ${bundle.bytes} bytes; expected <= 20 KiB`);
        assert.deepEqual(
            Object.keys(bundle.inputsByPackage),
            ["(function)"],
            "no npm package inside",
        );
        // The only import that is not a Node builtin: what the nodejs22.x runtime ships.
        assert.deepEqual(bundle.externalImports, ["@aws-sdk/client-secrets-manager"]);
        assert.deepEqual([...RUNTIME_PROVIDED], bundle.externalImports);
    });

    it("cold-starts without loading node:crypto or creating the stdout stream", async () => {
        // What makes the cold require short: crypto (the run id hash) is loaded on the first run
        // id, and log lines go to fd 1 with writeSync (src/log.ts), not through process.stdout.
        // A script file, as Lambda requires index.js: `node -e` loads node:crypto by itself.
        const probe = path.join(dir, "probe.js");
        fs.writeFileSync(
            probe,
            `const before = new Set(process.moduleLoadList);
            require(${JSON.stringify(bundle.file)});
            const loaded = process.moduleLoadList.filter((m) => !before.has(m));
            require("node:fs").writeSync(2, "LOADED " + JSON.stringify(loaded));`,
        );
        const r = await new Promise<{ code: number | null; out: string; err: string }>(
            (resolve, reject) => {
                const child = spawn(process.execPath, [probe], {
                    env: {
                        PATH: process.env.PATH ?? "",
                        AIRFLOW_API_URL: airflow.url,
                        AIRFLOW_DAG_ID: "batch",
                        AIRFLOW_CREDENTIALS_SECRET_ID: "airflow-api",
                    },
                });
                let out = "";
                let err = "";
                child.stdout.on("data", (d: Buffer) => (out += d.toString()));
                child.stderr.on("data", (d: Buffer) => (err += d.toString()));
                child.on("error", reject);
                child.on("close", (code) => resolve({ code, out, err }));
            },
        );
        fs.rmSync(probe);
        assert.equal(r.code, 0, r.err);
        assert.equal((JSON.parse(r.out) as { event: string }).event, "cold_start");
        const loaded = JSON.parse(r.err.slice(r.err.indexOf("LOADED ") + 7)) as string[];
        assert.ok(!loaded.includes("NativeModule crypto"), loaded.join(", "));
        assert.ok(!loaded.includes("NativeModule stream"), loaded.join(", "));
    });

    it("can still bundle the pinned SDK instead (bundleAwsSdk), without AWS SDK v2", async () => {
        const full = await buildBundle({ outdir: path.join(dir, "full"), bundleAwsSdk: true });
        assert.deepEqual(full.externalImports, []);
        assert.ok((full.inputsByPackage["@aws-sdk/client-secrets-manager"] ?? 0) > 0);
        assert.equal(full.inputsByPackage["aws-sdk"], undefined);
        fs.rmSync(path.join(dir, "full"), { recursive: true, force: true });
    });

    it("reads the secret through the runtime's SDK, caching it across invocations", async () => {
        // Secrets Manager is moto's server on loopback (tools/local/emulators.ts).
        const aws = await startAwsEmulator();
        const admin = new SecretsManagerClient({
            region: "eu-west-1",
            endpoint: aws.endpoint,
            credentials: { accessKeyId: "emulator", secretAccessKey: "emulator" },
        });
        try {
            const { ARN } = await admin.send(
                new CreateSecretCommand({
                    Name: "airflow-api",
                    SecretString: JSON.stringify(USER),
                }),
            );
            // moto logs one line per request; Secrets Manager calls are `POST /`.
            const secretCalls = () =>
                fs
                    .readFileSync(aws.logFile, "utf8")
                    .split("\n")
                    .filter((l) => l.includes('"POST / HTTP')).length;
            const before = secretCalls();
            const event = objectCreatedEvent([
                {
                    bucket: "acme-landing",
                    key: "trip data/yellow_tripdata_2024-03.parquet",
                    eTag: "e1",
                },
                {
                    bucket: "acme-landing",
                    key: "trip data/yellow_tripdata_2024-04.parquet",
                    eTag: "e2",
                },
            ]);
            const r = await coldStart(
                bundle.file,
                {
                    // As in Lambda: the runtime's modules on NODE_PATH, the role's session in env.
                    NODE_PATH: RUNTIME_NODE_PATH,
                    AWS_REGION: "eu-west-1",
                    AWS_ACCESS_KEY_ID: "emulator",
                    AWS_SECRET_ACCESS_KEY: "emulator",
                    AWS_SESSION_TOKEN: "emulator",
                    AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.endpoint,
                    AWS_CONFIG_FILE: "/nonexistent",
                    AWS_SHARED_CREDENTIALS_FILE: "/nonexistent",
                    AIRFLOW_API_URL: airflow.url,
                    AIRFLOW_DAG_ID: "batch",
                    AIRFLOW_CREDENTIALS_SECRET_ID: ARN!,
                    S3_KEY_PREFIX: "trip data/",
                },
                event,
                2,
            );
            assert.equal(r.code, 0, r.stderr);
            const results = r.stdout.split("\n").filter((l) => l.startsWith("RESULT "));
            assert.equal(results.length, 2, "two invocations");
            assert.equal(secretCalls() - before, 1, "one GetSecretValue for both invocations");
            assert.ok(!r.stdout.includes(USER.password));
        } finally {
            admin.destroy();
            await aws.stop();
        }
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
        const runsBefore = airflow.runs.size;
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
        assert.equal(logs[2]?.request_id, "bundle-test-0");
        assert.ok(!r.stdout.includes(USER.password));
        assert.equal(airflow.runs.size, runsBefore + 1);
    });
});
