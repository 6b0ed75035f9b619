/**
 * The `pipeline-env` contract (docs/architecture.md#pipeline-env): the keys of the ConfigMap that passes platform
 * values to Airflow and to every task pod. This list is the TypeScript owner; the Python owner is
 * `dags/common/pipeline_env.py`. A test on each side reads the other's list and fails when they
 * differ, so adding a key means changing both files (and both tests keep passing).
 */
export const PIPELINE_ENV_KEYS = [
    "PLATFORM_ENV",
    "PLATFORM_RUNTIME",
    "GCP_PROJECT",
    "GCP_REGION",
    "BQ_LOCATION",
    "STAGING_URI",
    "DOCS_URI",
    "SPARK_TEMP_BUCKET",
    "WAREHOUSE",
    "BQ_DATASET_RAW",
    "BQ_DATASET_MARTS",
    "WAREHOUSE_PATH",
    "MLFLOW_TRACKING_URI",
    "JOBS_NAMESPACE",
    "JOBS_NODE_POOL",
    "IMAGE_SPARK",
    "IMAGE_DBT",
    "IMAGE_ML",
    "IMAGE_CLOUD_SDK",
    "S3_LANDING_BUCKET",
    "TRANSFER_JOB_PREFIX",
    "AWS_LANDING_ROLE_ARN",
    "AWS_INGEST_ROLE_ARN",
    "INGEST_SOURCE_URL",
    "INGEST_POKE_SECONDS",
    "INGEST_MONTHS",
    "INGEST_MIN_BYTES",
] as const;

export type PipelineEnvKey = (typeof PIPELINE_ENV_KEYS)[number];
