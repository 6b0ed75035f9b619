/**
 * A new dataset is ONE entry in dags/datasets.yaml, end to end. The registry is copied with
 * `green` enabled (the only change), the whole `dev` stack is evaluated offline with it, and the
 * rendered Lambda configuration then drives the real trigger handler against a loopback Airflow:
 * a green file lands under green's key prefix, starts `batch_green` with its URI, and the
 * full-refresh transfer of green copies only green's files into `<staging>/green/`.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import YAML from "yaml";
import { cloudFakes, cloudInvokes } from "../offline/cloud-fakes";
import { evaluate, type Evaluation } from "../offline/engine";
import { readStackFile, toEngineConfig } from "../offline/stack-files";
import {
    DATASET_REGISTRY,
    batchDagId,
    enabledDatasets,
    parseDatasets,
    type Dataset,
} from "../components/shared/datasets";
import { loadConfig as loadTriggerConfig } from "../functions/airflow-trigger/src/config";
import { StaticCredentialSource } from "../functions/airflow-trigger/src/credentials";
import { objectCreatedEvent } from "../functions/airflow-trigger/src/events";
import { createLogger } from "../functions/airflow-trigger/src/log";
import { createTriggerHandler } from "../functions/airflow-trigger/src/trigger";
import { FakeAirflow } from "../functions/airflow-trigger/test/fake-airflow";
import { PROJECT, loadConfig } from "./config";
import { definePlatform } from "./platform";

const PORT = 28903;
const USER = { username: "trigger-fn", password: "offline-password" };

/** dags/datasets.yaml with one change: `enabled: true` on the named entry. */
function registryWith(name: string): Dataset[] {
    const doc = YAML.parseDocument(fs.readFileSync(DATASET_REGISTRY, "utf8"));
    const entries = doc.get("datasets") as YAML.YAMLSeq<YAML.YAMLMap>;
    const entry = entries.items.find((e) => e.get("name") === name);
    assert.ok(entry, `dags/datasets.yaml has no entry ${name}`);
    entry.set("enabled", true);
    return parseDatasets(doc.toString()).filter((d) => d.enabled);
}

async function renderDev(datasets: Dataset[]): Promise<Evaluation<Record<string, unknown>>> {
    const { config, secretKeys } = toEngineConfig(readStackFile("dev"));
    const project = config[`${PROJECT}:gcpProject`]!;
    return evaluate(() => definePlatform(loadConfig(), datasets) as Record<string, unknown>, {
        project: PROJECT,
        stack: "dev",
        config,
        secretKeys,
        outputs: cloudFakes(project),
        invokes: cloudInvokes(project),
    });
}

type Inputs = Record<string, any>;

describe("datasets: a second dataset is one registry entry end to end", function () {
    this.timeout(240_000);
    let r: Evaluation<Record<string, unknown>>;
    const datasets = registryWith("green");

    before(async () => {
        r = await renderDev(datasets);
    });

    it("the registry change is the only input: yellow and green enabled, green's DAG batch_green", () => {
        assert.deepEqual(
            enabledDatasets().map((d) => d.name),
            ["yellow"],
            "the checked-in registry is unchanged",
        );
        assert.deepEqual(
            datasets.map((d) => [d.name, batchDagId(d)]),
            [
                ["yellow", "batch"],
                ["green", "batch_green"],
            ],
        );
    });

    it("the landing bucket notifies the trigger for green's key prefix", () => {
        const [n] = r.ofType("aws:s3/bucketNotification:BucketNotification");
        assert.deepEqual(
            (n!.inputs as Inputs).lambdaFunctions.map((f: Inputs) => [f.id, f.filterPrefix]),
            [
                ["new-parquet-to-batch", "trip+data/yellow_tripdata_"],
                ["new-parquet-to-batch_green", "trip+data/green_tripdata_"],
            ],
        );
    });

    it("the transfer copies only green's files into <staging>/green/, the job its DAG runs", () => {
        const jobs = r.ofType("gcp:storage/transferJob:TransferJob").map((j) => j.inputs as Inputs);
        const green = jobs.find((j) => j.transferSpec.gcsDataSink.path === "green/");
        assert.ok(green, `no transfer job writes under green/: ${JSON.stringify(jobs)}`);
        assert.equal(green.transferSpec.awsS3DataSource.path, "trip data/");
        assert.deepEqual(green.transferSpec.objectConditions.includePrefixes, ["green_tripdata_"]);
        const yellow = jobs.find((j) => j.transferSpec.gcsDataSink.path === "yellow/");
        assert.deepEqual(yellow?.transferSpec.objectConditions.includePrefixes, [
            "yellow_tripdata_",
        ]);
        // full_refresh_green runs `$(TRANSFER_JOB_PREFIX)-green` (dags/common/jobs.py).
        const envMaps = r.resources
            .map((x) => x.inputs as Inputs)
            .filter((o) => o.kind === "ConfigMap" && o.metadata?.name === "pipeline-env");
        assert.ok(envMaps.length > 0, "no pipeline-env ConfigMap");
        for (const cm of envMaps)
            assert.equal(`${cm.data.TRANSFER_JOB_PREFIX}-green`, green.name, cm.metadata.namespace);
        assert.equal(
            (r.outputs.transferJobs as Record<string, string>).green,
            "transferJobs/dev-s3-full-refresh-green",
        );
    });

    describe("the rendered trigger function starts batch_green for a green file", () => {
        const airflow = new FakeAirflow({ port: PORT, ...USER, dags: ["batch", "batch_green"] });
        before(() => airflow.start());
        after(() => airflow.stop());

        it("routes by the key prefix in the Lambda's own environment", async () => {
            const [fn] = r.ofType("aws:lambda/function:Function");
            const env = (fn!.inputs as Inputs).environment.variables as Record<string, string>;
            const config = loadTriggerConfig({
                ...env,
                // The deployed function's secret and URL, replaced by the loopback Airflow's.
                AIRFLOW_API_URL: airflow.url,
                AIRFLOW_CREDENTIALS_SECRET_ID: undefined,
                AIRFLOW_USERNAME: USER.username,
                AIRFLOW_PASSWORD: USER.password,
            });
            const handler = createTriggerHandler({
                config,
                credentials: new StaticCredentialSource(USER),
                logger: createLogger({ level: "error", sink: () => undefined }),
            });
            const bucket = String(r.outputs.landingBucket);
            const summary = await handler(
                objectCreatedEvent([
                    { bucket, key: "trip data/green_tripdata_2024-03.parquet", eTag: "g3" },
                    { bucket, key: "trip data/yellow_tripdata_2024-03.parquet", eTag: "y3" },
                ]),
            );
            assert.deepEqual(
                summary.runs.map((x) => [x.dagId, x.uri, x.outcome]),
                [
                    [
                        "batch_green",
                        `s3://${bucket}/trip data/green_tripdata_2024-03.parquet`,
                        "created",
                    ],
                    [
                        "batch",
                        `s3://${bucket}/trip data/yellow_tripdata_2024-03.parquet`,
                        "created",
                    ],
                ],
            );
            assert.deepEqual(
                [...airflow.runs.values()].map((x) => [x.dag_id, (x.conf as { uri: string }).uri]),
                [
                    ["batch_green", `s3://${bucket}/trip data/green_tripdata_2024-03.parquet`],
                    ["batch", `s3://${bucket}/trip data/yellow_tripdata_2024-03.parquet`],
                ],
            );
        });
    });
});
