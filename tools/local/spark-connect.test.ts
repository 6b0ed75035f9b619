/**
 * When `npm start` counts the local Spark Connect server as ready (`spark-connect.ts`): once the
 * server logged `connect_server_ready` in this start's part of its appended log, not when its
 * port answers (the gRPC service listens before the server's Spark session is the default one).
 * The last case starts the real server (spark/.venv, prepared by `npm test`'s Python step) and
 * runs a Connect client query the moment `ready` resolves.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { freePort } from "./emulators";
import { REPO_ROOT } from "./options";
import { ProcessRegistry } from "./processes";
import { venvBin } from "./python";
import { loggedReady, startSparkConnect } from "./spark-connect";

const READY = JSON.stringify({
    ts: "2026-12-07T03:35:39.861+00:00",
    event: "connect_server_ready",
});

describe("local Spark Connect server: readiness", () => {
    let dir: string;
    beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "connect-ready-"))));
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("counts only a ready line written after this start's offset of the appended log", () => {
        const log = path.join(dir, "spark-connect.log");
        fs.writeFileSync(log, `an earlier run\n${READY}\n`);
        const offset = fs.statSync(log).size;
        assert.equal(loggedReady(log, 0), true);
        assert.equal(loggedReady(log, offset), false, "the earlier run's line counted");
        fs.appendFileSync(log, "Using Spark's default log4j profile\n");
        assert.equal(loggedReady(log, offset), false);
        fs.appendFileSync(log, `${READY}\n`);
        assert.equal(loggedReady(log, offset), true);
    });

    it("needs the event itself, not the word in another line, and a missing log is not ready", () => {
        const log = path.join(dir, "spark-connect.log");
        assert.equal(loggedReady(log, 0), false);
        fs.writeFileSync(
            log,
            'waiting for connect_server_ready\n{"event": "connect_server_warm_up_failed", "error": "connect_server_ready"}\n{"event": "connect_server_ready"',
        );
        assert.equal(loggedReady(log, 0), false);
    });

    it("the real server answers a client query the moment ready resolves", async function () {
        this.timeout(180_000);
        const python = venvBin("spark", "python");
        if (!fs.existsSync(python)) this.skip(); // npm test prepares spark/.venv before mocha
        const port = await freePort();
        const log = path.join(dir, "spark-connect.log");
        fs.writeFileSync(log, `${READY}\n`); // an earlier run's line must not count
        const registry = new ProcessRegistry({ snapshotMs: 0 });
        try {
            const spark = await startSparkConnect(registry, { port, logFile: log });
            await spark.ready;
            const r = spawnSync(
                python,
                [
                    "-c",
                    "from pyspark.sql import SparkSession; import os; " +
                        "s = SparkSession.builder.remote(os.environ['SPARK_REMOTE']).getOrCreate(); " +
                        "print(s.range(5).count())",
                ],
                {
                    cwd: path.join(REPO_ROOT, "spark"),
                    env: { ...process.env, ...spark.env },
                    encoding: "utf8",
                    timeout: 120_000,
                },
            );
            assert.equal(r.status, 0, r.stderr);
            assert.equal(r.stdout.trim(), "5");
        } finally {
            await registry.stopAll();
        }
    });
});
