/**
 * SharedLoadBalancer: ONE global static IP and ONE GKE Gateway (one Google external
 * Application Load Balancer) for every user-facing UI. Components that own a UI add their own
 * host-based route through `addRoute`, without editing this component.
 *
 * Why Gateway API and not Ingress: an Ingress can only send traffic to Services in its own
 * namespace, so one LB for Airflow, MLflow, Grafana and docs (four namespaces) would need one
 * Ingress per namespace, i.e. four LBs and four IPs. A Gateway accepts HTTPRoutes from other
 * namespaces, so each app keeps its route next to its Service and all share one LB.
 *
 * With `domain`: routes are `<app>.<domain>` over HTTPS with one Google-managed wildcard
 * certificate (Certificate Manager, DNS authorization), and HTTP redirects to HTTPS.
 * Without a domain: routes would be `<app>.<ip>.sslip.io` over plain HTTP (resolved to the IP by
 * the public sslip.io DNS). The UIs carry logins and the S3 trigger posts a password, so that
 * needs `allowPlainHttp: true`, which only tests set; the stacks require a domain.
 */
import * as gcp from "@pulumi/gcp";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
// Gateway API shapes from the maintained, CRD-generated package: object literals below are
// type-checked against them, so an unknown field fails the build.
import type { IGateway } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway" with {
    "resolution-mode": "import",
};
import type { IHTTPRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute" with {
    "resolution-mode": "import",
};
import { GATEWAY_ACCESS_LABEL } from "../namespaces/namespaces";
import { PART_OF } from "../shared/labels";
import { assertArgs } from "../shared/validation";

/** GKE's GatewayClass for the global external Application Load Balancer. */
export const GATEWAY_CLASS = "gke-l7-global-external-managed";
const GATEWAY_API = "gateway.networking.k8s.io/v1";

export interface SharedLoadBalancerArgs {
    /** DNS domain; empty or undefined means the sslip.io fallback without TLS. */
    domain?: string;
    /** Google-managed TLS certificate for the domain (default: true when a domain is set). */
    managedCertificates?: boolean;
    /**
     * Serve routes over plain HTTP when there is no TLS (default false: refused). Every route
     * of this platform carries a login or a credential, so only offline tests set it.
     */
    allowPlainHttp?: boolean;
    /** Namespace the Gateway lives in. Required. */
    namespace: pulumi.Input<string>;
    /** Kubernetes provider of the cluster. Required. */
    k8sProvider: k8s.Provider;
}

/** Where a route sends traffic. */
export interface RouteTarget {
    /** Namespace of the Service (must carry the gateway-access label). */
    namespace: pulumi.Input<string>;
    /** Service name and port. */
    service: pulumi.Input<string>;
    port: number;
    /**
     * Path the load balancer's health check requests (it must answer 200). Required: GKE's
     * default is `GET /`, which fails for UIs that redirect (Grafana answers 302 to /login).
     */
    healthPath: string;
    /**
     * Exact paths the app serves for the cluster only (e.g. `/metrics` for Prometheus): the
     * public route redirects them to `/` instead of forwarding them. Default none.
     */
    privatePaths?: string[];
}

export interface Route {
    host: pulumi.Output<string>;
    url: pulumi.Output<string>;
    resource: k8s.apiextensions.CustomResource;
}

export function resolveLoadBalancerArgs(args: SharedLoadBalancerArgs) {
    const domain = args.domain ?? "";
    const managedCertificates = args.managedCertificates ?? domain !== "";
    const allowPlainHttp = args.allowPlainHttp ?? false;
    assertArgs("SharedLoadBalancer", [
        managedCertificates &&
            domain === "" &&
            "managedCertificates is true but domain is empty: a managed certificate needs a domain (set domain, or managedCertificates: false)",
        !managedCertificates &&
            !allowPlainHttp &&
            `no TLS (domain ${JSON.stringify(domain)}, managedCertificates false): the routes would carry the Airflow and Grafana logins and the S3 trigger's password over plain HTTP. Set a domain with managed certificates (stack config: domain)`,
    ]);
    return { ...args, domain, managedCertificates, allowPlainHttp };
}

export class SharedLoadBalancer extends pulumi.ComponentResource {
    public readonly address: gcp.compute.GlobalAddress;
    public readonly ip: pulumi.Output<string>;
    public readonly gatewayName: string;
    public readonly gatewayNamespace: pulumi.Output<string>;
    /** DNS records the domain owner must create (empty without a domain). */
    public readonly dnsRecords: pulumi.Output<{ name: string; type: string; data: string }[]>;
    private readonly domain: string;
    private readonly tls: boolean;
    private readonly k8sProvider: k8s.Provider;

    /** Pass the GCP provider in `opts.providers`. */
    constructor(
        name: string,
        rawArgs: SharedLoadBalancerArgs,
        opts: pulumi.ComponentResourceOptions = {},
    ) {
        super("taxi:gcp:SharedLoadBalancer", name, {}, opts);
        const args = resolveLoadBalancerArgs(rawArgs);
        this.domain = args.domain;
        this.tls = args.managedCertificates;
        this.k8sProvider = args.k8sProvider;
        this.gatewayName = name;
        this.gatewayNamespace = pulumi.output(args.namespace);
        const o = { parent: this };

        this.address = new gcp.compute.GlobalAddress(
            `${name}-ip`,
            {
                addressType: "EXTERNAL",
                ipVersion: "IPV4",
                description: "The one public IP of every platform UI",
            },
            o,
        );
        this.ip = this.address.address;

        const annotations: Record<string, pulumi.Input<string>> = {};
        let dnsRecords: pulumi.Output<{ name: string; type: string; data: string }[]> =
            pulumi.output([]);
        if (this.tls) {
            const auth = new gcp.certificatemanager.DnsAuthorization(
                `${name}-dns-auth`,
                { domain: args.domain },
                o,
            );
            const cert = new gcp.certificatemanager.Certificate(
                `${name}-cert`,
                {
                    scope: "DEFAULT",
                    managed: {
                        domains: [args.domain, `*.${args.domain}`],
                        dnsAuthorizations: [auth.id],
                    },
                    description: `Wildcard certificate for the UIs under ${args.domain}`,
                },
                o,
            );
            const map = new gcp.certificatemanager.CertificateMap(`${name}-certs`, {}, o);
            new gcp.certificatemanager.CertificateMapEntry(
                `${name}-certs-primary`,
                { map: map.name, certificates: [cert.id], matcher: "PRIMARY" },
                o,
            );
            annotations["networking.gke.io/certmap"] = map.name;
            dnsRecords = pulumi
                .all([this.ip, auth.dnsResourceRecords])
                .apply(([ip, records]) => [
                    { name: `*.${args.domain}.`, type: "A", data: ip },
                    ...records.map((r) => ({ name: r.name, type: r.type, data: r.data })),
                ]);
        }
        this.dnsRecords = dnsRecords;

        const allowedRoutes = {
            namespaces: {
                from: "Selector" as const,
                selector: { matchLabels: { [GATEWAY_ACCESS_LABEL]: "true" } },
            },
        };
        const listeners: IGateway["spec"]["listeners"] = [
            { name: "http", protocol: "HTTP", port: 80, allowedRoutes },
        ];
        if (this.tls)
            listeners.push({ name: "https", protocol: "HTTPS", port: 443, allowedRoutes });
        const gateway = new k8s.apiextensions.CustomResource(
            `${name}-gateway`,
            {
                apiVersion: GATEWAY_API,
                kind: "Gateway",
                metadata: {
                    name,
                    namespace: args.namespace,
                    labels: { "app.kubernetes.io/part-of": PART_OF },
                    annotations,
                },
                spec: {
                    gatewayClassName: GATEWAY_CLASS,
                    addresses: [{ type: "NamedAddress", value: this.address.name }],
                    listeners,
                } satisfies Omit<IGateway["spec"], "addresses"> & { addresses: unknown[] },
            },
            { ...o, provider: args.k8sProvider },
        );

        if (this.tls) {
            // Plain HTTP only redirects to HTTPS.
            const redirect: IHTTPRoute["spec"] = {
                parentRefs: [{ name, sectionName: "http" }],
                rules: [
                    {
                        filters: [
                            {
                                type: "RequestRedirect",
                                requestRedirect: { scheme: "https", statusCode: 301 },
                            },
                        ],
                    },
                ],
            };
            new k8s.apiextensions.CustomResource(
                `${name}-https-redirect`,
                {
                    apiVersion: GATEWAY_API,
                    kind: "HTTPRoute",
                    metadata: { name: `${name}-https-redirect`, namespace: args.namespace },
                    spec: redirect,
                },
                { ...o, provider: args.k8sProvider, dependsOn: [gateway] },
            );
        }
        this.registerOutputs({ ip: this.ip, dnsRecords: this.dnsRecords });
    }

    /** Host name an app is served on. */
    hostFor(app: string): pulumi.Output<string> {
        return this.domain !== ""
            ? pulumi.output(`${app}.${this.domain}`)
            : this.ip.apply((ip) => `${app}.${ip.replace(/\./g, "-")}.sslip.io`);
    }

    /** Whether routes are served over HTTPS (a domain with a managed certificate). */
    get servesHttps(): boolean {
        return this.tls;
    }

    /** URL an app is served on (https with a domain, http on the sslip.io fallback). */
    urlFor(app: string): pulumi.Output<string> {
        return this.hostFor(app).apply((h) => `${this.tls ? "https" : "http"}://${h}`);
    }

    /**
     * Route `<app>.<domain>` to a Service. Called by the component that owns the Service; the
     * HTTPRoute is created as a child of `parent`.
     */
    addRoute(app: string, target: RouteTarget, parent: pulumi.Resource): Route {
        assertArgs("SharedLoadBalancer.addRoute", [
            !/^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$/.test(app) &&
                `app ${JSON.stringify(app)} must be a DNS label`,
            (target.port < 1 || target.port > 65535) && `port ${target.port} is not a TCP port`,
            !/^\/[A-Za-z0-9/._~-]*$/.test(target.healthPath) &&
                `healthPath ${JSON.stringify(target.healthPath)} must be an absolute path such as /health`,
            (target.privatePaths ?? []).some((p) => !/^\/[A-Za-z0-9/._~-]+$/.test(p)) &&
                `privatePaths ${JSON.stringify(target.privatePaths)} must be absolute paths other than /`,
        ]);
        const host = this.hostFor(app);
        const resource = new k8s.apiextensions.CustomResource(
            `${app}-route`,
            {
                apiVersion: GATEWAY_API,
                kind: "HTTPRoute",
                metadata: {
                    name: app,
                    namespace: target.namespace,
                    labels: { "app.kubernetes.io/part-of": PART_OF },
                },
                spec: {
                    parentRefs: [
                        {
                            name: this.gatewayName,
                            namespace: this.gatewayNamespace,
                            sectionName: this.tls ? "https" : "http",
                        },
                    ],
                    hostnames: [host],
                    rules: [
                        // Most specific match wins: the private paths never reach the backend.
                        ...(target.privatePaths ?? []).map((p) => ({
                            matches: [{ path: { type: "Exact", value: p } }],
                            filters: [
                                {
                                    type: "RequestRedirect",
                                    requestRedirect: {
                                        path: { type: "ReplaceFullPath", replaceFullPath: "/" },
                                        statusCode: 302,
                                    },
                                },
                            ],
                        })),
                        { backendRefs: [{ name: target.service, port: target.port }] },
                    ],
                },
            },
            { parent, provider: this.k8sProvider },
        );
        // GKE health check of the backend: the app's own health endpoint on the serving port,
        // with the public host name (apps that check the Host header accept it).
        new k8s.apiextensions.CustomResource(
            `${app}-health-check`,
            {
                apiVersion: "networking.gke.io/v1",
                kind: "HealthCheckPolicy",
                metadata: {
                    name: app,
                    namespace: target.namespace,
                    labels: { "app.kubernetes.io/part-of": PART_OF },
                },
                spec: {
                    default: {
                        checkIntervalSec: 15,
                        timeoutSec: 5,
                        healthyThreshold: 1,
                        unhealthyThreshold: 3,
                        config: {
                            type: "HTTP",
                            httpHealthCheck: {
                                portSpecification: "USE_SERVING_PORT",
                                host,
                                requestPath: target.healthPath,
                            },
                        },
                    },
                    targetRef: { group: "", kind: "Service", name: target.service },
                },
            },
            { parent, provider: this.k8sProvider },
        );
        const url = this.urlFor(app);
        return { host, url, resource };
    }
}
