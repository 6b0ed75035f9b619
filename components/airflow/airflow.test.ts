import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { evaluateOnCluster } from "../../testing/cluster-fixture";
import { validateRecorded, type K8sObject } from "../../testing/k8s-validate";
import { podViolations } from "../../testing/pod-security";
import {
    AIRFLOW_PROCESSES,
    AIRFLOW_SIZING,
    Airflow,
    CORE_SECRET,
    LAUNCHER_RULES,
    dagBundleConfig,
    migrationJobName,
    resolveAirflowArgs,
    type AirflowArgs,
    type PipelineEnvValues,
} from ".";
import { PIPELINE_ENV_KEYS } from "./pipeline-env";

const ROOT = path.resolve(__dirname, "..", "..");

const pipelineEnv = Object.fromEntries(
    PIPELINE_ENV_KEYS.map((k) => [k, `value-of-${k.toLowerCase()}`]),
) as PipelineEnvValues;

function args(overrides: Partial<AirflowArgs> = {}): Omit<AirflowArgs, "loadBalancer"> {
    return {
        namespace: "airflow",
        image: "registry/airflow@sha256:1111",
        databaseSecret: "airflow-db",
        serviceAccount: "airflow",
        jobsNamespace: "jobs",
        pipelineEnv,
        statsd: {
            host: "metrics-exporter.monitoring.svc.cluster.local",
            port: 9125,
            namespace: "monitoring",
        },
        databaseNamespace: "database",
        mlflowNamespace: "mlflow",
        apiServerCidr: "172.16.0.0/28",
        ...overrides,
    };
}

function build(overrides: Partial<AirflowArgs> = {}) {
    return evaluateOnCluster(({ provider, lb }) => {
        const a = new Airflow(
            "dev",
            { ...args(overrides), loadBalancer: lb },
            { providers: [provider] },
        );
        return {
            url: a.url,
            adminUser: a.adminUser,
            adminPassword: a.adminPassword,
            trigger: a.triggerCredentials,
            job: a.migrationJobName,
        };
    });
}

const SHARED = {
    AIRFLOW__CORE__FERNET_KEY: "fernet-key",
    AIRFLOW__API__SECRET_KEY: "api-secret-key",
    AIRFLOW__API_AUTH__JWT_SECRET: "jwt-secret",
};

/** Every container of a pod spec (init containers included). */
function allContainers(pod: any): any[] {
    return [...(pod.initContainers ?? []), ...pod.containers];
}

describe("components/airflow", () => {
    it("runs the four processes in one pod, each reading the same fernet key, API secret key and JWT secret from one Secret", async () => {
        const r = await build();
        const deployments = r.ofType("kubernetes:apps/v1:Deployment");
        assert.equal(deployments.length, 1, "one Deployment");
        const pod = (deployments[0]!.inputs as any).spec.template.spec;
        assert.deepEqual(
            pod.containers.map((c: any) => c.name),
            [...AIRFLOW_PROCESSES],
        );
        assert.deepEqual(
            pod.containers.map((c: any) => c.command.slice(0, 2)),
            [
                ["airflow", "scheduler"],
                ["airflow", "api-server"],
                ["airflow", "dag-processor"],
                ["airflow", "triggerer"],
            ],
        );
        const job = (r.ofType("kubernetes:batch/v1:Job")[0]!.inputs as any).spec.template.spec;
        // Every mount names a volume of its pod (each container has its own /tmp emptyDir).
        for (const spec of [pod, job]) {
            const volumes = spec.volumes.map((v: any) => v.name);
            for (const c of allContainers(spec))
                for (const m of c.volumeMounts)
                    assert.ok(volumes.includes(m.name), `${c.name}: ${m.name}`);
            assert.equal(new Set(volumes).size, volumes.length, "no duplicate volume");
        }
        // The pod's processes, its init container and every step of the migration Job.
        for (const c of [...allContainers(pod), ...allContainers(job)]) {
            for (const [name, key] of Object.entries(SHARED)) {
                const refs = c.env.filter((e: any) => e.name === name);
                assert.equal(refs.length, 1, `${c.name} sets ${name} once`);
                assert.deepEqual(
                    refs[0].valueFrom,
                    { secretKeyRef: { name: CORE_SECRET, key } },
                    `${c.name} reads ${name} from ${CORE_SECRET}/${key}`,
                );
                assert.equal(refs[0].value, undefined, `${c.name}: ${name} is never a plain value`);
            }
            assert.deepEqual(
                c.env.find((e: any) => e.name === "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN").valueFrom,
                { secretKeyRef: { name: "airflow-db", key: "sqlalchemy_uri" } },
            );
            assert.deepEqual(c.envFrom, [{ configMapRef: { name: "pipeline-env" } }]);
        }
        // One Secret holds the three keys (the Kubernetes SDK keeps its whole data secret).
        const secrets = r.ofType("kubernetes:core/v1:Secret");
        const core = secrets.find((s) => (s.inputs as any).metadata.name === CORE_SECRET)!;
        assert.equal((core.inputs as any).stringData, "[secret]");
        assert.ok(core.secretInputs.includes("stringData"), "the Secret's data is a Pulumi secret");
        assert.equal(
            r.ofType("random:index/randomBytes:RandomBytes").length,
            1,
            "fernet: 32 random bytes",
        );
        assert.equal(
            (r.ofType("random:index/randomBytes:RandomBytes")[0]!.inputs as any).length,
            32,
        );
    });

    it("migrates before the pods start: a Job named after the image, and pods that wait for the schema", async () => {
        const r = await build();
        const jobs = r.ofType("kubernetes:batch/v1:Job");
        assert.equal(jobs.length, 1);
        const job = jobs[0]!.inputs as any;
        assert.match(job.metadata.name, /^airflow-migrate-[0-9a-f]{10}$/);
        assert.equal(job.metadata.name, r.outputs.job);
        const steps = allContainers(job.spec.template.spec);
        assert.deepEqual(
            steps.map((c: any) => c.name),
            [
                "migrate",
                "create-admin",
                "create-trigger-user",
                "set-admin-password",
                "set-trigger-password",
            ],
        );
        assert.deepEqual(steps[0].command, ["airflow", "db", "migrate"]);
        // Passwords come from the users Secret through env and reach Airflow on stdin: no
        // argument carries one, not even as a $(VAR) reference Kubernetes would expand
        // (components/airflow/migration.test.ts runs these commands against FAB's prompt).
        for (const c of steps.slice(1)) {
            assert.deepEqual(c.command.slice(0, 2), ["bash", "-c"], c.name);
            for (const a of [...c.command, ...(c.args ?? [])]) {
                assert.doesNotMatch(a, /--password|\$\([A-Z_]*\)/, `${c.name}: ${a}`);
            }
            assert.ok(
                c.env.some((e: any) => /^(ADMIN|TRIGGER)_PASSWORD$/.test(e.name) && e.valueFrom),
                c.name,
            );
        }
        assert.equal(job.spec.template.spec.automountServiceAccountToken, false);
        // The Deployment depends on the Job; its pods wait for the migrations.
        const dep = r.ofType("kubernetes:apps/v1:Deployment")[0]!;
        assert.ok(
            dep.dependencies.includes(jobs[0]!.urn),
            "the Deployment waits for the migration Job",
        );
        const init = (dep.inputs as any).spec.template.spec.initContainers;
        assert.deepEqual(
            init.map((c: any) => c.command.slice(0, 3)),
            [["airflow", "db", "check-migrations"]],
        );

        // A new image (or a new password) is a new Job; the same inputs keep the name.
        assert.equal(
            migrationJobName("img@sha256:1", "fp"),
            migrationJobName("img@sha256:1", "fp"),
        );
        assert.notEqual(
            migrationJobName("img@sha256:1", "fp"),
            migrationJobName("img@sha256:2", "fp"),
        );
        assert.notEqual(
            migrationJobName("img@sha256:1", "fp"),
            migrationJobName("img@sha256:1", "fp2"),
        );
        const other = await build({ image: "registry/airflow@sha256:2222" });
        assert.notEqual(other.outputs.job, r.outputs.job);
    });

    it("lets Airflow launch Pods, Jobs and SparkApplications in the jobs namespace only, and nothing more", async () => {
        const r = await build();
        assert.equal(r.ofType("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole").length, 0);
        assert.equal(
            r.ofType("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding").length,
            0,
        );
        const roles = r.ofType("kubernetes:rbac.authorization.k8s.io/v1:Role");
        assert.equal(roles.length, 1);
        const role = roles[0]!.inputs as any;
        assert.equal(role.metadata.namespace, "jobs");
        assert.deepEqual(role.rules, [
            {
                apiGroups: [""],
                resources: ["pods"],
                verbs: ["create", "get", "list", "watch", "delete", "patch"],
            },
            { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
            {
                apiGroups: ["batch"],
                resources: ["jobs"],
                verbs: ["create", "get", "list", "watch", "delete"],
            },
            { apiGroups: ["batch"], resources: ["jobs/status"], verbs: ["get"] },
            {
                apiGroups: ["sparkoperator.k8s.io"],
                resources: ["sparkapplications"],
                verbs: ["create", "get", "list", "watch", "delete"],
            },
            {
                apiGroups: ["sparkoperator.k8s.io"],
                resources: ["sparkapplications/status"],
                verbs: ["get"],
            },
        ]);
        assert.deepEqual(role.rules, LAUNCHER_RULES);
        for (const rule of role.rules) {
            assert.ok(!rule.resources.includes("*") && !rule.verbs.includes("*"), "no wildcards");
            assert.ok(!rule.resources.includes("secrets"), "no Secret access");
        }
        const binding = r.ofType("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")[0]!
            .inputs as any;
        assert.equal(binding.metadata.namespace, "jobs");
        assert.deepEqual(binding.subjects, [
            { kind: "ServiceAccount", name: "airflow", namespace: "airflow" },
        ]);
    });

    it("writes pipeline-env with exactly the contract's keys, in the Airflow and the jobs namespaces", async () => {
        const r = await build();
        const maps = r.ofType("kubernetes:core/v1:ConfigMap").map((m) => m.inputs as any);
        assert.deepEqual(maps.map((m) => m.metadata.namespace).sort(), ["airflow", "jobs"]);
        // The list the Python side reads (dags/common/pipeline_env.py), imported by Python itself.
        const pythonKeys = JSON.parse(
            execFileSync(
                "python3",
                [
                    "-c",
                    "import json, sys; sys.path.insert(0, 'dags'); from common.pipeline_env import PIPELINE_ENV_KEYS; print(json.dumps(list(PIPELINE_ENV_KEYS)))",
                ],
                { cwd: ROOT, encoding: "utf8" },
            ),
        ) as string[];
        for (const m of maps) {
            assert.equal(m.metadata.name, "pipeline-env");
            assert.deepEqual(Object.keys(m.data).sort(), [...pythonKeys].sort());
            assert.equal(m.data.JOBS_NAMESPACE, "value-of-jobs_namespace");
        }
        assert.throws(
            () =>
                resolveAirflowArgs({
                    ...args(),
                    pipelineEnv: { ...pipelineEnv, EXTRA: "x" },
                } as never),
            /pipelineEnv has keys outside the contract: EXTRA/,
        );
        const missing: Partial<PipelineEnvValues> = { ...pipelineEnv };
        delete missing.S3_LANDING_BUCKET;
        assert.throws(
            () => resolveAirflowArgs({ ...args(), pipelineEnv: missing } as never),
            /pipelineEnv is missing S3_LANDING_BUCKET/,
        );
    });

    it("sends metrics to statsd, serves the UI on the shared load balancer with its base URL, and exposes a secret admin password", async () => {
        const r = await build();
        const pod = (r.ofType("kubernetes:apps/v1:Deployment")[0]!.inputs as any).spec.template
            .spec;
        const env = Object.fromEntries(
            pod.containers[0].env
                .filter((e: any) => "value" in e)
                .map((e: any) => [e.name, e.value]),
        );
        assert.equal(env.AIRFLOW__METRICS__STATSD_ON, "True");
        assert.equal(
            env.AIRFLOW__METRICS__STATSD_HOST,
            "metrics-exporter.monitoring.svc.cluster.local",
        );
        assert.equal(env.AIRFLOW__METRICS__STATSD_PORT, "9125");
        assert.equal(env.AIRFLOW__METRICS__STATSD_PREFIX, "airflow");
        assert.equal(env.AIRFLOW__API__BASE_URL, "http://airflow.203-0-113-20.sslip.io");
        assert.equal(r.outputs.url, "http://airflow.203-0-113-20.sslip.io");
        assert.equal(r.outputs.adminUser, "admin");
        assert.equal(r.outputs.adminPassword, "[secret]");
        assert.equal(r.outputs.trigger, "[secret]");
        assert.equal(r.ofType("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute").length, 1);
        for (const o of r.resources.filter(
            (x) => x.custom && x.type.startsWith("kubernetes:") && x.inputs.kind,
        )) {
            await validateRecorded(o.inputs as K8sObject);
            if (["Deployment", "Job"].includes(o.inputs.kind as string))
                assert.deepEqual(
                    podViolations(o.inputs as never),
                    [],
                    `${String(o.inputs.kind)} pod security`,
                );
        }
    });

    it("reads DAGs from the image by default, or from a git DAG bundle with the token in an existing Secret", async () => {
        assert.equal(dagBundleConfig({ kind: "image" }), undefined);
        const plain = await build();
        const names = (r: typeof plain) =>
            (
                r.ofType("kubernetes:apps/v1:Deployment")[0]!.inputs as any
            ).spec.template.spec.containers[0].env.map((e: any) => e.name);
        assert.ok(!names(plain).includes("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"));

        const git = await build({
            dagSource: {
                kind: "git",
                repoUrl: "https://github.com/acme/taxi-platform.git",
                branch: "main",
                subdir: "dags",
                credentialsSecret: "airflow-dags-git",
            },
        });
        const env = (git.ofType("kubernetes:apps/v1:Deployment")[0]!.inputs as any).spec.template
            .spec.containers[0].env;
        const bundles = JSON.parse(
            env.find((e: any) => e.name === "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST").value,
        );
        assert.deepEqual(bundles, [
            {
                name: "taxi-dags",
                classpath: "airflow.providers.git.bundles.git.GitDagBundle",
                kwargs: {
                    git_conn_id: "taxi_dags_git",
                    tracking_ref: "main",
                    subdir: "dags",
                    refresh_interval: 120,
                },
            },
        ]);
        assert.deepEqual(env.find((e: any) => e.name === "AIRFLOW_CONN_TAXI_DAGS_GIT").valueFrom, {
            secretKeyRef: { name: "airflow-dags-git", key: "connection" },
        });
        assert.throws(
            () =>
                resolveAirflowArgs({
                    ...args(),
                    dagSource: {
                        kind: "git",
                        repoUrl: "https://user:tok@github.com/a/b",
                        branch: "main",
                        subdir: "dags",
                    },
                } as never),
            /must be an https:\/\/ URL without credentials/,
        );
        assert.throws(
            () =>
                resolveAirflowArgs({
                    ...args(),
                    dagSource: {
                        kind: "git",
                        repoUrl: "https://github.com/a/b",
                        branch: "main",
                        subdir: "../etc",
                    },
                } as never),
            /subdir "..\/etc" must be a relative path/,
        );
    });

    it("lets the Airflow pod reach only Postgres, statsd, the API server and Google APIs, and gives task pods their egress", async () => {
        const r = await build();
        const policies = r
            .ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy")
            .map((p) => p.inputs as any);
        const airflow = policies.find((p) => p.metadata.name === "airflow")!;
        assert.deepEqual(airflow.spec.ingress[0].ports, [{ protocol: "TCP", port: 8080 }]);
        const egressPorts = airflow.spec.egress.map((e: any) =>
            e.ports.map((p: any) => `${p.protocol}/${p.port}`).join(","),
        );
        assert.deepEqual(egressPorts, [
            "TCP/5432",
            "UDP/9125",
            "TCP/443",
            "TCP/443",
            "TCP/80,TCP/988",
        ]);
        // The migration Job's pods: PostgreSQL only, and the Job waits for this policy.
        const migrate = policies.find((p) => p.metadata.name === "airflow-migrate")!;
        assert.deepEqual(migrate.spec.podSelector.matchLabels, {
            "app.kubernetes.io/name": "airflow",
            "app.kubernetes.io/component": "migrate",
        });
        assert.deepEqual(
            migrate.spec.egress.map((e: any) => e.ports),
            [[{ protocol: "TCP", port: 5432 }]],
        );
        const job = r.ofType("kubernetes:batch/v1:Job")[0]!;
        const policyUrn = r
            .ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy")
            .find((p) => (p.inputs as any).metadata.name === "airflow-migrate")!.urn;
        assert.ok(job.dependencies.includes(policyUrn), "the Job is created after its policy");
        const tasks = policies.find((p) => p.metadata.name === "task-pods")!;
        assert.equal(tasks.metadata.namespace, "jobs");
        assert.ok(
            tasks.spec.egress.some((e: any) => e.ports?.[0]?.port === 5000),
            "task pods reach MLflow",
        );
    });

    it("sizes the scheduler by its task slots and the api-server by its workers, limits = requests", async () => {
        const mi = (q: string) => {
            const m = /^(\d+)(Mi|Gi)$/.exec(q)!;
            return Number(m[1]) * (m[2] === "Gi" ? 1024 : 1);
        };
        for (const [parallelism, apiWorkers] of [
            [8, 2],
            [16, 4],
        ] as const) {
            const r = await build({ parallelism, apiWorkers });
            const pod = (r.ofType("kubernetes:apps/v1:Deployment")[0]!.inputs as any).spec.template
                .spec;
            const byName = Object.fromEntries(pod.containers.map((c: any) => [c.name, c]));
            const env = (c: any) =>
                Object.fromEntries(
                    c.env.filter((e: any) => "value" in e).map((e: any) => [e.name, e.value]),
                );
            const scheduler = byName.scheduler;
            const api = byName["api-server"];
            assert.equal(env(scheduler).AIRFLOW__CORE__PARALLELISM, String(parallelism));
            assert.equal(env(api).AIRFLOW__API__WORKERS, String(apiWorkers));
            // Every LocalExecutor slot (worker, supervisor, task process) has 384 MiB on top of
            // the scheduler's own 512 MiB; every api-server worker 512 MiB on top of 256 MiB.
            assert.ok(mi(scheduler.resources.limits.memory) >= 512 + 384 * parallelism);
            assert.ok(mi(api.resources.limits.memory) >= 256 + 512 * apiWorkers);
            assert.equal(Number(api.resources.limits.cpu), apiWorkers, "one CPU per api worker");
            for (const c of [scheduler, api]) {
                assert.equal(c.resources.limits.memory, c.resources.requests.memory, c.name);
            }
            assert.equal(
                scheduler.resources.limits.memory,
                `${AIRFLOW_SIZING.schedulerMemoryMi(parallelism)}Mi`,
            );
        }
        assert.throws(
            () => resolveAirflowArgs({ ...args({ parallelism: 64 }), loadBalancer: {} as any }),
            /parallelism is 64; must be 1 to 32 \(the scheduler needs 25088 MiB/,
        );
        assert.throws(
            () => resolveAirflowArgs({ ...args({ apiWorkers: 0 }), loadBalancer: {} as any }),
            /apiWorkers is 0; must be 1 to 8/,
        );
    });

    it("rejects bad arguments with the argument's name", () => {
        assert.throws(
            () => resolveAirflowArgs({ ...args(), parallelism: 0 } as never),
            /parallelism is 0/,
        );
        assert.throws(
            () => resolveAirflowArgs({ ...args(), adminUser: "x", triggerUser: "x" } as never),
            /adminUser "x" must be/,
        );
        assert.throws(
            () =>
                resolveAirflowArgs({ ...args(), adminUser: "same", triggerUser: "same" } as never),
            /the trigger must not run as admin/,
        );
    });
});
