import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { evaluateOnCluster } from "../../testing/cluster-fixture";
import { AIRFLOW_PROCESSES, Airflow, resolveAirflowArgs, type AirflowArgs } from ".";
import {
    BACKEND_SECRET,
    SECRETS_BACKEND_CLASS,
    SECRET_ACCESSOR,
    secretsBackendValues,
} from "./connections";
import { PIPELINE_ENV_KEYS } from "./pipeline-env";

const ROOT = path.resolve(__dirname, "..", "..");
const GSA = "dev-airflow@acme-taxi-dev.iam.gserviceaccount.com";
const IDS = ["dbt_cloud_default", "databricks_default"];

function args(connections?: AirflowArgs["connections"]): Omit<AirflowArgs, "loadBalancer"> {
    return {
        namespace: "airflow",
        image: "registry/airflow@sha256:1111",
        databaseSecret: "airflow-db",
        serviceAccount: "airflow",
        jobsNamespace: "jobs",
        pipelineEnv: Object.fromEntries(PIPELINE_ENV_KEYS.map((k) => [k, `v-${k}`])) as never,
        statsd: { host: "exporter.monitoring", port: 9125, namespace: "monitoring" },
        databaseNamespace: "database",
        mlflowNamespace: "mlflow",
        apiServerCidr: "172.16.0.0/28",
        ...(connections ? { connections } : {}),
    };
}

const CONNECTIONS = {
    project: "acme-taxi-dev",
    prefix: "airflow-dev",
    ids: IDS,
    googleServiceAccount: GSA,
};

function build(connections?: AirflowArgs["connections"]) {
    return evaluateOnCluster(({ provider, lb }) => {
        new Airflow("dev", { ...args(connections), loadBalancer: lb }, { providers: [provider] });
        return {};
    });
}

const envOf = (c: any, name: string) => c.env.find((e: any) => e.name === name)?.value;

describe("components/airflow connections from Secret Manager", () => {
    it("creates one empty secret per connection id, each readable by Airflow's service account alone", async () => {
        const r = await build(CONNECTIONS);
        const secrets = r.ofType("gcp:secretmanager/secret:Secret");
        assert.deepEqual(secrets.map((s) => (s.inputs as any).secretId).sort(), [
            "airflow-dev-connections-databricks_default",
            "airflow-dev-connections-dbt_cloud_default",
        ]);
        for (const s of secrets) {
            assert.deepEqual((s.inputs as any).replication, { auto: {} });
            assert.equal((s.inputs as any).project, "acme-taxi-dev");
            assert.equal((s.inputs as any).labels.purpose, "airflow-connection");
        }
        // Never a value: no version, no other way to write one.
        assert.equal(r.ofType("gcp:secretmanager/secretVersion:SecretVersion").length, 0);
        const grants = r.ofType("gcp:secretmanager/secretIamMember:SecretIamMember");
        assert.equal(grants.length, IDS.length);
        for (const g of grants) {
            const inputs = g.inputs as any;
            assert.equal(inputs.role, SECRET_ACCESSOR);
            assert.equal(inputs.member, `serviceAccount:${GSA}`);
            // Bound on the secret it belongs to (its id comes from that secret's output).
            const [secretUrn] = g.propertyDependencies.secretId ?? [];
            const secret = secrets.find((s) => s.urn === secretUrn);
            assert.ok(secret, `${g.name}: secretId comes from a secret`);
            assert.equal(inputs.secretId, (secret.inputs as any).secretId);
        }
        // Least privilege: nothing project-wide.
        for (const t of [
            "gcp:projects/iAMMember:IAMMember",
            "gcp:projects/iAMBinding:IAMBinding",
            "gcp:secretmanager/secretIamBinding:SecretIamBinding",
            "gcp:secretmanager/secretIamPolicy:SecretIamPolicy",
        ])
            assert.equal(r.ofType(t).length, 0, t);
    });

    it("starts Airflow only after the grants and the backend Secret exist, with the backend in every process", async () => {
        const r = await build(CONNECTIONS);
        const grants = r.ofType("gcp:secretmanager/secretIamMember:SecretIamMember");
        const backendSecret = r
            .ofType("kubernetes:core/v1:Secret")
            .find((s) => (s.inputs as any).metadata.name === BACKEND_SECRET);
        assert.ok(backendSecret, BACKEND_SECRET);
        assert.equal((backendSecret.inputs as any).metadata.namespace, "airflow");
        const [deployment] = r.ofType("kubernetes:apps/v1:Deployment");
        for (const dep of [...grants, backendSecret])
            assert.ok(
                deployment!.dependencies.includes(dep.urn),
                `Deployment waits for ${dep.name}`,
            );
        const pod = (deployment!.inputs as any).spec.template.spec;
        assert.deepEqual(
            pod.containers.map((c: any) => c.name),
            [...AIRFLOW_PROCESSES],
        );
        for (const c of pod.containers) {
            for (const [name, key] of [
                ["AIRFLOW__SECRETS__BACKEND", "backend"],
                ["AIRFLOW__SECRETS__BACKEND_KWARGS", "kwargs"],
            ]) {
                const e = c.env.find((x: any) => x.name === name);
                assert.deepEqual(
                    e?.valueFrom,
                    { secretKeyRef: { name: BACKEND_SECRET, key } },
                    c.name,
                );
                assert.equal(e?.value, undefined, `${c.name}: ${name} is not literal pod env`);
            }
        }
        // The Kubernetes provider keeps stringData secret (redacted here); its values:
        assert.ok(backendSecret.secretInputs.includes("stringData"), "stringData is secret");
        const data = secretsBackendValues(CONNECTIONS)!;
        assert.equal(data.backend, SECRETS_BACKEND_CLASS);
        assert.deepEqual(JSON.parse(data.kwargs), {
            project_id: "acme-taxi-dev",
            prefix: "airflow-dev",
            connection_ids: ["databricks_default", "dbt_cloud_default"],
        });
        // The migration Job needs no connection: no backend there.
        const job = (r.ofType("kubernetes:batch/v1:Job")[0]!.inputs as any).spec.template.spec;
        for (const c of [...(job.initContainers ?? []), ...job.containers])
            assert.equal(envOf(c, "AIRFLOW__SECRETS__BACKEND"), undefined, c.name);
    });

    it("without connection ids: no secrets, no grants, no backend", async () => {
        for (const connections of [undefined, { ...CONNECTIONS, ids: [] }]) {
            const r = await build(connections);
            assert.equal(r.ofType("gcp:secretmanager/secret:Secret").length, 0);
            assert.equal(r.ofType("gcp:secretmanager/secretIamMember:SecretIamMember").length, 0);
            const [deployment] = r.ofType("kubernetes:apps/v1:Deployment");
            for (const c of (deployment!.inputs as any).spec.template.spec.containers)
                assert.ok(!c.env.some((e: any) => e.name === "AIRFLOW__SECRETS__BACKEND"));
            assert.ok(
                !r
                    .ofType("kubernetes:core/v1:Secret")
                    .some((s) => (s.inputs as any).metadata.name === BACKEND_SECRET),
            );
        }
    });

    it("refuses bad connection ids and prefixes, naming them", () => {
        const bad = (c: Partial<typeof CONNECTIONS>) => () =>
            resolveAirflowArgs({
                ...args({ ...CONNECTIONS, ...c }),
                loadBalancer: {} as never,
            });
        assert.throws(bad({ ids: ["Prod-DBT"] }), /"Prod-DBT" is not an Airflow connection id/);
        assert.throws(bad({ ids: ["a", "a"] }), /lists a twice/);
        assert.throws(bad({ prefix: "Airflow_Dev" }), /connections.prefix "Airflow_Dev"/);
    });

    it("its backend and kwargs are what dags/common/secrets_backend.py accepts (the backend built from it)", function () {
        this.timeout(180_000);
        const values = secretsBackendValues(CONNECTIONS)!;
        const env = {
            AIRFLOW__SECRETS__BACKEND: values.backend,
            AIRFLOW__SECRETS__BACKEND_KWARGS: values.kwargs,
        };
        const code = [
            "import json, os",
            "from airflow.configuration import conf",
            "b = conf._get_custom_secret_backend()",
            "print(json.dumps([type(b).__module__ + '.' + type(b).__name__, b.project_id, b.prefix, sorted(b.connection_ids)]))",
        ].join("\n");
        const out = execFileSync(path.join(ROOT, "dags", ".venv", "bin", "python"), ["-c", code], {
            cwd: path.join(ROOT, "dags"),
            env: { ...process.env, ...env, AIRFLOW_HOME: "/tmp/h24-airflow-home", PYTHONPATH: "." },
            encoding: "utf8",
        });
        assert.deepEqual(JSON.parse(out.trim().split("\n").at(-1)!), [
            SECRETS_BACKEND_CLASS,
            "acme-taxi-dev",
            "airflow-dev",
            ["databricks_default", "dbt_cloud_default"],
        ]);
    });
});
