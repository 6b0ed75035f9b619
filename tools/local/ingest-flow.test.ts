/**
 * npm start's ingest flow, the parts that need no Airflow: which months runs belong to, the
 * pipeline-env it sets, and the summary lines from what the runs reported. The flow itself runs
 * in the end-to-end test (tools/local/e2e.test.ts) against a real Airflow.
 */
import { strict as assert } from "node:assert";
import type { RunResult } from "./follow";
import {
    IngestFlow,
    type IngestOutcome,
    ingestEnv,
    LOCAL_POKE_SECONDS,
    monthOfRun,
} from "./ingest-flow";
import { Progress } from "./progress";

describe("npm start: ingest flow", () => {
    it("knows a run's month from its data interval", () => {
        assert.equal(monthOfRun({ data_interval_start: "2022-12-01T06:00:00Z" }), "2022-12");
        assert.equal(monthOfRun({ data_interval_start: null }), undefined);
        assert.equal(monthOfRun({}), undefined);
    });

    it("bounds the ingest DAG to the run's months; small files only for the stand-in", () => {
        const env = ingestEnv("http://127.0.0.1:28505/trip-data", ["2022-12", "2023-01"], {
            smallFiles: true,
        });
        assert.equal(env.INGEST_MONTHS, "2022-12..2023-01");
        assert.equal(env.INGEST_SOURCE_URL, "http://127.0.0.1:28505/trip-data");
        assert.equal(env.INGEST_MIN_BYTES, "1024");
        assert.equal(env.INGEST_POKE_SECONDS, String(LOCAL_POKE_SECONDS));
        const real = ingestEnv("https://mirror/trip-data", ["2024-01"], { smallFiles: false });
        assert.equal(real.INGEST_MONTHS, "2024-01..2024-01");
        assert.equal(real.INGEST_MIN_BYTES, undefined);
    });

    it("says what was downloaded, waited for, re-loaded and skipped", () => {
        const flow = new IngestFlow({
            api: undefined as never,
            site: undefined,
            progress: new Progress(() => undefined),
            airflowHome: "/nowhere",
            failFast: false,
            checkAlive: () => undefined,
        });
        const result = {} as RunResult;
        const o = (x: Partial<IngestOutcome>): IngestOutcome => ({
            month: "?",
            pass: "first",
            runId: "r",
            state: "success",
            notYet: 0,
            result,
            ...x,
        });
        flow.outcomes.push(
            o({ month: "2022-12", action: "uploaded" }),
            o({ month: "2023-01", action: "uploaded", notYet: 2 }),
            o({ month: "2022-12", pass: "re-check", action: "uploaded", replaced: true }),
            o({ month: "2023-01", pass: "re-check", action: "unchanged" }),
        );
        assert.deepEqual(flow.describe("http://site/trip-data", "stand-in"), [
            "publisher http://site/trip-data (stand-in)",
            "downloaded 2022-12, 2023-01; unchanged, not uploaded none",
            "waited for 2023-01 (2 × HTTP 403: not published yet, asked again)",
            "re-check after a republication: re-loaded 2022-12 (new content → new object → new batch run); skipped as unchanged 2023-01 (same sha256: no upload, no S3 event, no batch run)",
        ]);
        flow.outcomes.push(o({ month: "2023-02", state: "failed", runId: "scheduled__x" }));
        assert.equal(flow.describe("u", "w").at(-1), "failed 2023-02 (run scheduled__x)");
    });
});
