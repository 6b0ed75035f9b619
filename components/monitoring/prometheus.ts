/**
 * Prometheus: a StatefulSet scraping itself, the three exporters and the pods of
 * `scrapeNamespaces` that opt in by annotation (Spark drivers' JMX agent). Pod discovery uses a
 * Role per listed namespace, never a cluster-wide read; each of those namespaces lets Prometheus
 * in on the scrape ports.
 */
import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";
import { allowPolicy, fromNamespace, tcp } from "../shared/network-policy";
import { container, httpProbe, resources, restrictedPodSecurity } from "../shared/workload";
import {
    EXPORTER_PORTS,
    NOBODY,
    PROMETHEUS_PORT,
    SCRAPE_ANNOTATIONS,
    sha,
    type AppLabels,
    type ResolvedMonitoringArgs,
} from "./config";

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

/** Prometheus's service account, discovery RBAC, config, StatefulSet and Service. */
export function prometheusServer(
    name: string,
    args: ResolvedMonitoringArgs,
    prom: AppLabels,
    parent: pulumi.Resource,
): void {
    const o = { parent };
    const ns = args.namespace;
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
                rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] }],
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
}
