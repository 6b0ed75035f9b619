import { strict as assert } from "node:assert";
import { loadConfig, type TriggerConfig } from "./config";
import { StaticCredentialSource } from "./credentials";
import { dagRunId, objectCreatedEvent } from "./events";
import { createLogger } from "./log";
import { createTriggerHandler, TriggerFailedError } from "./trigger";
import { FakeAirflow } from "../test/fake-airflow";

const PORT = 28100;
const USER = { username: "trigger-fn", password: "s3cret-Pa55word" };

function config(overrides: NodeJS.ProcessEnv = {}): TriggerConfig {
    return loadConfig({
        AIRFLOW_API_URL: `http://127.0.0.1:${PORT}`,
        AIRFLOW_DAG_ID: "batch",
        S3_KEY_PREFIX: "trip data/",
        AIRFLOW_USERNAME: USER.username,
        AIRFLOW_PASSWORD: USER.password,
        LOG_LEVEL: "debug",
        ...overrides,
    });
}

describe("functions/airflow-trigger: handler against a loopback Airflow API", () => {
    const airflow = new FakeAirflow({ port: PORT, ...USER, dags: ["batch", "batch_green"] });
    let lines: string[] = [];

    function handler(overrides: NodeJS.ProcessEnv = {}) {
        return createTriggerHandler({
            config: config(overrides),
            credentials: new StaticCredentialSource(USER),
            logger: createLogger({ level: "debug", sink: (l) => lines.push(l) }),
        });
    }
    const events = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

    before(() => airflow.start());
    after(() => airflow.stop());
    beforeEach(() => {
        airflow.reset();
        lines = [];
    });

    it("URL-decodes keys (+ is a space) and sends conf.uri, logical_date null and the run id", async () => {
        const event = {
            Records: [
                {
                    eventName: "ObjectCreated:Put",
                    eventTime: "2025-01-02T03:04:05.000Z",
                    s3: {
                        bucket: { name: "acme-landing" },
                        object: {
                            key: "trip+data/yellow_tripdata_2024-01%2Bfinal.parquet",
                            eTag: "0123abcd",
                            versionId: "v1",
                            size: 10,
                        },
                    },
                },
            ],
        };
        const summary = await handler()(event, { awsRequestId: "req-1" });
        const key = "trip data/yellow_tripdata_2024-01+final.parquet";
        const runId = dagRunId({ bucket: "acme-landing", key, versionId: "v1", eTag: "0123abcd" });
        assert.match(runId, /^s3__acme-landing__[0-9a-f]{32}$/);
        assert.deepEqual(summary.runs, [
            {
                uri: `s3://acme-landing/${key}`,
                dagId: "batch",
                dagRunId: runId,
                outcome: "created",
            },
        ]);
        const post = airflow.requests.find((r) => r.path === "/api/v2/dags/batch/dagRuns");
        assert.deepEqual(post?.body, {
            dag_run_id: runId,
            logical_date: null,
            conf: { uri: `s3://acme-landing/${key}`, version_id: "v1" },
        });
        assert.match(String(post?.authorization), /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
        const created = events().find((e) => e.event === "dag_run_created");
        assert.equal(created?.request_id, "req-1");
        assert.equal(created?.uri, `s3://acme-landing/${key}`);
    });

    it("triggers one run per record of a multi-record event, with one cached token", async () => {
        const event = objectCreatedEvent([
            {
                bucket: "acme-landing",
                key: "trip data/yellow_tripdata_2024-01.parquet",
                eTag: "a1",
            },
            {
                bucket: "acme-landing",
                key: "trip data/yellow_tripdata_2024-02.parquet",
                eTag: "b2",
            },
            {
                bucket: "acme-landing",
                key: "trip data/yellow_tripdata_2024-03.parquet",
                eTag: "c3",
            },
        ]);
        const summary = await handler()(event);
        assert.deepEqual(
            summary.runs.map((r) => r.outcome),
            ["created", "created", "created"],
        );
        assert.equal(new Set(summary.runs.map((r) => r.dagRunId)).size, 3);
        assert.deepEqual(airflow.sequence(), ["token 201", "run 200", "run 200", "run 200"]);
        assert.deepEqual(
            [...airflow.runs.values()].map((r) => (r.conf as { uri: string }).uri).sort(),
            [1, 2, 3].map((m) => `s3://acme-landing/trip data/yellow_tripdata_2024-0${m}.parquet`),
        );
    });

    it("routes each dataset's files by key prefix to that dataset's DAG (AIRFLOW_DAG_ROUTES)", async () => {
        const routes = JSON.stringify([
            { prefix: "trip data/yellow_tripdata_", dag_id: "batch" },
            { prefix: "trip data/green_tripdata_", dag_id: "batch_green" },
        ]);
        const h = handler({
            AIRFLOW_DAG_ID: undefined,
            S3_KEY_PREFIX: undefined,
            AIRFLOW_DAG_ROUTES: routes,
        });
        const summary = await h(
            objectCreatedEvent([
                {
                    bucket: "acme-landing",
                    key: "trip data/green_tripdata_2024-01.parquet",
                    eTag: "g1",
                },
                {
                    bucket: "acme-landing",
                    key: "trip data/yellow_tripdata_2024-01.parquet",
                    eTag: "y1",
                },
                {
                    bucket: "acme-landing",
                    key: "trip data/fhv_tripdata_2024-01.parquet",
                    eTag: "f1",
                },
            ]),
        );
        assert.deepEqual(
            summary.runs.map((r) => [r.dagId, r.uri]),
            [
                ["batch_green", "s3://acme-landing/trip data/green_tripdata_2024-01.parquet"],
                ["batch", "s3://acme-landing/trip data/yellow_tripdata_2024-01.parquet"],
            ],
        );
        assert.deepEqual(
            airflow.requests.filter((r) => r.path.endsWith("/dagRuns")).map((r) => r.path),
            ["/api/v2/dags/batch_green/dagRuns", "/api/v2/dags/batch/dagRuns"],
        );
        assert.match(summary.ignored[0]!.reason, /starts with none of the dataset prefixes/);
    });

    it("ignores the s3:TestEvent S3 sends after the notification is configured", async () => {
        const summary = await handler()({
            Service: "Amazon S3",
            Event: "s3:TestEvent",
            Time: "2025-01-02T03:04:05.000Z",
            Bucket: "acme-landing",
            RequestId: "X",
            HostId: "Y",
        });
        assert.equal(summary.testEvent, true);
        assert.deepEqual(summary.runs, []);
        assert.equal(airflow.requests.length, 0, "no call to Airflow");
        assert.deepEqual(
            events().map((e) => e.event),
            ["s3_test_event_ignored"],
        );
    });

    it("ignores objects outside the prefix or suffix with a log line, and non-creation events", async () => {
        const event = objectCreatedEvent([
            { bucket: "acme-landing", key: "other/yellow_tripdata_2024-01.parquet", eTag: "a" },
            { bucket: "acme-landing", key: "trip data/readme.csv", eTag: "b" },
            { bucket: "acme-landing", key: "trip data/yellow_tripdata_2024-04.parquet", eTag: "c" },
        ]);
        (event.Records[2] as { eventName: string }).eventName = "ObjectRemoved:Delete";
        const summary = await handler()(event);
        assert.deepEqual(summary.runs, []);
        assert.deepEqual(summary.ignored, [
            {
                key: "trip data/yellow_tripdata_2024-04.parquet",
                reason: "event ObjectRemoved:Delete is not an object creation",
            },
            {
                key: "other/yellow_tripdata_2024-01.parquet",
                reason: 'key starts with none of the dataset prefixes "trip data/"',
            },
            { key: "trip data/readme.csv", reason: 'key does not end with ".parquet"' },
        ]);
        assert.equal(airflow.requests.length, 0);
        assert.equal(events().filter((e) => e.event === "object_ignored").length, 3);
    });

    it("starts one run when the same event is delivered twice (the second sees 409)", async () => {
        const event = objectCreatedEvent([
            {
                bucket: "acme-landing",
                key: "trip data/yellow_tripdata_2024-05.parquet",
                eTag: "e5",
            },
        ]);
        const h = handler();
        const first = await h(event);
        const second = await h(event);
        assert.equal(first.runs[0]?.outcome, "created");
        assert.equal(second.runs[0]?.outcome, "exists");
        assert.equal(first.runs[0]?.dagRunId, second.runs[0]?.dagRunId);
        assert.equal(airflow.runs.size, 1);
        assert.deepEqual(airflow.sequence(), ["token 201", "run 200", "run 409"]);
        assert.ok(events().some((e) => e.event === "dag_run_exists"));
    });

    it("a new version of the same key is a new run", async () => {
        const key = "trip data/yellow_tripdata_2024-06.parquet";
        const h = handler();
        await h(objectCreatedEvent([{ bucket: "b-1", key, eTag: "same", versionId: "v1" }]));
        await h(objectCreatedEvent([{ bucket: "b-1", key, eTag: "same", versionId: "v2" }]));
        assert.equal(airflow.runs.size, 2);
    });

    it("counts a 409 (run already there) as success", async () => {
        const o = {
            bucket: "acme-landing",
            key: "trip data/yellow_tripdata_2024-07.parquet",
            eTag: "f",
        };
        const runId = dagRunId({ ...o, versionId: undefined });
        airflow.runs.set(`batch/${runId}`, {
            dag_id: "batch",
            dag_run_id: runId,
            logical_date: null,
            conf: {},
        });
        const summary = await handler()(objectCreatedEvent([o]));
        assert.deepEqual(summary.runs[0], {
            uri: `s3://${o.bucket}/${o.key}`,
            dagId: "batch",
            dagRunId: runId,
            outcome: "exists",
        });
    });

    it("on 401 gets a new token once and retries; a second 401 fails without looping", async () => {
        const h = handler();
        const o = {
            bucket: "acme-landing",
            key: "trip data/yellow_tripdata_2024-08.parquet",
            eTag: "g",
        };
        await h(objectCreatedEvent([o])); // caches a token
        airflow.revokeTokens();
        const summary = await h(objectCreatedEvent([{ ...o, eTag: "g2" }]));
        assert.equal(summary.runs[0]?.outcome, "created");
        assert.deepEqual(airflow.sequence(), [
            "token 201",
            "run 200",
            "run 401",
            "token 201",
            "run 200",
        ]);

        airflow.reset();
        airflow.force(/dagRuns$/, 401, { detail: "Not authenticated" });
        airflow.force(/dagRuns$/, 401, { detail: "Not authenticated" });
        await assert.rejects(h(objectCreatedEvent([{ ...o, eTag: "g3" }])), (err: unknown) => {
            assert.ok(err instanceof TriggerFailedError);
            assert.equal(err.retryable, false);
            assert.match(err.message, /rejected a fresh token .*401/);
            return true;
        });
        // The cached token is tried first, then one fresh token, then it gives up.
        assert.deepEqual(airflow.sequence(), ["run 401", "token 201", "run 401"]);
    });

    it("fails on 400 with Airflow's message, without retrying the request", async () => {
        airflow.force(/dagRuns$/, 400, {
            detail: "Invalid input for param uri: 'ftp://x' does not match '^(s3|gs|file)://'",
        });
        const event = objectCreatedEvent([
            { bucket: "acme-landing", key: "trip data/yellow_tripdata_2024-09.parquet", eTag: "h" },
        ]);
        await assert.rejects(handler()(event), (err: unknown) => {
            assert.ok(err instanceof TriggerFailedError);
            assert.equal(err.retryable, false);
            assert.match(err.message, /failed with 400: Invalid input for param uri/);
            assert.match(err.message, /yellow_tripdata_2024-09\.parquet/);
            return true;
        });
        assert.deepEqual(airflow.sequence(), ["token 201", "run 400"]);
        const failed = events().find((e) => e.event === "dag_run_failed");
        assert.equal(failed?.status, 400);
        assert.equal(failed?.retryable, false);
    });

    it("names the DAG on 404 and the missing permission on 403", async () => {
        const event = objectCreatedEvent([
            { bucket: "acme-landing", key: "trip data/yellow_tripdata_2024-10.parquet", eTag: "i" },
        ]);
        await assert.rejects(
            handler({ AIRFLOW_DAG_ID: "nope" })(event),
            /Airflow does not know DAG nope \(404/,
        );
        airflow.force(/dagRuns$/, 403, { detail: "Forbidden" });
        await assert.rejects(
            handler()(event),
            /may not create runs of DAG batch \(403: Forbidden\)/,
        );
    });

    it("throws a retryable error on 500 so Lambda retries, after attempting every record", async () => {
        airflow.force(/dagRuns$/, 500, { detail: "Internal Server Error" });
        const event = objectCreatedEvent([
            { bucket: "acme-landing", key: "trip data/yellow_tripdata_2024-11.parquet", eTag: "j" },
            { bucket: "acme-landing", key: "trip data/yellow_tripdata_2024-12.parquet", eTag: "k" },
        ]);
        const h = handler();
        await assert.rejects(h(event), (err: unknown) => {
            assert.ok(err instanceof TriggerFailedError);
            assert.equal(err.retryable, true);
            assert.equal(err.failures.length, 1);
            assert.match(err.message, /failed with 500: Internal Server Error \(transient/);
            return true;
        });
        assert.deepEqual(airflow.sequence(), ["token 201", "run 500", "run 200"]);
        // Lambda's retry delivers the same event: the failed object is created, the other is 409.
        const retry = await h(event);
        assert.deepEqual(
            retry.runs.map((r) => r.outcome),
            ["created", "exists"],
        );
        assert.equal(airflow.runs.size, 2);
    });

    it("attempts every record after a malformed one, then fails naming the malformed records", async () => {
        const good = objectCreatedEvent([
            { bucket: "acme-landing", key: "trip data/yellow_tripdata_2025-04.parquet", eTag: "p" },
            { bucket: "acme-landing", key: "trip data/yellow_tripdata_2025-05.parquet", eTag: "q" },
        ]).Records;
        const event = {
            Records: [
                { eventName: "ObjectCreated:Put", s3: { object: { key: "x.parquet" } } },
                good[0],
                {
                    eventName: "ObjectCreated:Put",
                    s3: {
                        bucket: { name: "acme-landing" },
                        object: { key: "trip+data/y.parquet" },
                    },
                },
                good[1],
            ],
        };
        const h = handler();
        await assert.rejects(h(event), (err: unknown) => {
            assert.ok(err instanceof TriggerFailedError);
            assert.deepEqual(
                err.invalid.map((r) => r.index),
                [0, 2],
            );
            assert.deepEqual(err.failures, []);
            assert.equal(err.retryable, false, "a malformed record does not get better on retry");
            assert.match(err.message, /^2 malformed record\(s\):/);
            assert.match(err.message, /malformed record 0 lacks eventName, s3\.bucket\.name/);
            assert.match(
                err.message,
                /malformed record 2 \(s3:\/\/acme-landing\/trip data\/y\.parquet\) has neither versionId nor eTag/,
            );
            return true;
        });
        assert.equal(airflow.runs.size, 2, "both well-formed records were triggered");
        assert.deepEqual(airflow.sequence(), ["token 201", "run 200", "run 200"]);
        const invalid = events().filter((e) => e.event === "record_invalid");
        assert.deepEqual(
            invalid.map((e) => [e.level, e.record]),
            [
                ["error", 0],
                ["error", 2],
            ],
        );
    });

    it("names malformed records and failed objects together", async () => {
        airflow.force(/dagRuns$/, 500, { detail: "Internal Server Error" });
        const event = objectCreatedEvent([
            { bucket: "acme-landing", key: "trip data/yellow_tripdata_2025-06.parquet", eTag: "r" },
        ]);
        event.Records.unshift({ eventName: "ObjectCreated:Put" });
        await assert.rejects(handler()(event), (err: unknown) => {
            assert.ok(err instanceof TriggerFailedError);
            assert.equal(err.retryable, true);
            assert.match(
                err.message,
                /^1 malformed record\(s\) and 1 object\(s\) could not be triggered \(transient; retry\):\n {2}- malformed record 0 lacks eventName.*\n {2}- s3:\/\/acme-landing\/trip data\/yellow_tripdata_2025-06\.parquet \(run s3__acme-landing__[0-9a-f]{32}\): .*500/,
            );
            return true;
        });
    });

    it("throws a retryable error when Airflow cannot be reached", async () => {
        const h = handler({
            AIRFLOW_API_URL: "http://127.0.0.1:28119",
            AIRFLOW_REQUEST_TIMEOUT_MS: "2000",
        });
        const event = objectCreatedEvent([
            { bucket: "acme-landing", key: "trip data/yellow_tripdata_2025-01.parquet", eTag: "l" },
        ]);
        await assert.rejects(h(event), (err: unknown) => {
            assert.ok(err instanceof TriggerFailedError);
            assert.equal(err.retryable, true);
            assert.match(
                err.message,
                /cannot reach Airflow at http:\/\/127\.0\.0\.1:28119 .*ECONNREFUSED/,
            );
            return true;
        });
    });

    it("rejects wrong credentials with a message naming the source, and never logs secrets", async () => {
        const h = handler();
        await h(
            objectCreatedEvent([
                { bucket: "b-2", key: "trip data/yellow_tripdata_2025-02.parquet", eTag: "m" },
            ]),
        );
        const token = String(airflow.requests[1]?.authorization).slice("Bearer ".length);
        airflow.password = "rotated-elsewhere";
        airflow.revokeTokens();
        await assert.rejects(
            h(
                objectCreatedEvent([
                    { bucket: "b-2", key: "trip data/yellow_tripdata_2025-03.parquet", eTag: "n" },
                ]),
            ),
            /Airflow rejected the credentials from AIRFLOW_USERNAME\/AIRFLOW_PASSWORD \(401: Invalid credentials\)/,
        );
        const all = lines.join("\n");
        assert.ok(lines.length >= 4, "debug logging was on");
        assert.ok(!all.includes(USER.password), "password never logged");
        assert.ok(!all.includes(token), "token never logged");
    });

    it("rejects an event that is not an S3 notification", async () => {
        await assert.rejects(
            handler()({ hello: "world" }),
            /not an S3 event notification: expected a Records array/,
        );
    });

    it("uses LANDING_URI_BASE for conf.uri in local runs", async () => {
        const summary = await handler({ LANDING_URI_BASE: "file:///tmp/taxi/landing/" })(
            objectCreatedEvent([
                { bucket: "local", key: "trip data/yellow_tripdata_2025-04.parquet", eTag: "o" },
            ]),
        );
        assert.equal(
            summary.runs[0]?.uri,
            "file:///tmp/taxi/landing/trip data/yellow_tripdata_2025-04.parquet",
        );
    });
});
