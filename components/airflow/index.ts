/** The Airflow component's public surface: the component, its args and the names others rely on. */
export { Airflow } from "./airflow";
export {
    AIRFLOW_API_PORT,
    AIRFLOW_PROCESSES,
    AIRFLOW_SIZING,
    AIRFLOW_UID,
    CORE_SECRET,
    GIT_CONN_ID,
    PIPELINE_ENV_CONFIGMAP,
    SCHEDULER_HEALTH_PORT,
    dagBundleConfig,
    resolveAirflowArgs,
    type AirflowArgs,
    type AirflowProcess,
    type DagSource,
    type PipelineEnvValues,
} from "./config";
export { migrationJobName } from "./migration";
export { PIPELINE_ENV_KEYS, type PipelineEnvKey } from "./pipeline-env";
export { LAUNCHER_RULES } from "./rbac";
