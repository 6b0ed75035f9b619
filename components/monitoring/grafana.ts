/**
 * Grafana: Prometheus provisioned as the default datasource, the dashboards of `dashboards/`
 * provisioned read-only, its state in its Postgres database, a generated admin password, served
 * through the shared load balancer (its own /metrics kept private).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { stringify } from "yaml";
import { container, httpProbe, resources, restrictedPodSecurity } from "../shared/workload";
import {
    GRAFANA_PORT,
    GRAFANA_UID,
    PROMETHEUS_PORT,
    sha,
    type AppLabels,
    type ResolvedMonitoringArgs,
} from "./config";
import { PROMETHEUS_DATASOURCE_UID, loadDashboards } from "./content";

/** Grafana's admin user name. */
export const GRAFANA_ADMIN_USER = "admin";

/** The admin Secret, provisioning and dashboards ConfigMaps, the route, Deployment and Service. */
export function grafanaServer(
    name: string,
    args: ResolvedMonitoringArgs,
    grafana: AppLabels,
    parent: pulumi.Resource,
): { url: pulumi.Output<string>; adminPassword: pulumi.Output<string> } {
    const o = { parent };
    const ns = args.namespace;
    const adminPassword = new random.RandomPassword(
        `${name}-grafana-admin`,
        { length: 32, special: false },
        o,
    ).result;
    const adminSecret = new k8s.core.v1.Secret(
        `${name}-grafana-admin`,
        {
            metadata: { name: "grafana-admin", namespace: ns, labels: grafana.labels },
            type: "Opaque",
            stringData: { username: GRAFANA_ADMIN_USER, password: adminPassword },
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
    const provisioning = new k8s.core.v1.ConfigMap(
        `${name}-grafana-provisioning`,
        {
            metadata: { name: "grafana-provisioning", namespace: ns, labels: grafana.labels },
            data: { "datasources.yaml": datasources, "dashboards.yaml": provider },
        },
        o,
    );
    const dashboardsMap = new k8s.core.v1.ConfigMap(
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
        parent,
    );
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
        { ...o, dependsOn: [adminSecret, provisioning, dashboardsMap] },
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
    return { url: route.url, adminPassword: pulumi.secret(adminPassword) };
}
