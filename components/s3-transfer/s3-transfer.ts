/**
 * S3Transfer: the bulk S3 → GCS copy of the full refresh, as a Storage Transfer Service job that
 * reaches AWS by role federation. No static AWS keys exist anywhere:
 *
 * - an AWS IAM role trusts Google's identity provider (`accounts.google.com`) for exactly one
 *   subject, the project's Storage Transfer service agent (its `subjectId`, from the
 *   `gcp.storage.getTransferProjectServiceAccount` invoke), via `sts:AssumeRoleWithWebIdentity`;
 * - the role may list the landing bucket and read objects under the source path, nothing else;
 * - the service agent may write to the staging bucket (legacy bucket writer) and read objects
 *   there (to skip files already copied, `overwriteWhen: DIFFERENT`);
 * - the TransferJob (`awsS3DataSource.roleArn`, no `awsAccessKey`) has no schedule: it runs only
 *   when the full_refresh DAG calls `transferJobs.run` on it (the Airflow service account needs
 *   `roles/storagetransfer.user` on the project for that).
 */
import * as aws from "@pulumi/aws";
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
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
    /** Prefix in the landing bucket to copy, ending with `/` (or "" for all). Default `trip data/`. */
    sourcePath?: string;
    /** GCS staging bucket name (DataLake `buckets.staging.name`). Required. */
    sinkBucketName: pulumi.Input<string>;
    /** Prefix in the staging bucket, ending with `/`: the full_refresh DAG reads `<STAGING_URI>/<dataset>/`. Default `yellow/`. */
    sinkPath?: string;
    /**
     * Unique id (`sub` of its Google ID tokens) of the Google service account the batch DAG's
     * per-file copy runs as (the `transfer` workload identity). When given, a second AWS role
     * trusts exactly that account (web identity federation from GKE: the pod asks the metadata
     * server for an ID token and exchanges it with STS) and may only read objects under
     * `sourcePath`.
     */
    landingReaderSubject?: pulumi.Input<string>;
}

export function resolveS3TransferArgs(args: S3TransferArgs) {
    const r = {
        ...args,
        sourcePath: args.sourcePath ?? "trip data/",
        sinkPath: args.sinkPath ?? "yellow/",
    };
    const pathProblem = (arg: string, v: string) =>
        v !== "" &&
        (!v.endsWith("/") || v.startsWith("/")) &&
        `${arg} ${JSON.stringify(v)} must be "" or a prefix ending with "/" and not starting with "/"`;
    assertArgs("S3Transfer", [
        !/^[a-z0-9_]+$/.test(r.environment) &&
            `environment ${JSON.stringify(r.environment)} must be lower-case letters, digits or _`,
        r.project === "" && "project is empty",
        pathProblem("sourcePath", r.sourcePath),
        pathProblem("sinkPath", r.sinkPath),
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

/** Read-only access to the landing bucket: list it, read objects under the source path. */
export function readOnlyPolicy(bucketArn: string, sourcePath: string) {
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
                Resource: `${bucketArn}/${sourcePath}*`,
            },
        ],
    };
}

/** The per-file copy: read objects under the source path, nothing else (no listing). */
export function objectReadPolicy(bucketArn: string, sourcePath: string) {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "ReadLandingObjects",
                Effect: "Allow",
                Action: "s3:GetObject",
                Resource: `${bucketArn}/${sourcePath}*`,
            },
        ],
    };
}

/** What the transfer service agent gets on the staging bucket. */
export const SINK_ROLES = ["roles/storage.legacyBucketWriter", "roles/storage.objectViewer"];

export class S3Transfer extends pulumi.ComponentResource {
    /** `transferJobs/<env>-s3-full-refresh`: the `TRANSFER_JOB_NAME` of pipeline-env. */
    public readonly transferJobName: pulumi.Output<string>;
    public readonly role: aws.iam.Role;
    public readonly roleArn: pulumi.Output<string>;
    /** The Google-managed Storage Transfer service agent of the project. */
    public readonly serviceAgentEmail: pulumi.Output<string>;
    public readonly job: gcp.storage.TransferJob;
    /** `AWS_LANDING_ROLE_ARN` of pipeline-env: the copy job's role ("" without a reader). */
    public readonly landingReaderRoleArn: pulumi.Output<string>;

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
                policy: pulumi
                    .output(args.sourceBucketArn)
                    .apply((arn) => JSON.stringify(readOnlyPolicy(arn, args.sourcePath))),
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

        this.job = new gcp.storage.TransferJob(
            `${name}-job`,
            {
                name: `transferJobs/${args.environment}-s3-full-refresh`,
                project: args.project,
                description: `Full refresh (${args.environment}): S3 landing bucket → GCS staging, run on demand by the full_refresh DAG`,
                status: "ENABLED",
                transferSpec: {
                    awsS3DataSource: {
                        bucketName: args.sourceBucketName,
                        path: args.sourcePath,
                        roleArn: role.arn,
                    },
                    gcsDataSink: { bucketName: args.sinkBucketName, path: args.sinkPath },
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

        if (args.landingReaderSubject !== undefined) {
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
                        .apply((arn) => JSON.stringify(objectReadPolicy(arn, args.sourcePath))),
                },
                o,
            );
            this.landingReaderRoleArn = reader.arn;
        } else {
            this.landingReaderRoleArn = pulumi.output("");
        }
        this.role = role;
        this.roleArn = role.arn;
        this.serviceAgentEmail = agent.email;
        this.transferJobName = this.job.name;
        this.registerOutputs({
            transferJobName: this.transferJobName,
            roleArn: this.roleArn,
            serviceAgentEmail: this.serviceAgentEmail,
        });
    }
}
