/**
 * Monitoring's network rules: Airflow may send statsd to the exporter and Prometheus may scrape
 * it; Prometheus reaches the exporter, the opted-in pods and the API server; Grafana is reachable
 * from Google's load-balancer ranges only and reads Prometheus and its Postgres database.
 */
import type * as pulumi from "@pulumi/pulumi";
import {
    GKE_METADATA_EGRESS,
    GOOGLE_LB_RANGES,
    allowPolicy,
    apiServerEgress,
    fromNamespace,
    httpsExceptApiServer,
    tcp,
} from "../shared/network-policy";
import {
    ALERTMANAGER_PORT,
    EXPORTER_PORTS,
    GRAFANA_PORT,
    PROMETHEUS_PORT,
    type AppLabels,
    type ResolvedMonitoringArgs,
} from "./config";

/** The kubelet's authenticated port (metrics). */
export const KUBELET_PORT = 10250;

/** The exporter's, Prometheus's and Grafana's network policies. */
export function monitoringNetworkPolicies(
    name: string,
    args: ResolvedMonitoringArgs,
    labels: { exp: AppLabels; prom: AppLabels; grafana: AppLabels; am: AppLabels },
    parent: pulumi.Resource,
): void {
    const o = { parent };
    const ns = args.namespace;
    const { exp, prom, grafana, am } = labels;
    const apiServer = apiServerEgress(args.apiServerCidr);
    const postgres = {
        to: [fromNamespace(args.databaseNamespace, { "app.kubernetes.io/name": "postgres" })],
        ports: tcp(5432),
    };
    allowPolicy(
        `${name}-netpol-exporter`,
        { name: "metrics-exporter", namespace: ns },
        {
            podSelector: exp.selector,
            ingress: [
                {
                    from: [fromNamespace(args.airflowNamespace)],
                    ports: [
                        { protocol: "UDP", port: EXPORTER_PORTS.statsd },
                        { protocol: "TCP", port: EXPORTER_PORTS.statsd },
                    ],
                },
                {
                    from: [{ podSelector: { matchLabels: prom.selector } }],
                    ports: tcp(
                        EXPORTER_PORTS.statsdMetrics,
                        EXPORTER_PORTS.postgresMetrics,
                        EXPORTER_PORTS.kubeStateMetrics,
                        EXPORTER_PORTS.kubeStateTelemetry,
                    ),
                },
            ],
            egress: [postgres, apiServer],
        },
        o,
    );
    allowPolicy(
        `${name}-netpol-prometheus`,
        { name: "prometheus", namespace: ns },
        {
            podSelector: prom.selector,
            ingress: [
                {
                    from: [{ podSelector: { matchLabels: grafana.selector } }],
                    ports: tcp(PROMETHEUS_PORT),
                },
            ],
            egress: [
                { to: [{ podSelector: { matchLabels: exp.selector } }] },
                ...args.scrapeNamespaces.map((n) => ({
                    to: [fromNamespace(n)],
                    ports: tcp(...args.scrapePorts),
                })),
                apiServer,
                // Alerts to Alertmanager; the kubelets' volume statistics.
                {
                    to: [{ podSelector: { matchLabels: am.selector } }],
                    ports: tcp(ALERTMANAGER_PORT),
                },
                { to: [{ ipBlock: { cidr: args.nodesCidr } }], ports: tcp(KUBELET_PORT) },
            ],
        },
        o,
    );
    // Alertmanager: alerts from Prometheus; its relay container mails through SES (AWS over
    // HTTPS, never the control plane) with Workload Identity tokens.
    allowPolicy(
        `${name}-netpol-alertmanager`,
        { name: "alertmanager", namespace: ns },
        {
            podSelector: am.selector,
            ingress: [
                {
                    from: [{ podSelector: { matchLabels: prom.selector } }],
                    ports: tcp(ALERTMANAGER_PORT),
                },
            ],
            egress: [httpsExceptApiServer(args.apiServerCidr), GKE_METADATA_EGRESS],
        },
        o,
    );
    allowPolicy(
        `${name}-netpol-grafana`,
        { name: "grafana", namespace: ns },
        {
            podSelector: grafana.selector,
            ingress: [
                {
                    from: GOOGLE_LB_RANGES.map((cidr) => ({ ipBlock: { cidr } })),
                    ports: tcp(GRAFANA_PORT),
                },
            ],
            egress: [
                {
                    to: [{ podSelector: { matchLabels: prom.selector } }],
                    ports: tcp(PROMETHEUS_PORT),
                },
                postgres,
            ],
        },
        o,
    );
}
