import { strict as assert } from "node:assert";
import { createLogger, REDACTED } from "./log";

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
