/**
 * The Airflow pod: ONE Deployment (Recreate, one replica) running the four processes (scheduler
 * with the LocalExecutor, api-server, dag-processor, triggerer), each with its probes, after an
 * init container that waits until the schema is current; and the Service of the api-server.
 */
import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { container, execProbe, httpProbe, resources } from "../shared/workload";
import {
    AIRFLOW_API_PORT,
    AIRFLOW_PROCESSES,
    AIRFLOW_SIZING,
    SCHEDULER_HEALTH_PORT,
    type AirflowProcess,
} from "./config";
import {
    envFrom,
    podSpecBase,
    tmpMount,
    tmpVolumes,
    type EnvVar,
    type ResolvedAirflowArgs,
} from "./environment";

/** The Deployment (after the migration Job) and the api-server's Service. */
export function airflowWorkloads(
    name: string,
    args: ResolvedAirflowArgs,
    inputs: {
        env: EnvVar[];
        labels: Record<string, string>;
        selector: Record<string, string>;
        migration: pulumi.Resource;
        /** What must exist before the pods start (the connections' secret grants). */
        dependsOn?: pulumi.Resource[];
    },
    parent: pulumi.Resource,
): void {
    const { labels, selector } = inputs;
    const coreEnv = inputs.env;
    const ns = args.namespace;
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
            memory: `${AIRFLOW_SIZING.schedulerMemoryMi(args.parallelism)}Mi`,
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
            memory: `${AIRFLOW_SIZING.apiServerMemoryMi(args.apiWorkers)}Mi`,
            limits: { cpu: AIRFLOW_SIZING.apiServerCpuLimit(args.apiWorkers) },
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
                        ...podSpecBase(args),
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
        { parent, dependsOn: [inputs.migration, ...(inputs.dependsOn ?? [])] },
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
        { parent },
    );
}
