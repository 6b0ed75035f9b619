/**
 * The local Airflow (as `npm start` runs it, on its default metadata DB: the local PostgreSQL)
 * takes a burst through the trigger function's real handler: 100 objects delivered 3 times
 * each by 8 concurrent handler instances, the deliveries of 10 objects at the same moment.
 * Asserted: no invocation fails on its first try (no HTTP 5xx, no 10 s client timeout: the
 * function's own timeout), no HTTP 5xx at all, and exactly 100 runs with the handler's run ids
 * (after Lambda-style redelivery of any failure, so a failure still shows its consequence in the
 * figures printed). The api-server used to stall under this burst with Airflow's default
 * connection pool (see LOCAL_DB_POOL in tools/local-airflow.ts). About 1-3 minutes.
 * Port 28530 (BURST_PORT to change it).
 */
import { strict as assert } from "node:assert";
import { runBurst } from "./burst";
import { portInUse } from "./processes";

describe("local Airflow: a burst of S3 deliveries through the trigger handler", function () {
    this.timeout(15 * 60_000);

    it("100 objects × 3 deliveries, some concurrent: no failure on the first try, no 5xx, exactly 100 runs", async () => {
        const port = Number(process.env.BURST_PORT ?? 28530);
        assert.equal(await portInUse(port), false, `127.0.0.1:${port} must be free for this test`);
        const r = await runBurst({ metadataDb: "auto", port });
        const figures = JSON.stringify(r);
        assert.equal(r.db_kind, "postgres", figures);
        console.log(`      burst figures: ${figures}`);
        const serverErrors = Object.keys(r.failures).filter((k) => /^5\d\d$/.test(k));
        assert.deepEqual(serverErrors, [], `HTTP 5xx from Airflow: ${figures}`);
        assert.equal(r.failed_invocations, 0, `invocations failed on their first try: ${figures}`);
        assert.equal(r.unresolved_after_redelivery, 0, figures);
        assert.equal(r.list_error, undefined, figures);
        assert.equal(r.runs_in_airflow, 100, figures);
        assert.equal(r.missing_runs, 0, figures);
        assert.equal(r.unexpected_runs, 0, figures);
        assert.equal(await portInUse(port), false, "the local Airflow is stopped afterwards");
    });
});
