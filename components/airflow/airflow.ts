/**
 * Airflow: Airflow 3 on the cluster (ARCHITECTURE.md §2).
 *
 * - ONE Deployment whose pod runs the four processes (scheduler with the LocalExecutor,
 *   api-server, dag-processor, triggerer) from the Airflow image built from `dags/`.
 * - ONE Secret `airflow-core` with the fernet key (32 random bytes, url-safe base64), the API
 *   secret key and the JWT secret, generated once; every process reads the same three keys
 *   through the same env list (`coreEnv`), so tokens signed by one are accepted by the others.
 * - The metadata DB URL comes from the Postgres component's `airflow-db` Secret.
 * - Migration: a Job named after the image and the user passwords runs `airflow db migrate` and
 *   the user bootstrap (admin + the S3 trigger's API user) as explicit commands; the Deployment
 *   depends on it, and its pods wait in an init container until the schema is current. No Helm
 *   hooks: a new image means a new Job, which `pulumi up` runs to completion before rolling the pods.
 * - DAGs: baked into the image (default) or read from a git DAG bundle (repository, branch and
 *   sub-path from config; the token of a private repository in a Secret the operator creates).
 * - The `pipeline-env` ConfigMap in the airflow and jobs namespaces (contract keys only).
 * - RBAC: create/watch/delete Pods, pod logs, Jobs and SparkApplications in the jobs namespace only.
 * - The network rules of the Airflow pod and of the task pods it launches in the jobs namespace.
 * - Metrics to the statsd exporter; served through the shared load balancer with its base URL.
 */
import { createHash } from "node:crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { SharedLoadBalancer } from "../load-balancer/load-balancer";
import {
    GKE_METADATA_EGRESS,
    GOOGLE_LB_RANGES,
    INTERNET_HTTPS,
    allowPolicy,
    apiServerEgress,
    fromNamespace,
    tcp,
} from "../shared/network-policy";
import { assertArgs } from "../shared/validation";
import {
    appLabels,
    container,
    execProbe,
    httpProbe,
    resources,
    restrictedPodSecurity,
} from "../shared/workload";
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

/** What Airflow's service account may do in the jobs namespace, and nothing else. */
export const LAUNCHER_RULES = [
    // `patch`: the pod operators label the pods they have handled.
    {
        apiGroups: [""],
        resources: ["pods"],
        verbs: ["create", "get", "list", "watch", "delete", "patch"],
    },
    { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
    {
        apiGroups: ["batch"],
        resources: ["jobs"],
        verbs: ["create", "get", "list", "watch", "delete"],
    },
    // The operators wait on the status subresources (`read_namespaced_job_status`,
    // `get_namespaced_custom_object_status`): recorded by dags/tests/k8s_recorder.py.
    { apiGroups: ["batch"], resources: ["jobs/status"], verbs: ["get"] },
    {
        apiGroups: ["sparkoperator.k8s.io"],
        resources: ["sparkapplications"],
        verbs: ["create", "get", "list", "watch", "delete"],
    },
    { apiGroups: ["sparkoperator.k8s.io"], resources: ["sparkapplications/status"], verbs: ["get"] },
];

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

/** The values of the `pipeline-env` contract (ARCHITECTURE.md §3): exactly these keys. */
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
    /** Task slots of the LocalExecutor (default 8); each running task holds one process. */
    parallelism?: number;
    /** Node selector of the Airflow pod (default none). */
    nodeSelector?: Record<string, string>;
}

const USER_NAME = /^[a-z][a-z0-9_.-]{2,63}$/;

export function resolveAirflowArgs(args: AirflowArgs) {
    const dagSource: DagSource = args.dagSource ?? { kind: "image" };
    const r = {
        ...args,
        dagSource,
        adminUser: args.adminUser ?? "admin",
        triggerUser: args.triggerUser ?? "trigger-fn",
        parallelism: args.parallelism ?? 8,
        nodeSelector: args.nodeSelector ?? {},
    };
    const git = r.dagSource.kind === "git" ? r.dagSource : undefined;
    const keys = Object.keys(r.pipelineEnv).sort();
    const missing = PIPELINE_ENV_KEYS.filter((k) => !keys.includes(k));
    const extra = keys.filter((k) => !(PIPELINE_ENV_KEYS as readonly string[]).includes(k));
    assertArgs("Airflow", [
        (r.parallelism < 1 || r.parallelism > 64) &&
            `parallelism is ${r.parallelism}; must be 1 to 64`,
        !USER_NAME.test(r.adminUser) &&
            `adminUser ${JSON.stringify(r.adminUser)} must be 3-64 lowercase letters, digits, '_', '.', '-'`,
        !USER_NAME.test(r.triggerUser) &&
            `triggerUser ${JSON.stringify(r.triggerUser)} must be 3-64 lowercase letters, digits, '_', '.', '-'`,
        r.adminUser === r.triggerUser &&
            "adminUser and triggerUser are the same: the trigger must not run as admin",
        missing.length > 0 && `pipelineEnv is missing ${missing.join(", ")}`,
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

/** Name of the migration Job: follows the image and the user passwords (a fingerprint, not the values). */
export function migrationJobName(image: string, usersFingerprint: string): string {
    const h = createHash("sha256").update(image).update("\n").update(usersFingerprint);
    return `airflow-migrate-${h.digest("hex").slice(0, 10)}`;
}

type EnvVar = k8s.types.input.core.v1.EnvVar;

const fromSecret = (name: string, secret: string, key: string): EnvVar => ({
    name,
    valueFrom: { secretKeyRef: { name: secret, key } },
});

export class Airflow extends pulumi.ComponentResource {
    public readonly url: pulumi.Output<string>;
    public readonly adminUser: string;
    public readonly adminPassword: pulumi.Output<string>;
    /** `{"username","password"}` of the trigger's API user (a secret), for the AWS trigger. */
    public readonly triggerCredentials: pulumi.Output<string>;
    public readonly migrationJobName: pulumi.Output<string>;
    public readonly pipelineEnvConfigMap = PIPELINE_ENV_CONFIGMAP;

    /** Pass the cluster's Kubernetes provider in `opts.providers`. */
    constructor(name: string, rawArgs: AirflowArgs, opts: pulumi.ComponentResourceOptions = {}) {
        super("taxi:k8s:Airflow", name, {}, opts);
        const args = resolveAirflowArgs(rawArgs);
        const o = { parent: this };
        const ns = args.namespace;
        const { labels, selector } = appLabels("airflow", "core");
        const route = args.loadBalancer.addRoute(
            "airflow",
            {
                namespace: ns,
                service: "airflow",
                port: AIRFLOW_API_PORT,
                healthPath: "/api/v2/monitor/health",
            },
            this,
        );
        this.url = route.url;
        this.adminUser = args.adminUser;

        // --- generated once: the shared keys and the users' passwords --------------------------
        const fernet = new random.RandomBytes(`${name}-fernet-key`, { length: 32 }, o);
        const apiSecret = new random.RandomPassword(
            `${name}-api-secret-key`,
            { length: 48, special: false },
            o,
        );
        const jwtSecret = new random.RandomPassword(
            `${name}-jwt-secret`,
            { length: 64, special: false },
            o,
        );
        const adminPassword = new random.RandomPassword(
            `${name}-admin-password`,
            { length: 32, special: false },
            o,
        );
        const triggerPassword = pulumi.secret(
            args.triggerPassword ??
                new random.RandomPassword(
                    `${name}-trigger-password`,
                    { length: 32, special: false },
                    o,
                ).result,
        );
        this.adminPassword = pulumi.secret(adminPassword.result);
        this.triggerCredentials = pulumi.secret(
            pulumi
                .all([triggerPassword])
                .apply(([password]) => JSON.stringify({ username: args.triggerUser, password })),
        );

        new k8s.core.v1.Secret(
            `${name}-core`,
            {
                metadata: { name: CORE_SECRET, namespace: ns, labels },
                type: "Opaque",
                stringData: {
                    // Fernet wants url-safe base64 of 32 bytes.
                    "fernet-key": fernet.base64.apply((b) =>
                        b.replace(/\+/g, "-").replace(/\//g, "_"),
                    ),
                    "api-secret-key": apiSecret.result,
                    "jwt-secret": jwtSecret.result,
                },
            },
            o,
        );
        new k8s.core.v1.Secret(
            `${name}-users`,
            {
                metadata: { name: "airflow-users", namespace: ns, labels },
                type: "Opaque",
                stringData: {
                    "admin-password": adminPassword.result,
                    "trigger-password": triggerPassword,
                },
            },
            o,
        );
        // --- pipeline-env, in the Airflow namespace and where the task pods run ---------------
        const pipelineData = Object.fromEntries(
            PIPELINE_ENV_KEYS.map((k) => [k, args.pipelineEnv[k]]),
        ) as Record<string, pulumi.Input<string>>;
        const configMaps = [ns, args.jobsNamespace].map(
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
                    o,
                ),
        );

        // --- RBAC: launch task pods, Jobs and SparkApplications in the jobs namespace only ----
        const role = new k8s.rbac.v1.Role(
            `${name}-launcher`,
            {
                metadata: { name: "airflow-launcher", namespace: args.jobsNamespace, labels },
                rules: LAUNCHER_RULES,
            },
            o,
        );
        new k8s.rbac.v1.RoleBinding(
            `${name}-launcher`,
            {
                metadata: { name: "airflow-launcher", namespace: args.jobsNamespace, labels },
                roleRef: {
                    apiGroup: "rbac.authorization.k8s.io",
                    kind: "Role",
                    name: role.metadata.name,
                },
                subjects: [{ kind: "ServiceAccount", name: args.serviceAccount, namespace: ns }],
            },
            o,
        );

        // --- the environment every Airflow process (and the migration Job) reads --------------
        const bundle = dagBundleConfig(args.dagSource);
        const git = args.dagSource.kind === "git" ? args.dagSource : undefined;
        const coreEnv: EnvVar[] = [
            fromSecret(
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
                args.databaseSecret,
                "sqlalchemy_uri",
            ),
            fromSecret("AIRFLOW__CORE__FERNET_KEY", CORE_SECRET, "fernet-key"),
            fromSecret("AIRFLOW__API__SECRET_KEY", CORE_SECRET, "api-secret-key"),
            fromSecret("AIRFLOW__API_AUTH__JWT_SECRET", CORE_SECRET, "jwt-secret"),
            // Writable home (airflow.cfg, bundle checkouts) on the pod's emptyDir; the image stays read-only.
            { name: "AIRFLOW_HOME", value: "/tmp/airflow" },
            { name: "HOME", value: "/tmp" },
            { name: "AIRFLOW__CORE__EXECUTOR", value: "LocalExecutor" },
            { name: "AIRFLOW__CORE__PARALLELISM", value: String(args.parallelism) },
            {
                name: "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
                value: `http://127.0.0.1:${AIRFLOW_API_PORT}/execution/`,
            },
            { name: "AIRFLOW__API__BASE_URL", value: this.url },
            { name: "AIRFLOW__API__PORT", value: String(AIRFLOW_API_PORT) },
            { name: "AIRFLOW__LOGGING__BASE_LOG_FOLDER", value: "/opt/airflow/logs" },
            { name: "AIRFLOW__METRICS__STATSD_ON", value: "True" },
            { name: "AIRFLOW__METRICS__STATSD_HOST", value: args.statsd.host },
            { name: "AIRFLOW__METRICS__STATSD_PORT", value: String(args.statsd.port) },
            { name: "AIRFLOW__METRICS__STATSD_PREFIX", value: "airflow" },
            { name: "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK", value: "True" },
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
        const envFrom = [{ configMapRef: { name: PIPELINE_ENV_CONFIGMAP } }];
        // Each container gets its own writable /tmp (AIRFLOW_HOME lives there): one emptyDir each,
        // so no two processes share an airflow.cfg and no subPath ownership is involved.
        const tmpMount = (container: string) => ({ name: `tmp-${container}`, mountPath: "/tmp" });
        const tmpVolumes = (containers: string[]) =>
            containers.map((c) => ({ name: `tmp-${c}`, emptyDir: {} }));
        const podSpecBase = {
            serviceAccountName: args.serviceAccount,
            securityContext: restrictedPodSecurity(AIRFLOW_UID),
            nodeSelector: args.nodeSelector,
        };

        // --- migration + users: a Job per image and password set -----------------------------
        const usersFingerprint = pulumi.unsecret(
            pulumi.all([adminPassword.result, triggerPassword]).apply((pws) =>
                createHash("sha256")
                    .update([args.adminUser, args.triggerUser, ...pws].join("\n"))
                    .digest("hex")
                    .slice(0, 16),
            ),
        );
        const jobName = pulumi
            .all([args.image, usersFingerprint])
            .apply(([image, fp]) => migrationJobName(image, fp));
        this.migrationJobName = jobName;
        const cli = (cname: string, command: string[], extraEnv: EnvVar[] = []) => ({
            name: cname,
            spec: container({
                name: cname,
                image: args.image,
                command,
                env: [...coreEnv, ...extraEnv],
                envFrom,
                resources: resources("250m", "768Mi", { cpu: "1" }),
                volumeMounts: [tmpMount(cname)],
            }),
        });
        const userArgs = (user: string, role: string, passwordEnv: string) => [
            "airflow",
            "users",
            "create",
            `--username=${user}`,
            `--role=${role}`,
            `--firstname=${user}`,
            "--lastname=taxi-platform",
            `--email=${user}@taxi-platform.invalid`,
            `--password=$(${passwordEnv})`,
        ];
        const resetArgs = (user: string, passwordEnv: string) => [
            "airflow",
            "users",
            "reset-password",
            `--username=${user}`,
            `--password=$(${passwordEnv})`,
        ];
        const adminEnv = [fromSecret("ADMIN_PASSWORD", "airflow-users", "admin-password")];
        const triggerEnv = [fromSecret("TRIGGER_PASSWORD", "airflow-users", "trigger-password")];
        const migrationSteps = [
            cli("migrate", ["airflow", "db", "migrate"]),
            // `users create` leaves an existing user alone (exit 0) ...
            cli("create-admin", userArgs(args.adminUser, "Admin", "ADMIN_PASSWORD"), adminEnv),
            cli(
                "create-trigger-user",
                userArgs(args.triggerUser, "User", "TRIGGER_PASSWORD"),
                triggerEnv,
            ),
            // ... so the passwords are set from the Secret explicitly.
            cli("set-admin-password", resetArgs(args.adminUser, "ADMIN_PASSWORD"), adminEnv),
            cli(
                "set-trigger-password",
                resetArgs(args.triggerUser, "TRIGGER_PASSWORD"),
                triggerEnv,
            ),
        ];
        const migration = new k8s.batch.v1.Job(
            `${name}-migrate`,
            {
                metadata: {
                    name: jobName,
                    namespace: ns,
                    labels: { ...labels, "app.kubernetes.io/component": "migrate" },
                },
                spec: {
                    backoffLimit: 3,
                    activeDeadlineSeconds: 1800,
                    template: {
                        metadata: {
                            labels: { ...selector, "app.kubernetes.io/component": "migrate" },
                        },
                        spec: {
                            ...podSpecBase,
                            restartPolicy: "Never",
                            // Steps in order, each its own command: a failure names the step.
                            initContainers: migrationSteps.slice(0, -1).map((c) => c.spec),
                            containers: migrationSteps.slice(-1).map((c) => c.spec),
                            volumes: tmpVolumes(migrationSteps.map((c) => c.name)),
                        },
                    },
                },
            },
            { ...o, dependsOn: configMaps },
        );

        // --- the Airflow pod: four processes ---------------------------------------------------
        const logs = { name: "logs", mountPath: "/opt/airflow/logs" };
        const jobsCheck = (jobType: string) =>
            execProbe(["airflow", "jobs", "check", `--job-type=${jobType}`, "--local"], {
                periodSeconds: 60,
                timeoutSeconds: 45,
                failureThreshold: 3,
            });
        const process = (
            proc: AirflowProcess,
            spec: {
                command: string[];
                cpu: string;
                memory: string;
                limits: { cpu?: string; memory?: string };
                probes: Partial<k8s.types.input.core.v1.Container>;
                ports?: k8s.types.input.core.v1.ContainerPort[];
            },
        ) =>
            container({
                name: proc,
                image: args.image,
                command: spec.command,
                env: coreEnv,
                envFrom,
                resources: resources(spec.cpu, spec.memory, spec.limits),
                ...(spec.ports ? { ports: spec.ports } : {}),
                ...spec.probes,
                volumeMounts: [tmpMount(proc), logs],
            });
        const containers = [
            process("scheduler", {
                command: ["airflow", "scheduler"],
                cpu: "500m",
                memory: "2Gi",
                limits: { cpu: "2" },
                ports: [{ name: "health", containerPort: SCHEDULER_HEALTH_PORT }],
                probes: {
                    startupProbe: httpProbe("/health", "health", { failureThreshold: 30 }),
                    livenessProbe: httpProbe("/health", "health", {
                        periodSeconds: 30,
                        timeoutSeconds: 10,
                    }),
                },
            }),
            process("api-server", {
                command: ["airflow", "api-server", `--port=${AIRFLOW_API_PORT}`],
                cpu: "250m",
                memory: "1Gi",
                limits: { cpu: "1" },
                ports: [{ name: "http", containerPort: AIRFLOW_API_PORT }],
                probes: {
                    startupProbe: httpProbe("/api/v2/monitor/health", "http", {
                        failureThreshold: 30,
                    }),
                    readinessProbe: httpProbe("/api/v2/monitor/health", "http"),
                    livenessProbe: httpProbe("/api/v2/monitor/health", "http", {
                        periodSeconds: 30,
                        timeoutSeconds: 10,
                    }),
                },
            }),
            process("dag-processor", {
                command: ["airflow", "dag-processor"],
                cpu: "250m",
                memory: "1Gi",
                limits: { cpu: "1" },
                probes: { livenessProbe: jobsCheck("DagProcessorJob") },
            }),
            process("triggerer", {
                command: ["airflow", "triggerer"],
                cpu: "100m",
                memory: "768Mi",
                limits: { cpu: "500m" },
                probes: { livenessProbe: jobsCheck("TriggererJob") },
            }),
        ];
        new k8s.apps.v1.Deployment(
            `${name}-airflow`,
            {
                metadata: { name: "airflow", namespace: ns, labels },
                spec: {
                    replicas: 1,
                    // One scheduler with the LocalExecutor: never two pods side by side.
                    strategy: { type: "Recreate" },
                    selector: { matchLabels: selector },
                    template: {
                        metadata: { labels },
                        spec: {
                            ...podSpecBase,
                            // Tasks poll their Job/SparkApplication; give them time to notice.
                            terminationGracePeriodSeconds: 120,
                            initContainers: [
                                container({
                                    name: "wait-for-migrations",
                                    image: args.image,
                                    command: [
                                        "airflow",
                                        "db",
                                        "check-migrations",
                                        "--migration-wait-timeout=600",
                                    ],
                                    env: coreEnv,
                                    envFrom,
                                    resources: resources("100m", "512Mi", { cpu: "500m" }),
                                    volumeMounts: [tmpMount("wait-for-migrations")],
                                }),
                            ],
                            containers,
                            volumes: [
                                ...tmpVolumes(["wait-for-migrations", ...AIRFLOW_PROCESSES]),
                                { name: "logs", emptyDir: { sizeLimit: "5Gi" } },
                            ],
                        },
                    },
                },
            },
            { ...o, dependsOn: [migration] },
        );
        new k8s.core.v1.Service(
            `${name}-service`,
            {
                metadata: { name: "airflow", namespace: ns, labels },
                spec: {
                    selector,
                    ports: [{ name: "http", port: AIRFLOW_API_PORT, targetPort: "http" }],
                },
            },
            o,
        );

        // --- network: the Airflow pod ----------------------------------------------------------
        const apiServer = apiServerEgress(args.apiServerCidr);
        allowPolicy(
            `${name}-netpol`,
            { name: "airflow", namespace: ns },
            {
                podSelector: selector,
                ingress: [
                    {
                        from: GOOGLE_LB_RANGES.map((cidr) => ({ ipBlock: { cidr } })),
                        ports: tcp(AIRFLOW_API_PORT),
                    },
                ],
                egress: [
                    {
                        to: [
                            fromNamespace(args.databaseNamespace, {
                                "app.kubernetes.io/name": "postgres",
                            }),
                        ],
                        ports: tcp(5432),
                    },
                    {
                        to: [fromNamespace(args.statsd.namespace)],
                        ports: [{ protocol: "UDP", port: args.statsd.port }],
                    },
                    // Launch and watch task pods, Jobs and SparkApplications.
                    apiServer,
                    // Git DAG bundle, Google APIs.
                    INTERNET_HTTPS,
                    GKE_METADATA_EGRESS,
                ],
            },
            o,
        );

        // --- network: every task pod Airflow launches in the jobs namespace ------------------
        allowPolicy(
            `${name}-netpol-tasks`,
            { name: "task-pods", namespace: args.jobsNamespace },
            {
                podSelector: {},
                // A Spark driver and its executors talk to each other on ports Spark picks.
                ingress: [{ from: [fromNamespace(args.jobsNamespace)] }],
                egress: [
                    { to: [fromNamespace(args.jobsNamespace)] },
                    // Spark drivers create and watch their executors.
                    apiServer,
                    // GCS, BigQuery, S3 over HTTPS; Workload Identity tokens.
                    INTERNET_HTTPS,
                    GKE_METADATA_EGRESS,
                    { to: [fromNamespace(args.mlflowNamespace)], ports: tcp(5000) },
                ],
            },
            o,
        );

        this.registerOutputs({
            url: this.url,
            adminUser: this.adminUser,
            migrationJobName: this.migrationJobName,
        });
    }
}
