/**
 * Airflow's settings: names and ports other components and tests rely on, the args of the
 * component with their defaults and validation (`resolveAirflowArgs`), and the git DAG bundle
 * configuration.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { SharedLoadBalancer } from "../load-balancer/load-balancer";
import { assertArgs } from "../shared/validation";
import { connectionArgsProblems, type AirflowConnectionsArgs } from "./connections";
import { PIPELINE_ENV_KEYS, type PipelineEnvKey } from "./pipeline-env";

export const AIRFLOW_API_PORT = 8080;
export const SCHEDULER_HEALTH_PORT = 8974;
/** The official image's airflow user. */
export const AIRFLOW_UID = 50000;
/** Name of the ConfigMap read by Airflow and by every task pod (dags/common/templates.py). */
export const PIPELINE_ENV_CONFIGMAP = "pipeline-env";
/** The one Secret with the keys all four processes share. */
export const CORE_SECRET = "airflow-core";
/** Connection id of the git DAG bundle. */
export const GIT_CONN_ID = "taxi_dags_git";

/** The four processes of the Airflow pod. */
export const AIRFLOW_PROCESSES = ["scheduler", "api-server", "dag-processor", "triggerer"] as const;
export type AirflowProcess = (typeof AIRFLOW_PROCESSES)[number];

/** Where the DAG files come from. */
export type DagSource =
    | { kind: "image" }
    | {
          kind: "git";
          /** HTTPS URL of the repository. */
          repoUrl: string;
          /** Branch (or tag) the bundle tracks. */
          branch: string;
          /** Folder of the DAGs in the repository (`dags`). */
          subdir: string;
          /**
           * Existing Secret in the Airflow namespace whose `connection` key is the git
           * connection JSON with the access token (README: "DAGs from git"); none for a public
           * repository. Created by the operator so the token never passes through Pulumi config.
           */
          credentialsSecret?: string;
          /** Seconds between fetches (default 120). */
          refreshSeconds?: number;
      };

/** The values of the `pipeline-env` contract (docs/architecture.md#pipeline-env), exactly. */
export type PipelineEnvValues = Record<PipelineEnvKey, pulumi.Input<string>>;

export interface AirflowArgs {
    /** Namespace of the Airflow pod (holds the `airflow-db` Secret and the `airflow` service account). Required. */
    namespace: string;
    /** Airflow image built from dags/ (by digest). Required. */
    image: pulumi.Input<string>;
    /** Secret in `namespace` whose `sqlalchemy_uri` key is the metadata DB URL. Required. */
    databaseSecret: string;
    /** Kubernetes service account of the Airflow pod (Workload Identity bound). Required. */
    serviceAccount: pulumi.Input<string>;
    /** Namespace where task pods, Jobs and SparkApplications run. Required. */
    jobsNamespace: string;
    /** Values of the pipeline-env ConfigMap. Required. */
    pipelineEnv: PipelineEnvValues;
    /** statsd exporter (host, port) and its namespace. Required. */
    statsd: { host: string; port: number; namespace: string };
    /** Namespace of the Postgres server. Required. */
    databaseNamespace: string;
    /** Namespace of the MLflow server (task pods log runs to it). Required. */
    mlflowNamespace: string;
    /** CIDR of the GKE control plane (Airflow and Spark drivers call the API server). Required. */
    apiServerCidr: string;
    loadBalancer: SharedLoadBalancer;
    /** Where the DAGs come from (default: baked into the image). */
    dagSource?: DagSource;
    /** Admin user name (default `admin`). */
    adminUser?: string;
    /** API user of the S3 trigger function, role User (default `trigger-fn`). */
    triggerUser?: string;
    /**
     * Password of the trigger user (default: generated here). The stack passes one it generated
     * because the AWS trigger, created first, stores the same credentials in Secrets Manager.
     */
    triggerPassword?: pulumi.Input<string>;
    /**
     * Task slots of the LocalExecutor (default 8): the scheduler forks this many worker
     * processes, and each running task adds a supervisor and a task process. The scheduler's
     * memory follows it (`AIRFLOW_SIZING`).
     */
    parallelism?: number;
    /**
     * Worker processes of the api-server (default 2): UI, public REST API and the execution API
     * every running task's supervisor reports to. Its memory and CPU follow it.
     */
    apiWorkers?: number;
    /** Node selector of the Airflow pod (default none). */
    nodeSelector?: Record<string, string>;
    /**
     * Connections Airflow reads from Secret Manager (`connections.ts`): empty secrets, a
     * per-secret read grant for Airflow's Google service account, the secrets backend env.
     * Default none (no backend).
     */
    connections?: AirflowConnectionsArgs;
    /**
     * The run report's settings (`REPORT_*` variables of `dags/common/notify.py`) for the
     * Airflow processes; the dag-processor runs the DAG callbacks that send it. Keys must start
     * with `REPORT_` (default none: reports are published, not mailed).
     */
    runReport?: Record<string, pulumi.Input<string>>;
}

const USER_NAME = /^[a-z][a-z0-9_.-]{2,63}$/;

/**
 * Requests and limits chosen together with the process counts (README "Sizing"). Memory limits
 * equal requests (the pod is never killed for memory its node promised elsewhere), and each is a
 * base for the process itself plus a share per worker process it forks:
 * - scheduler: 512 MiB (scheduler loop, DAG bag of serialized DAGs) + 384 MiB per LocalExecutor
 *   slot (a forked worker, and per running task a supervisor and the task process, which holds
 *   the cncf-kubernetes client while it waits on its Job or SparkApplication);
 * - api-server: 256 MiB (the uvicorn parent) + 512 MiB per worker (FastAPI app with Airflow's
 *   models and the FAB auth manager loaded); one CPU of limit per worker.
 */
export const AIRFLOW_SIZING = {
    schedulerMemoryMi: (parallelism: number) => 512 + 384 * parallelism,
    apiServerMemoryMi: (workers: number) => 256 + 512 * workers,
    apiServerCpuLimit: (workers: number) => String(workers),
} as const;

export function resolveAirflowArgs(args: AirflowArgs) {
    const dagSource: DagSource = args.dagSource ?? { kind: "image" };
    const r = {
        ...args,
        dagSource,
        adminUser: args.adminUser ?? "admin",
        triggerUser: args.triggerUser ?? "trigger-fn",
        parallelism: args.parallelism ?? 8,
        apiWorkers: args.apiWorkers ?? 2,
        nodeSelector: args.nodeSelector ?? {},
        runReport: args.runReport ?? {},
    };
    const git = r.dagSource.kind === "git" ? r.dagSource : undefined;
    const keys = Object.keys(r.pipelineEnv).sort();
    const missing = PIPELINE_ENV_KEYS.filter((k) => !keys.includes(k));
    const extra = keys.filter((k) => !(PIPELINE_ENV_KEYS as readonly string[]).includes(k));
    assertArgs("Airflow", [
        ...connectionArgsProblems(r.connections),
        (r.parallelism < 1 || r.parallelism > 32) &&
            `parallelism is ${r.parallelism}; must be 1 to 32 (the scheduler needs ${AIRFLOW_SIZING.schedulerMemoryMi(r.parallelism)} MiB at that many task slots)`,
        (r.apiWorkers < 1 || r.apiWorkers > 8) && `apiWorkers is ${r.apiWorkers}; must be 1 to 8`,
        !USER_NAME.test(r.adminUser) &&
            `adminUser ${JSON.stringify(r.adminUser)} must be 3-64 lowercase letters, digits, '_', '.', '-'`,
        !USER_NAME.test(r.triggerUser) &&
            `triggerUser ${JSON.stringify(r.triggerUser)} must be 3-64 lowercase letters, digits, '_', '.', '-'`,
        r.adminUser === r.triggerUser &&
            "adminUser and triggerUser are the same: the trigger must not run as admin",
        missing.length > 0 && `pipelineEnv is missing ${missing.join(", ")}`,
        ...Object.keys(r.runReport)
            .filter((k) => !/^REPORT_[A-Z0-9_]+$/.test(k))
            .map(
                (k) =>
                    `runReport key ${JSON.stringify(k)} must start with REPORT_ (dags/common/notify.py)`,
            ),
        extra.length > 0 &&
            `pipelineEnv has keys outside the contract: ${extra.join(", ")} (add them to components/airflow/pipeline-env.ts and dags/common/pipeline_env.py first)`,
        git !== undefined &&
            !/^https:\/\/[^\s@]+$/.test(git.repoUrl) &&
            `dagSource.repoUrl ${JSON.stringify(git.repoUrl)} must be an https:// URL without credentials (put the token in the credentials Secret)`,
        git !== undefined &&
            !/^[A-Za-z0-9._/-]+$/.test(git.branch) &&
            `dagSource.branch ${JSON.stringify(git.branch)} is not a branch name`,
        git !== undefined &&
            (git.subdir.startsWith("/") || git.subdir.includes("..")) &&
            `dagSource.subdir ${JSON.stringify(git.subdir)} must be a relative path inside the repository`,
        git !== undefined &&
            git.refreshSeconds !== undefined &&
            (git.refreshSeconds < 30 || git.refreshSeconds > 86400) &&
            `dagSource.refreshSeconds is ${git.refreshSeconds}; must be 30 to 86400`,
        git?.credentialsSecret !== undefined &&
            !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(git.credentialsSecret) &&
            `dagSource.credentialsSecret ${JSON.stringify(git.credentialsSecret)} is not a Secret name`,
    ]);
    return r;
}

/** Airflow's `[dag_processor] dag_bundle_config_list` for a DAG source (undefined: the image's dags folder). */
export function dagBundleConfig(source: DagSource): string | undefined {
    if (source.kind === "image") return undefined;
    return JSON.stringify([
        {
            name: "taxi-dags",
            classpath: "airflow.providers.git.bundles.git.GitDagBundle",
            kwargs: {
                git_conn_id: GIT_CONN_ID,
                tracking_ref: source.branch,
                subdir: source.subdir,
                refresh_interval: source.refreshSeconds ?? 120,
            },
        },
    ]);
}
