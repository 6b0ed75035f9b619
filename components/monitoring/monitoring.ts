/**
 * Monitoring: ONE metrics-exporter Deployment (statsd-exporter for Airflow, postgres-exporter,
 * kube-state-metrics) behind one Service, Prometheus scraping it, itself and the pods that opt in
 * by annotation (Spark drivers' JMX agent), and Grafana provisioned with Prometheus and the
 * dashboards in `dashboards/`, served through the shared load balancer.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { stringify } from "yaml";
import type { SharedLoadBalancer } from "../load-balancer/load-balancer";
import {
    GOOGLE_LB_RANGES,
    allowPolicy,
    apiServerEgress,
    fromNamespace,
    tcp,
} from "../shared/network-policy";
import { assertArgs } from "../shared/validation";
import { UPSTREAM_IMAGES } from "../shared/versions";
import {
    appLabels,
    container,
    httpProbe,
    resources,
    restrictedPodSecurity,
} from "../shared/workload";
import { PROMETHEUS_DATASOURCE_UID, STATSD_MAPPING_FILE, loadDashboards } from "./metric-catalog";

/** Ports of the one exporter Service. */
export const EXPORTER_PORTS = {
    statsd: 9125,
    statsdMetrics: 9102,
    postgresMetrics: 9187,
    kubeStateMetrics: 8080,
    kubeStateTelemetry: 8081,
} as const;
export const PROMETHEUS_PORT = 9090;
export const GRAFANA_PORT = 3000;
/** Pod annotations that opt a pod into scraping (the Spark templates set them on drivers). */
/** The upstream images this component runs. */
export type MonitoringImage =
    "statsdExporter" | "postgresExporter" | "kubeStateMetrics" | "prometheus" | "grafana";

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
const NOBODY = 65534;
const GRAFANA_UID = 472;

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
        r.scrapeNamespaces.length === 0 &&
            "scrapeNamespaces is empty: list the namespaces of pods that opt into scraping",
    ]);
    return r;
}

/** Prometheus configuration: itself, the three exporters, and annotated pods. */
export function prometheusConfig(namespace: string, scrapeNamespaces: string[]) {
    const exporter = (job: string, port: number) => ({
        job_name: job,
        static_configs: [{ targets: [`metrics-exporter.${namespace}.svc:${port}`] }],
    });
    const a = (key: string) => `__meta_kubernetes_pod_annotation_${key.replace(/[./]/g, "_")}`;
    return {
        global: { scrape_interval: "30s", evaluation_interval: "30s" },
        scrape_configs: [
            {
                job_name: "prometheus",
                static_configs: [{ targets: [`localhost:${PROMETHEUS_PORT}`] }],
            },
            exporter("airflow", EXPORTER_PORTS.statsdMetrics),
            exporter("postgres", EXPORTER_PORTS.postgresMetrics),
            {
                ...exporter("kube-state-metrics", EXPORTER_PORTS.kubeStateMetrics),
                honor_labels: true,
            },
            {
                job_name: "annotated-pods",
                kubernetes_sd_configs: [{ role: "pod", namespaces: { names: scrapeNamespaces } }],
                relabel_configs: [
                    {
                        source_labels: [a(SCRAPE_ANNOTATIONS.scrape)],
                        action: "keep",
                        regex: "true",
                    },
                    {
                        source_labels: ["__meta_kubernetes_pod_phase"],
                        action: "keep",
                        regex: "Running",
                    },
                    {
                        source_labels: [a(SCRAPE_ANNOTATIONS.path)],
                        action: "replace",
                        target_label: "__metrics_path__",
                        regex: "(.+)",
                    },
                    {
                        source_labels: ["__meta_kubernetes_pod_ip", a(SCRAPE_ANNOTATIONS.port)],
                        action: "replace",
                        regex: "(.+);(\\d+)",
                        replacement: "$1:$2",
                        target_label: "__address__",
                    },
                    { source_labels: ["__meta_kubernetes_namespace"], target_label: "namespace" },
                    { source_labels: ["__meta_kubernetes_pod_name"], target_label: "pod" },
                    {
                        source_labels: ["__meta_kubernetes_pod_label_spark_role"],
                        target_label: "spark_role",
                    },
                ],
            },
        ],
    };
}

export class Monitoring extends pulumi.ComponentResource {
    public readonly grafanaUrl: pulumi.Output<string>;
    /** Where Airflow sends statsd (host and port). */
    public readonly statsdHost: string;
    public readonly statsdPort = EXPORTER_PORTS.statsd;
    public readonly prometheusUrl: string;
    public readonly grafanaAdminUser = "admin";
    public readonly grafanaAdminPassword: pulumi.Output<string>;

    /** Pass the cluster's Kubernetes provider in `opts.providers`. */
    constructor(name: string, rawArgs: MonitoringArgs, opts: pulumi.ComponentResourceOptions = {}) {
        super("taxi:k8s:Monitoring", name, {}, opts);
        const args = resolveMonitoringArgs(rawArgs);
        const o = { parent: this };
        const ns = args.namespace;
        this.statsdHost = `metrics-exporter.${ns}.svc.cluster.local`;
        this.prometheusUrl = `http://prometheus.${ns}.svc.cluster.local:${PROMETHEUS_PORT}`;

        // ---- the one exporter Deployment -----------------------------------------------------
        const exp = appLabels("metrics-exporter", "metrics");
        const sa = new k8s.core.v1.ServiceAccount(
            `${name}-exporter-sa`,
            { metadata: { name: "metrics-exporter", namespace: ns, labels: exp.labels } },
            o,
        );
        const role = new k8s.rbac.v1.ClusterRole(
            `${name}-kube-state-metrics`,
            {
                metadata: { name: "taxi-kube-state-metrics", labels: exp.labels },
                rules: Object.entries(KSM_RESOURCES).map(([apiGroup, res]) => ({
                    apiGroups: [apiGroup],
                    resources: res,
                    verbs: ["list", "watch"],
                })),
            },
            o,
        );
        new k8s.rbac.v1.ClusterRoleBinding(
            `${name}-kube-state-metrics`,
            {
                metadata: { name: "taxi-kube-state-metrics", labels: exp.labels },
                roleRef: {
                    apiGroup: "rbac.authorization.k8s.io",
                    kind: "ClusterRole",
                    name: "taxi-kube-state-metrics",
                },
                subjects: [{ kind: "ServiceAccount", name: "metrics-exporter", namespace: ns }],
            },
            { ...o, dependsOn: [role, sa] },
        );
        const mapping = fs.readFileSync(STATSD_MAPPING_FILE, "utf8");
        new k8s.core.v1.ConfigMap(
            `${name}-statsd-mapping`,
            {
                metadata: { name: "statsd-mapping", namespace: ns, labels: exp.labels },
                data: { "mapping.yaml": mapping },
            },
            o,
        );
        const ksmResources = Object.values(KSM_RESOURCES).flat().join(",");
        new k8s.apps.v1.Deployment(
            `${name}-exporter`,
            {
                metadata: { name: "metrics-exporter", namespace: ns, labels: exp.labels },
                spec: {
                    replicas: 1,
                    selector: { matchLabels: exp.selector },
                    template: {
                        metadata: {
                            labels: exp.labels,
                            // Roll the pod when the mapping changes.
                            annotations: { "taxi-platform/statsd-mapping": sha(mapping) },
                        },
                        spec: {
                            serviceAccountName: "metrics-exporter",
                            automountServiceAccountToken: true, // kube-state-metrics reads the API
                            securityContext: restrictedPodSecurity(NOBODY, false),
                            containers: [
                                container({
                                    name: "statsd-exporter",
                                    image: args.images.statsdExporter,
                                    args: [
                                        "--statsd.mapping-config=/etc/statsd/mapping.yaml",
                                        `--statsd.listen-udp=:${EXPORTER_PORTS.statsd}`,
                                        `--statsd.listen-tcp=:${EXPORTER_PORTS.statsd}`,
                                        `--web.listen-address=:${EXPORTER_PORTS.statsdMetrics}`,
                                    ],
                                    ports: [
                                        {
                                            name: "statsd-udp",
                                            containerPort: EXPORTER_PORTS.statsd,
                                            protocol: "UDP",
                                        },
                                        {
                                            name: "statsd-tcp",
                                            containerPort: EXPORTER_PORTS.statsd,
                                            protocol: "TCP",
                                        },
                                        {
                                            name: "statsd-metrics",
                                            containerPort: EXPORTER_PORTS.statsdMetrics,
                                        },
                                    ],
                                    resources: resources("50m", "64Mi", { cpu: "200m" }),
                                    readinessProbe: httpProbe("/-/ready", "statsd-metrics"),
                                    livenessProbe: httpProbe("/-/healthy", "statsd-metrics"),
                                    volumeMounts: [
                                        { name: "statsd-mapping", mountPath: "/etc/statsd" },
                                    ],
                                }),
                                container({
                                    name: "postgres-exporter",
                                    image: args.images.postgresExporter,
                                    args: [
                                        `--web.listen-address=:${EXPORTER_PORTS.postgresMetrics}`,
                                    ],
                                    envFrom: [{ secretRef: { name: args.exporterSecret } }],
                                    ports: [
                                        {
                                            name: "pg-metrics",
                                            containerPort: EXPORTER_PORTS.postgresMetrics,
                                        },
                                    ],
                                    resources: resources("50m", "64Mi", { cpu: "200m" }),
                                    readinessProbe: {
                                        tcpSocket: { port: "pg-metrics" },
                                        periodSeconds: 10,
                                    },
                                    livenessProbe: {
                                        tcpSocket: { port: "pg-metrics" },
                                        periodSeconds: 30,
                                    },
                                }),
                                container({
                                    name: "kube-state-metrics",
                                    image: args.images.kubeStateMetrics,
                                    args: [
                                        `--port=${EXPORTER_PORTS.kubeStateMetrics}`,
                                        `--telemetry-port=${EXPORTER_PORTS.kubeStateTelemetry}`,
                                        `--resources=${ksmResources}`,
                                    ],
                                    ports: [
                                        {
                                            name: "ksm-metrics",
                                            containerPort: EXPORTER_PORTS.kubeStateMetrics,
                                        },
                                        {
                                            name: "ksm-telemetry",
                                            containerPort: EXPORTER_PORTS.kubeStateTelemetry,
                                        },
                                    ],
                                    resources: resources("50m", "128Mi", { cpu: "250m" }),
                                    readinessProbe: httpProbe("/readyz", "ksm-telemetry"),
                                    livenessProbe: httpProbe("/livez", "ksm-metrics"),
                                }),
                            ],
                            volumes: [
                                { name: "statsd-mapping", configMap: { name: "statsd-mapping" } },
                            ],
                        },
                    },
                },
            },
            { ...o, dependsOn: [sa] },
        );
        new k8s.core.v1.Service(
            `${name}-exporter`,
            {
                metadata: { name: "metrics-exporter", namespace: ns, labels: exp.labels },
                spec: {
                    selector: exp.selector,
                    ports: [
                        {
                            name: "statsd-udp",
                            port: EXPORTER_PORTS.statsd,
                            protocol: "UDP",
                            targetPort: "statsd-udp",
                        },
                        {
                            name: "statsd-tcp",
                            port: EXPORTER_PORTS.statsd,
                            protocol: "TCP",
                            targetPort: "statsd-tcp",
                        },
                        {
                            name: "statsd-metrics",
                            port: EXPORTER_PORTS.statsdMetrics,
                            targetPort: "statsd-metrics",
                        },
                        {
                            name: "pg-metrics",
                            port: EXPORTER_PORTS.postgresMetrics,
                            targetPort: "pg-metrics",
                        },
                        {
                            name: "ksm-metrics",
                            port: EXPORTER_PORTS.kubeStateMetrics,
                            targetPort: "ksm-metrics",
                        },
                        {
                            name: "ksm-telemetry",
                            port: EXPORTER_PORTS.kubeStateTelemetry,
                            targetPort: "ksm-telemetry",
                        },
                    ],
                },
            },
            o,
        );

        // ---- Prometheus ---------------------------------------------------------------------
        const prom = appLabels("prometheus", "metrics");
        const grafana = appLabels("grafana", "dashboards");
        new k8s.core.v1.ServiceAccount(
            `${name}-prometheus-sa`,
            {
                metadata: { name: "prometheus", namespace: ns, labels: prom.labels },
                automountServiceAccountToken: true, // pod discovery
            },
            o,
        );
        // Pod discovery in the listed namespaces only: a Role per namespace, no cluster-wide read.
        for (const target of args.scrapeNamespaces) {
            new k8s.rbac.v1.Role(
                `${name}-prometheus-${target}`,
                {
                    metadata: {
                        name: "prometheus-discovery",
                        namespace: target,
                        labels: prom.labels,
                    },
                    rules: [
                        { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
                    ],
                },
                o,
            );
            new k8s.rbac.v1.RoleBinding(
                `${name}-prometheus-${target}`,
                {
                    metadata: {
                        name: "prometheus-discovery",
                        namespace: target,
                        labels: prom.labels,
                    },
                    roleRef: {
                        apiGroup: "rbac.authorization.k8s.io",
                        kind: "Role",
                        name: "prometheus-discovery",
                    },
                    subjects: [{ kind: "ServiceAccount", name: "prometheus", namespace: ns }],
                },
                o,
            );
            allowPolicy(
                `${name}-netpol-scrape-${target}`,
                { name: "allow-prometheus-scrape", namespace: target },
                {
                    podSelector: {},
                    ingress: [
                        {
                            from: [fromNamespace(ns, prom.selector)],
                            ports: tcp(...args.scrapePorts),
                        },
                    ],
                },
                o,
            );
        }
        const promConfig = stringify(prometheusConfig(ns, args.scrapeNamespaces));
        new k8s.core.v1.ConfigMap(
            `${name}-prometheus-config`,
            {
                metadata: { name: "prometheus-config", namespace: ns, labels: prom.labels },
                data: { "prometheus.yml": promConfig },
            },
            o,
        );
        new k8s.apps.v1.StatefulSet(
            `${name}-prometheus`,
            {
                metadata: { name: "prometheus", namespace: ns, labels: prom.labels },
                spec: {
                    serviceName: "prometheus",
                    replicas: 1,
                    selector: { matchLabels: prom.selector },
                    template: {
                        metadata: {
                            labels: prom.labels,
                            annotations: { "taxi-platform/config": sha(promConfig) },
                        },
                        spec: {
                            serviceAccountName: "prometheus",
                            automountServiceAccountToken: true,
                            securityContext: restrictedPodSecurity(NOBODY),
                            containers: [
                                container({
                                    name: "prometheus",
                                    image: args.images.prometheus,
                                    args: [
                                        "--config.file=/etc/prometheus/prometheus.yml",
                                        "--storage.tsdb.path=/prometheus",
                                        `--storage.tsdb.retention.time=${args.retentionDays}d`,
                                        `--web.listen-address=:${PROMETHEUS_PORT}`,
                                    ],
                                    ports: [{ name: "http", containerPort: PROMETHEUS_PORT }],
                                    resources: resources("200m", "1Gi", { cpu: "1" }),
                                    readinessProbe: httpProbe("/-/ready", "http"),
                                    livenessProbe: httpProbe("/-/healthy", "http", {
                                        periodSeconds: 30,
                                    }),
                                    volumeMounts: [
                                        { name: "config", mountPath: "/etc/prometheus" },
                                        { name: "data", mountPath: "/prometheus" },
                                    ],
                                }),
                            ],
                            volumes: [{ name: "config", configMap: { name: "prometheus-config" } }],
                        },
                    },
                    volumeClaimTemplates: [
                        {
                            metadata: { name: "data", labels: prom.labels },
                            spec: {
                                accessModes: ["ReadWriteOnce"],
                                storageClassName: args.storageClass,
                                resources: { requests: { storage: `${args.diskGi}Gi` } },
                            },
                        },
                    ],
                },
            },
            o,
        );
        new k8s.core.v1.Service(
            `${name}-prometheus`,
            {
                metadata: { name: "prometheus", namespace: ns, labels: prom.labels },
                spec: {
                    selector: prom.selector,
                    ports: [{ name: "http", port: PROMETHEUS_PORT, targetPort: "http" }],
                },
            },
            o,
        );

        // ---- Grafana ------------------------------------------------------------------------
        const adminPassword = new random.RandomPassword(
            `${name}-grafana-admin`,
            { length: 32, special: false },
            o,
        ).result;
        this.grafanaAdminPassword = pulumi.secret(adminPassword);
        new k8s.core.v1.Secret(
            `${name}-grafana-admin`,
            {
                metadata: { name: "grafana-admin", namespace: ns, labels: grafana.labels },
                type: "Opaque",
                stringData: { username: this.grafanaAdminUser, password: adminPassword },
            },
            o,
        );
        const datasources = stringify({
            apiVersion: 1,
            datasources: [
                {
                    name: "Prometheus",
                    uid: PROMETHEUS_DATASOURCE_UID,
                    type: "prometheus",
                    access: "proxy",
                    url: `http://prometheus.${ns}.svc:${PROMETHEUS_PORT}`,
                    isDefault: true,
                    editable: false,
                },
            ],
        });
        const provider = stringify({
            apiVersion: 1,
            providers: [
                {
                    name: "taxi-platform",
                    folder: "Taxi platform",
                    type: "file",
                    disableDeletion: true,
                    allowUiUpdates: false,
                    options: { path: "/var/lib/grafana-dashboards" },
                },
            ],
        });
        const dashboards = loadDashboards();
        new k8s.core.v1.ConfigMap(
            `${name}-grafana-provisioning`,
            {
                metadata: { name: "grafana-provisioning", namespace: ns, labels: grafana.labels },
                data: { "datasources.yaml": datasources, "dashboards.yaml": provider },
            },
            o,
        );
        new k8s.core.v1.ConfigMap(
            `${name}-grafana-dashboards`,
            {
                metadata: { name: "grafana-dashboards", namespace: ns, labels: grafana.labels },
                data: Object.fromEntries(dashboards.map((d) => [d.file, d.json])),
            },
            o,
        );
        const route = args.loadBalancer.addRoute(
            "grafana",
            {
                namespace: ns,
                service: "grafana",
                port: GRAFANA_PORT,
                healthPath: "/api/health",
                // Grafana serves its own metrics unauthenticated: keep them off the internet.
                privatePaths: ["/metrics"],
            },
            this,
        );
        this.grafanaUrl = route.url;
        const fromSecret = (secret: string, key: string) => ({
            secretKeyRef: { name: secret, key },
        });
        new k8s.apps.v1.Deployment(
            `${name}-grafana`,
            {
                metadata: { name: "grafana", namespace: ns, labels: grafana.labels },
                spec: {
                    replicas: 1,
                    selector: { matchLabels: grafana.selector },
                    template: {
                        metadata: {
                            labels: grafana.labels,
                            annotations: {
                                "taxi-platform/provisioning": sha(
                                    datasources + provider + dashboards.map((d) => d.json).join(""),
                                ),
                            },
                        },
                        spec: {
                            automountServiceAccountToken: false,
                            securityContext: restrictedPodSecurity(GRAFANA_UID),
                            containers: [
                                container({
                                    name: "grafana",
                                    image: args.images.grafana,
                                    ports: [{ name: "http", containerPort: GRAFANA_PORT }],
                                    env: [
                                        { name: "GF_SERVER_ROOT_URL", value: route.url },
                                        {
                                            name: "GF_SECURITY_ADMIN_USER",
                                            valueFrom: fromSecret("grafana-admin", "username"),
                                        },
                                        {
                                            name: "GF_SECURITY_ADMIN_PASSWORD",
                                            valueFrom: fromSecret("grafana-admin", "password"),
                                        },
                                        {
                                            name: "GF_SECURITY_COOKIE_SECURE",
                                            value: route.url.apply((u) =>
                                                String(u.startsWith("https://")),
                                            ),
                                        },
                                        { name: "GF_AUTH_ANONYMOUS_ENABLED", value: "false" },
                                        { name: "GF_USERS_ALLOW_SIGN_UP", value: "false" },
                                        { name: "GF_ANALYTICS_REPORTING_ENABLED", value: "false" },
                                        { name: "GF_ANALYTICS_CHECK_FOR_UPDATES", value: "false" },
                                        {
                                            name: "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES",
                                            value: "false",
                                        },
                                        { name: "GF_PATHS_DATA", value: "/var/lib/grafana" },
                                        {
                                            name: "GF_PATHS_PROVISIONING",
                                            value: "/etc/grafana/provisioning",
                                        },
                                        { name: "GF_DATABASE_TYPE", value: "postgres" },
                                        {
                                            name: "DB_HOST",
                                            valueFrom: fromSecret(args.grafanaDbSecret, "host"),
                                        },
                                        {
                                            name: "DB_PORT",
                                            valueFrom: fromSecret(args.grafanaDbSecret, "port"),
                                        },
                                        {
                                            name: "GF_DATABASE_HOST",
                                            value: "$(DB_HOST):$(DB_PORT)",
                                        },
                                        {
                                            name: "GF_DATABASE_NAME",
                                            valueFrom: fromSecret(args.grafanaDbSecret, "database"),
                                        },
                                        {
                                            name: "GF_DATABASE_USER",
                                            valueFrom: fromSecret(args.grafanaDbSecret, "username"),
                                        },
                                        {
                                            name: "GF_DATABASE_PASSWORD",
                                            valueFrom: fromSecret(args.grafanaDbSecret, "password"),
                                        },
                                        { name: "GF_DATABASE_SSL_MODE", value: "disable" },
                                    ],
                                    resources: resources("100m", "256Mi", { cpu: "500m" }),
                                    readinessProbe: httpProbe("/api/health", "http"),
                                    livenessProbe: httpProbe("/api/health", "http", {
                                        periodSeconds: 30,
                                        initialDelaySeconds: 30,
                                    }),
                                    volumeMounts: [
                                        { name: "data", mountPath: "/var/lib/grafana" },
                                        { name: "tmp", mountPath: "/tmp" },
                                        {
                                            name: "provisioning",
                                            mountPath:
                                                "/etc/grafana/provisioning/datasources/datasources.yaml",
                                            subPath: "datasources.yaml",
                                        },
                                        {
                                            name: "provisioning",
                                            mountPath:
                                                "/etc/grafana/provisioning/dashboards/dashboards.yaml",
                                            subPath: "dashboards.yaml",
                                        },
                                        {
                                            name: "dashboards",
                                            mountPath: "/var/lib/grafana-dashboards",
                                        },
                                    ],
                                }),
                            ],
                            volumes: [
                                { name: "data", emptyDir: {} },
                                { name: "tmp", emptyDir: {} },
                                {
                                    name: "provisioning",
                                    configMap: { name: "grafana-provisioning" },
                                },
                                { name: "dashboards", configMap: { name: "grafana-dashboards" } },
                            ],
                        },
                    },
                },
            },
            o,
        );
        new k8s.core.v1.Service(
            `${name}-grafana`,
            {
                metadata: { name: "grafana", namespace: ns, labels: grafana.labels },
                spec: {
                    selector: grafana.selector,
                    ports: [{ name: "http", port: GRAFANA_PORT, targetPort: "http" }],
                },
            },
            o,
        );

        // ---- Network policies ---------------------------------------------------------------
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
                ],
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

        this.registerOutputs({
            grafanaUrl: this.grafanaUrl,
            statsdHost: this.statsdHost,
            prometheusUrl: this.prometheusUrl,
        });
    }
}

function sha(text: string): string {
    return createHash("sha256").update(text).digest("hex").slice(0, 16);
}
