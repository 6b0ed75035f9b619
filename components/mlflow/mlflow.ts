/**
 * MlflowServer: the MLflow tracking server (docs/architecture.md#platform-services) with its backend store in its own
 * Postgres database and its artifacts in the MLflow GCS bucket, reached through Workload Identity
 * (no key). Runs from the ml image (which carries mlflow, psycopg2 and google-cloud-storage); jobs
 * reach it in-cluster at `internalUrl`.
 *
 * Internal only by default: MLflow has no login of its own, and whoever can reach it can replace
 * the `champion` alias or upload a model that retraining and serving then load. `publicAccess`
 * adds a route on the shared load balancer behind Identity-Aware Proxy (a GCPBackendPolicy on
 * the Service, HTTPS only): Google authenticates every request at the load balancer and lets
 * through only the listed IAM members; the in-cluster URL is unaffected.
 */
import * as gcp from "@pulumi/gcp";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { SharedLoadBalancer } from "../load-balancer/load-balancer";
import {
    GKE_METADATA_EGRESS,
    GOOGLE_LB_RANGES,
    INTERNET_HTTPS,
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

export const MLFLOW_PORT = 5000;

export interface MlflowServerArgs {
    /** Namespace (holds the `mlflow` service account and the database Secret). Required. */
    namespace: string;
    /** Image with MLflow (the ml image, by digest). Required. */
    image: pulumi.Input<string>;
    /** Secret in `namespace` whose `uri` key is the backend store URI. Required. */
    databaseSecret: string;
    /** Bucket name for artifacts (served through the server: --serve-artifacts). Required. */
    artifactsBucket: pulumi.Input<string>;
    /** Kubernetes service account bound to the mlflow Google account. Required. */
    serviceAccount: pulumi.Input<string>;
    /** Namespaces whose pods may call the server (Airflow, the jobs). Required. */
    clientNamespaces: string[];
    /** Namespace of the Postgres server. Required. */
    databaseNamespace: string;
    /** Replicas (default 1; a PodDisruptionBudget is added above 1). */
    replicas?: number;
    /** Gunicorn workers (default 2). */
    workers?: number;
    /** The shared load balancer; used only with `publicAccess`. */
    loadBalancer?: SharedLoadBalancer;
    /**
     * A public route behind Identity-Aware Proxy (default none: in-cluster only). IAP uses the
     * Google-managed OAuth client: browser sign-in for users of the project's organization.
     */
    publicAccess?: {
        /** GCP project of the load balancer (the IAP access grants are set on it). */
        project: pulumi.Input<string>;
        /** IAM members allowed through (user:, group:, serviceAccount:, domain:). At least one. */
        iapMembers: string[];
    };
}

/** IAM role that lets a member through Identity-Aware Proxy to a web backend. */
export const IAP_ACCESSOR_ROLE = "roles/iap.httpsResourceAccessor";

export function resolveMlflowArgs(args: MlflowServerArgs) {
    const r = { ...args, replicas: args.replicas ?? 1, workers: args.workers ?? 2 };
    const pub = r.publicAccess;
    assertArgs("MlflowServer", [
        (r.replicas < 1 || r.replicas > 10) && `replicas is ${r.replicas}; must be 1 to 10`,
        (r.workers < 1 || r.workers > 16) && `workers is ${r.workers}; must be 1 to 16`,
        pub !== undefined &&
            pub.iapMembers.length === 0 &&
            "publicAccess.iapMembers is empty: list who may open MLflow, or leave publicAccess out (in-cluster only)",
        ...(pub?.iapMembers ?? [])
            .filter((m) => !/^(user|group|serviceAccount|domain):\S+$/.test(m))
            .map(
                (m) =>
                    `publicAccess.iapMembers has ${JSON.stringify(m)}: use user:, group:, serviceAccount: or domain: (never allUsers)`,
            ),
        pub !== undefined &&
            r.loadBalancer === undefined &&
            "publicAccess needs loadBalancer: the route is added to the shared Gateway",
        pub !== undefined &&
            r.loadBalancer !== undefined &&
            !r.loadBalancer.servesHttps &&
            "publicAccess needs a load balancer with a domain: Identity-Aware Proxy protects HTTPS routes only",
    ]);
    return r;
}

export class MlflowServer extends pulumi.ComponentResource {
    /** The public URL behind Identity-Aware Proxy; undefined when MLflow is in-cluster only. */
    public readonly url: pulumi.Output<string> | undefined;
    /** What jobs and Airflow use (MLFLOW_TRACKING_URI). */
    public readonly internalUrl: string;

    /** Pass the cluster's Kubernetes provider in `opts.providers`. */
    constructor(
        name: string,
        rawArgs: MlflowServerArgs,
        opts: pulumi.ComponentResourceOptions = {},
    ) {
        super("taxi:k8s:MlflowServer", name, {}, opts);
        const args = resolveMlflowArgs(rawArgs);
        const o = { parent: this };
        const ns = args.namespace;
        const { labels, selector } = appLabels("mlflow", "tracking");
        this.internalUrl = `http://mlflow.${ns}.svc.cluster.local:${MLFLOW_PORT}`;
        const inCluster = `mlflow.${ns}.svc.cluster.local:${MLFLOW_PORT},mlflow.${ns}.svc:${MLFLOW_PORT},mlflow.${ns}:${MLFLOW_PORT},localhost:${MLFLOW_PORT}`;
        let allowedHosts: pulumi.Input<string> = inCluster;
        const pub = args.publicAccess;
        if (pub !== undefined && args.loadBalancer !== undefined) {
            const route = args.loadBalancer.addRoute(
                "mlflow",
                { namespace: ns, service: "mlflow", port: MLFLOW_PORT, healthPath: "/health" },
                this,
            );
            this.url = route.url;
            allowedHosts = pulumi.interpolate`${route.host},${inCluster}`;
            // IAP on the Service's backend: the load balancer authenticates every request with
            // Google sign-in and checks IAP_ACCESSOR_ROLE before anything reaches MLflow.
            new k8s.apiextensions.CustomResource(
                `${name}-iap`,
                {
                    apiVersion: "networking.gke.io/v1",
                    kind: "GCPBackendPolicy",
                    metadata: { name: "mlflow", namespace: ns, labels },
                    spec: {
                        default: { iap: { enabled: true } },
                        targetRef: { group: "", kind: "Service", name: "mlflow" },
                    },
                },
                o,
            );
            for (const [i, member] of pub.iapMembers.entries()) {
                new gcp.iap.WebIamMember(
                    `${name}-iap-access-${i}`,
                    { project: pub.project, role: IAP_ACCESSOR_ROLE, member },
                    o,
                );
            }
        }
        // MLflow 3 rejects requests whose Host header it does not know (DNS-rebinding guard).

        new k8s.apps.v1.Deployment(
            `${name}-server`,
            {
                metadata: { name: "mlflow", namespace: ns, labels },
                spec: {
                    replicas: args.replicas,
                    selector: { matchLabels: selector },
                    template: {
                        metadata: { labels },
                        spec: {
                            serviceAccountName: args.serviceAccount,
                            // The GCS client gets its token from the GKE metadata server, not the API.
                            automountServiceAccountToken: false,
                            securityContext: restrictedPodSecurity(10001),
                            containers: [
                                container({
                                    name: "mlflow",
                                    image: args.image,
                                    command: ["mlflow", "server"],
                                    args: [
                                        "--host=0.0.0.0",
                                        `--port=${MLFLOW_PORT}`,
                                        `--workers=${args.workers}`,
                                        "--serve-artifacts",
                                        pulumi.interpolate`--artifacts-destination=gs://${args.artifactsBucket}/artifacts`,
                                        pulumi.interpolate`--allowed-hosts=${allowedHosts}`,
                                    ],
                                    env: [
                                        {
                                            // Read by `mlflow server` instead of --backend-store-uri,
                                            // so the password is not on the command line.
                                            name: "MLFLOW_BACKEND_STORE_URI",
                                            valueFrom: {
                                                secretKeyRef: {
                                                    name: args.databaseSecret,
                                                    key: "uri",
                                                },
                                            },
                                        },
                                        { name: "HOME", value: "/tmp" },
                                    ],
                                    ports: [{ name: "http", containerPort: MLFLOW_PORT }],
                                    resources: resources("250m", "1Gi", { cpu: "1" }),
                                    startupProbe: httpProbe("/health", "http", {
                                        failureThreshold: 30,
                                    }),
                                    readinessProbe: httpProbe("/health", "http"),
                                    livenessProbe: httpProbe("/health", "http", {
                                        periodSeconds: 30,
                                    }),
                                    volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
                                }),
                            ],
                            volumes: [{ name: "tmp", emptyDir: {} }],
                        },
                    },
                },
            },
            o,
        );
        new k8s.core.v1.Service(
            `${name}-service`,
            {
                metadata: { name: "mlflow", namespace: ns, labels },
                spec: {
                    selector,
                    ports: [{ name: "http", port: MLFLOW_PORT, targetPort: "http" }],
                },
            },
            o,
        );
        if (args.replicas > 1) {
            new k8s.policy.v1.PodDisruptionBudget(
                `${name}-pdb`,
                {
                    metadata: { name: "mlflow", namespace: ns, labels },
                    spec: { minAvailable: 1, selector: { matchLabels: selector } },
                },
                o,
            );
        }
        allowPolicy(
            `${name}-netpol`,
            { name: "mlflow", namespace: ns },
            {
                podSelector: selector,
                ingress: [
                    {
                        from: [
                            // The load balancer (and its health checks) only with a public route.
                            ...(pub ? GOOGLE_LB_RANGES.map((cidr) => ({ ipBlock: { cidr } })) : []),
                            ...args.clientNamespaces.map((n) => fromNamespace(n)),
                        ],
                        ports: tcp(MLFLOW_PORT),
                    },
                ],
                egress: [
                    {
                        to: [
                            fromNamespace(args.databaseNamespace, {
                                "app.kubernetes.io/name": "postgres",
                            }),
                        ],
                        ports: tcp(5432),
                    },
                    INTERNET_HTTPS,
                    GKE_METADATA_EGRESS,
                ],
            },
            o,
        );
        this.registerOutputs({ url: this.url, internalUrl: this.internalUrl });
    }
}
