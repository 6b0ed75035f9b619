/**
 * WorkloadIdentities: one Google service account per workload, bound to its Kubernetes service
 * account through Workload Identity, with only the bucket, dataset and project roles its job
 * needs (see WORKLOAD_ACCESS; the README's table is generated from it). No keys are created.
 */
import * as gcp from "@pulumi/gcp";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { BucketKey, DatasetKey } from "../data-lake/data-lake";
import { NAMESPACES, type NamespaceKey } from "../namespaces/namespaces";
import { PART_OF } from "../shared/labels";

export type Workload =
    | "airflow"
    | "transfer"
    | "ingest"
    | "spark"
    | "dbt"
    | "ml"
    | "mlflow"
    | "docs-app"
    | "fare-api"
    | "postgres-backup"
    | "alertmanager";

/**
 * A bucket role limited to the objects under `prefix` by an IAM condition (the bucket has
 * uniform bucket-level access, which conditions need). The condition also lets the holder list
 * under that prefix (`storage.googleapis.com/objectListPrefix`), and nothing else.
 */
export interface PrefixGrant {
    role: string;
    /** Object name prefix, ending in `/` (e.g. `reports/`). */
    prefix: string;
}

export interface WorkloadAccess {
    /** Why the workload needs a cloud identity. */
    purpose: string;
    /** Namespace of its Kubernetes service account. */
    namespace: NamespaceKey;
    /** A role on the whole bucket, or one limited to the objects under a prefix. */
    buckets: Partial<Record<BucketKey, string | PrefixGrant>>;
    datasets: Partial<Record<DatasetKey, string>>;
    projectRoles: string[];
}

/** Who gets what. Change access here, nowhere else. */
export const WORKLOAD_ACCESS: Record<Workload, WorkloadAccess> = {
    airflow: {
        purpose:
            "scheduler, workers and dag-processor: launch task pods (Kubernetes RBAC), publish run reports under reports/ of the docs bucket",
        namespace: "airflow",
        // The run report notifier (dags/common/notify.py) writes reports/<dataset>/<month>/
        // index.html and the two index pages, and lists reports/ to build them: objectUser
        // (get, list, create, delete to overwrite) on reports/ only, not on the rest of docs.
        buckets: { docs: { role: "roles/storage.objectUser", prefix: "reports/" } },
        datasets: {},
        projectRoles: [],
    },
    transfer: {
        purpose:
            "copy_to_staging (landing object → staging, through the AWS landing-reader role) and the full-refresh Storage Transfer job",
        namespace: "jobs",
        buckets: { staging: "roles/storage.objectUser" },
        datasets: {},
        projectRoles: ["roles/storagetransfer.user"],
    },
    ingest: {
        purpose:
            "ingest download (TLC website → landing bucket): no Google data access; writes landing objects through the AWS landing-ingest role",
        namespace: "jobs",
        buckets: {},
        datasets: {},
        projectRoles: [],
    },
    spark: {
        purpose:
            "Spark driver and executors: read staged files, load raw trips (through spark-temp), write data docs",
        namespace: "jobs",
        buckets: {
            staging: "roles/storage.objectViewer",
            "spark-temp": "roles/storage.objectUser",
            docs: "roles/storage.objectUser",
        },
        datasets: { raw: "roles/bigquery.dataEditor" },
        projectRoles: ["roles/bigquery.jobUser"],
    },
    dbt: {
        purpose: "dbt build: read raw trips, build marts, publish docs",
        namespace: "jobs",
        buckets: { docs: "roles/storage.objectUser" },
        datasets: { raw: "roles/bigquery.dataViewer", marts: "roles/bigquery.dataEditor" },
        projectRoles: ["roles/bigquery.jobUser"],
    },
    ml: {
        purpose:
            "training and retraining: read fare features, publish the model report (runs and models go through the MLflow server)",
        namespace: "jobs",
        buckets: { docs: "roles/storage.objectUser" },
        datasets: { marts: "roles/bigquery.dataViewer" },
        projectRoles: ["roles/bigquery.jobUser", "roles/bigquery.readSessionUser"],
    },
    mlflow: {
        purpose: "MLflow tracking server: store and serve artifacts",
        namespace: "mlflow",
        buckets: { "mlflow-artifacts": "roles/storage.objectAdmin" },
        datasets: {},
        projectRoles: [],
    },
    "docs-app": {
        purpose: "docs web app: read the published docs",
        namespace: "docs",
        buckets: { docs: "roles/storage.objectViewer" },
        datasets: {},
        projectRoles: [],
    },
    "fare-api": {
        purpose: "fare model service: read the champion's model files (never writes)",
        namespace: "serving",
        buckets: { "mlflow-artifacts": "roles/storage.objectViewer" },
        datasets: {},
        projectRoles: [],
    },
    "postgres-backup": {
        purpose: "daily Postgres dumps: upload only (cannot read, overwrite or delete backups)",
        namespace: "database",
        buckets: { backups: "roles/storage.objectCreator" },
        datasets: {},
        projectRoles: [],
    },
    alertmanager: {
        purpose:
            "Alertmanager's alert relay: mail alerts through the SES sender role (AWS web identity only, no Google Cloud access)",
        namespace: "monitoring",
        buckets: {},
        datasets: {},
        projectRoles: [],
    },
};

/** One IAM grant, as the table shows it. */
export interface Grant {
    workload: Workload;
    scope: "bucket" | "dataset" | "project";
    target: string;
    role: string;
    /** Object prefix the grant's IAM condition limits it to (bucket grants only). */
    prefix?: string;
}

export function grants(access: Record<Workload, WorkloadAccess> = WORKLOAD_ACCESS): Grant[] {
    const out: Grant[] = [];
    for (const [workload, a] of Object.entries(access) as [Workload, WorkloadAccess][]) {
        for (const [b, g] of Object.entries(a.buckets))
            out.push(
                typeof g === "string"
                    ? { workload, scope: "bucket", target: b, role: g }
                    : { workload, scope: "bucket", target: b, role: g.role, prefix: g.prefix },
            );
        for (const [d, role] of Object.entries(a.datasets))
            out.push({ workload, scope: "dataset", target: d, role });
        for (const role of a.projectRoles)
            out.push({ workload, scope: "project", target: "project", role });
    }
    return out;
}

export interface WorkloadIdentitiesArgs {
    project: string;
    /** Environment, prefixed to account ids (`dev-spark`). */
    environment: string;
    /**
     * `<project>.svc.id.goog` as an output of the cluster (`GkeCluster.identityPool`): the pool
     * exists only once the cluster does, so the bindings must wait for it.
     */
    workloadPool: pulumi.Input<string>;
    buckets: Record<BucketKey, gcp.storage.Bucket>;
    datasets: Record<DatasetKey, gcp.bigquery.Dataset>;
    /** Namespaces must exist before service accounts are created in them. */
    namespaces: pulumi.Resource;
}

export class WorkloadIdentities extends pulumi.ComponentResource {
    public readonly googleAccounts: Record<Workload, gcp.serviceaccount.Account>;
    /** Kubernetes service account name per workload (namespace in WORKLOAD_ACCESS). */
    public readonly kubernetesAccounts: Record<Workload, pulumi.Output<string>>;
    public readonly emails: Record<Workload, pulumi.Output<string>>;

    /** Pass the GCP and Kubernetes providers in `opts.providers`; children inherit them. */
    constructor(
        name: string,
        args: WorkloadIdentitiesArgs,
        opts: pulumi.ComponentResourceOptions = {},
    ) {
        super("taxi:gcp:WorkloadIdentities", name, {}, opts);
        const gcpOpts = { parent: this };
        const k8sOpts = { parent: this, dependsOn: [args.namespaces] };
        const googleAccounts = {} as Record<Workload, gcp.serviceaccount.Account>;
        const kubernetesAccounts = {} as Record<Workload, pulumi.Output<string>>;

        for (const [workload, access] of Object.entries(WORKLOAD_ACCESS) as [
            Workload,
            WorkloadAccess,
        ][]) {
            const namespace = NAMESPACES[access.namespace];
            const gsa = new gcp.serviceaccount.Account(
                `${name}-${workload}`,
                {
                    accountId: `${args.environment}-${workload}`,
                    displayName: `${workload} (${args.environment})`,
                    description: access.purpose,
                },
                gcpOpts,
            );
            const member = pulumi.interpolate`serviceAccount:${gsa.email}`;
            new gcp.serviceaccount.IAMMember(
                `${name}-${workload}-wi`,
                {
                    serviceAccountId: gsa.name,
                    role: "roles/iam.workloadIdentityUser",
                    member: pulumi.interpolate`serviceAccount:${args.workloadPool}[${namespace}/${workload}]`,
                },
                gcpOpts,
            );
            for (const [bucket, g] of Object.entries(access.buckets) as [
                BucketKey,
                string | PrefixGrant,
            ][]) {
                const bucketName = args.buckets[bucket].name;
                new gcp.storage.BucketIAMMember(
                    `${name}-${workload}-${bucket}`,
                    typeof g === "string"
                        ? { bucket: bucketName, role: g, member }
                        : {
                              bucket: bucketName,
                              role: g.role,
                              member,
                              condition: prefixCondition(bucketName, g.prefix),
                          },
                    gcpOpts,
                );
            }
            for (const [dataset, role] of Object.entries(access.datasets) as [
                DatasetKey,
                string,
            ][]) {
                new gcp.bigquery.DatasetIamMember(
                    `${name}-${workload}-${dataset}`,
                    { datasetId: args.datasets[dataset].datasetId, role, member },
                    gcpOpts,
                );
            }
            for (const role of access.projectRoles) {
                new gcp.projects.IAMMember(
                    `${name}-${workload}-${role.split("/")[1]!.replace(/\./g, "-")}`,
                    { project: args.project, role, member },
                    gcpOpts,
                );
            }
            const ksa = new k8s.core.v1.ServiceAccount(
                `${name}-${workload}-ksa`,
                {
                    metadata: {
                        name: workload,
                        namespace,
                        labels: {
                            "app.kubernetes.io/name": workload,
                            "app.kubernetes.io/part-of": PART_OF,
                        },
                        annotations: { "iam.gke.io/gcp-service-account": gsa.email },
                    },
                    // Only workloads that call the Kubernetes API (Airflow launches task pods, the Spark
                    // driver launches executors) get a token.
                    automountServiceAccountToken: workload === "airflow" || workload === "spark",
                },
                k8sOpts,
            );
            googleAccounts[workload] = gsa;
            kubernetesAccounts[workload] = ksa.metadata.name;
        }
        this.googleAccounts = googleAccounts;
        this.kubernetesAccounts = kubernetesAccounts;
        this.emails = Object.fromEntries(
            Object.entries(googleAccounts).map(([w, a]) => [w, a.email]),
        ) as Record<Workload, pulumi.Output<string>>;
        this.registerOutputs({ emails: this.emails });
    }
}

/**
 * The IAM condition of a prefix grant: object calls on names under `prefix`, and list calls
 * whose prefix is under it (a list is checked on the bucket, with the request's prefix as
 * `storage.googleapis.com/objectListPrefix`).
 */
export function prefixCondition(
    bucket: pulumi.Input<string>,
    prefix: string,
): { title: string; description: string; expression: pulumi.Output<string> } {
    if (!/^[\w.-]+(\/[\w.-]+)*\/$/.test(prefix)) {
        throw new Error(`grant prefix ${JSON.stringify(prefix)} must be like "reports/"`);
    }
    return {
        title: `objects under ${prefix}`,
        description: `Only objects whose name starts with ${prefix} (and listing under it)`,
        expression: pulumi.interpolate`resource.name.startsWith("projects/_/buckets/${bucket}/objects/${prefix}") || api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("${prefix}")`,
    };
}

/** The access table as Markdown, for the README (a test keeps the two in sync). */
export function grantsTable(): string {
    const rows = grants().map(
        (g) =>
            `| ${g.workload} | ${g.scope} | ${g.target}${g.prefix ? ` (objects under \`${g.prefix}\`)` : ""} | \`${g.role}\` |`,
    );
    return ["| workload | scope | target | role |", "|---|---|---|---|", ...rows].join("\n");
}
