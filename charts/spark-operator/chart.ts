/**
 * The Kubeflow spark-operator Helm chart: where it comes from, the exact version, and the typed
 * subset of its values this platform sets (docs/architecture.md#versions: chart 2.5.x, Spark 4.0
 * line).
 *
 * Upgrading: change `SPARK_OPERATOR_CHART.version`, read the chart's release notes for values
 * that moved, apply the new CRDs first (Helm never upgrades the files in a chart's `crds/`
 * folder; see charts/README.md), then `pulumi preview` and `pulumi up`.
 */

export const SPARK_OPERATOR_CHART = {
    name: "spark-operator",
    repository: "https://kubeflow.github.io/spark-operator",
    version: "2.5.0",
    /**
     * The operator image the chart runs (its appVersion); pinned here so a chart upgrade is
     * visible. Since chart 2.2 the project publishes it on GitHub's registry only: the chart's
     * own values.yaml (v2.5.0: `image.registry: ghcr.io`, `image.repository:
     * kubeflow/spark-operator/controller`) and its release workflow (pushes
     * `ghcr.io/kubeflow/spark-operator/controller:<version>`). Evidence in
     * components/spark-operator/README.md.
     */
    image: { registry: "ghcr.io", repository: "kubeflow/spark-operator/controller", tag: "2.5.0" },
} as const;

type Resources = {
    requests: { cpu: string; memory: string };
    limits: { cpu: string; memory: string };
};

type PodSecurityContext = {
    runAsNonRoot: true;
    runAsUser: number;
    runAsGroup: number;
    fsGroup?: number;
    seccompProfile: { type: "RuntimeDefault" };
};

type ContainerSecurityContext = {
    allowPrivilegeEscalation: false;
    capabilities: { drop: readonly ["ALL"] };
    readOnlyRootFilesystem: boolean;
    runAsNonRoot: true;
    seccompProfile: { type: "RuntimeDefault" };
};

interface PodValues {
    replicas: number;
    logLevel: "debug" | "info" | "error";
    nodeSelector: Record<string, string>;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    podSecurityContext: PodSecurityContext;
    securityContext: ContainerSecurityContext;
    resources: Resources;
    serviceAccount: { create: boolean; name?: string };
    rbac: { create: boolean };
    volumes: { name: string; emptyDir: Record<string, never> }[];
    volumeMounts: { name: string; mountPath: string }[];
    podDisruptionBudget: { enable: boolean; minAvailable?: number };
}

/** The values this platform sets; anything not listed keeps the chart's default. */
export interface SparkOperatorValues {
    image: { registry: string; repository: string; tag: string };
    controller: PodValues & {
        workers: number;
        uiService: { enable: boolean };
        uiIngress: { enable: false };
        batchScheduler: { enable: false };
    };
    webhook: PodValues & {
        enable: true;
        port: number;
        failurePolicy: "Fail" | "Ignore";
        timeoutSeconds: number;
    };
    spark: {
        jobNamespaces: string[];
        serviceAccount: { create: false; name: string };
        rbac: { create: true };
    };
    prometheus: {
        metrics: { enable: true; port: number; portName: string; endpoint: string };
        podMonitor: { create: false };
    };
}
