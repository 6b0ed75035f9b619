import { strict as assert } from "node:assert";
import * as pulumi from "@pulumi/pulumi";
import { evaluate, type EvaluateOptions } from "../../offline/engine";
import {
    AwsTrigger,
    type AwsTriggerArgs,
    notificationFilterValue,
    requestTimeoutMs,
    requireHttps,
} from "./aws-trigger";

const ACCOUNT = "123456789012";
const REGION = "us-east-1";

/** ARNs and URLs AWS would compute, so policies can be asserted with concrete values. */
const AWS_FAKES: NonNullable<EvaluateOptions["outputs"]> = {
    "aws:s3/bucket:Bucket": (_n, i) => ({ arn: `arn:aws:s3:::${String(i.bucket)}` }),
    "aws:lambda/function:Function": (_n, i) => ({
        arn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${String(i.name)}`,
    }),
    "aws:secretsmanager/secret:Secret": (_n, i) => ({
        arn: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${String(i.name)}-AbCdEf`,
    }),
    "aws:sqs/queue:Queue": (_n, i) => ({
        arn: `arn:aws:sqs:${REGION}:${ACCOUNT}:${String(i.name)}`,
        url: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${String(i.name)}`,
    }),
    "aws:cloudwatch/logGroup:LogGroup": (_n, i) => ({
        arn: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${String(i.name)}`,
    }),
    "aws:iam/role:Role": (_n, i) => ({ arn: `arn:aws:iam::${ACCOUNT}:role/${String(i.name)}` }),
};

const ARGS: AwsTriggerArgs = {
    environment: "dev",
    bucketName: "acme-taxi-dev-landing",
    code: new pulumi.asset.AssetArchive({
        "index.js": new pulumi.asset.StringAsset("exports.handler = async () => ({});"),
    }),
    airflowUrl: "https://airflow.dev.example.com",
    memoryMb: 512,
    timeoutSeconds: 60,
};

function build(args: Partial<AwsTriggerArgs> = {}) {
    return evaluate(() => new AwsTrigger("dev-trigger", { ...ARGS, ...args }), {
        outputs: AWS_FAKES,
    });
}

type Inputs = Record<string, any>;

describe("components/aws-trigger", () => {
    it("refuses a plain-http Airflow URL: the trigger password would cross the internet in clear", async () => {
        // The URL is an Output (the load balancer's), so the check runs when it is known,
        // failing the function's registration under the engine.
        assert.throws(
            () => requireHttps("http://airflow.203-0-113-20.sslip.io"),
            /airflowUrl "http:\/\/airflow\.203-0-113-20\.sslip\.io" is not https: the function would send the trigger user's password in clear/,
        );
        assert.equal(requireHttps("https://airflow.example.com"), "https://airflow.example.com");
        const r = await build();
        const fn = r.ofType("aws:lambda/function:Function")[0]!.inputs as Inputs;
        assert.equal(fn.environment.variables.AIRFLOW_API_URL, "https://airflow.dev.example.com");
    });

    it("creates exactly the bucket, its protections, the function, its role, secret, queue, alarm and notification", async () => {
        const r = await build();
        assert.deepEqual(r.countsByType(), {
            "aws:cloudwatch/logGroup:LogGroup": 1,
            "aws:cloudwatch/metricAlarm:MetricAlarm": 1,
            "aws:iam/role:Role": 1,
            "aws:iam/rolePolicy:RolePolicy": 1,
            "aws:lambda/function:Function": 1,
            "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": 1,
            "aws:lambda/permission:Permission": 1,
            "aws:s3/bucket:Bucket": 1,
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": 1,
            "aws:s3/bucketNotification:BucketNotification": 1,
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls": 1,
            "aws:s3/bucketPolicy:BucketPolicy": 1,
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": 1,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": 1,
            "aws:s3/bucketVersioning:BucketVersioning": 1,
            "aws:secretsmanager/secret:Secret": 1,
            "aws:sqs/queue:Queue": 1,
            "taxi:aws:AwsTrigger": 1,
        });
        assert.equal(r.childrenOf("taxi:aws:AwsTrigger", "dev-trigger").length, 17, "all parented");
        assert.equal(r.ofType("aws:secretsmanager/secretVersion:SecretVersion").length, 0);
        assert.equal(r.ofType("aws:iam/rolePolicyAttachment:RolePolicyAttachment").length, 0);
    });

    it("locks the landing bucket: public access blocked, ACLs off, encrypted, versioned, TLS only", async () => {
        const r = await build();
        const bucket = r.get("aws:s3/bucket:Bucket", "dev-trigger-landing").inputs as Inputs;
        assert.equal(bucket.bucket, "acme-taxi-dev-landing");
        assert.equal(bucket.forceDestroy, false);
        const pab = r.get(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "dev-trigger-landing",
        ).inputs;
        assert.deepEqual(
            [
                pab.blockPublicAcls,
                pab.blockPublicPolicy,
                pab.ignorePublicAcls,
                pab.restrictPublicBuckets,
            ],
            [true, true, true, true],
        );
        assert.equal(
            (
                r.get(
                    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
                    "dev-trigger-landing",
                ).inputs as Inputs
            ).rule.objectOwnership,
            "BucketOwnerEnforced",
        );
        assert.deepEqual(
            (
                r.get(
                    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                    "dev-trigger-landing",
                ).inputs as Inputs
            ).rules,
            [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }],
        );
        assert.deepEqual(
            (
                r.get("aws:s3/bucketVersioning:BucketVersioning", "dev-trigger-landing")
                    .inputs as Inputs
            ).versioningConfiguration,
            { status: "Enabled" },
        );
        const policy = JSON.parse(
            String(r.get("aws:s3/bucketPolicy:BucketPolicy", "dev-trigger-landing").inputs.policy),
        );
        assert.deepEqual(policy.Statement, [
            {
                Sid: "DenyInsecureTransport",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:*",
                Resource: [
                    "arn:aws:s3:::acme-taxi-dev-landing",
                    "arn:aws:s3:::acme-taxi-dev-landing/*",
                ],
                Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
        ]);
        const rules = (
            r.get(
                "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                "dev-trigger-landing",
            ).inputs as Inputs
        ).rules;
        assert.deepEqual(
            rules.map((x: Inputs) => [
                x.id,
                x.noncurrentVersionExpiration?.noncurrentDays,
                x.abortIncompleteMultipartUpload?.daysAfterInitiation,
            ]),
            [
                ["expire-noncurrent-versions", 30, undefined],
                ["abort-incomplete-uploads", undefined, 7],
            ],
        );
    });

    it("notifies the function of new .parquet objects under the prefix, encoded as S3 requires", async () => {
        const r = await build();
        const n = r.get("aws:s3/bucketNotification:BucketNotification", "dev-trigger-landing")
            .inputs as Inputs;
        assert.deepEqual(n.lambdaFunctions, [
            {
                id: "new-parquet-to-batch",
                lambdaFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:dev-airflow-trigger`,
                events: ["s3:ObjectCreated:*"],
                filterPrefix: "trip+data/",
                filterSuffix: ".parquet",
            },
        ]);
        assert.equal(n.queues, undefined);
        assert.equal(n.topics, undefined);
        const p = r.get("aws:lambda/permission:Permission", "dev-trigger-s3-invoke")
            .inputs as Inputs;
        assert.deepEqual(
            [p.action, p.principal, p.sourceArn, p.function, p.sourceAccount],
            [
                "lambda:InvokeFunction",
                "s3.amazonaws.com",
                "arn:aws:s3:::acme-taxi-dev-landing",
                "dev-airflow-trigger",
                undefined,
            ],
        );
        const pinned = await build({ accountId: ACCOUNT });
        assert.equal(
            pinned.get("aws:lambda/permission:Permission", "dev-trigger-s3-invoke").inputs
                .sourceAccount,
            ACCOUNT,
        );
        const all = await build({ routes: [{ prefix: "", dagId: "batch" }] });
        assert.equal(
            (
                all.get("aws:s3/bucketNotification:BucketNotification", "dev-trigger-landing")
                    .inputs as Inputs
            ).lambdaFunctions[0].filterPrefix,
            undefined,
        );
    });

    it("gives the role exactly: its log group, the one secret, the failure queue", async () => {
        const r = await build();
        const role = r.get("aws:iam/role:Role", "dev-trigger-function").inputs as Inputs;
        assert.deepEqual(JSON.parse(role.assumeRolePolicy), {
            Version: "2012-10-17",
            Statement: [
                {
                    Effect: "Allow",
                    Principal: { Service: "lambda.amazonaws.com" },
                    Action: "sts:AssumeRole",
                },
            ],
        });
        assert.equal(role.managedPolicyArns, undefined);
        const policy = r.get("aws:iam/rolePolicy:RolePolicy", "dev-trigger-function")
            .inputs as Inputs;
        assert.equal(policy.role, "dev-airflow-trigger");
        assert.deepEqual(JSON.parse(policy.policy), {
            Version: "2012-10-17",
            Statement: [
                {
                    Sid: "WriteOwnLogs",
                    Effect: "Allow",
                    Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
                    Resource: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/dev-airflow-trigger:*`,
                },
                {
                    Sid: "ReadAirflowCredentials",
                    Effect: "Allow",
                    Action: "secretsmanager:GetSecretValue",
                    Resource: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:dev/airflow-trigger/airflow-api-AbCdEf`,
                },
                {
                    Sid: "OnFailureDestination",
                    Effect: "Allow",
                    Action: "sqs:SendMessage",
                    Resource: `arn:aws:sqs:${REGION}:${ACCOUNT}:dev-airflow-trigger-failures`,
                },
            ],
        });
        assert.ok(!policy.policy.includes('"*"'), "no wildcard resource or action");
    });

    it("runs the bundle on Node.js 22 with the configured memory, timeout and environment", async () => {
        const r = await build();
        const fn = r.get("aws:lambda/function:Function", "dev-trigger-function").inputs as Inputs;
        assert.deepEqual(
            [fn.name, fn.runtime, fn.handler, fn.memorySize, fn.timeout, fn.architectures],
            ["dev-airflow-trigger", "nodejs22.x", "index.handler", 512, 60, ["arm64"]],
        );
        assert.equal(fn.role, `arn:aws:iam::${ACCOUNT}:role/dev-airflow-trigger`);
        assert.ok(fn.code, "the archive is the code");
        assert.deepEqual(fn.environment.variables, {
            AIRFLOW_API_URL: "https://airflow.dev.example.com",
            AIRFLOW_DAG_ROUTES: '[{"prefix":"trip data/","dag_id":"batch"}]',
            AIRFLOW_CREDENTIALS_SECRET_ID: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:dev/airflow-trigger/airflow-api-AbCdEf`,
            AIRFLOW_REQUEST_TIMEOUT_MS: "10000",
            S3_KEY_SUFFIX: ".parquet",
            NODE_OPTIONS: "--enable-source-maps",
        });
        assert.deepEqual(fn.loggingConfig, {
            logFormat: "Text",
            logGroup: "/aws/lambda/dev-airflow-trigger",
        });
        assert.equal(
            r.get("aws:cloudwatch/logGroup:LogGroup", "dev-trigger-logs").inputs.retentionInDays,
            30,
        );
        assert.equal(requestTimeoutMs(30), 6000);
        assert.equal(requestTimeoutMs(5), 1000);
    });

    it("bounds async retries and event age, sends failures to SQS and alarms on it", async () => {
        const r = await build({
            maximumRetryAttempts: 1,
            maximumEventAgeSeconds: 900,
            alarmActions: ["arn:aws:sns:us-east-1:123456789012:ops"],
        });
        const cfg = r.get(
            "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
            "dev-trigger-async",
        ).inputs as Inputs;
        assert.deepEqual(cfg, {
            functionName: "dev-airflow-trigger",
            maximumRetryAttempts: 1,
            maximumEventAgeInSeconds: 900,
            destinationConfig: {
                onFailure: {
                    destination: `arn:aws:sqs:${REGION}:${ACCOUNT}:dev-airflow-trigger-failures`,
                },
            },
        });
        const q = r.get("aws:sqs/queue:Queue", "dev-trigger-failures").inputs as Inputs;
        assert.deepEqual([q.sqsManagedSseEnabled, q.messageRetentionSeconds], [true, 1209600]);
        const alarm = r.get("aws:cloudwatch/metricAlarm:MetricAlarm", "dev-trigger-failures")
            .inputs as Inputs;
        assert.deepEqual(
            [
                alarm.namespace,
                alarm.metricName,
                alarm.dimensions,
                alarm.comparisonOperator,
                alarm.threshold,
                alarm.treatMissingData,
            ],
            [
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                { QueueName: "dev-airflow-trigger-failures" },
                "GreaterThanThreshold",
                0,
                "notBreaching",
            ],
        );
        assert.deepEqual(alarm.alarmActions, ["arn:aws:sns:us-east-1:123456789012:ops"]);
    });

    it("stores the secret value only from a Pulumi secret input, never in plaintext", async () => {
        const r = await build({
            airflowCredentials: pulumi.secret('{"username":"fn","password":"pw"}'),
        });
        const v = r.get(
            "aws:secretsmanager/secretVersion:SecretVersion",
            "dev-trigger-airflow-api",
        );
        assert.deepEqual(v.secretInputs, ["secretString"]);
        assert.equal(v.inputs.secretString, "[secret]");
        // Even a plain string passed by mistake is stored as a secret.
        const plain = await build({ airflowCredentials: '{"username":"fn","password":"pw"}' });
        assert.deepEqual(
            plain.get("aws:secretsmanager/secretVersion:SecretVersion", "dev-trigger-airflow-api")
                .secretInputs,
            ["secretString"],
        );
        const secret = r.get("aws:secretsmanager/secret:Secret", "dev-trigger-airflow-api")
            .inputs as Inputs;
        assert.equal(secret.name, "dev/airflow-trigger/airflow-api");
    });

    it("routes each dataset's prefix to its DAG: one notification per route, the table in AIRFLOW_DAG_ROUTES", async () => {
        const routes = [
            { prefix: "trip data/yellow_tripdata_", dagId: "batch" },
            { prefix: "trip data/green_tripdata_", dagId: "batch_green" },
        ];
        const r = await build({ routes });
        const n = r.get("aws:s3/bucketNotification:BucketNotification", "dev-trigger-landing")
            .inputs as Inputs;
        assert.deepEqual(
            n.lambdaFunctions.map((f: Inputs) => [f.id, f.filterPrefix, f.filterSuffix]),
            [
                ["new-parquet-to-batch", "trip+data/yellow_tripdata_", ".parquet"],
                ["new-parquet-to-batch_green", "trip+data/green_tripdata_", ".parquet"],
            ],
        );
        const fn = r.get("aws:lambda/function:Function", "dev-trigger-function").inputs as Inputs;
        assert.deepEqual(JSON.parse(fn.environment.variables.AIRFLOW_DAG_ROUTES), [
            { prefix: "trip data/yellow_tripdata_", dag_id: "batch" },
            { prefix: "trip data/green_tripdata_", dag_id: "batch_green" },
        ]);
        await assert.rejects(
            build({ routes: [...routes, { prefix: "trip data/", dagId: "batch_all" }] }),
            /routes: routes 0 and 2 overlap/,
        );
    });

    it("encodes notification filters: space as +, other specials percent-encoded", () => {
        assert.equal(notificationFilterValue("trip data/"), "trip+data/");
        assert.equal(notificationFilterValue("a+b/c~d=e/"), "a%2Bb/c%7Ed%3De/");
        assert.equal(notificationFilterValue(".parquet"), ".parquet");
    });

    it("rejects bad arguments before creating anything, naming each", async () => {
        await assert.rejects(
            build({
                bucketName: "Acme_Landing",
                memoryMb: 64,
                maximumRetryAttempts: 3,
                logRetentionDays: 10,
                routes: [{ prefix: "/trip/", dagId: "batch" }],
            }),
            (err: Error) => {
                for (const arg of [
                    "bucketName",
                    "memoryMb is 64",
                    "maximumRetryAttempts is 3",
                    "logRetentionDays is 10",
                    'routes: route 0: prefix "/trip/" starts with "/"',
                ]) {
                    assert.ok(err.message.includes(arg), `${arg} in: ${err.message}`);
                }
                return true;
            },
        );
        await assert.rejects(
            build({ runtime: "nodejs20.x" as never }),
            /runtime "nodejs20.x" must be one of nodejs22.x, nodejs24.x/,
        );
    });
});
