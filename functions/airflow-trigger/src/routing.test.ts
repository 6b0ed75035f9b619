import { strict as assert } from "node:assert";
import { formatRoutes, parseRoutes, routeKey, routeProblems, type DagRoute } from "./routing";

const ROUTES: DagRoute[] = [
    { prefix: "trip data/yellow_tripdata_", dagId: "batch" },
    { prefix: "trip data/green_tripdata_", dagId: "batch_green" },
    { prefix: "trip data/fhv_tripdata_", dagId: "batch_fhv" },
    { prefix: "trip data/fhvhv_tripdata_", dagId: "batch_fhvhv" },
];

describe("functions/airflow-trigger: routing by key prefix", () => {
    it("routes each dataset's files to its own DAG, on the decoded key", () => {
        const dag = (key: string) => {
            const r = routeKey(key, ROUTES, ".parquet");
            return "route" in r ? r.route.dagId : r.reason;
        };
        assert.equal(dag("trip data/yellow_tripdata_2024-01.parquet"), "batch");
        assert.equal(dag("trip data/green_tripdata_2024-01.parquet"), "batch_green");
        // fhv_ is not a prefix of fhvhv_: the two never collide.
        assert.equal(dag("trip data/fhv_tripdata_2024-01.parquet"), "batch_fhv");
        assert.equal(dag("trip data/fhvhv_tripdata_2024-01.parquet"), "batch_fhvhv");
        assert.match(dag("trip+data/green_tripdata_2024-01.parquet"), /starts with none of/);
        assert.match(dag("trip data/green_tripdata_2024-01.csv"), /does not end with ".parquet"/);
        assert.equal(dag("x.parquet").includes('"trip data/green_tripdata_"'), true);
    });

    it("round-trips the JSON the stack writes", () => {
        assert.deepEqual(parseRoutes(formatRoutes(ROUTES)), ROUTES);
        assert.equal(
            formatRoutes([ROUTES[0]!]),
            '[{"prefix":"trip data/yellow_tripdata_","dag_id":"batch"}]',
        );
    });

    it("rejects route tables a key could match twice, or that name no DAG", () => {
        assert.deepEqual(routeProblems(ROUTES), []);
        assert.match(routeProblems([])[0]!, /no routes/);
        const p = routeProblems([
            { prefix: "trip data/", dagId: "batch" },
            { prefix: "trip data/green_", dagId: "batch green" },
            { prefix: "/abs/", dagId: "x" },
        ]);
        assert.ok(
            p.some((x) => /dag_id "batch green" is not an Airflow DAG id/.test(x)),
            p.join(),
        );
        assert.ok(
            p.some((x) => /prefix "\/abs\/" starts with "\/"/.test(x)),
            p.join(),
        );
        assert.ok(
            p.some((x) => /routes 0 and 1 overlap/.test(x)),
            p.join(),
        );
        assert.throws(() => parseRoutes('[{"prefix": 1}]'), /route 0 needs string fields/);
        assert.throws(() => parseRoutes('{"prefix": "a"}'), /not a JSON array/);
    });
});
