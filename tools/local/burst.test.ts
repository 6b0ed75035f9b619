/**
 * The local Airflow (as `npm start` runs it, on its default metadata DB: the local PostgreSQL)
 * takes a burst through the trigger function's real handler: 100 objects delivered 3 times
 * each by 8 concurrent handler instances, the deliveries of 10 objects at the same moment.
 * Correctness is asserted: no HTTP 5xx, and after Lambda-style redelivery of any invocation
 * that failed (a client timeout), exactly 100 runs with the handler's run ids (a timed-out
 * request may still have created its run: the redelivery then sees 409). How many invocations fail on their FIRST try is a speed figure, so it is printed here
 * and measured by `tsx tools/local/burst.ts` (whose exit code is that bar), not asserted: on a
 * shared 2-core machine a 10 s client timeout is a matter of load. About 2-3 minutes.
 * Port 28530 (BURST_PORT to change it).
 */
import { strict as assert } from "node:assert";
import { runBurst } from "./burst";
import { portInUse } from "./processes";

describe("local Airflow: a burst of S3 deliveries through the trigger handler", function () {
    this.timeout(15 * 60_000);

    it("100 objects × 3 deliveries, some concurrent: no 5xx, exactly 100 runs", async () => {
        const port = Number(process.env.BURST_PORT ?? 28530);
        assert.equal(await portInUse(port), false, `127.0.0.1:${port} must be free for this test`);
        const r = await runBurst({ metadataDb: "auto", port });
        const figures = JSON.stringify(r);
        assert.equal(r.db_kind, "postgres", figures);
        console.log(`      burst figures: ${figures}`);
        const serverErrors = Object.keys(r.failures).filter((k) => /^5\d\d$/.test(k));
        assert.deepEqual(serverErrors, [], `HTTP 5xx from Airflow: ${figures}`);
        assert.equal(r.unresolved_after_redelivery, 0, figures);
        assert.equal(r.list_error, undefined, figures);
        assert.equal(r.runs_in_airflow, 100, figures);
        assert.equal(r.missing_runs, 0, figures);
        assert.equal(r.unexpected_runs, 0, figures);
        assert.equal(await portInUse(port), false, "the local Airflow is stopped afterwards");
    });
});
