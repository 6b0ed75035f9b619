import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createLogger, fdSink, REDACTED } from "./log";

describe("functions/airflow-trigger: JSON logs", () => {
    it("writes one JSON object per line with ts, level, logger, event and fields", () => {
        const lines: string[] = [];
        const log = createLogger({ sink: (l) => lines.push(l) }).child({ request_id: "r1" });
        log.debug("hidden");
        log.info("dag_run_created", { dag_id: "batch", event: "overridden?", level: "x" });
        assert.equal(lines.length, 1, "debug is below the default level");
        const line = JSON.parse(lines[0]!) as Record<string, unknown>;
        assert.deepEqual(Object.keys(line), [
            "ts",
            "level",
            "logger",
            "event",
            "request_id",
            "dag_id",
        ]);
        assert.deepEqual(
            [line.level, line.logger, line.event],
            ["info", "airflow-trigger", "dag_run_created"],
        );
    });

    it("redacts credential-looking fields but keeps ordinary ones", () => {
        const lines: string[] = [];
        createLogger({ sink: (l) => lines.push(l) }).error("x", {
            password: "p",
            access_token: "t",
            Authorization: "Bearer t",
            secretString: "s",
            credential_source: "secrets-manager",
            error: new Error("boom"),
        });
        const line = JSON.parse(lines[0]!) as Record<string, unknown>;
        assert.deepEqual(
            [line.password, line.access_token, line.Authorization, line.secretString],
            [REDACTED, REDACTED, REDACTED, REDACTED],
        );
        assert.equal(line.credential_source, "secrets-manager");
        assert.deepEqual(line.error, { name: "Error", message: "boom" });
    });
});

describe("functions/airflow-trigger: stdout sink (fdSink)", () => {
    it("writes each line with a newline, in order, straight to the descriptor", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "trigger-log-"));
        const file = path.join(dir, "out.log");
        const fd = fs.openSync(file, "w");
        try {
            const fallback: (string | Uint8Array)[] = [];
            const sink = fdSink(fd, fs.writeSync, (c) => fallback.push(c));
            createLogger({ sink }).info("one", { n: 1 });
            sink("two é");
            assert.deepEqual(fallback, []);
            const lines = fs.readFileSync(file, "utf8").split("\n");
            assert.equal(lines.length, 3, "two lines and the final newline");
            assert.equal((JSON.parse(lines[0]!) as { event: string }).event, "one");
            assert.deepEqual(lines.slice(1), ["two é", ""]);
        } finally {
            fs.closeSync(fd);
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("falls back to the stream for this and every later line when a write throws (EAGAIN)", () => {
        const direct: string[] = [];
        const fallback: string[] = [];
        let calls = 0;
        const sink = fdSink(
            1,
            (_fd, text) => {
                calls++;
                if (calls === 2) {
                    throw Object.assign(new Error("EAGAIN: resource temporarily unavailable"), {
                        code: "EAGAIN",
                    });
                }
                direct.push(text);
                return Buffer.byteLength(text);
            },
            (c) => fallback.push(String(c)),
        );
        sink("a");
        sink("b");
        sink("c");
        assert.deepEqual(direct, ["a\n"]);
        assert.deepEqual(fallback, ["b\n", "c\n"], "b is not lost and c stays behind it");
        assert.equal(calls, 2, "no direct write is tried after the first failure");
    });

    it("hands the unwritten rest of a short write to the fallback, bytes intact", () => {
        const out: Buffer[] = [];
        const sink = fdSink(
            1,
            (_fd, text) => {
                // 6 of the line's bytes: "ab é" and the first byte of the second "é"
                out.push(Buffer.from(text).subarray(0, 6));
                return 6;
            },
            (c) => out.push(Buffer.from(c)),
        );
        sink("ab éé and more");
        sink("next");
        assert.equal(Buffer.concat(out).toString("utf8"), "ab éé and more\nnext\n");
    });
});
