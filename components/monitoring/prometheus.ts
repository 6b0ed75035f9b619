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
import { alertRulesText } from "./alerts/rules";
import {
    ALERTMANAGER_PORT,
    EXPORTER_PORTS,
    NOBODY,
    PROMETHEUS_PORT,
    SCRAPE_ANNOTATIONS,
    sha,
    type AppLabels,
    type ResolvedMonitoringArgs,
} from "./config";

const RULES_DIR = "/etc/prometheus/rules";
const RULES_FILE = "rules.yaml";

/** Prometheus configuration: itself, the three exporters, the kubelets and annotated pods;
 * the alerting rules and Alertmanager. */
export function prometheusConfig(namespace: string, scrapeNamespaces: string[]) {
    const token = "/var/run/secrets/kubernetes.io/serviceaccount";
    const exporter = (job: string, port: number) => ({
        job_name: job,
        static_configs: [{ targets: [`metrics-exporter.${namespace}.svc:${port}`] }],
    });
    const a = (key: string) => `__meta_kubernetes_pod_annotation_${key.replace(/[./]/g, "_")}`;
    return {
        global: { scrape_interval: "30s", evaluation_interval: "30s" },
        // The alerting rules (alerts/rules.yaml, ConfigMap prometheus-rules) and their contact point.
        rule_files: [`${RULES_DIR}/${RULES_FILE}`],
        alerting: {
            alertmanagers: [
                {
                    static_configs: [
                        { targets: [`alertmanager.${namespace}.svc:${ALERTMANAGER_PORT}`] },
                    ],
                },
            ],
        },
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
                // Volume statistics of every kubelet (the volume alert), read with the
                // nodes/metrics subresource; GKE's kubelet serving certificates are not signed by
                // the cluster CA, so the name is not verified (the nodes' subnet only, see network.ts).
                job_name: "kubelet",
                scheme: "https",
                kubernetes_sd_configs: [{ role: "node" }],
                authorization: { credentials_file: `${token}/token` },
                tls_config: { ca_file: `${token}/ca.crt`, insecure_skip_verify: true },
                metric_relabel_configs: [
                    {
                        source_labels: ["__name__"],
                        action: "keep",
                        regex: "kubelet_volume_stats_(used|capacity|available)_bytes",
                    },
                ],
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
    const promSa = new k8s.core.v1.ServiceAccount(
        `${name}-prometheus-sa`,
        {
            metadata: { name: "prometheus", namespace: ns, labels: prom.labels },
            automountServiceAccountToken: true, // pod discovery
        },
        o,
    );
    // The kubelets' volume statistics: node discovery and the nodes/metrics subresource only
    // (not nodes/proxy, which would reach every kubelet API).
    new k8s.rbac.v1.ClusterRole(
        `${name}-prometheus-kubelet`,
        {
            metadata: { name: "taxi-prometheus-kubelet", labels: prom.labels },
            rules: [
                { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch"] },
                { apiGroups: [""], resources: ["nodes/metrics"], verbs: ["get"] },
            ],
        },
        o,
    );
    new k8s.rbac.v1.ClusterRoleBinding(
        `${name}-prometheus-kubelet`,
        {
            metadata: { name: "taxi-prometheus-kubelet", labels: prom.labels },
            roleRef: {
                apiGroup: "rbac.authorization.k8s.io",
                kind: "ClusterRole",
                name: "taxi-prometheus-kubelet",
            },
            subjects: [{ kind: "ServiceAccount", name: "prometheus", namespace: ns }],
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
    const rules = alertRulesText();
    const promRules = new k8s.core.v1.ConfigMap(
        `${name}-prometheus-rules`,
        {
            metadata: { name: "prometheus-rules", namespace: ns, labels: prom.labels },
            data: { [RULES_FILE]: rules },
        },
        o,
    );
    const promConfigMap = new k8s.core.v1.ConfigMap(
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
                        annotations: {
                            "taxi-platform/config": sha(promConfig),
                            "taxi-platform/rules": sha(rules),
                        },
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
                                    { name: "rules", mountPath: RULES_DIR },
                                    { name: "data", mountPath: "/prometheus" },
                                ],
                            }),
                        ],
                        volumes: [
                            { name: "config", configMap: { name: "prometheus-config" } },
                            { name: "rules", configMap: { name: "prometheus-rules" } },
                        ],
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
        { ...o, dependsOn: [promSa, promRules, promConfigMap] },
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
