/**
 * THE table of network flows the platform needs, and of flows that must stay closed.
 *
 * Every pod the stacks run (rendered workloads, chart pods, the task and Spark pods the DAG
 * templates create) must be covered: each of its containers (init containers too) appears in at
 * least one needed flow, as the source or as the owner of the destination port. A new workload
 * or container therefore fails preflight until its connections are declared here, and a
 * declared connection fails until the NetworkPolicies allow it.
 *
 * Endpoints are workloads (namespace + labels, as the pods carry them) or an external class:
 * - `dns`: kube-dns in kube-system, UDP and TCP 53;
 * - `kubernetes-api`: the control plane's private endpoint (the cluster's master CIDR), 443;
 * - `metadata-server`: the GKE metadata server, 169.254.169.254:80 and 169.254.169.252:988
 *   (Workload Identity tokens; GKE documents both for clusters with network policies);
 * - `google-apis`: Google's public API front ends (142.250.0.0/15) and private.googleapis.com
 *   (199.36.153.8/30), 443;
 * - `saas-apis`: SaaS APIs at arbitrary public addresses (dbt Cloud, Databricks workspaces), 443:
 *   only an any-address HTTPS rule reaches them (checked with 0.0.0.0/0 as the destination);
 * - `lb-health-checkers`: Google's load-balancer proxies and health checkers, 35.191.0.0/16 and
 *   130.211.0.0/22 (sources only);
 * - `control-plane`: the API server calling in (admission webhooks), the master CIDR (source only);
 * - `aws-public`: public AWS endpoints on the internet, 443: CloudFront (13.32.0.0/15, where the
 *   TLC website serves its monthly files), S3 and STS in us-east-1 (52.216.0.0/15, 54.239.0.0/16).
 * - `kubelets`: the nodes' subnet (the kubelets' authenticated port, 10250);
 * - `aws-apis`: AWS's public endpoints (STS, SES), 443.
 */
import { NAMESPACES } from "../../components/namespaces/namespaces";

export type ExternalClass =
    | "dns"
    | "kubernetes-api"
    | "metadata-server"
    | "google-apis"
    | "saas-apis"
    | "lb-health-checkers"
    | "control-plane"
    | "aws-public"
    | "kubelets"
    | "aws-apis";

export interface Workload {
    /** Name in reports. */
    what: string;
    namespace: string;
    /** Labels the pods carry (a subset match). */
    labels: Record<string, string>;
    /** Only pods of this kind (e.g. the DAGs' Jobs vs the SparkApplications' pods). */
    kind?: string;
}

export interface FlowEnd {
    workload?: Workload;
    external?: ExternalClass;
    /** Containers of the source pods this flow is for (default: the regular containers; init containers must be named). */
    containers?: string[];
}

export interface Flow {
    from: FlowEnd;
    to: FlowEnd;
    /** Destination port (ignored for `dns`, which is UDP and TCP 53). */
    port: number;
    protocol?: "TCP" | "UDP";
    why: string;
}

const N = NAMESPACES;
const name = (n: string, component?: string) => ({
    "app.kubernetes.io/name": n,
    ...(component ? { "app.kubernetes.io/component": component } : {}),
});

/** The workloads, by the labels their pods carry. */
export const WORKLOADS = {
    airflow: {
        what: "Airflow (scheduler, api-server, dag-processor, triggerer)",
        namespace: N.airflow,
        labels: name("airflow", "core"),
    },
    airflowMigrate: {
        what: "Airflow migration Job",
        namespace: N.airflow,
        labels: name("airflow", "migrate"),
    },
    postgres: { what: "PostgreSQL", namespace: N.database, labels: name("postgres", "database") },
    postgresMaintenance: {
        what: "PostgreSQL reconcile Job and backup CronJob",
        namespace: N.database,
        labels: name("postgres-maintenance"),
    },
    prometheus: {
        what: "Prometheus",
        namespace: N.monitoring,
        labels: name("prometheus", "metrics"),
    },
    grafana: { what: "Grafana", namespace: N.monitoring, labels: name("grafana", "dashboards") },
    alertmanager: {
        what: "Alertmanager and its alert relay",
        namespace: N.monitoring,
        labels: name("alertmanager", "alerting"),
    },
    exporter: {
        what: "metrics exporter (statsd, postgres, kube-state-metrics)",
        namespace: N.monitoring,
        labels: name("metrics-exporter", "metrics"),
    },
    mlflow: { what: "MLflow", namespace: N.mlflow, labels: name("mlflow", "tracking") },
    docs: { what: "docs app", namespace: N.docs, labels: name("docs-app", "web") },
    fareApi: {
        what: "fare API (model serving)",
        namespace: N.serving,
        labels: name("fare-api", "serving"),
    },
    sparkController: {
        what: "Spark operator controller",
        namespace: N.sparkOperator,
        labels: {
            "app.kubernetes.io/name": "spark-operator",
            "app.kubernetes.io/component": "controller",
        },
    },
    sparkWebhook: {
        what: "Spark operator webhook",
        namespace: N.sparkOperator,
        labels: {
            "app.kubernetes.io/name": "spark-operator",
            "app.kubernetes.io/component": "webhook",
        },
    },
    sparkDriver: {
        what: "Spark drivers",
        namespace: N.jobs,
        labels: { "app.kubernetes.io/name": "taxi-spark", "spark-role": "driver" },
    },
    sparkExecutor: {
        what: "Spark executors",
        namespace: N.jobs,
        labels: { "app.kubernetes.io/name": "taxi-spark", "spark-role": "executor" },
    },
    taskJobs: {
        what: "task pods (Jobs)",
        namespace: N.jobs,
        labels: { "app.kubernetes.io/part-of": "taxi-platform" },
        kind: "Job",
    },
    mlTasks: {
        what: "ML task pods",
        namespace: N.jobs,
        labels: { "app.kubernetes.io/name": "taxi-ml" },
        kind: "Job",
    },
    anyTask: {
        what: "any task pod (Jobs, Spark drivers and executors)",
        namespace: N.jobs,
        labels: { "app.kubernetes.io/part-of": "taxi-platform" },
    },
} satisfies Record<string, Workload>;

const W = WORKLOADS;
const w = (workload: Workload, containers?: string[]): FlowEnd => ({
    workload,
    ...(containers ? { containers } : {}),
});
const x = (external: ExternalClass): FlowEnd => ({ external });

const AIRFLOW_DB = ["scheduler", "api-server", "dag-processor", "triggerer", "wait-for-migrations"];
const MIGRATE_STEPS = [
    "migrate",
    "create-admin",
    "create-trigger-user",
    "set-admin-password",
    "set-trigger-password",
];

/** Connections the platform needs. */
export const NEEDED_FLOWS: Flow[] = [
    // Every pod resolves names.
    ...Object.values(W)
        .filter((v) => v !== W.taskJobs && v !== W.mlTasks && v !== W.anyTask)
        .map((v) => ({ from: w(v), to: x("dns"), port: 53, why: "name resolution" })),
    { from: w(W.taskJobs), to: x("dns"), port: 53, why: "name resolution" },

    // Airflow
    { from: w(W.airflow, AIRFLOW_DB), to: w(W.postgres), port: 5432, why: "metadata database" },
    {
        from: w(W.airflowMigrate, MIGRATE_STEPS),
        to: w(W.postgres),
        port: 5432,
        why: "schema migration and users before Airflow starts",
    },
    {
        from: w(W.airflow, ["scheduler", "triggerer"]),
        to: x("kubernetes-api"),
        port: 443,
        why: "task operators create and watch Jobs and SparkApplications",
    },
    {
        from: w(W.airflow, ["scheduler", "api-server", "dag-processor", "triggerer"]),
        to: w(W.exporter),
        port: 9125,
        protocol: "UDP",
        why: "statsd metrics",
    },
    {
        from: w(W.airflow, ["scheduler", "triggerer", "api-server"]),
        to: x("google-apis"),
        port: 443,
        why: "remote task logs, the Storage Transfer trigger, Secret Manager (Airflow connections, dags/common/secrets_backend.py)",
    },
    {
        from: w(W.airflow, ["scheduler", "triggerer"]),
        to: x("saas-apis"),
        port: 443,
        why: "external engines: dbt Cloud and Databricks runs started by the scheduler's task processes and polled by the triggerer (dags/common/engine_operators.py)",
    },
    {
        from: w(W.airflow, ["scheduler", "triggerer", "api-server"]),
        to: x("metadata-server"),
        port: 80,
        why: "Workload Identity tokens",
    },
    {
        from: x("lb-health-checkers"),
        to: w(W.airflow),
        port: 8080,
        why: "UI/API behind the shared Gateway and its health checks",
    },

    // PostgreSQL maintenance
    {
        from: w(W.postgresMaintenance, ["reconcile", "dump"]),
        to: w(W.postgres),
        port: 5432,
        why: "reconcile roles and databases; nightly dump",
    },
    {
        from: w(W.postgresMaintenance, ["upload"]),
        to: x("google-apis"),
        port: 443,
        why: "backup upload to Cloud Storage",
    },
    {
        from: w(W.postgresMaintenance, ["upload"]),
        to: x("metadata-server"),
        port: 80,
        why: "Workload Identity tokens",
    },

    // Monitoring
    { from: w(W.prometheus), to: x("kubernetes-api"), port: 443, why: "pod discovery" },
    { from: w(W.prometheus), to: w(W.exporter), port: 9102, why: "scrape statsd exporter" },
    { from: w(W.prometheus), to: w(W.exporter), port: 9187, why: "scrape postgres exporter" },
    { from: w(W.prometheus), to: w(W.exporter), port: 8080, why: "scrape kube-state-metrics" },
    {
        from: w(W.prometheus),
        to: w(W.sparkDriver),
        port: 8090,
        why: "scrape Spark driver JMX metrics",
    },
    { from: w(W.prometheus), to: w(W.docs), port: 8080, why: "scrape docs app metrics" },
    {
        from: w(W.prometheus),
        to: w(W.sparkController),
        port: 8080,
        why: "scrape Spark operator metrics",
    },
    { from: w(W.prometheus), to: w(W.alertmanager), port: 9093, why: "firing alerts" },
    {
        from: w(W.prometheus),
        to: x("kubelets"),
        port: 10250,
        why: "volume statistics (nodes/metrics)",
    },
    {
        from: w(W.alertmanager, ["alert-relay"]),
        to: x("metadata-server"),
        port: 80,
        why: "Google ID token for the SES sender role (web identity)",
    },
    {
        from: w(W.alertmanager, ["alert-relay"]),
        to: x("aws-apis"),
        port: 443,
        why: "STS AssumeRoleWithWebIdentity and SES SendEmail (alert mails)",
    },
    {
        from: w(W.airflow, ["dag-processor"]),
        to: x("aws-apis"),
        port: 443,
        why: "run report mails: STS AssumeRoleWithWebIdentity and SES SendEmail (DAG callbacks)",
    },
    {
        from: w(W.airflow, ["dag-processor"]),
        to: x("metadata-server"),
        port: 80,
        why: "Google ID token for the SES sender role",
    },
    { from: w(W.grafana), to: w(W.prometheus), port: 9090, why: "dashboards query Prometheus" },
    { from: w(W.grafana), to: w(W.postgres), port: 5432, why: "Grafana's database" },
    {
        from: x("lb-health-checkers"),
        to: w(W.grafana),
        port: 3000,
        why: "UI behind the shared Gateway",
    },
    {
        from: w(W.exporter, ["postgres-exporter"]),
        to: w(W.postgres),
        port: 5432,
        why: "database metrics",
    },
    {
        from: w(W.exporter, ["kube-state-metrics"]),
        to: x("kubernetes-api"),
        port: 443,
        why: "object state metrics",
    },

    // MLflow
    { from: w(W.mlflow), to: w(W.postgres), port: 5432, why: "tracking database" },
    { from: w(W.mlflow), to: x("google-apis"), port: 443, why: "artifacts in Cloud Storage" },
    { from: w(W.mlflow), to: x("metadata-server"), port: 80, why: "Workload Identity tokens" },
    {
        from: w(W.mlTasks),
        to: w(W.mlflow),
        port: 5000,
        why: "training and retraining log runs and models",
    },

    // Docs app
    { from: w(W.docs), to: x("google-apis"), port: 443, why: "published sites in Cloud Storage" },
    { from: w(W.docs), to: x("metadata-server"), port: 80, why: "Workload Identity tokens" },
    {
        from: x("lb-health-checkers"),
        to: w(W.docs),
        port: 8080,
        why: "site behind the shared Gateway",
    },

    // Fare API (model serving)
    {
        from: w(W.fareApi),
        to: w(W.mlflow),
        port: 5000,
        why: "the champion alias and its version (MLflow's in-cluster Service)",
    },
    {
        from: w(W.fareApi),
        to: x("google-apis"),
        port: 443,
        why: "model files from the MLflow artifact bucket (read-only)",
    },
    { from: w(W.fareApi), to: x("metadata-server"), port: 80, why: "Workload Identity tokens" },
    {
        from: x("lb-health-checkers"),
        to: w(W.fareApi),
        port: 8080,
        why: "prediction API behind the shared Gateway and its health checks",
    },
    { from: w(W.prometheus), to: w(W.fareApi), port: 8080, why: "scrape fare API metrics" },

    // Spark operator
    {
        from: w(W.sparkController),
        to: x("kubernetes-api"),
        port: 443,
        why: "reconcile SparkApplications, submit drivers",
    },
    {
        from: w(W.sparkWebhook),
        to: x("kubernetes-api"),
        port: 443,
        why: "webhook configuration and certificates",
    },
    {
        from: x("control-plane"),
        to: w(W.sparkWebhook),
        port: 9443,
        why: "mutating/validating admission of Spark pods",
    },

    // Task pods
    {
        from: w(W.taskJobs),
        to: x("google-apis"),
        port: 443,
        why: "BigQuery, Cloud Storage, Storage Transfer",
    },
    { from: w(W.taskJobs), to: x("metadata-server"), port: 80, why: "Workload Identity tokens" },
    {
        from: w(W.taskJobs),
        to: x("aws-public"),
        port: 443,
        why: "ingest download: the TLC website (CloudFront), AWS STS (web identity) and the S3 landing bucket; copy_to_staging reads S3",
    },
    {
        from: w(W.sparkDriver),
        to: x("kubernetes-api"),
        port: 443,
        why: "the driver creates and watches its executors",
    },
    { from: w(W.sparkDriver), to: x("google-apis"), port: 443, why: "GCS and BigQuery connectors" },
    { from: w(W.sparkDriver), to: x("metadata-server"), port: 80, why: "Workload Identity tokens" },
    {
        from: w(W.sparkExecutor),
        to: x("google-apis"),
        port: 443,
        why: "GCS and BigQuery connectors",
    },
    {
        from: w(W.sparkExecutor),
        to: x("metadata-server"),
        port: 80,
        why: "Workload Identity tokens",
    },
    {
        from: w(W.sparkExecutor),
        to: w(W.sparkDriver),
        port: 7078,
        why: "executor registers with the driver (RPC)",
    },
    {
        from: w(W.sparkExecutor),
        to: w(W.sparkDriver),
        port: 7079,
        why: "block manager (broadcasts)",
    },
    {
        from: w(W.sparkExecutor),
        to: w(W.sparkExecutor),
        port: 7079,
        why: "shuffle blocks between executors",
    },
    { from: w(W.sparkDriver), to: w(W.sparkExecutor), port: 7079, why: "block manager" },
];

/** Connections that must be impossible, whatever the needed flows open. */
export const DENIED_FLOWS: Flow[] = [
    {
        from: w(W.anyTask),
        to: w(W.postgres),
        port: 5432,
        why: "task pods never see the platform database",
    },
    { from: w(W.docs), to: w(W.postgres), port: 5432, why: "the public docs app has no database" },
    {
        from: w(W.docs),
        to: w(W.airflow),
        port: 8080,
        why: "the public docs app is not a way into Airflow",
    },
    {
        from: w(W.docs),
        to: w(W.mlflow),
        port: 5000,
        why: "the public docs app is not a way into MLflow",
    },
    {
        from: w(W.docs),
        to: x("kubernetes-api"),
        port: 443,
        why: "the public docs app has no API access",
    },
    {
        from: w(W.anyTask),
        to: w(W.airflow),
        port: 8080,
        why: "task pods do not call Airflow's API",
    },
    { from: w(W.grafana), to: x("kubernetes-api"), port: 443, why: "Grafana has no API access" },
    {
        from: w(W.alertmanager),
        to: x("kubernetes-api"),
        port: 443,
        why: "Alertmanager and its relay have no API access",
    },
    { from: w(W.airflow), to: w(W.alertmanager), port: 9093, why: "only Prometheus sends alerts" },
    { from: w(W.mlflow), to: x("kubernetes-api"), port: 443, why: "MLflow has no API access" },
    {
        from: x("lb-health-checkers"),
        to: w(W.postgres),
        port: 5432,
        why: "the database is never behind the load balancer",
    },
    {
        from: x("lb-health-checkers"),
        to: w(W.prometheus),
        port: 9090,
        why: "Prometheus is not published",
    },
    { from: w(W.mlflow), to: w(W.airflow), port: 8080, why: "MLflow does not call Airflow" },
    {
        from: w(W.fareApi),
        to: w(W.postgres),
        port: 5432,
        why: "the public fare API has no database",
    },
    {
        from: w(W.fareApi),
        to: w(W.airflow),
        port: 8080,
        why: "the public fare API is not a way into Airflow",
    },
    {
        from: w(W.fareApi),
        to: x("kubernetes-api"),
        port: 443,
        why: "the public fare API has no API access",
    },
];
