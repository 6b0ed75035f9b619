/**
 * Integration: the real handler (`src/handler.ts`, configured from environment variables as in
 * Lambda, with the local credentials-file source) against a REAL Airflow 3.3 api-server started
 * on loopback by tools/local-airflow.ts (a temporary metadata DB on the local PostgreSQL and a
 * temp AIRFLOW_HOME, FAB auth manager, a `User`-role API user, the repo's dags/ folder
 * serialized). No scheduler: creating runs only needs the api-server. Takes about a minute, most of it `airflow db migrate`.
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { startLocalAirflow, type LocalAirflow } from "../../../tools/local-airflow";
import { loadConfig } from "../src/config";
import { dagRunId, objectCreatedEvent } from "../src/events";
import { createLogger } from "../src/log";
import { createTriggerHandler, type TriggerHandler, type TriggerSummary } from "../src/trigger";

const PORT = 28110;
const DAG = "trigger_smoke";

/** Load src/handler.ts fresh with this environment, as a Lambda cold start would. */
function coldStartHandler(env: Record<string, string>): TriggerHandler {
    const saved = { ...process.env };
    const modulePath = require.resolve("../src/handler");
    delete require.cache[modulePath];
    Object.assign(process.env, env);
    try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        return (require(modulePath) as { handler: TriggerHandler }).handler;
    } finally {
        for (const k of Object.keys(env)) delete process.env[k];
        Object.assign(process.env, saved);
    }
}

interface DagRun {
    dag_run_id: string;
    conf: Record<string, unknown>;
    logical_date: string | null;
}

async function listRuns(af: LocalAirflow): Promise<{ total_entries: number; dag_runs: DagRun[] }> {
    const tokenRes = await fetch(`${af.baseUrl}/auth/token`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username: af.username, password: af.password }),
    });
    assert.equal(tokenRes.status, 201);
    const { access_token } = (await tokenRes.json()) as { access_token: string };
    const res = await fetch(`${af.baseUrl}/api/v2/dags/${DAG}/dagRuns?limit=100`, {
        headers: { authorization: `Bearer ${access_token}` },
    });
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as { total_entries: number; dag_runs: DagRun[] };
}

describe("functions/airflow-trigger: integration with a real Airflow 3 api-server", function () {
    this.timeout(360_000);
    let af: LocalAirflow | undefined;

    before(async () => {
        af = await startLocalAirflow({
            port: PORT,
            dagsFolder: path.resolve(__dirname, "../../../dags"),
            components: ["api-server"],
            expectDags: [DAG],
            log: () => undefined,
        });
    });
    after(async () => {
        await af?.stop();
    });

    it("creates exactly one trigger_smoke run per object across three deliveries, conf.uri intact", async () => {
        const handler = coldStartHandler({
            AIRFLOW_API_URL: af!.baseUrl,
            AIRFLOW_DAG_ID: DAG,
            AIRFLOW_CREDENTIALS_FILE: af!.credentialsFile,
            S3_KEY_PREFIX: "trip data/",
            S3_KEY_SUFFIX: ".parquet",
            LOG_LEVEL: "warn",
        });
        const objects = [
            {
                bucket: "acme-taxi-landing",
                key: "trip data/yellow_tripdata_2024-01.parquet",
                eTag: "9b2cf535f27731c974343645a3985328",
                versionId: "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
            },
            {
                bucket: "acme-taxi-landing",
                key: "trip data/yellow_tripdata_2024-02.parquet",
                eTag: "4f1a0c3b2e8d7a6b5c4d3e2f1a0b9c8d",
            },
        ];
        // The key with the space arrives form-encoded, as S3 sends it.
        const event = objectCreatedEvent([
            ...objects,
            { bucket: "acme-taxi-landing", key: "trip data/README.txt", eTag: "aa" },
        ]);
        assert.match(JSON.stringify(event), /trip\+data\/yellow_tripdata_2024-01\.parquet/);

        const deliveries: TriggerSummary[] = [];
        for (let i = 0; i < 3; i++)
            deliveries.push(await handler(event, { awsRequestId: `delivery-${i}` }));

        assert.deepEqual(
            deliveries.map((d) => d.runs.map((r) => r.outcome)),
            [
                ["created", "created"],
                ["exists", "exists"],
                ["exists", "exists"],
            ],
        );
        assert.deepEqual(deliveries[0]!.ignored, [
            { key: "trip data/README.txt", reason: 'key does not end with ".parquet"' },
        ]);

        const runs = await listRuns(af!);
        assert.equal(runs.total_entries, 2, JSON.stringify(runs));
        const byId = new Map(runs.dag_runs.map((r) => [r.dag_run_id, r]));
        for (const o of objects) {
            const run = byId.get(dagRunId(o));
            assert.ok(run, `run ${dagRunId(o)} for ${o.key}`);
            assert.equal(run.conf.uri, `s3://${o.bucket}/${o.key}`);
            assert.equal(run.logical_date, null);
        }
        assert.equal(byId.get(dagRunId(objects[0]!))?.conf.version_id, objects[0]!.versionId);
    });

    it("reports Airflow's own 404 for an unknown DAG as a permanent failure", async () => {
        const handler = createTriggerHandler({
            config: loadConfig({
                AIRFLOW_API_URL: af!.baseUrl,
                AIRFLOW_DAG_ID: "no_such_dag",
                AIRFLOW_CREDENTIALS_FILE: af!.credentialsFile,
            }),
            logger: createLogger({ sink: () => undefined }),
        });
        const event = objectCreatedEvent([
            { bucket: "acme-taxi-landing", key: "yellow_tripdata_2024-03.parquet", eTag: "bb" },
        ]);
        await assert.rejects(
            handler(event),
            /Airflow does not know DAG no_such_dag \(404: .*no_such_dag.*not found\)/,
        );
    });
});
