/**
 * What every Airflow process (and the migration Job) reads: the `pipeline-env` ConfigMap, in the
 * Airflow namespace and where the task pods run, and one env list (`coreEnv`) with the shared
 * keys, the metadata DB URL and Airflow's settings. Also the pod shape both the Deployment and
 * the migration Job use (service account, security context, one /tmp per container).
 */
import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { restrictedPodSecurity } from "../shared/workload";
import {
    AIRFLOW_API_PORT,
    AIRFLOW_UID,
    CORE_SECRET,
    GIT_CONN_ID,
    PIPELINE_ENV_CONFIGMAP,
    SCHEDULER_HEALTH_PORT,
    dagBundleConfig,
    type resolveAirflowArgs,
} from "./config";
import { PIPELINE_ENV_KEYS } from "./pipeline-env";

export type ResolvedAirflowArgs = ReturnType<typeof resolveAirflowArgs>;
export type EnvVar = k8s.types.input.core.v1.EnvVar;

export const fromSecret = (name: string, secret: string, key: string): EnvVar => ({
    name,
    valueFrom: { secretKeyRef: { name: secret, key } },
});

/** Every Airflow container reads the whole `pipeline-env` ConfigMap. */
export const envFrom = [{ configMapRef: { name: PIPELINE_ENV_CONFIGMAP } }];

/** The `pipeline-env` ConfigMap in the Airflow namespace and in the jobs namespace. */
export function pipelineEnvConfigMaps(
    name: string,
    args: ResolvedAirflowArgs,
    labels: Record<string, string>,
    parent: pulumi.Resource,
): k8s.core.v1.ConfigMap[] {
    const pipelineData = Object.fromEntries(
        PIPELINE_ENV_KEYS.map((k) => [k, args.pipelineEnv[k]]),
    ) as Record<string, pulumi.Input<string>>;
    return [args.namespace, args.jobsNamespace].map(
        (target) =>
            new k8s.core.v1.ConfigMap(
                `${name}-pipeline-env-${target}`,
                {
                    metadata: {
                        name: PIPELINE_ENV_CONFIGMAP,
                        namespace: target,
                        labels: { ...labels, "app.kubernetes.io/component": "pipeline-env" },
                    },
                    data: pipelineData,
                },
                { parent },
            ),
    );
}

/** The environment every Airflow process (and the migration Job) reads; `url` is the public base URL. */
export function coreEnv(args: ResolvedAirflowArgs, url: pulumi.Input<string>): EnvVar[] {
    const bundle = dagBundleConfig(args.dagSource);
    const git = args.dagSource.kind === "git" ? args.dagSource : undefined;
    return [
        fromSecret("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", args.databaseSecret, "sqlalchemy_uri"),
        fromSecret("AIRFLOW__CORE__FERNET_KEY", CORE_SECRET, "fernet-key"),
        fromSecret("AIRFLOW__API__SECRET_KEY", CORE_SECRET, "api-secret-key"),
        fromSecret("AIRFLOW__API_AUTH__JWT_SECRET", CORE_SECRET, "jwt-secret"),
        // Writable home (airflow.cfg, bundle checkouts) on the pod's emptyDir; the image stays read-only.
        { name: "AIRFLOW_HOME", value: "/tmp/airflow" },
        { name: "HOME", value: "/tmp" },
        { name: "AIRFLOW__CORE__EXECUTOR", value: "LocalExecutor" },
        { name: "AIRFLOW__CORE__PARALLELISM", value: String(args.parallelism) },
        // Sized together with the api-server's memory and CPU (AIRFLOW_SIZING).
        { name: "AIRFLOW__API__WORKERS", value: String(args.apiWorkers) },
        {
            name: "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
            value: `http://127.0.0.1:${AIRFLOW_API_PORT}/execution/`,
        },
        { name: "AIRFLOW__API__BASE_URL", value: url },
        { name: "AIRFLOW__API__PORT", value: String(AIRFLOW_API_PORT) },
        { name: "AIRFLOW__LOGGING__BASE_LOG_FOLDER", value: "/opt/airflow/logs" },
        { name: "AIRFLOW__METRICS__STATSD_ON", value: "True" },
        { name: "AIRFLOW__METRICS__STATSD_HOST", value: args.statsd.host },
        { name: "AIRFLOW__METRICS__STATSD_PORT", value: String(args.statsd.port) },
        { name: "AIRFLOW__METRICS__STATSD_PREFIX", value: "airflow" },
        { name: "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK", value: "True" },
        // The run report (dags/common/notify.py): recipients, sender, SES role and links.
        ...Object.entries(args.runReport)
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(([name, value]) => ({ name, value })),
        {
            name: "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT",
            value: String(SCHEDULER_HEALTH_PORT),
        },
        ...(bundle
            ? [
                  { name: "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", value: bundle },
                  git?.credentialsSecret
                      ? fromSecret(
                            `AIRFLOW_CONN_${GIT_CONN_ID.toUpperCase()}`,
                            git.credentialsSecret,
                            "connection",
                        )
                      : {
                            name: `AIRFLOW_CONN_${GIT_CONN_ID.toUpperCase()}`,
                            value: JSON.stringify({ conn_type: "git", host: git?.repoUrl }),
                        },
              ]
            : []),
    ];
}

// Each container gets its own writable /tmp (AIRFLOW_HOME lives there): one emptyDir each,
// so no two processes share an airflow.cfg and no subPath ownership is involved.
export const tmpMount = (container: string) => ({ name: `tmp-${container}`, mountPath: "/tmp" });
export const tmpVolumes = (containers: string[]) =>
    containers.map((c) => ({ name: `tmp-${c}`, emptyDir: {} }));

/** What the Airflow pod and the migration Job's pod have in common. */
export function podSpecBase(args: ResolvedAirflowArgs) {
    return {
        serviceAccountName: args.serviceAccount,
        securityContext: restrictedPodSecurity(AIRFLOW_UID),
        nodeSelector: args.nodeSelector,
    };
}
