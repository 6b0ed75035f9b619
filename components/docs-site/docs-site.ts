/**
 * DocsSite: the docs web app (`docs-app/`) serving the docs bucket — dbt docs, data-validation
 * sites, Elementary and model reports — through the shared load balancer. Reads the bucket with
 * its own Google account (read-only) through Workload Identity.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { SharedLoadBalancer } from "../load-balancer/load-balancer";
import {
    GKE_METADATA_EGRESS,
    GOOGLE_LB_RANGES,
    allowPolicy,
    fromNamespace,
    httpsExceptApiServer,
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

export const DOCS_PORT = 8080;

export interface DocsSiteArgs {
    /** CIDR of the GKE control plane: excluded from the pod's HTTPS egress (it has no API use). Required. */
    apiServerCidr: string;
    /** Namespace. Required. */
    namespace: string;
    /** docs-app image (by digest). Required. */
    image: pulumi.Input<string>;
    /** Where the sites are published: `gs://<docs bucket>`. Required. */
    docsUri: pulumi.Input<string>;
    /** Kubernetes service account bound to the docs-app Google account. Required. */
    serviceAccount: pulumi.Input<string>;
    /** Namespace Prometheus runs in (scrapes /metrics). Required. */
    monitoringNamespace: string;
    /** Replicas (default 2, with a PodDisruptionBudget keeping one up). */
    replicas?: number;
    loadBalancer: SharedLoadBalancer;
}

export class DocsSite extends pulumi.ComponentResource {
    public readonly url: pulumi.Output<string>;

    /** Pass the cluster's Kubernetes provider in `opts.providers`. */
    constructor(name: string, args: DocsSiteArgs, opts: pulumi.ComponentResourceOptions = {}) {
        super("taxi:k8s:DocsSite", name, {}, opts);
        const replicas = args.replicas ?? 2;
        assertArgs("DocsSite", [
            (replicas < 1 || replicas > 20) && `replicas is ${replicas}; must be 1 to 20`,
        ]);
        const o = { parent: this };
        const ns = args.namespace;
        const { labels, selector } = appLabels("docs-app", "web");
        const route = args.loadBalancer.addRoute(
            "docs",
            {
                namespace: ns,
                service: "docs-app",
                port: DOCS_PORT,
                healthPath: "/healthz",
                // Prometheus scrapes the pods directly; the public gets no metrics.
                privatePaths: ["/metrics"],
            },
            this,
        );
        this.url = route.url;
        new k8s.apps.v1.Deployment(
            `${name}-app`,
            {
                metadata: { name: "docs-app", namespace: ns, labels },
                spec: {
                    replicas,
                    selector: { matchLabels: selector },
                    strategy: {
                        type: "RollingUpdate",
                        rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
                    },
                    template: {
                        metadata: {
                            labels,
                            annotations: {
                                "prometheus.io/scrape": "true",
                                "prometheus.io/port": String(DOCS_PORT),
                                "prometheus.io/path": "/metrics",
                            },
                        },
                        spec: {
                            serviceAccountName: args.serviceAccount,
                            automountServiceAccountToken: false,
                            securityContext: restrictedPodSecurity(10001, false),
                            terminationGracePeriodSeconds: 30,
                            containers: [
                                container({
                                    name: "docs-app",
                                    image: args.image,
                                    env: [
                                        { name: "DOCS_URI", value: args.docsUri },
                                        { name: "PORT", value: String(DOCS_PORT) },
                                    ],
                                    ports: [{ name: "http", containerPort: DOCS_PORT }],
                                    resources: resources("100m", "128Mi", { cpu: "500m" }),
                                    readinessProbe: httpProbe("/healthz", "http"),
                                    livenessProbe: httpProbe("/healthz", "http", {
                                        periodSeconds: 30,
                                    }),
                                }),
                            ],
                        },
                    },
                },
            },
            o,
        );
        new k8s.core.v1.Service(
            `${name}-service`,
            {
                metadata: { name: "docs-app", namespace: ns, labels },
                spec: { selector, ports: [{ name: "http", port: DOCS_PORT, targetPort: "http" }] },
            },
            o,
        );
        if (replicas > 1) {
            new k8s.policy.v1.PodDisruptionBudget(
                `${name}-pdb`,
                {
                    metadata: { name: "docs-app", namespace: ns, labels },
                    spec: { minAvailable: 1, selector: { matchLabels: selector } },
                },
                o,
            );
        }
        allowPolicy(
            `${name}-netpol`,
            { name: "docs-app", namespace: ns },
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
                        ports: tcp(DOCS_PORT),
                    },
                ],
                egress: [httpsExceptApiServer(args.apiServerCidr), GKE_METADATA_EGRESS],
            },
            o,
        );
        this.registerOutputs({ url: this.url });
    }
}
