import { strict as assert } from "node:assert";
import { ConfigError, loadConfig } from "./config";

const BASE = {
    AIRFLOW_API_URL: "https://airflow.example.com/",
    AIRFLOW_DAG_ID: "batch",
    AIRFLOW_CREDENTIALS_SECRET_ID:
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:airflow-api-AbCdEf",
};

function problems(env: NodeJS.ProcessEnv): string[] {
    try {
        loadConfig(env);
    } catch (err) {
        assert.ok(err instanceof ConfigError, String(err));
        return err.problems;
    }
    assert.fail("expected a ConfigError");
}

describe("functions/airflow-trigger: config", () => {
    it("reads a Lambda environment, with defaults", () => {
        assert.deepEqual(loadConfig(BASE), {
            airflowUrl: "https://airflow.example.com",
            routes: [{ prefix: "", dagId: "batch" }],
            keySuffix: ".parquet",
            landingUriBase: undefined,
            requestTimeoutMs: 10000,
            credentials: {
                kind: "secrets-manager",
                secretId: BASE.AIRFLOW_CREDENTIALS_SECRET_ID,
                cacheTtlMs: 300000,
            },
            logLevel: "info",
        });
    });

    it("keeps a prefix with a space as is", () => {
        assert.deepEqual(loadConfig({ ...BASE, S3_KEY_PREFIX: "trip data/" }).routes, [
            { prefix: "trip data/", dagId: "batch" },
        ]);
    });

    it("reads one route per dataset from AIRFLOW_DAG_ROUTES (the stack's form)", () => {
        const rest = { ...BASE, AIRFLOW_DAG_ID: undefined };
        const routes = JSON.stringify([
            { prefix: "trip data/yellow_tripdata_", dag_id: "batch" },
            { prefix: "trip data/green_tripdata_", dag_id: "batch_green" },
        ]);
        assert.deepEqual(loadConfig({ ...rest, AIRFLOW_DAG_ROUTES: routes }).routes, [
            { prefix: "trip data/yellow_tripdata_", dagId: "batch" },
            { prefix: "trip data/green_tripdata_", dagId: "batch_green" },
        ]);
        assert.match(
            problems({ ...BASE, AIRFLOW_DAG_ROUTES: routes }).join("\n"),
            /AIRFLOW_DAG_ROUTES and AIRFLOW_DAG_ID\/S3_KEY_PREFIX are both set/,
        );
        assert.match(
            problems({ ...rest, AIRFLOW_DAG_ROUTES: "{" }).join("\n"),
            /^AIRFLOW_DAG_ROUTES is not JSON/,
        );
        const overlapping = JSON.stringify([
            { prefix: "trip data/", dag_id: "batch" },
            { prefix: "trip data/green_tripdata_", dag_id: "batch_green" },
        ]);
        assert.match(
            problems({ ...rest, AIRFLOW_DAG_ROUTES: overlapping }).join("\n"),
            /AIRFLOW_DAG_ROUTES routes 0 and 1 overlap/,
        );
    });

    it("reports every problem at once, naming each variable", () => {
        const p = problems({ AIRFLOW_REQUEST_TIMEOUT_MS: "0", LOG_LEVEL: "loud" });
        assert.equal(p.length, 5, p.join("\n"));
        assert.match(
            p[0]!,
            /^AIRFLOW_API_URL is not set: set it to the Airflow API server's base URL/,
        );
        assert.match(p[1]!, /^AIRFLOW_DAG_ID is not set/);
        assert.match(p[2]!, /^AIRFLOW_REQUEST_TIMEOUT_MS is "0"; expected a positive whole number/);
        assert.match(
            p[3]!,
            /^no Airflow credentials configured: set AIRFLOW_CREDENTIALS_SECRET_ID/,
        );
        assert.match(p[4]!, /^LOG_LEVEL is "loud"/);
        assert.throws(
            () => loadConfig({}),
            /invalid configuration \(environment variables\):\n {2}- AIRFLOW_API_URL/,
        );
    });

    it("rejects malformed URLs, DAG ids and URL-embedded credentials", () => {
        assert.match(
            problems({ ...BASE, AIRFLOW_API_URL: "airflow:8080" })[0]!,
            /expected an http\(s\) URL/,
        );
        assert.match(
            problems({ ...BASE, AIRFLOW_API_URL: "https://admin:pw@airflow.example.com" })[0]!,
            /without credentials, query or fragment/,
        );
        assert.match(
            problems({ ...BASE, AIRFLOW_DAG_ID: "batch dag" })[0]!,
            /a DAG id has only letters/,
        );
    });

    it("refuses to send the password over plain http, except to this machine", () => {
        for (const url of [
            "http://airflow.203-0-113-20.sslip.io",
            "http://airflow.example.com",
            "http://10.0.0.5:8080",
            "http://127.example.com",
        ]) {
            assert.match(
                problems({ ...BASE, AIRFLOW_API_URL: url })[0]!,
                /sends the trigger user's password to it, so it must be https:\/\//,
                url,
            );
        }
        for (const url of [
            "http://127.0.0.1:28501",
            "http://localhost:8080",
            "http://[::1]:8080",
        ]) {
            assert.equal(loadConfig({ ...BASE, AIRFLOW_API_URL: url }).airflowUrl, url, url);
        }
    });

    it("accepts exactly one credential source", () => {
        assert.match(
            problems({ ...BASE, AIRFLOW_CREDENTIALS_FILE: "/tmp/c.json" })[0]!,
            /more than one Airflow credential source is set/,
        );
        const local: NodeJS.ProcessEnv = { ...BASE };
        delete local.AIRFLOW_CREDENTIALS_SECRET_ID;
        assert.deepEqual(
            loadConfig({ ...local, AIRFLOW_CREDENTIALS_FILE: "/tmp/c.json" }).credentials,
            {
                kind: "file",
                path: "/tmp/c.json",
            },
        );
        assert.match(
            problems({ ...local, AIRFLOW_USERNAME: "fn" })[0]!,
            /^AIRFLOW_PASSWORD is not set/,
        );
        assert.equal(
            loadConfig({ ...local, AIRFLOW_USERNAME: "fn", AIRFLOW_PASSWORD: "pw" }).credentials
                .kind,
            "env",
        );
    });

    it("never echoes the password in a problem", () => {
        const p = problems({ AIRFLOW_PASSWORD: "hunter2-secret" });
        assert.ok(!p.join("\n").includes("hunter2-secret"));
    });
});
