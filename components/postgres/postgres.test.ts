import { strict as assert } from "node:assert";
import * as k8s from "@pulumi/kubernetes";
import { cloudFakes } from "../../offline/cloud-fakes";
import { validateRecorded, type K8sObject } from "../../testing/k8s-validate";
import { evaluate } from "../../offline/engine";
import {
    PlatformPostgres,
    databasesEnv,
    reconcileJobName,
    resolvePostgresArgs,
    type PlatformPostgresArgs,
} from ".";

const ARGS: PlatformPostgresArgs = {
    namespace: "database",
    monitoringNamespace: "monitoring",
    databases: [
        { name: "airflow", namespace: "airflow" },
        { name: "mlflow", namespace: "mlflow" },
        { name: "reports", owner: "analyst", namespace: "database" },
    ],
    backup: { bucket: "acme-backups", serviceAccount: "postgres-backup" },
};

function build(args: PlatformPostgresArgs = ARGS) {
    return evaluate(
        () => {
            const provider = new k8s.Provider("k8s", { kubeconfig: "{}" });
            const pg = new PlatformPostgres("dev", args, { providers: [provider] });
            return { host: pg.host, job: pg.reconcileJobName };
        },
        { outputs: cloudFakes("acme-taxi-dev") },
    );
}

const k8sObjects = (r: Awaited<ReturnType<typeof build>>) =>
    r.resources.filter((x) => x.custom && x.type.startsWith("kubernetes:") && x.inputs.kind);

describe("components/postgres", () => {
    it("creates one server, one Secret per database in its app's namespace, the reconcile Job and the backup CronJob", async () => {
        const r = await build();
        const counts = r.countsByType();
        assert.equal(counts["kubernetes:apps/v1:StatefulSet"], 1);
        assert.equal(
            counts["random:index/randomPassword:RandomPassword"],
            5,
            "superuser, monitoring, 3 owners",
        );
        const secrets = r
            .ofType("kubernetes:core/v1:Secret")
            .map((s) => {
                const m = s.inputs.metadata as any;
                return `${m.namespace}/${m.name}`;
            })
            .sort();
        assert.deepEqual(secrets, [
            "airflow/airflow-db",
            "database/postgres-role-passwords",
            "database/postgres-superuser",
            "database/reports-db",
            "mlflow/mlflow-db",
            "monitoring/postgres-exporter",
        ]);
        for (const s of r.ofType("kubernetes:core/v1:Secret")) {
            assert.ok(s.secretInputs.includes("stringData"), `${s.name} payload is secret`);
        }
        assert.equal(r.ofType("kubernetes:batch/v1:Job").length, 1);
        assert.equal(r.ofType("kubernetes:batch/v1:CronJob").length, 1);
        for (const o of k8sObjects(r)) await validateRecorded(o.inputs as K8sObject);
        assert.equal(r.outputs.host, "postgres.database.svc.cluster.local");
    });

    it("runs the server from a pinned image on a persistent volume, non-root", async () => {
        const r = await build();
        const sts = r.get("kubernetes:apps/v1:StatefulSet", "dev-server").inputs as any;
        const c = sts.spec.template.spec.containers[0];
        assert.match(c.image, /^postgres:\d+\.\d+/);
        assert.equal(sts.spec.template.spec.securityContext.runAsUser, 999);
        assert.equal(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage, "20Gi");
        assert.deepEqual(c.env.find((e: any) => e.name === "POSTGRES_PASSWORD").valueFrom, {
            secretKeyRef: { name: "postgres-superuser", key: "password" },
        });
    });

    it("reconciles the declared list with the repo's script, every owner password from a Secret", async () => {
        const r = await build();
        const job = r.ofType("kubernetes:batch/v1:Job")[0]!.inputs as any;
        assert.equal(job.metadata.name, r.outputs.job);
        const c = job.spec.template.spec.containers[0];
        assert.deepEqual(c.command, ["bash", "/scripts/reconcile.sh"]);
        const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
        assert.equal(env.DATABASES, "airflow:airflow mlflow:mlflow reports:analyst");
        assert.deepEqual(c.envFrom, [{ secretRef: { name: "postgres-role-passwords" } }]);
        const cm = r.get("kubernetes:core/v1:ConfigMap", "dev-scripts").inputs as any;
        assert.deepEqual(Object.keys(cm.data).sort(), [
            "backup.sh",
            "names.sh",
            "reconcile.sh",
            "restore.sh",
        ]);
    });

    it("names the reconcile Job after the list, so adding a database runs it again", () => {
        const dbs = resolvePostgresArgs(ARGS).databases;
        const same = reconcileJobName(dbs, "postgres:17");
        assert.equal(reconcileJobName(dbs, "postgres:17"), same);
        assert.notEqual(reconcileJobName([...dbs, { name: "x", owner: "x" }], "postgres:17"), same);
        assert.notEqual(reconcileJobName(dbs, "postgres:18"), same);
        assert.match(same, /^postgres-reconcile-[0-9a-f]{10}$/);
        assert.equal(databasesEnv([{ name: "a", owner: "b" }]), "a:b");
    });

    it("dumps daily and uploads with its own identity to the backups bucket", async () => {
        const r = await build();
        const cj = r.ofType("kubernetes:batch/v1:CronJob")[0]!.inputs as any;
        assert.equal(cj.spec.schedule, "17 2 * * *");
        assert.equal(cj.spec.concurrencyPolicy, "Forbid");
        const pod = cj.spec.jobTemplate.spec.template.spec;
        assert.equal(pod.serviceAccountName, "postgres-backup");
        assert.deepEqual(pod.initContainers[0].command, ["bash", "/scripts/backup.sh"]);
        assert.deepEqual(pod.containers[0].command.slice(0, 3), ["gcloud", "storage", "cp"]);
        assert.equal(pod.containers[0].command.at(-1), "gs://acme-backups/postgres/");
    });

    it("lets only the apps' namespaces, the exporter and its own Jobs reach the server", async () => {
        const r = await build();
        const np = r.get("kubernetes:networking.k8s.io/v1:NetworkPolicy", "dev-netpol-server")
            .inputs as any;
        const from = np.spec.ingress[0].from.map(
            (p: any) =>
                p.namespaceSelector?.matchLabels["kubernetes.io/metadata.name"] ?? "maintenance",
        );
        assert.deepEqual(from.sort(), [
            "airflow",
            "database",
            "maintenance",
            "mlflow",
            "monitoring",
        ]);
        assert.deepEqual(np.spec.egress, []);
    });

    it("omits backups when not configured", async () => {
        const noBackup = { ...ARGS, backup: undefined };
        const r = await build(noBackup);
        assert.equal(r.ofType("kubernetes:batch/v1:CronJob").length, 0);
    });

    it("rejects bad lists before creating anything, naming each problem", () => {
        assert.throws(
            () =>
                resolvePostgresArgs({
                    ...ARGS,
                    databases: [
                        { name: "airflow", namespace: "a" },
                        { name: "airflow", namespace: "a" },
                        { name: "Bad-Name", namespace: "a" },
                        { name: "postgres", namespace: "a" },
                    ],
                }),
            (e: Error) =>
                /databases lists airflow twice/.test(e.message) &&
                /database "Bad-Name" contains the character "B"/.test(e.message) &&
                /database "postgres" is a system database/.test(e.message),
        );
        // The owner a config could not give (stacks/config.ts refuses it first).
        for (const [owner, why] of [
            ["postgres", /owner "postgres" of reports is the superuser/],
            ["pg_monitor", /owner "pg_monitor" of reports starts with pg_/],
            ["monitoring", /owner "monitoring" of reports is the monitoring role/],
            ["rep'orts", /owner "rep'orts" of reports contains the character "'"/],
        ] as const) {
            assert.throws(
                () =>
                    resolvePostgresArgs({
                        ...ARGS,
                        databases: [{ name: "reports", owner, namespace: "a" }],
                    }),
                why,
            );
        }
        assert.throws(
            () => resolvePostgresArgs({ ...ARGS, monitoringUser: "postgres" }),
            /monitoringUser "postgres" is the superuser/,
        );
        assert.throws(() => resolvePostgresArgs({ ...ARGS, databases: [] }), /databases is empty/);
    });
});
