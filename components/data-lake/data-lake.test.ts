import { strict as assert } from "node:assert";
import { evaluate } from "../../offline/engine";
import { BUCKETS, DataLake, DataLakeArgs } from "./data-lake";

const ARGS: DataLakeArgs = {
    project: "acme-taxi-dev",
    region: "europe-west1",
    environment: "dev",
    stagingRetentionDays: 7,
};

describe("components/data-lake", () => {
    it("creates five buckets, two datasets and one Docker registry, nothing else", async () => {
        const r = await evaluate(() => new DataLake("dev", ARGS));
        assert.deepEqual(r.countsByType(), {
            "gcp:artifactregistry/repository:Repository": 1,
            "gcp:bigquery/dataset:Dataset": 2,
            "gcp:storage/bucket:Bucket": 5,
            "taxi:gcp:DataLake": 1,
        });
        assert.deepEqual(
            r
                .ofType("gcp:storage/bucket:Bucket")
                .map((b) => b.inputs.name)
                .sort(),
            [
                "acme-taxi-dev-backups",
                "acme-taxi-dev-docs",
                "acme-taxi-dev-mlflow-artifacts",
                "acme-taxi-dev-spark-temp",
                "acme-taxi-dev-staging",
            ],
        );
        assert.deepEqual(
            r
                .ofType("gcp:bigquery/dataset:Dataset")
                .map((d) => `${String(d.inputs.datasetId)}@${String(d.inputs.location)}`)
                .sort(),
            ["taxi_dev_marts@europe-west1", "taxi_dev_raw@europe-west1"],
        );
        assert.equal(
            r.get("gcp:artifactregistry/repository:Repository", "dev-images").inputs.format,
            "DOCKER",
        );
    });

    it("locks every bucket down: uniform access, public access prevention enforced", async () => {
        const r = await evaluate(() => new DataLake("dev", ARGS));
        for (const b of r.ofType("gcp:storage/bucket:Bucket")) {
            assert.equal(b.inputs.uniformBucketLevelAccess, true, b.name);
            assert.equal(b.inputs.publicAccessPrevention, "enforced", b.name);
            assert.equal(b.inputs.forceDestroy, false, `${b.name}: protected by default`);
        }
    });

    it("expires transient data and versions what must not be lost", async () => {
        const r = await evaluate(() => new DataLake("dev", ARGS));
        const bucket = (key: keyof typeof BUCKETS) =>
            r.get("gcp:storage/bucket:Bucket", `dev-${key}`).inputs as Record<string, any>;
        assert.deepEqual(bucket("staging").lifecycleRules, [
            { action: { type: "Delete" }, condition: { age: 7 } },
        ]);
        assert.deepEqual(bucket("spark-temp").lifecycleRules, [
            { action: { type: "Delete" }, condition: { age: 2 } },
        ]);
        assert.deepEqual(bucket("backups").lifecycleRules, [
            { action: { type: "Delete" }, condition: { age: 14 } },
        ]);
        assert.equal(bucket("staging").versioning.enabled, false);
        for (const key of ["docs", "mlflow-artifacts"] as const) {
            assert.equal(bucket(key).versioning.enabled, true, key);
            assert.deepEqual(bucket(key).lifecycleRules, [
                {
                    action: { type: "Delete" },
                    condition: { numNewerVersions: 5, withState: "ARCHIVED" },
                },
            ]);
        }
    });

    it("allows destroying contents only when deletion protection is off", async () => {
        const r = await evaluate(() => new DataLake("dev", { ...ARGS, deletionProtection: false }));
        assert.ok(
            r.ofType("gcp:storage/bucket:Bucket").every((b) => b.inputs.forceDestroy === true),
        );
        assert.ok(
            r
                .ofType("gcp:bigquery/dataset:Dataset")
                .every((d) => d.inputs.deleteContentsOnDestroy === true),
        );
    });

    it("rejects a zero retention, naming the arg", async () => {
        await assert.rejects(
            evaluate(() => new DataLake("dev", { ...ARGS, stagingRetentionDays: 0 })),
            /stagingRetentionDays is 0/,
        );
    });
});
