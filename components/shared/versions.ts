/**
 * Every upstream image the platform runs, in one place (STYLE.md: versions explicit, never
 * hidden). Upgrade deliberately: change the tag here, read the render diff, roll out per stack.
 * Our own images (airflow, spark, dbt, ml, docs-app) are built from the sibling folders and
 * referenced by digest (see `PlatformImages`).
 */
import * as pulumi from "@pulumi/pulumi";

export const UPSTREAM_IMAGES = {
    postgres: "postgres:17.6-bookworm",
    statsdExporter: "quay.io/prometheus/statsd-exporter:v0.28.0",
    postgresExporter: "quay.io/prometheuscommunity/postgres-exporter:v0.17.1",
    kubeStateMetrics: "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.16.0",
    prometheus: "quay.io/prometheus/prometheus:v3.5.0",
    grafana: "docker.io/grafana/grafana:12.1.1",
    /** gcloud for uploading Postgres dumps (runs as non-root `cloudsdk`). */
    cloudSdk: "gcr.io/google.com/cloudsdktool/google-cloud-cli:537.0.0-slim",
} as const;

/** Images built from this repository's folders (ARCHITECTURE.md §1). */
export interface PlatformImages {
    airflow: string;
    spark: string;
    dbt: string;
    /** Jobs (train, retrain) and the MLflow tracking server. */
    ml: string;
    docsApp: string;
}

/**
 * References of the platform's own images in the environment's registry, by tag. The image
 * workflow pushes `<registry>/<name>:<tag>` (tags are immutable in the registry, so a tag names
 * one build).
 */
export function platformImages(
    registryUrl: pulumi.Input<string>,
    tag: string,
): Record<keyof PlatformImages, pulumi.Output<string>> {
    const ref = (image: string) => pulumi.interpolate`${registryUrl}/${image}:${tag}`;
    return {
        airflow: ref("airflow"),
        spark: ref("spark"),
        dbt: ref("dbt"),
        ml: ref("ml"),
        docsApp: ref("docs-app"),
    };
}
