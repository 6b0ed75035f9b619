/**
 * Alertmanager: the contact point of the alerting rules (`alerts/rules.yaml`). Prometheus sends
 * firing alerts to it; it groups them (by alert name, 30 s wait, repeated every 4 h while they
 * fire, resolved ones too) and posts each group to its only receiver, a webhook into the alert
 * relay, a second container of the same pod listening on loopback (`python -m
 * common.alert_relay` of the Airflow image). The relay mails the group through the run report's
 * path: SES v2 as the sender role, assumed by web identity with the pod's Google account
 * (Workload Identity of `alerting.serviceAccount`). No SMTP password or AWS key anywhere.
 *
 * One replica (no HA peering: `--cluster.listen-address=`), silences on an emptyDir; restricted
 * pod security, read-only root filesystems.
 */
import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";
import {
    container,
    execProbe,
    httpProbe,
    resources,
    restrictedPodSecurity,
} from "../shared/workload";
import {
    ALERTMANAGER_PORT,
    ALERT_RELAY_PORT,
    NOBODY,
    sha,
    type AppLabels,
    type ResolvedMonitoringArgs,
} from "./config";

/** Alertmanager's configuration: every alert to the relay's webhook on loopback. */
export function alertmanagerConfig() {
    return {
        route: {
            receiver: "email-relay",
            group_by: ["alertname"],
            group_wait: "30s",
            group_interval: "5m",
            repeat_interval: "4h",
        },
        receivers: [
            {
                name: "email-relay",
                webhook_configs: [
                    {
                        url: `http://127.0.0.1:${ALERT_RELAY_PORT}/alerts`,
                        send_resolved: true,
                        max_alerts: 50,
                    },
                ],
            },
        ],
    };
}

/** The relay answers /healthz on loopback (no port to probe from the kubelet). */
const relayHealth = [
    "python",
    "-c",
    `import urllib.request; urllib.request.urlopen("http://127.0.0.1:${ALERT_RELAY_PORT}/healthz", timeout=3)`,
];

/** The Airflow image's uid (the relay runs its Python). */
const RELAY_UID = 50000;

export function alertmanagerServer(
    name: string,
    args: ResolvedMonitoringArgs,
    am: AppLabels,
    parent: pulumi.Resource,
): void {
    const o = { parent };
    const ns = args.namespace;
    const text = stringify(alertmanagerConfig());
    const amConfig = new k8s.core.v1.ConfigMap(
        `${name}-alertmanager-config`,
        {
            metadata: { name: "alertmanager-config", namespace: ns, labels: am.labels },
            data: { "alertmanager.yml": text },
        },
        o,
    );
    const relayEnv = Object.entries(args.alerting.relayEnv)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([envName, value]) => ({ name: envName, value }));
    new k8s.apps.v1.Deployment(
        `${name}-alertmanager`,
        {
            metadata: { name: "alertmanager", namespace: ns, labels: am.labels },
            spec: {
                replicas: 1,
                selector: { matchLabels: am.selector },
                template: {
                    metadata: {
                        labels: am.labels,
                        annotations: { "taxi-platform/config": sha(text) },
                    },
                    spec: {
                        serviceAccountName: args.alerting.serviceAccount,
                        automountServiceAccountToken: false,
                        securityContext: restrictedPodSecurity(NOBODY),
                        containers: [
                            container({
                                name: "alertmanager",
                                image: args.images.alertmanager,
                                args: [
                                    "--config.file=/etc/alertmanager/alertmanager.yml",
                                    "--storage.path=/alertmanager",
                                    `--web.listen-address=:${ALERTMANAGER_PORT}`,
                                    "--cluster.listen-address=",
                                ],
                                ports: [{ name: "http", containerPort: ALERTMANAGER_PORT }],
                                resources: resources("50m", "64Mi", {
                                    cpu: "200m",
                                    memory: "128Mi",
                                }),
                                readinessProbe: httpProbe("/-/ready", "http"),
                                livenessProbe: httpProbe("/-/healthy", "http", {
                                    periodSeconds: 30,
                                }),
                                volumeMounts: [
                                    { name: "config", mountPath: "/etc/alertmanager" },
                                    { name: "data", mountPath: "/alertmanager" },
                                ],
                            }),
                            container({
                                name: "alert-relay",
                                image: args.alerting.relayImage,
                                command: ["python", "-m", "common.alert_relay"],
                                args: ["--host", "127.0.0.1", "--port", String(ALERT_RELAY_PORT)],
                                workingDir: "/opt/airflow/dags",
                                env: [
                                    { name: "PYTHONPATH", value: "/opt/airflow/dags" },
                                    { name: "HOME", value: "/tmp" },
                                    { name: "AIRFLOW_HOME", value: "/tmp/airflow" },
                                    ...relayEnv,
                                ],
                                securityContext: { runAsUser: RELAY_UID },
                                resources: resources("20m", "192Mi", {
                                    cpu: "200m",
                                    memory: "384Mi",
                                }),
                                readinessProbe: execProbe(relayHealth),
                                livenessProbe: execProbe(relayHealth, { periodSeconds: 30 }),
                                volumeMounts: [{ name: "relay-tmp", mountPath: "/tmp" }],
                            }),
                        ],
                        volumes: [
                            { name: "config", configMap: { name: "alertmanager-config" } },
                            { name: "data", emptyDir: {} },
                            { name: "relay-tmp", emptyDir: {} },
                        ],
                    },
                },
            },
        },
        { ...o, dependsOn: [amConfig] },
    );
    new k8s.core.v1.Service(
        `${name}-alertmanager`,
        {
            metadata: { name: "alertmanager", namespace: ns, labels: am.labels },
            spec: {
                selector: am.selector,
                ports: [{ name: "http", port: ALERTMANAGER_PORT, targetPort: "http" }],
            },
        },
        o,
    );
}
