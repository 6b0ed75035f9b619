/**
 * AwsTrigger: the AWS half of the platform. A landing bucket for the monthly TLC files and the
 * Lambda (functions/airflow-trigger) that turns each new `.parquet` object under the prefix into
 * an Airflow DAG run through the REST API.
 *
 * - Bucket: every public access block on, ACLs disabled (bucket owner enforced), SSE-S3 default
 *   encryption, TLS-only bucket policy, versioning (the version id makes the run id unique per
 *   upload), noncurrent versions and abandoned multipart uploads expire.
 * - Function: the esbuild bundle (an Archive argument: the component never runs esbuild),
 *   `index.handler`, Node.js 22+, configuration in environment variables, its own log group.
 * - Role: write to that log group, read the one Airflow credential secret, send to the one
 *   failure queue (Lambda requires this for an on-failure destination); nothing else.
 * - Secret: the Airflow API user's `{"username", "password"}`. Its value is set by the operator
 *   (`aws secretsmanager put-secret-value`) or from a Pulumi secret input, never in plaintext.
 * - Async invocation: bounded retries and event age; events that still fail go to an SQS queue,
 *   and an alarm fires as soon as that queue holds a message.
 * - Routing: one route per dataset, key prefix → DAG (`AIRFLOW_DAG_ROUTES`); the stack derives
 *   them from dags/datasets.yaml, so a new dataset's files start that dataset's DAG.
 * - Notification: `s3:ObjectCreated:*` per route, with its prefix and the suffix filter, encoded
 *   as S3 requires (the routes do not overlap, so neither do the notifications).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import {
    formatRoutes,
    routeProblems,
    type DagRoute,
} from "../../functions/airflow-trigger/src/routing";
import { platformLabels } from "../shared/labels";
import { assertArgs } from "../shared/validation";

export const LAMBDA_RUNTIMES = ["nodejs22.x", "nodejs24.x"] as const;
export type LambdaRuntime = (typeof LAMBDA_RUNTIMES)[number];

/** Retention values CloudWatch Logs accepts. */
export const LOG_RETENTION_DAYS = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

export interface AwsTriggerArgs {
    /** Environment name (`dev`, …): resource names and tags. Required. */
    environment: string;
    /** Landing bucket name (globally unique). Required. */
    bucketName: string;
    /** The function's code: an archive with `index.js` at its root (functions/airflow-trigger `buildBundle()`). Required. */
    code: pulumi.Input<pulumi.asset.Archive>;
    /**
     * Base URL of the Airflow API server the function calls. Required, and https: the function
     * posts the trigger user's password to it over the internet (checked when the URL is known).
     */
    airflowUrl: pulumi.Input<string>;
    /**
     * Key prefix → DAG, one per dataset (no prefix may start another). Default: `trip data/` →
     * `batch`. The stack passes one route per enabled dataset of dags/datasets.yaml.
     */
    routes?: DagRoute[];
    /** Only keys with this suffix trigger a run. Default `.parquet`. */
    keySuffix?: string;
    /** Lambda memory in MB (128–10240). Default 256. */
    memoryMb?: number;
    /** Lambda timeout in seconds (5–900). Default 30. */
    timeoutSeconds?: number;
    /** Lambda runtime. Default `nodejs22.x`. */
    runtime?: LambdaRuntime;
    /** Retries of a failed asynchronous invocation (0–2). Default 2. */
    maximumRetryAttempts?: number;
    /** Oldest event Lambda still processes, in seconds (60–21600). Default 3600. */
    maximumEventAgeSeconds?: number;
    /** Days the function's logs are kept (a CloudWatch retention value). Default 30. */
    logRetentionDays?: number;
    /** Days noncurrent object versions are kept. Default 30. */
    noncurrentVersionDays?: number;
    /** Secret value `{"username","password"}` as a Pulumi secret; default: the operator sets it outside Pulumi. */
    airflowCredentials?: pulumi.Input<string>;
    /** AWS account id owning the bucket, pinned in the invoke permission (confused-deputy guard). Default: not pinned. */
    accountId?: string;
    /** ARNs (e.g. SNS topics) notified when the failure alarm fires. Default none. */
    alarmActions?: pulumi.Input<string>[];
    /** Allow `pulumi destroy` to delete a non-empty bucket. Default false. */
    forceDestroy?: boolean;
}

/** The Airflow URL, or an error naming the fix when it is not https. */
export function requireHttps(url: string): string {
    if (!url.startsWith("https://")) {
        throw new Error(
            `AwsTrigger: airflowUrl ${JSON.stringify(url)} is not https: the function would send the trigger user's password in clear over the internet. Serve Airflow over HTTPS (set the stack's domain).`,
        );
    }
    return url;
}

export function resolveAwsTriggerArgs(args: AwsTriggerArgs) {
    const r = {
        ...args,
        routes: args.routes ?? [{ prefix: "trip data/", dagId: "batch" }],
        keySuffix: args.keySuffix ?? ".parquet",
        memoryMb: args.memoryMb ?? 256,
        timeoutSeconds: args.timeoutSeconds ?? 30,
        runtime: args.runtime ?? "nodejs22.x",
        maximumRetryAttempts: args.maximumRetryAttempts ?? 2,
        maximumEventAgeSeconds: args.maximumEventAgeSeconds ?? 3600,
        logRetentionDays: args.logRetentionDays ?? 30,
        noncurrentVersionDays: args.noncurrentVersionDays ?? 30,
        alarmActions: args.alarmActions ?? [],
        forceDestroy: args.forceDestroy ?? false,
    };
    const int = (v: number, lo: number, hi: number) => Number.isInteger(v) && v >= lo && v <= hi;
    assertArgs("AwsTrigger", [
        !/^[a-z0-9_]+$/.test(r.environment) &&
            `environment ${JSON.stringify(r.environment)} must be lower-case letters, digits or _`,
        !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(r.bucketName) &&
            `bucketName ${JSON.stringify(r.bucketName)} is not a valid S3 bucket name (3–63 of a-z 0-9 . -)`,
        /\.\./.test(r.bucketName) && `bucketName ${JSON.stringify(r.bucketName)} contains ".."`,
        ...routeProblems(r.routes).map((p) => `routes: ${p}`),
        new Set(r.routes.map((x) => x.dagId)).size !== r.routes.length &&
            `routes: each DAG may have one prefix (got ${r.routes.map((x) => x.dagId).join(", ")})`,
        r.keySuffix === "" && "keySuffix is empty; use `.parquet` (the pipeline reads Parquet)",
        !int(r.memoryMb, 128, 10240) && `memoryMb is ${r.memoryMb}; must be 128–10240`,
        !int(r.timeoutSeconds, 5, 900) && `timeoutSeconds is ${r.timeoutSeconds}; must be 5–900`,
        !(LAMBDA_RUNTIMES as readonly string[]).includes(r.runtime) &&
            `runtime ${JSON.stringify(r.runtime)} must be one of ${LAMBDA_RUNTIMES.join(", ")}`,
        !int(r.maximumRetryAttempts, 0, 2) &&
            `maximumRetryAttempts is ${r.maximumRetryAttempts}; Lambda allows 0–2`,
        !int(r.maximumEventAgeSeconds, 60, 21600) &&
            `maximumEventAgeSeconds is ${r.maximumEventAgeSeconds}; Lambda allows 60–21600`,
        !LOG_RETENTION_DAYS.includes(r.logRetentionDays) &&
            `logRetentionDays is ${r.logRetentionDays}; CloudWatch accepts ${LOG_RETENTION_DAYS.join(", ")}`,
        !int(r.noncurrentVersionDays, 1, 36500) &&
            `noncurrentVersionDays is ${r.noncurrentVersionDays}; must be at least 1`,
        r.accountId !== undefined &&
            !/^\d{12}$/.test(r.accountId) &&
            `accountId ${JSON.stringify(r.accountId)} must be a 12-digit AWS account id`,
    ]);
    return r;
}

/**
 * S3 notification filters compare against the URL-encoded key: a space must be written `+` and
 * other special characters percent-encoded (S3 user guide, "Configuring event notifications
 * using object key name filtering"). `trip data/` → `trip+data/`.
 */
export function notificationFilterValue(value: string): string {
    return value
        .split("/")
        .map((part) =>
            encodeURIComponent(part)
                .replace(/%20/g, "+")
                .replace(/[~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`),
        )
        .join("/");
}

/** Per-request timeout for Airflow calls: a fifth of the function timeout, at most 10 s. */
export function requestTimeoutMs(timeoutSeconds: number): number {
    return Math.max(1000, Math.min(10_000, Math.floor((timeoutSeconds * 1000) / 5)));
}

/** The function role's one inline policy: logs, the secret, the failure queue. */
export function functionPolicy(logGroupArn: string, secretArn: string, queueArn: string) {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "WriteOwnLogs",
                Effect: "Allow",
                Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
                Resource: `${logGroupArn}:*`,
            },
            {
                Sid: "ReadAirflowCredentials",
                Effect: "Allow",
                Action: "secretsmanager:GetSecretValue",
                Resource: secretArn,
            },
            {
                Sid: "OnFailureDestination",
                Effect: "Allow",
                Action: "sqs:SendMessage",
                Resource: queueArn,
            },
        ],
    };
}

export const LAMBDA_TRUST_POLICY = {
    Version: "2012-10-17",
    Statement: [
        {
            Effect: "Allow",
            Principal: { Service: "lambda.amazonaws.com" },
            Action: "sts:AssumeRole",
        },
    ],
};

/** Deny any request to the bucket that does not use TLS. */
export function tlsOnlyBucketPolicy(bucketArn: string) {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "DenyInsecureTransport",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:*",
                Resource: [bucketArn, `${bucketArn}/*`],
                Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
        ],
    };
}

export class AwsTrigger extends pulumi.ComponentResource {
    public readonly bucket: aws.s3.Bucket;
    public readonly bucketName: pulumi.Output<string>;
    public readonly bucketArn: pulumi.Output<string>;
    public readonly function: aws.lambda.Function;
    public readonly functionName: pulumi.Output<string>;
    public readonly functionArn: pulumi.Output<string>;
    public readonly role: aws.iam.Role;
    public readonly secret: aws.secretsmanager.Secret;
    public readonly secretArn: pulumi.Output<string>;
    public readonly failureQueue: aws.sqs.Queue;
    public readonly failureQueueUrl: pulumi.Output<string>;
    public readonly failureAlarm: aws.cloudwatch.MetricAlarm;

    /** Pass the AWS provider in `opts.providers`; children inherit it. */
    constructor(name: string, rawArgs: AwsTriggerArgs, opts: pulumi.ComponentResourceOptions = {}) {
        super("taxi:aws:AwsTrigger", name, {}, opts);
        const args = resolveAwsTriggerArgs(rawArgs);
        const o = { parent: this };
        const tags = { ...platformLabels(args.environment), component: "airflow-trigger" };
        const functionName = `${args.environment}-airflow-trigger`;

        // --- landing bucket -------------------------------------------------------------------
        const bucket = new aws.s3.Bucket(
            `${name}-landing`,
            { bucket: args.bucketName, forceDestroy: args.forceDestroy, tags },
            o,
        );
        const publicAccess = new aws.s3.BucketPublicAccessBlock(
            `${name}-landing`,
            {
                bucket: bucket.id,
                blockPublicAcls: true,
                blockPublicPolicy: true,
                ignorePublicAcls: true,
                restrictPublicBuckets: true,
            },
            o,
        );
        new aws.s3.BucketOwnershipControls(
            `${name}-landing`,
            { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } },
            o,
        );
        new aws.s3.BucketServerSideEncryptionConfiguration(
            `${name}-landing`,
            {
                bucket: bucket.id,
                rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }],
            },
            o,
        );
        const versioning = new aws.s3.BucketVersioning(
            `${name}-landing`,
            { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } },
            o,
        );
        new aws.s3.BucketLifecycleConfiguration(
            `${name}-landing`,
            {
                bucket: bucket.id,
                rules: [
                    {
                        id: "expire-noncurrent-versions",
                        status: "Enabled",
                        filter: {},
                        noncurrentVersionExpiration: { noncurrentDays: args.noncurrentVersionDays },
                    },
                    {
                        id: "abort-incomplete-uploads",
                        status: "Enabled",
                        filter: {},
                        abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
                    },
                ],
            },
            { parent: this, dependsOn: [versioning] },
        );
        new aws.s3.BucketPolicy(
            `${name}-landing`,
            {
                bucket: bucket.id,
                policy: bucket.arn.apply((arn) => JSON.stringify(tlsOnlyBucketPolicy(arn))),
            },
            // A policy cannot be attached while the public access block is being created.
            { parent: this, dependsOn: [publicAccess] },
        );

        // --- credential secret, failure queue, logs -------------------------------------------
        const secret = new aws.secretsmanager.Secret(
            `${name}-airflow-api`,
            {
                name: `${args.environment}/airflow-trigger/airflow-api`,
                description:
                    'Airflow API user of the S3 trigger function: {"username": …, "password": …}. Set the value with `aws secretsmanager put-secret-value`.',
                recoveryWindowInDays: 7,
                tags,
            },
            o,
        );
        if (args.airflowCredentials !== undefined) {
            new aws.secretsmanager.SecretVersion(
                `${name}-airflow-api`,
                { secretId: secret.id, secretString: pulumi.secret(args.airflowCredentials) },
                o,
            );
        }
        const queue = new aws.sqs.Queue(
            `${name}-failures`,
            {
                name: `${functionName}-failures`,
                messageRetentionSeconds: 14 * 86400,
                sqsManagedSseEnabled: true,
                tags,
            },
            o,
        );
        const logGroup = new aws.cloudwatch.LogGroup(
            `${name}-logs`,
            {
                name: `/aws/lambda/${functionName}`,
                retentionInDays: args.logRetentionDays,
                tags,
            },
            o,
        );

        // --- role -----------------------------------------------------------------------------
        const role = new aws.iam.Role(
            `${name}-function`,
            {
                name: functionName,
                description:
                    "S3 trigger function: logs, the Airflow credential secret, the failure queue",
                assumeRolePolicy: JSON.stringify(LAMBDA_TRUST_POLICY),
                tags,
            },
            o,
        );
        const rolePolicy = new aws.iam.RolePolicy(
            `${name}-function`,
            {
                role: role.name,
                name: "airflow-trigger",
                policy: pulumi
                    .all([logGroup.arn, secret.arn, queue.arn])
                    .apply(([l, s, q]) => JSON.stringify(functionPolicy(l, s, q))),
            },
            o,
        );

        // --- function -------------------------------------------------------------------------
        const fn = new aws.lambda.Function(
            `${name}-function`,
            {
                name: functionName,
                description:
                    "S3 ObjectCreated → Airflow REST API DAG run (functions/airflow-trigger)",
                runtime: args.runtime,
                architectures: ["arm64"],
                handler: "index.handler",
                code: args.code,
                role: role.arn,
                memorySize: args.memoryMb,
                timeout: args.timeoutSeconds,
                environment: {
                    variables: {
                        AIRFLOW_API_URL: pulumi.output(args.airflowUrl).apply(requireHttps),
                        AIRFLOW_DAG_ROUTES: formatRoutes(args.routes),
                        AIRFLOW_CREDENTIALS_SECRET_ID: secret.arn,
                        AIRFLOW_REQUEST_TIMEOUT_MS: String(requestTimeoutMs(args.timeoutSeconds)),
                        S3_KEY_SUFFIX: args.keySuffix,
                        NODE_OPTIONS: "--enable-source-maps",
                    },
                },
                loggingConfig: { logFormat: "Text", logGroup: logGroup.name },
                tags,
            },
            { parent: this, dependsOn: [logGroup, rolePolicy] },
        );
        new aws.lambda.FunctionEventInvokeConfig(
            `${name}-async`,
            {
                functionName: fn.name,
                maximumRetryAttempts: args.maximumRetryAttempts,
                maximumEventAgeInSeconds: args.maximumEventAgeSeconds,
                destinationConfig: { onFailure: { destination: queue.arn } },
            },
            { parent: this, dependsOn: [rolePolicy] },
        );
        const alarm = new aws.cloudwatch.MetricAlarm(
            `${name}-failures`,
            {
                name: `${functionName}-failed-events`,
                alarmDescription: `S3 events the trigger could not turn into DAG runs (${args.routes.map((x) => x.dagId).join(", ")}) after ${args.maximumRetryAttempts} retries are waiting in ${functionName}-failures: read them, fix the cause, re-drive them.`,
                namespace: "AWS/SQS",
                metricName: "ApproximateNumberOfMessagesVisible",
                dimensions: { QueueName: queue.name },
                statistic: "Maximum",
                period: 300,
                evaluationPeriods: 1,
                threshold: 0,
                comparisonOperator: "GreaterThanThreshold",
                treatMissingData: "notBreaching",
                alarmActions: args.alarmActions,
                okActions: args.alarmActions,
                tags,
            },
            o,
        );

        // --- notification ---------------------------------------------------------------------
        const permission = new aws.lambda.Permission(
            `${name}-s3-invoke`,
            {
                function: fn.name,
                action: "lambda:InvokeFunction",
                principal: "s3.amazonaws.com",
                sourceArn: bucket.arn,
                ...(args.accountId === undefined ? {} : { sourceAccount: args.accountId }),
            },
            o,
        );
        new aws.s3.BucketNotification(
            `${name}-landing`,
            {
                bucket: bucket.id,
                lambdaFunctions: args.routes.map((route) => ({
                    id: `new-parquet-to-${route.dagId}`,
                    lambdaFunctionArn: fn.arn,
                    events: ["s3:ObjectCreated:*"],
                    ...(route.prefix === ""
                        ? {}
                        : { filterPrefix: notificationFilterValue(route.prefix) }),
                    filterSuffix: notificationFilterValue(args.keySuffix),
                })),
            },
            { parent: this, dependsOn: [permission] },
        );

        this.bucket = bucket;
        this.bucketName = bucket.bucket;
        this.bucketArn = bucket.arn;
        this.function = fn;
        this.functionName = fn.name;
        this.functionArn = fn.arn;
        this.role = role;
        this.secret = secret;
        this.secretArn = secret.arn;
        this.failureQueue = queue;
        this.failureQueueUrl = queue.url;
        this.failureAlarm = alarm;
        this.registerOutputs({
            bucketName: this.bucketName,
            bucketArn: this.bucketArn,
            functionName: this.functionName,
            functionArn: this.functionArn,
            secretArn: this.secretArn,
            failureQueueUrl: this.failureQueueUrl,
        });
    }
}
