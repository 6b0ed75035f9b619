/**
 * Every upstream image the platform runs, in one place (docs/conventions.md#components: versions explicit, never
 * hidden). Upgrade deliberately: change the tag here, read the render diff, roll out per stack.
 * Our own images (airflow, spark, dbt, ml, docs-app) are built from the sibling folders and
 * referenced by digest; upstream images are mirrored into the registry and referenced by digest
 * too (components/images/images.ts).
 */
import { SPARK_OPERATOR_CHART } from "../../charts/spark-operator/chart";

const so = SPARK_OPERATOR_CHART.image;

export const UPSTREAM_IMAGES = {
    postgres: "postgres:17.6-bookworm",
    statsdExporter: "quay.io/prometheus/statsd-exporter:v0.28.0",
    postgresExporter: "quay.io/prometheuscommunity/postgres-exporter:v0.17.1",
    kubeStateMetrics: "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.16.0",
    prometheus: "quay.io/prometheus/prometheus:v3.5.0",
    alertmanager: "quay.io/prometheus/alertmanager:v0.28.1",
    grafana: "docker.io/grafana/grafana:12.1.1",
    /**
     * gcloud: Postgres dump uploads and the full refresh's transfer task (IMAGE_CLOUD_SDK). The one
     * Cloud SDK release: the CI's setup-gcloud pins the same version (a workflow test checks).
     */
    cloudSdk: "gcr.io/google.com/cloudsdktool/google-cloud-cli:537.0.0-slim",
    /** The chart's operator image (charts/spark-operator/chart.ts pins it with the chart). */
    sparkOperator: `${so.registry}/${so.repository}:${so.tag}`,
} as const;
