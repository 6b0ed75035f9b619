/**
 * The local Airflow (as `npm start` runs it, on its default metadata DB: the local PostgreSQL)
 * answers a burst through the trigger function's real handler: 100 objects delivered 3 times
 * each by 8 concurrent handler instances, the deliveries of 10 objects at the same moment,
 * give exactly 100 runs with the handler's run ids, and no invocation fails on its first try
 * (no 5xx, no timeout). See `burst.ts`; about 2-3 minutes, most of it starting Airflow.
 * Port 28530 (BURST_PORT to change it).
 */
import { strict as assert } from "node:assert";
import { runBurst } from "./burst";
import { portInUse } from "./processes";

describe("local Airflow: a burst of S3 deliveries through the trigger handler", function () {
    this.timeout(15 * 60_000);

    it("100 objects × 3 deliveries, some concurrent: exactly 100 runs, no failure on the first try", async () => {
        const port = Number(process.env.BURST_PORT ?? 28530);
        assert.equal(await portInUse(port), false, `127.0.0.1:${port} must be free for this test`);
        const r = await runBurst({ metadataDb: "auto", port });
        const figures = JSON.stringify(r);
        assert.equal(r.db_kind, "postgres", figures);
        assert.equal(r.failed_invocations, 0, `invocations failed on their first try: ${figures}`);
        assert.deepEqual(r.failures, {}, figures);
        assert.equal(r.list_error, undefined, figures);
        assert.equal(r.runs_in_airflow, 100, figures);
        assert.equal(r.missing_runs, 0, figures);
        assert.equal(r.unexpected_runs, 0, figures);
        assert.deepEqual(r.outcomes, { created: 100, exists: 200 }, figures);
        assert.ok(r.ok, figures);
        assert.equal(await portInUse(port), false, "the local Airflow is stopped afterwards");
    });
});
