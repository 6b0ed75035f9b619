/**
 * SparkOperator: the Kubeflow spark-operator (docs/architecture.md#airflow-on-the-cluster) from its pinned upstream chart
 * (charts/spark-operator), as a Helm release managed by Pulumi. It watches the jobs namespace
 * only, runs its mutating webhook (driver/executor pods get the volumes, env, service account and
 * node selection of their SparkApplication) and serves controller metrics to Prometheus.
 *
 * Spark pods run as the `spark` Kubernetes service account of the jobs namespace, which the
 * identities component binds to the spark Google service account (Workload Identity); the chart
 * adds the Role that lets a driver create its executors. The network rules of task pods in the
 * jobs namespace (Spark included) live with the Airflow component, which launches them.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { SPARK_OPERATOR_CHART, type SparkOperatorValues } from "../../charts/spark-operator/chart";
import { allowPolicy, apiServerEgress, tcp } from "../shared/network-policy";
import { assertArgs } from "../shared/validation";
import { SCRAPE_ANNOTATIONS } from "../monitoring";

/** Ports of the chart's pods (values below). */
export const SPARK_OPERATOR_PORTS = { webhook: 9443, metrics: 8080 } as const;
/** The operator image runs as the `spark` user of the Spark images (uid 185). */
const OPERATOR_UID = 185;

export interface SparkOperatorArgs {
    /** Namespace of the operator's controller and webhook. Required. */
    namespace: string;
    /** The namespace whose SparkApplications the operator handles (and only that one). Required. */
    jobsNamespace: string;
    /** Kubernetes service account Spark pods run as (in `jobsNamespace`, Workload Identity bound). Required. */
    sparkServiceAccount: pulumi.Input<string>;
    /** CIDR of the GKE control plane: it calls the webhook, the pods call the API server. Required. */
    apiServerCidr: string;
    /** Operator image by digest, e.g. the registry mirror's (default: the chart's pinned tag). */
    image?: pulumi.Input<string>;
    /** Node selector for the operator's pods (default: none). */
    nodeSelector?: Record<string, string>;
    /** Webhook replicas (default 1; 2 or more adds a PodDisruptionBudget). */
    webhookReplicas?: number;
    /** Concurrent reconciles of the controller (default 10). */
    workers?: number;
    /**
     * Google identities (service-account emails, as GKE presents them to Kubernetes RBAC) that
     * may read the Helm release records: the CI preview identity. Helm keeps each revision as a
     * Secret (`sh.helm.release.v1.spark-operator.v<N>`) in the release's namespace and finds it
     * by listing Secrets with the labels owner=helm,name=<release>, so a preview needs get and
     * list on Secrets there, and nothing else (default none).
     */
    releaseReaders?: pulumi.Input<string>[];
}

export function resolveSparkOperatorArgs(args: SparkOperatorArgs) {
    const r = {
        ...args,
        nodeSelector: args.nodeSelector ?? {},
        webhookReplicas: args.webhookReplicas ?? 1,
        workers: args.workers ?? 10,
        releaseReaders: args.releaseReaders ?? [],
    };
    assertArgs("SparkOperator", [
        r.namespace === r.jobsNamespace &&
            `namespace and jobsNamespace are both ${JSON.stringify(r.namespace)}; run the operator apart from the jobs it launches`,
        (r.webhookReplicas < 1 || r.webhookReplicas > 5) &&
            `webhookReplicas is ${r.webhookReplicas}; must be 1 to 5`,
        (r.workers < 1 || r.workers > 100) && `workers is ${r.workers}; must be 1 to 100`,
    ]);
    return r;
}

const podSecurity = {
    runAsNonRoot: true,
    runAsUser: OPERATOR_UID,
    runAsGroup: OPERATOR_UID,
    fsGroup: OPERATOR_UID,
    seccompProfile: { type: "RuntimeDefault" },
} as const;

const containerSecurity = {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
    // The controller runs spark-submit and the webhook writes its serving certificate: both
    // write under /tmp and /etc/k8s-webhook-server, mounted as emptyDir below.
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    seccompProfile: { type: "RuntimeDefault" },
} as const;

/**
 * The chart composes `<registry>/<repository>:<tag>`; a digest reference is split so that the
 * result is `<registry>/<repository>:<chart tag>@sha256:…` (the digest decides what is pulled).
 */
export function chartImage(ref: string | undefined): SparkOperatorValues["image"] {
    if (ref === undefined) return { ...SPARK_OPERATOR_CHART.image };
    const m = /^([^/]+)\/(.+?)(?::[^/@]+)?@(sha256:[0-9a-f]{64})$/.exec(ref);
    if (!m)
        throw new Error(
            `SparkOperator: image ${JSON.stringify(ref)} is not <registry>/<path>@sha256:<digest>`,
        );
    return {
        registry: m[1]!,
        repository: m[2]!,
        tag: `${SPARK_OPERATOR_CHART.image.tag}@${m[3]!}`,
    };
}

/** The chart values, fully typed (charts/spark-operator/chart.ts). */
export function sparkOperatorValues(
    r: ReturnType<typeof resolveSparkOperatorArgs>,
    sparkServiceAccount: string,
    image?: string,
): SparkOperatorValues {
    const tmp = { volumes: [{ name: "tmp", emptyDir: {} }] };
    return {
        image: chartImage(image),
        controller: {
            replicas: 1,
            workers: r.workers,
            logLevel: "info",
            nodeSelector: r.nodeSelector,
            labels: {},
            annotations: {
                [SCRAPE_ANNOTATIONS.scrape]: "true",
                [SCRAPE_ANNOTATIONS.port]: String(SPARK_OPERATOR_PORTS.metrics),
                [SCRAPE_ANNOTATIONS.path]: "/metrics",
            },
            podSecurityContext: podSecurity,
            securityContext: containerSecurity,
            // Each submission starts a spark-submit JVM inside this pod.
            resources: {
                requests: { cpu: "200m", memory: "512Mi" },
                limits: { cpu: "1", memory: "1Gi" },
            },
            serviceAccount: { create: true },
            rbac: { create: true },
            ...tmp,
            volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
            podDisruptionBudget: { enable: false },
            uiService: { enable: true },
            uiIngress: { enable: false },
            batchScheduler: { enable: false },
        },
        webhook: {
            enable: true,
            replicas: r.webhookReplicas,
            port: SPARK_OPERATOR_PORTS.webhook,
            // A SparkApplication whose pods cannot be mutated must not start half-configured.
            failurePolicy: "Fail",
            timeoutSeconds: 10,
            logLevel: "info",
            nodeSelector: r.nodeSelector,
            labels: {},
            annotations: {},
            podSecurityContext: podSecurity,
            securityContext: containerSecurity,
            resources: {
                requests: { cpu: "50m", memory: "128Mi" },
                limits: { cpu: "500m", memory: "256Mi" },
            },
            serviceAccount: { create: true },
            rbac: { create: true },
            volumes: [
                { name: "tmp", emptyDir: {} },
                { name: "serving-certs", emptyDir: {} },
            ],
            volumeMounts: [
                { name: "tmp", mountPath: "/tmp" },
                { name: "serving-certs", mountPath: "/etc/k8s-webhook-server/serving-certs" },
            ],
            podDisruptionBudget:
                r.webhookReplicas > 1 ? { enable: true, minAvailable: 1 } : { enable: false },
        },
        spark: {
            jobNamespaces: [r.jobsNamespace],
            // The identities component owns this account (it carries the Workload Identity
            // annotation); the chart only adds the driver's Role and RoleBinding for it.
            serviceAccount: { create: false, name: sparkServiceAccount },
            rbac: { create: true },
        },
        prometheus: {
            metrics: {
                enable: true,
                port: SPARK_OPERATOR_PORTS.metrics,
                portName: "metrics",
                endpoint: "/metrics",
            },
            podMonitor: { create: false },
        },
    };
}

export class SparkOperator extends pulumi.ComponentResource {
    public readonly release: k8s.helm.v3.Release;
    public readonly chartVersion: string = SPARK_OPERATOR_CHART.version;

    /** Pass the cluster's Kubernetes provider in `opts.providers`. */
    constructor(name: string, rawArgs: SparkOperatorArgs, opts: pulumi.ComponentResourceOptions) {
        super("taxi:k8s:SparkOperator", name, {}, opts);
        const args = resolveSparkOperatorArgs(rawArgs);
        const o = { parent: this };
        const ns = args.namespace;

        this.release = new k8s.helm.v3.Release(
            `${name}-release`,
            {
                name: "spark-operator",
                namespace: ns,
                chart: SPARK_OPERATOR_CHART.name,
                version: SPARK_OPERATOR_CHART.version,
                repositoryOpts: { repo: SPARK_OPERATOR_CHART.repository },
                values: pulumi
                    .all([args.sparkServiceAccount, args.image])
                    .apply(([sa, image]) => sparkOperatorValues(args, sa, image)),
                // CRDs come from the chart's crds/ folder on install only; upgrades apply them
                // deliberately first (charts/README.md).
                skipCrds: false,
                atomic: true,
                cleanupOnFail: true,
                timeout: 600,
                maxHistory: 5,
            },
            o,
        );

        // --- network: operator namespace ------------------------------------------------------
        const apiServer = apiServerEgress(args.apiServerCidr);
        allowPolicy(
            `${name}-netpol-controller`,
            { name: "spark-operator-controller", namespace: ns },
            {
                podSelector: { "app.kubernetes.io/component": "controller" },
                egress: [apiServer],
            },
            o,
        );
        allowPolicy(
            `${name}-netpol-webhook`,
            { name: "spark-operator-webhook", namespace: ns },
            {
                podSelector: { "app.kubernetes.io/component": "webhook" },
                ingress: [
                    {
                        from: [{ ipBlock: { cidr: args.apiServerCidr } }],
                        ports: tcp(SPARK_OPERATOR_PORTS.webhook),
                    },
                ],
                egress: [apiServer],
            },
            o,
        );

        // --- the preview identity reads the release records, in this namespace only -------------
        if (args.releaseReaders.length > 0) {
            const role = new k8s.rbac.v1.Role(
                `${name}-release-readers`,
                {
                    metadata: { name: "helm-release-readers", namespace: ns },
                    // Kubernetes cannot narrow `list` by name or type: the namespace holds only
                    // the release records and the webhook's self-signed serving certificate.
                    rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get", "list"] }],
                },
                o,
            );
            new k8s.rbac.v1.RoleBinding(
                `${name}-release-readers`,
                {
                    metadata: { name: "helm-release-readers", namespace: ns },
                    roleRef: {
                        apiGroup: "rbac.authorization.k8s.io",
                        kind: "Role",
                        name: role.metadata.name,
                    },
                    subjects: args.releaseReaders.map((user) => ({
                        apiGroup: "rbac.authorization.k8s.io",
                        kind: "User",
                        name: user,
                    })),
                },
                o,
            );
        }

        this.registerOutputs({ chartVersion: this.chartVersion });
    }
}
