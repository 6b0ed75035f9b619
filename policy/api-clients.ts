/**
 * The workloads that talk to the Kubernetes API, and why. Only these may have a service-account
 * token mounted (`service-account-token-only-for-api-clients`); every other pod sets
 * `automountServiceAccountToken: false`, so a compromised container holds no credential for the
 * API server. Google credentials do not need it: Workload Identity's GKE metadata server issues
 * them to the pod without a mounted token.
 *
 * Key: `<Kind>/<namespace>/<name>` (as `workloadKey` in pod-security.ts builds it). An entry
 * whose workload no longer gets a token fails the rule too, so the list stays exact.
 */
export const KUBERNETES_API_CLIENTS: Readonly<Record<string, string>> = {
    "Deployment/airflow/airflow":
        "the scheduler and the task operators create and watch the task pods, Jobs and " +
        "SparkApplications in the jobs namespace (launcher Role)",
    "Deployment/monitoring/metrics-exporter":
        "kube-state-metrics lists and watches the objects it turns into metrics",
    "StatefulSet/monitoring/prometheus":
        "Kubernetes service discovery lists pods, services and endpoints of the scraped namespaces",
};
