import { strict as assert } from "node:assert";
import { execFile, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO_ROOT } from "./options";
import { TlcServer } from "./tlc-server";

// Loopback port of this suite (the helper's range 28600-28649).
const PORT = 28631;
const SPARK = path.join(REPO_ROOT, "spark");
const PYTHON = path.join(SPARK, ".venv", "bin", "python");
const ENV = {
    ...process.env,
    PYTHONPATH: [path.join(SPARK, "src"), path.join(REPO_ROOT, "libs", "python")].join(":"),
};

function generate(out: string, month: string, seed: number): string {
    const r = spawnSync(
        PYTHON,
        [
            "-m",
            "taxi_spark.testdata",
            "--out",
            `file://${out}`,
            "--months",
            month,
            "--rows",
            "3000",
            "--seed",
            String(seed),
        ],
        { cwd: SPARK, env: ENV, encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    return path.join(out, `yellow_tripdata_${month}.parquet`);
}

/** The real download job (taxi_spark.jobs.download) against the server (asynchronously: the
 * server answers from this process's event loop). */
function download(
    url: string,
    dest: string,
): Promise<{ code: number; summary: Record<string, unknown> }> {
    const args = ["-m", "taxi_spark.jobs.download", "--uri", url, "--dest", `file://${dest}`];
    args.push("--dataset", "yellow", "--retries", "1", "--backoff", "0.1");
    return new Promise((resolve) => {
        execFile(PYTHON, args, { cwd: SPARK, env: ENV, encoding: "utf8" }, (err, stdout) => {
            const code = err ? Number((err as { code?: number }).code ?? -1) : 0;
            const last = stdout.trim().split("\n").pop() ?? "";
            resolve({ code, summary: code === 0 ? JSON.parse(last) : {} });
        });
    });
}

describe("tools/local/tlc-server: the TLC website on loopback", function () {
    this.timeout(120_000);
    let tmp: string;
    let server: TlcServer;

    before(async () => {
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tlc-server-"));
        server = new TlcServer(PORT);
        await server.start();
    });
    after(async () => {
        await server.stop();
        fs.rmSync(tmp, { recursive: true, force: true });
    });

    it("answers 403 before a month is published, then serves it with ETag and Last-Modified", async () => {
        const name = "yellow_tripdata_2024-01.parquet";
        const url = `${server.baseUrl}/${name}`;
        let res = await fetch(url);
        assert.equal(res.status, 403);
        const file = generate(path.join(tmp, "a"), "2024-01", 1);
        server.publish(name, file, new Date("2024-03-15T10:00:00Z"));
        res = await fetch(url);
        assert.equal(res.status, 200);
        const body = Buffer.from(await res.arrayBuffer());
        assert.deepEqual(body, fs.readFileSync(file));
        assert.equal(res.headers.get("content-length"), String(body.length));
        assert.match(res.headers.get("etag") ?? "", /^"[0-9a-f]{32}"$/);
        assert.equal(res.headers.get("last-modified"), "Fri, 15 Mar 2024 10:00:00 GMT");
        assert.equal((await fetch(`${server.baseUrl}/../etc/passwd`)).status, 404);
        assert.equal((await fetch(url, { method: "POST" })).status, 405);
    });

    it("drives the real download job: not yet (exit 3), downloaded, unchanged, republished", async () => {
        const name = "yellow_tripdata_2024-02.parquet";
        const url = `${server.baseUrl}/${name}`;
        const dest = path.join(tmp, "landing", "trip data", name);
        assert.equal((await download(url, dest)).code, 3);
        assert.equal(fs.existsSync(dest), false);

        const first = generate(path.join(tmp, "b1"), "2024-02", 1);
        server.publish(name, first);
        let r = await download(url, dest);
        assert.equal(r.code, 0);
        assert.equal(r.summary.action, "uploaded");
        assert.deepEqual(fs.readFileSync(dest), fs.readFileSync(first));

        r = await download(url, dest);
        assert.equal(r.summary.action, "unchanged");

        const corrected = generate(path.join(tmp, "b2"), "2024-02", 2);
        server.publish(name, corrected);
        r = await download(url, dest);
        assert.equal(r.summary.action, "uploaded");
        assert.equal(r.summary.replaced, true);
        assert.deepEqual(fs.readFileSync(dest), fs.readFileSync(corrected));
        assert.equal(server.answered(name, 403), 1);
        assert.equal(server.answered(name, 200), 3);
    });
});
