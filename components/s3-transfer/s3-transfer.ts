/**
 * S3Transfer: the bulk S3 → GCS copy of the full refresh, as a Storage Transfer Service job that
 * reaches AWS by role federation. No static AWS keys exist anywhere:
 *
 * - an AWS IAM role trusts Google's identity provider (`accounts.google.com`) for exactly one
 *   subject, the project's Storage Transfer service agent (its `subjectId`, from the
 *   `gcp.storage.getTransferProjectServiceAccount` invoke), via `sts:AssumeRoleWithWebIdentity`;
 * - the role may list the landing bucket and read the datasets' monthly files, nothing else;
 * - the service agent may write to the staging bucket (legacy bucket writer) and read objects
 *   there (to skip files already copied, `overwriteWhen: DIFFERENT`);
 * - one TransferJob per dataset of dags/datasets.yaml (`awsS3DataSource.roleArn`, no
 *   `awsAccessKey`): `<landing_prefix>` filtered to `<file_prefix>` → `<staging>/<name>/`, the
 *   folder that dataset's full-refresh DAG reads. No schedule: it runs only when the DAG calls
 *   `transferJobs.run` on `<prefix>-<name>` (the Airflow service account needs
 *   `roles/storagetransfer.user` on the project for that).
 */
import * as aws from "@pulumi/aws";
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { platformLabels } from "../shared/labels";
import { assertArgs } from "../shared/validation";

export interface S3TransferArgs {
    /** Environment name (`dev`, …): job and role names. Required. */
    environment: string;
    /** GCP project that owns the transfer job. Required. */
    project: string;
    /** Landing bucket name in S3 (AwsTrigger `bucketName`). Required. */
    sourceBucketName: pulumi.Input<string>;
    /** Landing bucket ARN (AwsTrigger `bucketArn`). Required. */
    sourceBucketArn: pulumi.Input<string>;
    /** GCS staging bucket name (DataLake `buckets.staging.name`). Required. */
    sinkBucketName: pulumi.Input<string>;
    /**
     * The datasets to copy, one transfer job each (`enabledDatasets()` of dags/datasets.yaml):
     * objects `<landingPrefix><filePrefix>*` land in `<staging>/<name>/`. Required, at least one.
     */
    datasets: TransferDataset[];
    /**
     * Give the job names a random suffix made once per creation (default false). Storage
     * Transfer keeps a deleted job's name reserved, so a stack that is destroyed and re-created
     * (config `disposable`) needs it; the suffix stays the same for the life of the stack.
     */
    uniqueName?: boolean;
    /**
     * Unique id (`sub` of its Google ID tokens) of the Google service account the batch DAG's
     * per-file copy runs as (the `transfer` workload identity). When given, a second AWS role
     * trusts exactly that account (web identity federation from GKE: the pod asks the metadata
     * server for an ID token and exchanges it with STS) and may only read the datasets'
     * monthly files (no listing).
     */
    landingReaderSubject?: pulumi.Input<string>;
    /**
     * Unique id of the Google service account the ingest DAGs' download runs as (the `ingest`
     * workload identity). When given, a third AWS role (`<env>-landing-ingest`) trusts exactly
     * that account and may only write the datasets' monthly files (PutObject, multipart upload
     * and its abort; GetObject for the HeadObject of the sha256 check): no listing, no delete.
     */
    landingWriterSubject?: pulumi.Input<string>;
}

export interface TransferDataset {
    /** Dataset id: the staging folder `<name>/` and the job name suffix. */
    name: string;
    /** Folder of its monthly files in the landing bucket, ending with `/` (or ""). */
    landingPrefix: string;
    /** File-name prefix of its monthly files (`green_tripdata_`). */
    filePrefix: string;
}

/** `transferJobs/<env>-s3-full-refresh`: the `TRANSFER_JOB_PREFIX` of pipeline-env. */
export const transferJobPrefix = (environment: string) =>
    `transferJobs/${environment}-s3-full-refresh`;

export function resolveS3TransferArgs(args: S3TransferArgs) {
    const r = { ...args };
    const names = r.datasets.map((d) => d.name);
    assertArgs("S3Transfer", [
        !/^[a-z0-9_]+$/.test(r.environment) &&
            `environment ${JSON.stringify(r.environment)} must be lower-case letters, digits or _`,
        r.project === "" && "project is empty",
        r.datasets.length === 0 &&
            "datasets is empty: enable at least one dataset in dags/datasets.yaml",
        new Set(names).size !== names.length && `datasets: names repeat (${names.join(", ")})`,
        ...r.datasets.flatMap((d) => [
            !/^[a-z][a-z0-9]{0,30}$/.test(d.name) &&
                `dataset ${JSON.stringify(d.name)}: name must be lower-case letters and digits`,
            d.landingPrefix !== "" &&
                (!d.landingPrefix.endsWith("/") || d.landingPrefix.startsWith("/")) &&
                `dataset ${d.name}: landingPrefix ${JSON.stringify(d.landingPrefix)} must be "" or a folder ending with "/" and not starting with "/"`,
            (d.filePrefix === "" || d.filePrefix.includes("/")) &&
                `dataset ${d.name}: filePrefix ${JSON.stringify(d.filePrefix)} must be a non-empty file-name prefix without "/"`,
        ]),
    ]);
    return r;
}

/** Trust policy: only the Google identity `subjectId` (the Storage Transfer service agent, or
 * the copy job's service account) may assume the role. */
export function federationTrustPolicy(subjectId: string, sid = "GoogleStorageTransferService") {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: sid,
                Effect: "Allow",
                Principal: { Federated: "accounts.google.com" },
                Action: "sts:AssumeRoleWithWebIdentity",
                Condition: { StringEquals: { "accounts.google.com:sub": subjectId } },
            },
        ],
    };
}

/** Read-only access to the landing bucket: list it, read the datasets' monthly files. */
export function readOnlyPolicy(bucketArn: string, keyPrefixes: string[]) {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "ListLandingBucket",
                Effect: "Allow",
                Action: ["s3:ListBucket", "s3:GetBucketLocation"],
                Resource: bucketArn,
            },
            {
                Sid: "ReadLandingObjects",
                Effect: "Allow",
                Action: "s3:GetObject",
                Resource: keyPrefixes.map((p) => `${bucketArn}/${p}*`),
            },
        ],
    };
}

/** The per-file copy: read the datasets' monthly files, nothing else (no listing). */
export function objectReadPolicy(bucketArn: string, keyPrefixes: string[]) {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "ReadLandingObjects",
                Effect: "Allow",
                Action: "s3:GetObject",
                Resource: keyPrefixes.map((p) => `${bucketArn}/${p}*`),
            },
        ],
    };
}

/** The ingest download: write the datasets' monthly files (single or multipart uploads, and
 * abort them), read their metadata for the unchanged check. No listing, no delete. */
export function objectWritePolicy(bucketArn: string, keyPrefixes: string[]) {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "WriteLandingObjects",
                Effect: "Allow",
                Action: [
                    "s3:PutObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                    "s3:GetObject",
                ],
                Resource: keyPrefixes.map((p) => `${bucketArn}/${p}*`),
            },
        ],
    };
}

/** What the transfer service agent gets on the staging bucket. */
export const SINK_ROLES = ["roles/storage.legacyBucketWriter", "roles/storage.objectViewer"];

export class S3Transfer extends pulumi.ComponentResource {
    /** `transferJobs/<env>-s3-full-refresh[-<suffix>]`: the `TRANSFER_JOB_PREFIX` of pipeline-env. */
    public readonly transferJobPrefix: pulumi.Output<string>;
    /** Dataset → its job, `<prefix>-<dataset>`. */
    public readonly transferJobNames: pulumi.Output<Record<string, string>>;
    public readonly role: aws.iam.Role;
    public readonly roleArn: pulumi.Output<string>;
    /** The Google-managed Storage Transfer service agent of the project. */
    public readonly serviceAgentEmail: pulumi.Output<string>;
    public readonly jobs: Record<string, gcp.storage.TransferJob>;
    /** `AWS_LANDING_ROLE_ARN` of pipeline-env: the copy job's role ("" without a reader). */
    public readonly landingReaderRoleArn: pulumi.Output<string>;
    /** `AWS_INGEST_ROLE_ARN` of pipeline-env: the ingest download's role ("" without one). */
    public readonly landingWriterRoleArn: pulumi.Output<string>;

    /** Pass the AWS and GCP providers in `opts.providers`; children inherit them. */
    constructor(name: string, rawArgs: S3TransferArgs, opts: pulumi.ComponentResourceOptions = {}) {
        super("taxi:platform:S3Transfer", name, {}, opts);
        const args = resolveS3TransferArgs(rawArgs);
        const o = { parent: this };

        const agent = gcp.storage.getTransferProjectServiceAccountOutput(
            { project: args.project },
            { parent: this },
        );

        const role = new aws.iam.Role(
            `${name}-sts`,
            {
                name: `${args.environment}-gcp-storage-transfer`,
                description:
                    "Assumed by Google Storage Transfer Service (web identity federation): read the landing bucket",
                assumeRolePolicy: agent.subjectId.apply((sub) =>
                    JSON.stringify(federationTrustPolicy(sub)),
                ),
                maxSessionDuration: 3600,
                tags: { ...platformLabels(args.environment), component: "s3-transfer" },
            },
            o,
        );
        const rolePolicy = new aws.iam.RolePolicy(
            `${name}-sts`,
            {
                role: role.name,
                name: "read-landing-bucket",
                policy: pulumi.output(args.sourceBucketArn).apply((arn) =>
                    JSON.stringify(
                        readOnlyPolicy(
                            arn,
                            args.datasets.map((d) => `${d.landingPrefix}${d.filePrefix}`),
                        ),
                    ),
                ),
            },
            o,
        );

        const sinkGrants = SINK_ROLES.map(
            (role) =>
                new gcp.storage.BucketIAMMember(
                    `${name}-agent-${role.split(".")[1]!.toLowerCase()}`,
                    {
                        bucket: args.sinkBucketName,
                        role,
                        member: pulumi.interpolate`serviceAccount:${agent.email}`,
                    },
                    o,
                ),
        );

        const base = transferJobPrefix(args.environment);
        const prefix = args.uniqueName
            ? pulumi.interpolate`${base}-${new random.RandomId(`${name}-job-suffix`, { byteLength: 4 }, o).hex}`
            : pulumi.output(base);
        const jobs: Record<string, gcp.storage.TransferJob> = {};
        for (const d of args.datasets) {
            jobs[d.name] = new gcp.storage.TransferJob(
                `${name}-job-${d.name}`,
                {
                    name: pulumi.interpolate`${prefix}-${d.name}`,
                    project: args.project,
                    description: `Full refresh of ${d.name} (${args.environment}): S3 landing → GCS staging ${d.name}/, run on demand by its full-refresh DAG`,
                    status: "ENABLED",
                    transferSpec: {
                        awsS3DataSource: {
                            bucketName: args.sourceBucketName,
                            path: d.landingPrefix,
                            roleArn: role.arn,
                        },
                        // Include prefixes are relative to the source folder (Storage Transfer
                        // "Filter by prefix"): only this dataset's monthly files.
                        objectConditions: { includePrefixes: [d.filePrefix] },
                        gcsDataSink: { bucketName: args.sinkBucketName, path: `${d.name}/` },
                        transferOptions: {
                            overwriteWhen: "DIFFERENT",
                            deleteObjectsUniqueInSink: false,
                            deleteObjectsFromSourceAfterTransfer: false,
                        },
                    },
                    loggingConfig: {
                        logActions: ["FIND", "COPY"],
                        logActionStates: ["FAILED"],
                    },
                },
                { parent: this, dependsOn: [rolePolicy, ...sinkGrants] },
            );
        }

        if (args.landingReaderSubject !== undefined) {
            const keyPrefixes = args.datasets.map((d) => `${d.landingPrefix}${d.filePrefix}`);
            const reader = new aws.iam.Role(
                `${name}-reader`,
                {
                    name: `${args.environment}-landing-reader`,
                    description:
                        "Assumed by the batch DAG's copy job (GKE Workload Identity → Google ID token → STS): read landing objects",
                    assumeRolePolicy: pulumi
                        .output(args.landingReaderSubject)
                        .apply((sub) =>
                            JSON.stringify(federationTrustPolicy(sub, "TaxiCopyJobIdentity")),
                        ),
                    maxSessionDuration: 3600,
                    tags: { ...platformLabels(args.environment), component: "s3-transfer" },
                },
                o,
            );
            new aws.iam.RolePolicy(
                `${name}-reader`,
                {
                    role: reader.name,
                    name: "read-landing-objects",
                    policy: pulumi
                        .output(args.sourceBucketArn)
                        .apply((arn) => JSON.stringify(objectReadPolicy(arn, keyPrefixes))),
                },
                o,
            );
            this.landingReaderRoleArn = reader.arn;
        } else {
            this.landingReaderRoleArn = pulumi.output("");
        }
        if (args.landingWriterSubject !== undefined) {
            const keyPrefixes = args.datasets.map((d) => `${d.landingPrefix}${d.filePrefix}`);
            const writer = new aws.iam.Role(
                `${name}-writer`,
                {
                    name: `${args.environment}-landing-ingest`,
                    description:
                        "Assumed by the ingest DAGs' download (GKE Workload Identity → Google ID token → STS): write landing objects",
                    assumeRolePolicy: pulumi
                        .output(args.landingWriterSubject)
                        .apply((sub) =>
                            JSON.stringify(federationTrustPolicy(sub, "TaxiIngestJobIdentity")),
                        ),
                    maxSessionDuration: 3600,
                    tags: { ...platformLabels(args.environment), component: "s3-transfer" },
                },
                o,
            );
            new aws.iam.RolePolicy(
                `${name}-writer`,
                {
                    role: writer.name,
                    name: "write-landing-objects",
                    policy: pulumi
                        .output(args.sourceBucketArn)
                        .apply((arn) => JSON.stringify(objectWritePolicy(arn, keyPrefixes))),
                },
                o,
            );
            this.landingWriterRoleArn = writer.arn;
        } else {
            this.landingWriterRoleArn = pulumi.output("");
        }
        this.role = role;
        this.roleArn = role.arn;
        this.serviceAgentEmail = agent.email;
        this.jobs = jobs;
        this.transferJobPrefix = prefix;
        this.transferJobNames = pulumi.output(
            Object.fromEntries(Object.entries(jobs).map(([k, j]) => [k, j.name])),
        );
        this.registerOutputs({
            transferJobNames: this.transferJobNames,
            roleArn: this.roleArn,
            serviceAgentEmail: this.serviceAgentEmail,
        });
    }
}
