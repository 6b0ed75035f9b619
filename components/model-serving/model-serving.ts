/**
 * FareApi: the fare model's prediction API (`ml/src/taxi_ml/serve.py`) from the ml image, serving
 * the registry's `champion` version and picking up a new champion without a restart.
 *
 * Who connects to whom:
 *   - the pods ask MLflow (in-cluster Service, never the public route) which version holds the
 *     alias, and read that version's model files straight from the MLflow artifact bucket as
 *     their own Google account (`roles/storage.objectViewer` on that bucket only), through
 *     Workload Identity (GKE metadata server, then Google APIs on 443);
 *   - the shared load balancer sends `fare-api.<domain>` to them (its health check and the
 *     readiness probe use `/health`, which is 503 until a model is loaded); Prometheus scrapes
 *     `/metrics` from the pods, which the public route redirects instead of forwarding.
 *   Nothing else reaches them and they reach nothing else (NetworkPolicy).
 *
 * Public without authentication, by choice: the API changes nothing (it reads the registry and
 * computes) and every request is bounded in the app: body size (413), trips per request (422),
 * requests per client per minute and replica (429, the client taken from the load balancer's
 * X-Forwarded-For entry) and concurrent requests per replica (503).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { SharedLoadBalancer } from "../load-balancer/load-balancer";
import {
    GKE_METADATA_EGRESS,
    GOOGLE_LB_RANGES,
    httpsExceptApiServer,
    allowPolicy,
    fromNamespace,
    tcp,
} from "../shared/network-policy";
import { assertArgs } from "../shared/validation";
import {
    appLabels,
    container,
    httpProbe,
    resources,
    restrictedPodSecurity,
} from "../shared/workload";

export const FARE_API_PORT = 8080;
const NAME = "fare-api";

export interface FareApiArgs {
    /** Namespace (holds the `fare-api` service account). Required. */
    namespace: string;
    /** The ml image, by digest. Required. */
    image: pulumi.Input<string>;
    /** MLflow's in-cluster URL (`MlflowServer.internalUrl`). Required. */
    trackingUri: string;
    /** Namespace of the MLflow server (egress is allowed to its pods only). Required. */
    mlflowNamespace: string;
    /**
     * MLflow's `--artifacts-destination` (`gs://<bucket>/artifacts`): the pods read model files
     * there directly with their own read-only identity. Required.
     */
    artifactsDestination: pulumi.Input<string>;
    /** Kubernetes service account bound to the fare-api Google account. Required. */
    serviceAccount: pulumi.Input<string>;
    /** Namespace Prometheus runs in (scrapes /metrics). Required. */
    monitoringNamespace: string;
    /**
     * The control plane's CIDR, excluded from the pods' HTTPS egress: the API never talks to
     * the Kubernetes API. Required.
     */
    apiServerCidr: string;
    /** Registered model (default `fare-model`; the alias is always `champion`). */
    modelName?: string;
    /** Seconds between alias checks (default 30). */
    pollSeconds?: number;
    /** HorizontalPodAutoscaler bounds (defaults 2 and 6) and CPU target (default 70%). */
    minReplicas?: number;
    maxReplicas?: number;
    targetCpuPercent?: number;
    /** Request bounds of the public API (defaults: 1,000 trips, 1 MiB, 600/min, 32 in flight). */
    maxTrips?: number;
    maxBodyBytes?: number;
    ratePerMinute?: number;
    maxInFlight?: number;
    loadBalancer: SharedLoadBalancer;
}

export function resolveFareApiArgs(args: FareApiArgs) {
    const r = {
        ...args,
        modelName: args.modelName ?? "fare-model",
        pollSeconds: args.pollSeconds ?? 30,
        minReplicas: args.minReplicas ?? 2,
        maxReplicas: args.maxReplicas ?? 6,
        targetCpuPercent: args.targetCpuPercent ?? 70,
        maxTrips: args.maxTrips ?? 1000,
        maxBodyBytes: args.maxBodyBytes ?? 1_048_576,
        ratePerMinute: args.ratePerMinute ?? 600,
        maxInFlight: args.maxInFlight ?? 32,
    };
    assertArgs("FareApi", [
        (r.minReplicas < 2 || r.minReplicas > 50) &&
            `minReplicas is ${r.minReplicas}; must be 2 to 50 (one replica cannot be drained without an outage)`,
        (r.maxReplicas < r.minReplicas || r.maxReplicas > 50) &&
            `maxReplicas is ${r.maxReplicas}; must be from minReplicas (${r.minReplicas}) to 50`,
        (r.targetCpuPercent < 10 || r.targetCpuPercent > 95) &&
            `targetCpuPercent is ${r.targetCpuPercent}; must be 10 to 95`,
        (r.pollSeconds < 1 || r.pollSeconds > 3600) &&
            `pollSeconds is ${r.pollSeconds}; must be 1 to 3600`,
        (r.maxTrips < 1 || r.maxTrips > 10_000) && `maxTrips is ${r.maxTrips}; must be 1 to 10000`,
        (r.maxBodyBytes < 1024 || r.maxBodyBytes > 16_777_216) &&
            `maxBodyBytes is ${r.maxBodyBytes}; must be 1024 to 16777216`,
        (r.ratePerMinute < 1 || r.ratePerMinute > 1_000_000) &&
            `ratePerMinute is ${r.ratePerMinute}; must be 1 to 1000000 (a public API is rate-limited)`,
        (r.maxInFlight < 1 || r.maxInFlight > 1024) &&
            `maxInFlight is ${r.maxInFlight}; must be 1 to 1024`,
        !/^http:\/\/[a-z0-9.-]+\.svc(\.cluster\.local)?:\d+$/.test(r.trackingUri) &&
            `trackingUri ${JSON.stringify(r.trackingUri)} must be MLflow's in-cluster Service URL (http://<service>.<namespace>.svc.cluster.local:<port>)`,
    ]);
    return r;
}

export class FareApi extends pulumi.ComponentResource {
    public readonly url: pulumi.Output<string>;

    /** Pass the cluster's Kubernetes provider in `opts.providers`. */
    constructor(name: string, rawArgs: FareApiArgs, opts: pulumi.ComponentResourceOptions = {}) {
        super("taxi:k8s:FareApi", name, {}, opts);
        const args = resolveFareApiArgs(rawArgs);
        const o = { parent: this };
        const ns = args.namespace;
        const { labels, selector } = appLabels(NAME, "serving");
        const mlflowPort = Number(/:(\d+)$/.exec(args.trackingUri)![1]);
        const route = args.loadBalancer.addRoute(
            NAME,
            {
                namespace: ns,
                service: NAME,
                port: FARE_API_PORT,
                // 503 until a model is loaded: the load balancer skips such pods too.
                healthPath: "/health",
                privatePaths: ["/metrics"],
            },
            this,
        );
        this.url = route.url;

        const deployment = new k8s.apps.v1.Deployment(
            `${name}-app`,
            {
                metadata: { name: NAME, namespace: ns, labels },
                spec: {
                    // No `replicas`: the HorizontalPodAutoscaler owns the count (min 2), so a
                    // deploy never resets a scaled-up Deployment.
                    selector: { matchLabels: selector },
                    // A new pod takes traffic only once its model is loaded (readiness), and
                    // an old one leaves only after that: no moment without a ready replica.
                    strategy: {
                        type: "RollingUpdate",
                        rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
                    },
                    template: {
                        metadata: {
                            labels,
                            annotations: {
                                "prometheus.io/scrape": "true",
                                "prometheus.io/port": String(FARE_API_PORT),
                                "prometheus.io/path": "/metrics",
                            },
                        },
                        spec: {
                            serviceAccountName: args.serviceAccount,
                            // Tokens for Google APIs come from the metadata server, not the API.
                            automountServiceAccountToken: false,
                            securityContext: restrictedPodSecurity(10001),
                            terminationGracePeriodSeconds: 30,
                            topologySpreadConstraints: [
                                {
                                    maxSkew: 1,
                                    topologyKey: "kubernetes.io/hostname",
                                    whenUnsatisfiable: "ScheduleAnyway",
                                    labelSelector: { matchLabels: selector },
                                },
                            ],
                            containers: [
                                container({
                                    name: NAME,
                                    image: args.image,
                                    command: ["python", "-m", "taxi_ml.serve"],
                                    args: ["--host=0.0.0.0", `--port=${FARE_API_PORT}`],
                                    env: [
                                        { name: "MLFLOW_TRACKING_URI", value: args.trackingUri },
                                        { name: "MODEL_NAME", value: args.modelName },
                                        {
                                            name: "MODEL_POLL_SECONDS",
                                            value: String(args.pollSeconds),
                                        },
                                        {
                                            name: "MODEL_ARTIFACTS_DESTINATION",
                                            value: args.artifactsDestination,
                                        },
                                        { name: "SERVE_MAX_TRIPS", value: String(args.maxTrips) },
                                        {
                                            name: "SERVE_MAX_BODY_BYTES",
                                            value: String(args.maxBodyBytes),
                                        },
                                        {
                                            name: "SERVE_RATE_PER_MINUTE",
                                            value: String(args.ratePerMinute),
                                        },
                                        {
                                            name: "SERVE_MAX_IN_FLIGHT",
                                            value: String(args.maxInFlight),
                                        },
                                        // Google's LB appends "<client>, <load balancer>".
                                        { name: "SERVE_FORWARDED_HOPS", value: "2" },
                                        // One OpenMP thread per pod CPU (the limit is 1 CPU).
                                        { name: "OMP_NUM_THREADS", value: "1" },
                                        { name: "HOME", value: "/tmp" },
                                        { name: "MLFLOW_DISABLE_TELEMETRY", value: "true" },
                                    ],
                                    ports: [{ name: "http", containerPort: FARE_API_PORT }],
                                    resources: resources("500m", "1Gi", { cpu: "1" }),
                                    startupProbe: httpProbe("/livez", "http", {
                                        failureThreshold: 30,
                                    }),
                                    readinessProbe: httpProbe("/health", "http", {
                                        periodSeconds: 5,
                                    }),
                                    livenessProbe: httpProbe("/livez", "http", {
                                        periodSeconds: 30,
                                    }),
                                    // Stay up while the endpoint removal reaches the load
                                    // balancer and kube-proxy, so no request meets a closed port.
                                    lifecycle: { preStop: { sleep: { seconds: 10 } } },
                                    volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
                                }),
                            ],
                            // Model downloads and matplotlib's cache; the root filesystem is
                            // read-only.
                            volumes: [{ name: "tmp", emptyDir: { sizeLimit: "1Gi" } }],
                        },
                    },
                },
            },
            o,
        );
        new k8s.core.v1.Service(
            `${name}-service`,
            {
                metadata: { name: NAME, namespace: ns, labels },
                spec: {
                    selector,
                    ports: [{ name: "http", port: FARE_API_PORT, targetPort: "http" }],
                },
            },
            o,
        );
        new k8s.policy.v1.PodDisruptionBudget(
            `${name}-pdb`,
            {
                metadata: { name: NAME, namespace: ns, labels },
                spec: { minAvailable: 1, selector: { matchLabels: selector } },
            },
            o,
        );
        new k8s.autoscaling.v2.HorizontalPodAutoscaler(
            `${name}-hpa`,
            {
                metadata: { name: NAME, namespace: ns, labels },
                spec: {
                    scaleTargetRef: {
                        apiVersion: "apps/v1",
                        kind: "Deployment",
                        name: deployment.metadata.name,
                    },
                    minReplicas: args.minReplicas,
                    maxReplicas: args.maxReplicas,
                    metrics: [
                        {
                            type: "Resource",
                            resource: {
                                name: "cpu",
                                target: {
                                    type: "Utilization",
                                    averageUtilization: args.targetCpuPercent,
                                },
                            },
                        },
                    ],
                    // Scale down slowly: a new pod loads the model before it helps.
                    behavior: {
                        scaleDown: {
                            stabilizationWindowSeconds: 300,
                            policies: [{ type: "Pods", value: 1, periodSeconds: 60 }],
                        },
                    },
                },
            },
            o,
        );
        allowPolicy(
            `${name}-netpol`,
            { name: NAME, namespace: ns },
            {
                podSelector: selector,
                ingress: [
                    {
                        from: [
                            ...GOOGLE_LB_RANGES.map((cidr) => ({ ipBlock: { cidr } })),
                            fromNamespace(args.monitoringNamespace, {
                                "app.kubernetes.io/name": "prometheus",
                            }),
                        ],
                        ports: tcp(FARE_API_PORT),
                    },
                ],
                egress: [
                    {
                        to: [
                            fromNamespace(args.mlflowNamespace, {
                                "app.kubernetes.io/name": "mlflow",
                            }),
                        ],
                        ports: tcp(mlflowPort),
                    },
                    // The artifact bucket: Google APIs on 443 (never the control plane), with a
                    // token from the metadata server.
                    httpsExceptApiServer(args.apiServerCidr),
                    GKE_METADATA_EGRESS,
                ],
            },
            o,
        );
        this.registerOutputs({ url: this.url });
    }
}
