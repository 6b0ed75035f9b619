/**
 * The trigger's AWS calls against moto's server on loopback (tools/local/emulators.ts), with the
 * production wiring: `loadConfig(env)` → `createTriggerHandler({ config })`, whose Secrets
 * Manager source builds its own `SecretsManagerClient` from the environment, as in Lambda. Only
 * the endpoint differs (`AWS_ENDPOINT_URL`). Airflow is the loopback fake of its two endpoints
 * (`fake-airflow.ts`): the real one is `integration.test.ts`.
 *
 * - the secret is read once and cached for AIRFLOW_CREDENTIALS_CACHE_SECONDS; a rotated value
 *   (PutSecretValue) is picked up after the cache time, and at once when Airflow answers 401;
 * - Lambda's asynchronous invocation (1 + maximumRetryAttempts attempts, then the on-failure
 *   destination) is played by {@link invokeAsync}: the failed event lands on the SQS queue as
 *   Lambda's destination record, is read back with the SQS client and re-driven.
 */
import { strict as assert } from "node:assert";
import {
    CreateSecretCommand,
    PutSecretValueCommand,
    SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import {
    CreateQueueCommand,
    DeleteMessageCommand,
    GetQueueAttributesCommand,
    ReceiveMessageCommand,
    SendMessageCommand,
    SQSClient,
} from "@aws-sdk/client-sqs";

import { awsClientEnv, startAwsEmulator, type Emulator } from "../../../tools/local/emulators";
import { loadConfig } from "../src/config";
import { objectCreatedEvent } from "../src/events";
import { createLogger } from "../src/log";
import { createTriggerHandler, type TriggerHandler } from "../src/trigger";
import { FakeAirflow } from "./fake-airflow";

const FUNCTION_NAME = "taxi-dev-airflow-trigger";
/** The component's default (`components/aws-trigger`: maximumRetryAttempts 2). */
const MAX_RETRY_ATTEMPTS = 2;
const USER = "trigger-fn";

/**
 * Lambda's asynchronous invocation as documented: the first attempt, up to
 * `maximumRetryAttempts` retries, then an "on failure" destination record (version 1.0,
 * condition RetriesExhausted, the event as `requestPayload`, the error as `responsePayload`)
 * sent to the SQS queue.
 */
async function invokeAsync(
    handler: TriggerHandler,
    event: unknown,
    destination: { sqs: SQSClient; queueUrl: string; functionArn: string },
): Promise<{ ok: boolean; attempts: number }> {
    let last: unknown;
    for (let attempt = 1; attempt <= 1 + MAX_RETRY_ATTEMPTS; attempt++) {
        try {
            await handler(event, { awsRequestId: `req-${attempt}` });
            return { ok: true, attempts: attempt };
        } catch (err) {
            last = err;
        }
    }
    const err = last as Error;
    const record = {
        version: "1.0",
        timestamp: new Date().toISOString(),
        requestContext: {
            requestId: "req-1",
            functionArn: `${destination.functionArn}:$LATEST`,
            condition: "RetriesExhausted",
            approximateInvokeCount: 1 + MAX_RETRY_ATTEMPTS,
        },
        requestPayload: event,
        responseContext: {
            statusCode: 200,
            executedVersion: "$LATEST",
            functionError: "Unhandled",
        },
        responsePayload: { errorType: err.name, errorMessage: err.message },
    };
    await destination.sqs.send(
        new SendMessageCommand({
            QueueUrl: destination.queueUrl,
            MessageBody: JSON.stringify(record),
        }),
    );
    return { ok: false, attempts: 1 + MAX_RETRY_ATTEMPTS };
}

describe("functions/airflow-trigger against moto (Secrets Manager, SQS)", function () {
    this.timeout(120_000);
    let aws: Emulator;
    let secrets: SecretsManagerClient;
    let sqs: SQSClient;
    let secretArn: string;
    const saved: Record<string, string | undefined> = {};
    const airflow = new FakeAirflow({
        port: 0,
        username: USER,
        password: "pw-1",
        dags: ["batch"],
        // Short-lived Airflow tokens, so every invocation after a second asks for a new one
        // and shows which password the function holds.
        tokenTtlSeconds: 1,
    });
    const logLines: string[] = [];
    const logger = createLogger({ level: "info", sink: (line) => logLines.push(line) });

    const handlerFromEnv = (cacheSeconds: number): TriggerHandler =>
        createTriggerHandler({
            config: loadConfig({
                AIRFLOW_API_URL: airflow.url,
                AIRFLOW_DAG_ID: "batch",
                S3_KEY_PREFIX: "trip data/",
                AIRFLOW_CREDENTIALS_SECRET_ID: secretArn,
                AIRFLOW_CREDENTIALS_CACHE_SECONDS: String(cacheSeconds),
            }),
            logger,
        });
    const rotate = (password: string) =>
        secrets.send(
            new PutSecretValueCommand({
                SecretId: secretArn,
                SecretString: JSON.stringify({ username: USER, password }),
            }),
        );
    /** The passwords the function sent to /auth/token, in order. */
    const passwordsSent = () =>
        airflow.requests
            .filter((r) => r.path === "/auth/token")
            .map((r) => (r.body as { password: string }).password);
    const event = (n: number) =>
        objectCreatedEvent([
            {
                bucket: "acme-landing",
                key: `trip data/yellow_tripdata_2024-${String(n).padStart(2, "0")}.parquet`,
                eTag: `etag-${n}`,
            },
        ]);

    before(async () => {
        aws = await startAwsEmulator();
        // The SDK's default chain reads these, as the Lambda runtime provides them.
        const env = awsClientEnv(aws, "eu-west-1");
        for (const [k, v] of Object.entries({
            ...env,
            AWS_SESSION_TOKEN: "emulator",
            AWS_CONFIG_FILE: "/dev/null",
            AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
        })) {
            saved[k] = process.env[k];
            process.env[k] = v;
        }
        secrets = new SecretsManagerClient({});
        sqs = new SQSClient({});
        const created = await secrets.send(
            new CreateSecretCommand({
                Name: `${FUNCTION_NAME}/airflow-api`,
                SecretString: JSON.stringify({ username: USER, password: "pw-1" }),
            }),
        );
        secretArn = created.ARN!;
        await airflow.start();
    });
    after(async () => {
        secrets?.destroy();
        sqs?.destroy();
        await airflow.stop();
        for (const [k, v] of Object.entries(saved)) {
            if (v === undefined) delete process.env[k];
            else process.env[k] = v;
        }
        await aws?.stop();
    });
    beforeEach(() => {
        airflow.reset();
        logLines.length = 0;
    });

    it("reads the secret from Secrets Manager, caches it, and picks up a rotation after the cache time", async () => {
        const handler = handlerFromEnv(3);
        const readAt = Date.now();
        const first = await handler(event(1));
        assert.deepEqual(
            first.runs.map((r) => r.outcome),
            ["created"],
        );
        // Rotated in Secrets Manager, not yet in Airflow (a rotation's "pending" phase): the
        // function keeps the cached value while it is fresh.
        await rotate("pw-2");
        await new Promise((r) => setTimeout(r, 1200)); // the Airflow token has expired
        assert.ok(Date.now() - readAt < 3000, "still inside the cache time");
        await handler(event(2));
        assert.deepEqual(passwordsSent(), ["pw-1", "pw-1"], "cached: no new GetSecretValue");
        // Airflow takes the new password; after the cache time the function reads it.
        airflow.password = "pw-2";
        await new Promise((r) => setTimeout(r, Math.max(0, readAt + 3100 - Date.now())));
        const third = await handler(event(3));
        assert.deepEqual(
            third.runs.map((r) => r.outcome),
            ["created"],
        );
        assert.deepEqual(passwordsSent(), ["pw-1", "pw-1", "pw-2"]);
        assert.deepEqual(airflow.sequence(), [
            "token 201",
            "run 200",
            "token 201",
            "run 200",
            "token 201",
            "run 200",
        ]);
    });

    it("re-reads the secret at once when Airflow rejects the cached password (401)", async () => {
        const handler = handlerFromEnv(300);
        await rotate("pw-3");
        airflow.password = "pw-3";
        await handler(event(4));
        assert.deepEqual(passwordsSent(), ["pw-3"]);
        // Rotated in both places well inside the 300 s cache time, tokens revoked.
        await rotate("pw-4");
        airflow.password = "pw-4";
        airflow.revokeTokens();
        const summary = await handler(event(5));
        assert.deepEqual(
            summary.runs.map((r) => r.outcome),
            ["created"],
        );
        // The Airflow token (1 s) has expired too: the token request with the cached pw-3 is
        // refused, the secret is read again at once (no waiting for the cache time).
        assert.deepEqual(airflow.sequence(), [
            "token 201",
            "run 200",
            "token 401",
            "token 201",
            "run 200",
        ]);
        assert.deepEqual(passwordsSent(), ["pw-3", "pw-3", "pw-4"]);
    });

    it("sends the event it could not deliver to the SQS failure queue, from which it is re-driven", async () => {
        const handler = handlerFromEnv(300);
        await rotate("pw-5");
        airflow.password = "pw-5";
        const queue = await sqs.send(
            new CreateQueueCommand({ QueueName: `${FUNCTION_NAME}-failures` }),
        );
        const queueUrl = queue.QueueUrl!;
        const failing = event(6);
        // Airflow answers 503 to every attempt: first try and both retries.
        for (let i = 0; i < 1 + MAX_RETRY_ATTEMPTS; i++) {
            airflow.force(/dagRuns$/, 503, { detail: "database is locked" });
        }
        const outcome = await invokeAsync(handler, failing, {
            sqs,
            queueUrl,
            functionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${FUNCTION_NAME}`,
        });
        assert.deepEqual(outcome, { ok: false, attempts: 3 });
        assert.equal(logLines.filter((l) => l.includes('"event":"dag_run_failed"')).length, 3);
        assert.ok(!logLines.some((l) => l.includes("pw-5")), "no password in the logs");
        assert.equal(airflow.runs.size, 0);

        const attrs = await sqs.send(
            new GetQueueAttributesCommand({
                QueueUrl: queueUrl,
                AttributeNames: ["ApproximateNumberOfMessages"],
            }),
        );
        assert.equal(attrs.Attributes?.ApproximateNumberOfMessages, "1", "what the alarm reads");
        const received = await sqs.send(
            new ReceiveMessageCommand({
                QueueUrl: queueUrl,
                MaxNumberOfMessages: 10,
                WaitTimeSeconds: 1,
            }),
        );
        assert.equal(received.Messages?.length, 1);
        const message = received.Messages?.[0];
        assert.ok(message);
        const record = JSON.parse(message.Body!) as {
            requestContext: { condition: string; approximateInvokeCount: number };
            requestPayload: unknown;
            responsePayload: { errorType: string; errorMessage: string };
        };
        assert.equal(record.requestContext.condition, "RetriesExhausted");
        assert.equal(record.requestContext.approximateInvokeCount, 3);
        assert.deepEqual(record.requestPayload, failing, "the event, intact");
        assert.equal(record.responsePayload.errorType, "TriggerFailedError");
        assert.match(
            record.responsePayload.errorMessage,
            /s3:\/\/acme-landing\/trip data\/yellow_tripdata_2024-06\.parquet .*503.*transient/s,
        );

        // Airflow is back: re-drive the event from the queue, then delete the message.
        const redriven = await handler(record.requestPayload);
        assert.deepEqual(
            redriven.runs.map((r) => r.outcome),
            ["created"],
        );
        await sqs.send(
            new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }),
        );
        const empty = await sqs.send(
            new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }),
        );
        assert.equal(empty.Messages?.length ?? 0, 0);
    });
});
