/**
 * Monitoring: ONE metrics-exporter Deployment (statsd-exporter for Airflow, postgres-exporter,
 * kube-state-metrics) behind one Service, Prometheus scraping it, itself and the pods that opt in
 * by annotation (Spark drivers' JMX agent), and Grafana provisioned with Prometheus and the
 * dashboards in `dashboards/`, served through the shared load balancer. The alerting rules of
 * `alerts/rules.yaml` are loaded into Prometheus, which sends firing alerts to Alertmanager,
 * whose only receiver is the alert relay (email through the run report's SES path).
 *
 * Files: `config.ts` (ports, args, defaults, validation), `exporter.ts`, `prometheus.ts`,
 * `grafana.ts`, `network.ts`; `content.ts` loads the dashboards and the statsd mapping.
 */
import * as pulumi from "@pulumi/pulumi";
import { appLabels } from "../shared/workload";
import {
    EXPORTER_PORTS,
    PROMETHEUS_PORT,
    resolveMonitoringArgs,
    type MonitoringArgs,
} from "./config";
import { alertmanagerServer } from "./alertmanager";
import { metricsExporter } from "./exporter";
import { GRAFANA_ADMIN_USER, grafanaServer } from "./grafana";
import { monitoringNetworkPolicies } from "./network";
import { prometheusServer } from "./prometheus";

export class Monitoring extends pulumi.ComponentResource {
    public readonly grafanaUrl: pulumi.Output<string>;
    /** Where Airflow sends statsd (host and port). */
    public readonly statsdHost: string;
    public readonly statsdPort = EXPORTER_PORTS.statsd;
    public readonly prometheusUrl: string;
    public readonly grafanaAdminUser = GRAFANA_ADMIN_USER;
    public readonly grafanaAdminPassword: pulumi.Output<string>;

    /** Pass the cluster's Kubernetes provider in `opts.providers`. */
    constructor(name: string, rawArgs: MonitoringArgs, opts: pulumi.ComponentResourceOptions = {}) {
        super("taxi:k8s:Monitoring", name, {}, opts);
        const args = resolveMonitoringArgs(rawArgs);
        const ns = args.namespace;
        this.statsdHost = `metrics-exporter.${ns}.svc.cluster.local`;
        this.prometheusUrl = `http://prometheus.${ns}.svc.cluster.local:${PROMETHEUS_PORT}`;
        const labels = {
            exp: appLabels("metrics-exporter", "metrics"),
            prom: appLabels("prometheus", "metrics"),
            grafana: appLabels("grafana", "dashboards"),
            am: appLabels("alertmanager", "alerting"),
        };
        metricsExporter(name, args, labels.exp, this);
        prometheusServer(name, args, labels.prom, this);
        alertmanagerServer(name, args, labels.am, this);
        const grafana = grafanaServer(name, args, labels.grafana, this);
        this.grafanaUrl = grafana.url;
        this.grafanaAdminPassword = grafana.adminPassword;
        monitoringNetworkPolicies(name, args, labels, this);

        this.registerOutputs({
            grafanaUrl: this.grafanaUrl,
            statsdHost: this.statsdHost,
            prometheusUrl: this.prometheusUrl,
        });
    }
}
