import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import * as k8s from "@pulumi/kubernetes";
import { cloudFakes } from "../../offline/cloud-fakes";
import { evaluate } from "../../offline/engine";
import { DataLake } from "../data-lake/data-lake";
import { PlatformNamespaces } from "../namespaces/namespaces";
import {
    WORKLOAD_ACCESS,
    WorkloadIdentities,
    grants,
    grantsTable,
    prefixCondition,
} from "./identities";

async function build() {
    return evaluate(
        () => {
            const provider = new k8s.Provider("k8s", { kubeconfig: "{}" });
            const lake = new DataLake("dev", {
                project: "acme-taxi-dev",
                region: "europe-west1",
                environment: "dev",
            });
            const namespaces = new PlatformNamespaces("dev", {}, { providers: [provider] });
            return new WorkloadIdentities(
                "dev",
                {
                    project: "acme-taxi-dev",
                    environment: "dev",
                    workloadPool: "acme-taxi-dev.svc.id.goog",
                    buckets: lake.buckets,
                    datasets: lake.datasets,
                    namespaces,
                },
                { providers: [provider] },
            );
        },
        { outputs: cloudFakes("acme-taxi-dev") },
    );
}

describe("components/identities", () => {
    it("creates one Google account per workload, bound to its Kubernetes account, and no keys", async () => {
        const r = await build();
        const accounts = r
            .ofType("gcp:serviceaccount/account:Account")
            .map((a) => String(a.inputs.accountId));
        assert.deepEqual(accounts.sort(), [
            "dev-airflow",
            "dev-alertmanager",
            "dev-dbt",
            "dev-docs-app",
            "dev-fare-api",
            "dev-ingest",
            "dev-ml",
            "dev-mlflow",
            "dev-postgres-backup",
            "dev-spark",
            "dev-transfer",
        ]);
        assert.equal(r.ofType("gcp:serviceaccount/key:Key").length, 0);
        const wi = r
            .ofType("gcp:serviceaccount/iAMMember:IAMMember")
            .map((m) => `${String(m.inputs.role)} ${String(m.inputs.member)}`);
        const pool = "serviceAccount:acme-taxi-dev.svc.id.goog";
        assert.deepEqual(
            wi.sort(),
            [
                "airflow/airflow",
                "database/postgres-backup",
                "docs/docs-app",
                "jobs/dbt",
                "jobs/ingest",
                "jobs/ml",
                "jobs/spark",
                "jobs/transfer",
                "mlflow/mlflow",
                "monitoring/alertmanager",
                "serving/fare-api",
            ].map((ksa) => `roles/iam.workloadIdentityUser ${pool}[${ksa}]`),
        );
        const ksa = r.get("kubernetes:core/v1:ServiceAccount", "dev-spark-ksa").inputs as Record<
            string,
            any
        >;
        assert.deepEqual(ksa.metadata.annotations, {
            "iam.gke.io/gcp-service-account": "dev-spark@acme-taxi-dev.iam.gserviceaccount.com",
        });
        assert.equal(
            (
                r.get("kubernetes:core/v1:ServiceAccount", "dev-docs-app-ksa").inputs as Record<
                    string,
                    any
                >
            ).automountServiceAccountToken,
            false,
        );
    });

    it("grants exactly the IAM table, on the named buckets and datasets only", async () => {
        const r = await build();
        const member = (w: string) =>
            `serviceAccount:dev-${w}@acme-taxi-dev.iam.gserviceaccount.com`;
        const built = [
            ...r
                .ofType("gcp:storage/bucketIAMMember:BucketIAMMember")
                .map(
                    (m) =>
                        `${String(m.inputs.member)} ${String(m.inputs.bucket)} ${String(m.inputs.role)}` +
                        (m.inputs.condition
                            ? ` if ${String((m.inputs.condition as Record<string, unknown>).title)}`
                            : ""),
                ),
            ...r
                .ofType("gcp:bigquery/datasetIamMember:DatasetIamMember")
                .map(
                    (m) =>
                        `${String(m.inputs.member)} ${String(m.inputs.datasetId)} ${String(m.inputs.role)}`,
                ),
            ...r
                .ofType("gcp:projects/iAMMember:IAMMember")
                .map(
                    (m) =>
                        `${String(m.inputs.member)} ${String(m.inputs.project)} ${String(m.inputs.role)}`,
                ),
        ].sort();
        const target = (scope: string, t: string) =>
            scope === "bucket"
                ? `acme-taxi-dev-${t}`
                : scope === "dataset"
                  ? `taxi_dev_${t}`
                  : "acme-taxi-dev";
        const expected = grants()
            .map(
                (g) =>
                    `${member(g.workload)} ${target(g.scope, g.target)} ${g.role}` +
                    (g.prefix ? ` if objects under ${g.prefix}` : ""),
            )
            .sort();
        assert.deepEqual(built, expected);
        assert.ok(
            !built.some((b) => /roles\/(owner|editor|storage\.admin|bigquery\.admin)/.test(b)),
            "no broad roles",
        );
    });

    it("lets Airflow write run reports under reports/ of the docs bucket only", async () => {
        const r = await build();
        const docs = r
            .ofType("gcp:storage/bucketIAMMember:BucketIAMMember")
            .filter((m) => String(m.inputs.member).includes("dev-airflow@"));
        assert.equal(docs.length, 1, "one grant for Airflow: the docs bucket");
        const m = docs[0]!.inputs as Record<string, any>;
        assert.equal(m.bucket, "acme-taxi-dev-docs");
        assert.equal(m.role, "roles/storage.objectUser");
        assert.equal(
            m.condition.expression,
            'resource.name.startsWith("projects/_/buckets/acme-taxi-dev-docs/objects/reports/") || ' +
                'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("reports/")',
        );
        assert.equal(m.condition.title, "objects under reports/");
        // Every other grant is unconditional: a condition is only where a prefix is declared.
        const conditioned = r
            .ofType("gcp:storage/bucketIAMMember:BucketIAMMember")
            .filter((b) => b.inputs.condition !== undefined);
        assert.equal(conditioned.length, 1);
        assert.throws(() => prefixCondition("b", "reports"), /must be like "reports\/"/);
        assert.throws(() => prefixCondition("b", '") || true || ("'), /must be like/);
    });

    it("keeps the README's access table in sync with WORKLOAD_ACCESS", () => {
        const readme = fs.readFileSync(path.join(__dirname, "README.md"), "utf8");
        assert.ok(
            readme.includes(grantsTable()),
            "regenerate the table in components/identities/README.md from grantsTable()",
        );
        assert.equal(Object.keys(WORKLOAD_ACCESS).length, 11);
    });
});
