/**
 * The ONE metrics-exporter Deployment: statsd-exporter (Airflow's statsd, mapped by
 * `statsd-mapping.yaml`), postgres-exporter and kube-state-metrics (read-only ClusterRole on the
 * kinds of `KSM_RESOURCES`), behind one Service exposing all of them.
 */
import * as fs from "node:fs";
import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { container, httpProbe, resources, restrictedPodSecurity } from "../shared/workload";
import {
    EXPORTER_PORTS,
    KSM_RESOURCES,
    NOBODY,
    sha,
    type AppLabels,
    type ResolvedMonitoringArgs,
} from "./config";
import { STATSD_MAPPING_FILE } from "./content";

/** The exporter's service account, RBAC, mapping ConfigMap, Deployment and Service. */
export function metricsExporter(
    name: string,
    args: ResolvedMonitoringArgs,
    exp: AppLabels,
    parent: pulumi.Resource,
): void {
    const o = { parent };
    const ns = args.namespace;
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
    const statsdMapping = new k8s.core.v1.ConfigMap(
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
                                args: [`--web.listen-address=:${EXPORTER_PORTS.postgresMetrics}`],
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
        { ...o, dependsOn: [sa, statsdMapping] },
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
}
