/**
 * Monitoring's settings: ports, the images it runs, the scrape annotations, what
 * kube-state-metrics may read, and the args with their defaults and validation
 * (`resolveMonitoringArgs`).
 */
import { createHash } from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";
import type { SharedLoadBalancer } from "../load-balancer/load-balancer";
import { assertArgs } from "../shared/validation";
import { UPSTREAM_IMAGES } from "../shared/versions";
import type { appLabels } from "../shared/workload";

/** Ports of the one exporter Service. */
export const EXPORTER_PORTS = {
    statsd: 9125,
    statsdMetrics: 9102,
    postgresMetrics: 9187,
    kubeStateMetrics: 8080,
    kubeStateTelemetry: 8081,
} as const;
export const PROMETHEUS_PORT = 9090;
export const ALERTMANAGER_PORT = 9093;
/** The alert relay listens on the Alertmanager pod's loopback only. */
export const ALERT_RELAY_PORT = 9095;
export const GRAFANA_PORT = 3000;
/** The upstream images this component runs. */
export type MonitoringImage =
    | "statsdExporter"
    | "postgresExporter"
    | "kubeStateMetrics"
    | "prometheus"
    | "alertmanager"
    | "grafana";

/** Pod annotations that opt a pod into scraping (the Spark templates set them on drivers). */
export const SCRAPE_ANNOTATIONS = {
    scrape: "prometheus.io/scrape",
    port: "prometheus.io/port",
    path: "prometheus.io/path",
} as const;
/** What kube-state-metrics exposes (and may list/watch): nothing about Secrets or ConfigMaps. */
export const KSM_RESOURCES: Record<string, string[]> = {
    "": ["pods", "nodes", "namespaces", "services", "persistentvolumeclaims", "persistentvolumes"],
    apps: ["deployments", "statefulsets", "daemonsets", "replicasets"],
    batch: ["jobs", "cronjobs"],
    policy: ["poddisruptionbudgets"],
};
export const NOBODY = 65534;
export const GRAFANA_UID = 472;

export interface MonitoringArgs {
    /** Namespace of everything here. Required. */
    namespace: string;
    /** Namespaces whose pods Prometheus discovers (opt-in by annotation). Required. */
    scrapeNamespaces: string[];
    /** Ports of opted-in pods Prometheus may reach (default [8090], the JMX agent's). */
    scrapePorts?: number[];
    /** Images by digest (default: the pinned upstream tags of shared/versions.ts). */
    images?: Partial<Record<MonitoringImage, pulumi.Input<string>>>;
    /** Namespace Airflow runs in (sends statsd). Required. */
    airflowNamespace: string;
    /** Namespace of the Postgres server (exporter and Grafana connect to it). Required. */
    databaseNamespace: string;
    /** Secret (in `namespace`) with DATA_SOURCE_URI/USER/PASS for postgres-exporter. Required. */
    exporterSecret: string;
    /** Secret (in `namespace`) with Grafana's database credentials (host, port, database, username, password). Required. */
    grafanaDbSecret: string;
    /** Control-plane CIDR (kube-state-metrics and Prometheus talk to the API server). Required. */
    apiServerCidr: string;
    /** Days of metrics kept (default 15). */
    retentionDays?: number;
    /** Prometheus volume in GiB (default 20). */
    diskGi?: number;
    /** Storage class (default "standard-rwo"). */
    storageClass?: string;
    /** Shared load balancer Grafana is served through. Required. */
    loadBalancer: SharedLoadBalancer;
    /**
     * The contact point of the alerting rules: Alertmanager, whose webhook receiver is the alert
     * relay (`python -m common.alert_relay` of the Airflow image, a second container of its pod)
     * mailing through the run report's path. Required.
     */
    alerting: AlertingArgs;
    /**
     * The nodes' subnet (kubelet volume statistics on 10250, for the volume alert). Required.
     */
    nodesCidr: string;
}

export interface AlertingArgs {
    /** Image that carries dags/common (the Airflow image). */
    relayImage: pulumi.Input<string>;
    /** Kubernetes service account of the Alertmanager pod (Workload Identity: the relay sends as it). */
    serviceAccount: pulumi.Input<string>;
    /** The relay's `REPORT_*` settings (recipients, sender, SES role, region, configuration set). */
    relayEnv: Record<string, pulumi.Input<string>>;
}

export function resolveMonitoringArgs(args: MonitoringArgs) {
    const r = {
        ...args,
        scrapePorts: args.scrapePorts ?? [8090],
        images: {
            statsdExporter: UPSTREAM_IMAGES.statsdExporter,
            postgresExporter: UPSTREAM_IMAGES.postgresExporter,
            kubeStateMetrics: UPSTREAM_IMAGES.kubeStateMetrics,
            prometheus: UPSTREAM_IMAGES.prometheus,
            alertmanager: UPSTREAM_IMAGES.alertmanager,
            grafana: UPSTREAM_IMAGES.grafana,
            ...args.images,
        } as Record<MonitoringImage, pulumi.Input<string>>,
        retentionDays: args.retentionDays ?? 15,
        diskGi: args.diskGi ?? 20,
        storageClass: args.storageClass ?? "standard-rwo",
    };
    assertArgs("Monitoring", [
        r.retentionDays < 1 && `retentionDays is ${r.retentionDays}; must be at least 1`,
        r.diskGi < 5 && `diskGi is ${r.diskGi}; must be at least 5`,
        ...Object.keys(r.alerting?.relayEnv ?? {})
            .filter((k) => !/^REPORT_[A-Z0-9_]+$/.test(k))
            .map((k) => `alerting.relayEnv key ${JSON.stringify(k)} must start with REPORT_`),
        r.scrapeNamespaces.length === 0 &&
            "scrapeNamespaces is empty: list the namespaces of pods that opt into scraping",
    ]);
    return r;
}

export type ResolvedMonitoringArgs = ReturnType<typeof resolveMonitoringArgs>;
export type AppLabels = ReturnType<typeof appLabels>;

/** Short content hash for pod annotations (rolls the pod when a config file changes). */
export function sha(text: string): string {
    return createHash("sha256").update(text).digest("hex").slice(0, 16);
}
