import { strict as assert } from "node:assert";
import {
    credentialShape,
    credentialsInText,
    isReference,
    isSensitiveName,
    nameWords,
} from "./secret-detect";

describe("policy/secret-detect", () => {
    it("splits names in every casing into words", () => {
        assert.deepEqual(nameWords("AIRFLOW__API__SECRET_KEY"), [
            "airflow",
            "api",
            "secret",
            "key",
        ]);
        assert.deepEqual(nameWords("grafanaAdminPassword"), ["grafana", "admin", "password"]);
        assert.deepEqual(nameWords("db.password"), ["db", "password"]);
        assert.deepEqual(nameWords("HTTPSProxyURL"), ["https", "proxy", "url"]);
    });

    it("flags names that hold credentials", () => {
        for (const name of [
            "DB_PASSWORD",
            "PGPASSWORD",
            "apiToken",
            "AIRFLOW__API__SECRET_KEY",
            "FERNET_KEY",
            "client_secret",
            "GITHUB_TOKEN",
            "awsSecretAccessKey",
            "private-key",
            "x-api-key",
            "credentials",
            "MYSQL_PWD",
        ]) {
            assert.equal(isSensitiveName(name), true, name);
        }
    });

    it("does not flag names that point at a secret or are not about one", () => {
        for (const name of [
            "PASSWORD_FILE",
            "GF_SECURITY_ADMIN_PASSWORD__FILE",
            "AIRFLOW_API_SECRET_ARN",
            "AWS_ACCESS_KEY_ID",
            "secretName",
            "S3_KEY_PREFIX",
            "TOKEN_TTL",
            "PASSWORD_ENV_PREFIX",
            "PORT",
            "MONITORING_USER",
            "cache_key",
            "keyspace",
            "bearer_token_file",
        ]) {
            assert.equal(isSensitiveName(name), false, name);
        }
    });

    it("recognises references to secrets kept elsewhere", () => {
        for (const v of [
            "$(DB_PASSWORD)",
            "${GF_PW}",
            "{{ .Values.password }}",
            "%(password)s",
            "$__file{/etc/pw}",
            "/var/run/secrets/pw",
            "arn:aws:secretsmanager:eu-west-1:1:secret:x",
            "projects/p/secrets/db/versions/latest",
        ]) {
            assert.equal(isReference(v), true, v);
        }
        assert.equal(isReference("hunter2"), false);
    });

    it("recognises credential shapes and leaves look-alikes alone", () => {
        const pem = "-----BEGIN PRIVATE KEY-----\nMIIEv...\n-----END PRIVATE KEY-----";
        assert.equal(credentialShape(pem), "a PEM private key");
        assert.equal(
            credentialShape(
                '{"type": "service_account", "private_key_id": "1", "private_key": "x"}',
            ),
            "a service-account JSON key",
        );
        assert.equal(credentialShape("AKIAIOSFODNN7EXAMPLE"), "an AWS access key id");
        assert.equal(
            credentialShape("postgresql://airflow:pw@postgres:5432/airflow"),
            "a URI with a password in it (user:password@host)",
        );
        assert.equal(credentialShape(`ghp_${"a".repeat(36)}`), "a GitHub token");
        assert.equal(
            credentialShape("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlLXZhbHVl"),
            "a JSON Web Token",
        );
        for (const harmless of [
            "-----BEGIN CERTIFICATE-----\nMIIC...\n-----END CERTIFICATE-----",
            `postgres@sha256:${"0".repeat(64)}`,
            "postgresql://airflow@postgres:5432/airflow",
            "postgresql://airflow:$(DB_PASSWORD)@postgres/airflow",
            "http://mlflow.mlflow.svc.cluster.local:5000/path",
            "gs://acme-staging/trip data/",
        ]) {
            assert.equal(credentialShape(harmless), undefined, harmless);
        }
    });

    it("finds literal credentials in config files and scripts, by line", () => {
        assert.deepEqual(credentialsInText("db:\n  user: app\n  password: hunter2\n"), [
            "line 3: password is set to a literal value",
        ]);
        assert.deepEqual(credentialsInText('{"url": "x", "apiKey": "k-123"}'), [
            "apiKey is set to a literal value",
        ]);
        assert.deepEqual(credentialsInText("export GITHUB_TOKEN='abc'\n"), [
            "line 1: GITHUB_TOKEN is set to a literal value",
        ]);
        for (const clean of [
            "password: ${DB_PASSWORD}\n",
            'PGPASSWORD="${!2}" psql -w\n',
            "secureJsonData:\n  password: $__file{/etc/pw}\n",
            "password_file: /etc/pw\n",
            "# password: hunter2 (a comment)\n",
            "auth:\n  password: |\n",
            "tls: true\nsecretName: grafana-tls\n",
        ]) {
            assert.deepEqual(credentialsInText(clean), [], clean);
        }
    });
});
