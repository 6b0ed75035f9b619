/**
 * DataLake: the GCS buckets, BigQuery datasets and Artifact Registry repository of one
 * environment. Every bucket has uniform bucket-level access and enforced public access
 * prevention; transient data expires by lifecycle rule, data that must not be lost is versioned.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { assertArgs } from "../shared/validation";

/** The buckets and what each one keeps. */
export const BUCKETS = {
    /** Monthly files copied from the S3 landing bucket; transient. */
    staging: { versioned: false, expires: "staging" },
    /** Published dbt docs, data-validation sites and reports; versioned. */
    docs: { versioned: true, expires: undefined },
    /** MLflow run artifacts and registered models; versioned, never expired. */
    "mlflow-artifacts": { versioned: true, expires: undefined },
    /** Spark's temporary BigQuery load data; transient (days). */
    "spark-temp": { versioned: false, expires: "sparkTemp" },
    /** Daily Postgres dumps; expire after the backup retention. Not versioned: dumps are never overwritten. */
    backups: { versioned: false, expires: "backups" },
} as const;
export type BucketKey = keyof typeof BUCKETS;

export const DATASETS = {
    raw: "Raw taxi trips loaded by Spark",
    marts: "dbt marts: ML features and BI reports",
} as const;
export type DatasetKey = keyof typeof DATASETS;

export interface DataLakeArgs {
    /** GCP project id; bucket names are `<project>-<key>`. Required. */
    project: string;
    /** Region of buckets and the registry. Required. */
    region: string;
    /** BigQuery dataset location (multi-region or region). Default: region. */
    datasetLocation?: string;
    /** Days before staged files are deleted (default 30). */
    stagingRetentionDays?: number;
    /** Days a Postgres dump is kept (default 14). */
    backupRetentionDays?: number;
    /** Days before Spark temp files are deleted (default 2). */
    sparkTempRetentionDays?: number;
    /** Noncurrent versions kept in versioned buckets (default 5). */
    keepVersions?: number;
    /** Refuse to delete non-empty buckets and datasets on destroy (default true). */
    deletionProtection?: boolean;
    /** Environment name, used in dataset ids (`taxi_<env>_raw`). Required. */
    environment: string;
}

export function resolveDataLakeArgs(args: DataLakeArgs) {
    const r = {
        ...args,
        datasetLocation: args.datasetLocation ?? args.region,
        stagingRetentionDays: args.stagingRetentionDays ?? 30,
        sparkTempRetentionDays: args.sparkTempRetentionDays ?? 2,
        backupRetentionDays: args.backupRetentionDays ?? 14,
        keepVersions: args.keepVersions ?? 5,
        deletionProtection: args.deletionProtection ?? true,
    };
    assertArgs("DataLake", [
        r.stagingRetentionDays < 1 &&
            `stagingRetentionDays is ${r.stagingRetentionDays}; must be at least 1`,
        r.sparkTempRetentionDays < 1 &&
            `sparkTempRetentionDays is ${r.sparkTempRetentionDays}; must be at least 1`,
        r.backupRetentionDays < 1 &&
            `backupRetentionDays is ${r.backupRetentionDays}; must be at least 1`,
        r.keepVersions < 1 && `keepVersions is ${r.keepVersions}; must be at least 1`,
        !/^[a-z0-9_]+$/.test(r.environment) &&
            `environment ${JSON.stringify(r.environment)} must be lower-case letters, digits or _`,
    ]);
    return r;
}

export class DataLake extends pulumi.ComponentResource {
    public readonly buckets: Record<BucketKey, gcp.storage.Bucket>;
    public readonly datasets: Record<DatasetKey, gcp.bigquery.Dataset>;
    public readonly registry: gcp.artifactregistry.Repository;
    /** `gs://` URIs of the buckets. */
    public readonly uris: Record<BucketKey, pulumi.Output<string>>;
    public readonly datasetIds: Record<DatasetKey, pulumi.Output<string>>;
    /** Docker registry URL, `<region>-docker.pkg.dev/<project>/<repo>`. */
    public readonly registryUrl: pulumi.Output<string>;

    constructor(name: string, rawArgs: DataLakeArgs, opts: pulumi.ComponentResourceOptions = {}) {
        super("taxi:gcp:DataLake", name, {}, opts);
        const args = resolveDataLakeArgs(rawArgs);
        const o = { parent: this };

        const days = {
            staging: args.stagingRetentionDays,
            sparkTemp: args.sparkTempRetentionDays,
            backups: args.backupRetentionDays,
        };
        const buckets = {} as Record<BucketKey, gcp.storage.Bucket>;
        for (const [key, spec] of Object.entries(BUCKETS) as [
            BucketKey,
            (typeof BUCKETS)[BucketKey],
        ][]) {
            const lifecycleRules: gcp.types.input.storage.BucketLifecycleRule[] = [];
            if (spec.expires) {
                lifecycleRules.push({
                    action: { type: "Delete" },
                    condition: { age: days[spec.expires] },
                });
            }
            if (spec.versioned) {
                lifecycleRules.push({
                    action: { type: "Delete" },
                    condition: { numNewerVersions: args.keepVersions, withState: "ARCHIVED" },
                });
            }
            buckets[key] = new gcp.storage.Bucket(
                `${name}-${key}`,
                {
                    name: `${args.project}-${key}`,
                    location: args.region,
                    storageClass: "STANDARD",
                    uniformBucketLevelAccess: true,
                    publicAccessPrevention: "enforced",
                    versioning: { enabled: spec.versioned },
                    softDeletePolicy: { retentionDurationSeconds: spec.versioned ? 7 * 86400 : 0 },
                    lifecycleRules,
                    forceDestroy: !args.deletionProtection,
                },
                o,
            );
        }
        this.buckets = buckets;

        const datasets = {} as Record<DatasetKey, gcp.bigquery.Dataset>;
        for (const [key, description] of Object.entries(DATASETS) as [DatasetKey, string][]) {
            datasets[key] = new gcp.bigquery.Dataset(
                `${name}-${key}`,
                {
                    datasetId: `taxi_${args.environment}_${key}`,
                    location: args.datasetLocation,
                    description,
                    deleteContentsOnDestroy: !args.deletionProtection,
                },
                o,
            );
        }
        this.datasets = datasets;

        this.registry = new gcp.artifactregistry.Repository(
            `${name}-images`,
            {
                repositoryId: "platform",
                location: args.region,
                format: "DOCKER",
                description: "Images of the data platform (airflow, spark, dbt, ml, docs-app)",
                // Tags are labels here, not the contract: every pod, Helm value and pipeline-env
                // entry pulls by digest (policy images-by-digest), and each build re-pushes its
                // release tag and moves `<image>:buildcache`. Immutable tags would reject the
                // first rebuild after any change (offline/preflight, cloud semantics).
                dockerConfig: { immutableTags: false },
                cleanupPolicies: [
                    {
                        id: "keep-recent",
                        action: "KEEP",
                        mostRecentVersions: { keepCount: 20 },
                    },
                    {
                        id: "delete-old-untagged",
                        action: "DELETE",
                        condition: { tagState: "UNTAGGED", olderThan: `${30 * 86400}s` },
                    },
                ],
            },
            o,
        );

        this.uris = Object.fromEntries(
            Object.entries(buckets).map(([k, b]) => [k, pulumi.interpolate`gs://${b.name}`]),
        ) as Record<BucketKey, pulumi.Output<string>>;
        this.datasetIds = Object.fromEntries(
            Object.entries(datasets).map(([k, d]) => [k, d.datasetId]),
        ) as Record<DatasetKey, pulumi.Output<string>>;
        this.registryUrl = pulumi.interpolate`${args.region}-docker.pkg.dev/${args.project}/${this.registry.repositoryId}`;
        this.registerOutputs({
            uris: this.uris,
            datasetIds: this.datasetIds,
            registryUrl: this.registryUrl,
        });
    }
}
