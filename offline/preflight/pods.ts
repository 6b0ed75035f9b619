/**
 * Every pod a stack will run, as preflight checks see it: namespace, labels, service account,
 * containers (init containers included) with their ports.
 *
 * Three sources:
 * - the rendered workloads (Deployment, StatefulSet, DaemonSet, Job, CronJob, Pod);
 * - the pods the Spark operator chart creates (controller, webhook), modelled from the chart's
 *   templates at the pinned version (labels `app.kubernetes.io/{name,instance,component}`);
 * - the task pods the DAGs create at run time: every job of the job table rendered from
 *   `dags/templates/*.yaml.j2` with the stack's own pipeline env (`jobs/pipeline-env`), so a Job's
 *   pod, and a SparkApplication's driver and executor pods with the labels and ports that the
 *   operator and Spark add.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { DAGS_PYTHON, ROOT, render as renderTemplate } from "../job-templates";
import type { ContainerPort } from "./netpol";

export interface PodContainer {
    name: string;
    init: boolean;
    ports: ContainerPort[];
}

export interface CatalogPod {
    /** Stable id: `<Kind> <namespace>/<name>` (+ ` driver|executor` for Spark pods). */
    id: string;
    kind: string;
    namespace: string;
    name: string;
    labels: Record<string, string>;
    serviceAccount: string;
    /** Whether a service-account token is mounted (Kubernetes' default is true). */
    automountToken: boolean;
    containers: PodContainer[];
    origin: "render" | "chart" | "dag-template";
}

type Obj = Record<string, unknown>;
type PodSpecLike = {
    serviceAccountName?: string;
    automountServiceAccountToken?: boolean;
    containers?: { name: string; ports?: ContainerPort[] }[];
    initContainers?: { name: string; ports?: ContainerPort[] }[];
};

/** Job names carry a content hash suffix (`airflow-migrate-541b5f5452`); ids drop it. */
export function stableName(name: string): string {
    return name.replace(/-[0-9a-f]{10}$/, "");
}

function podTemplateOf(o: Obj): { labels: Record<string, string>; spec: PodSpecLike } | undefined {
    const spec = (o.spec ?? {}) as Obj;
    let template: Obj | undefined;
    switch (o.kind) {
        case "Deployment":
        case "StatefulSet":
        case "DaemonSet":
        case "ReplicaSet":
        case "Job":
            template = spec.template as Obj;
            break;
        case "CronJob":
            template = ((spec.jobTemplate as Obj).spec as Obj).template as Obj;
            break;
        case "Pod":
            template = { metadata: o.metadata, spec };
            break;
        default:
            return undefined;
    }
    const meta = (template.metadata ?? {}) as { labels?: Record<string, string> };
    return { labels: meta.labels ?? {}, spec: template.spec as PodSpecLike };
}

function containersOf(spec: PodSpecLike): PodContainer[] {
    return [
        ...(spec.initContainers ?? []).map((c) => ({
            name: c.name,
            init: true,
            ports: c.ports ?? [],
        })),
        ...(spec.containers ?? []).map((c) => ({
            name: c.name,
            init: false,
            ports: c.ports ?? [],
        })),
    ];
}

/** Pods of the rendered workloads. */
export function renderedPods(objects: Obj[]): CatalogPod[] {
    const pods: CatalogPod[] = [];
    for (const o of objects) {
        const t = podTemplateOf(o);
        if (!t) continue;
        const meta = o.metadata as { name: string; namespace?: string };
        const ns = meta.namespace ?? "default";
        const name = stableName(meta.name);
        pods.push({
            id: `${String(o.kind)} ${ns}/${name}`,
            kind: String(o.kind),
            namespace: ns,
            name,
            labels: t.labels,
            serviceAccount: t.spec.serviceAccountName ?? "default",
            automountToken: t.spec.automountServiceAccountToken ?? true,
            containers: containersOf(t.spec),
            origin: "render",
        });
    }
    return pods;
}

/**
 * The Spark operator chart's pods (kubeflow/spark-operator chart 2.5.0: templates/controller and
 * templates/webhook; selector labels from `spark-operator.selectorLabels` plus the component).
 * The release's values give the namespace and ports; the Helm hook Job is off (`hook.upgradeCrd`
 * defaults to false and we do not set it).
 */
export function chartPods(resources: { type: string; inputs: Obj }[]): CatalogPod[] {
    const pods: CatalogPod[] = [];
    for (const r of resources) {
        if (r.type !== "kubernetes:helm.sh/v3:Release") continue;
        if (r.inputs.chart !== "spark-operator") {
            throw new Error(
                `preflight: Helm release of chart ${JSON.stringify(r.inputs.chart)} has no pod model in offline/preflight/pods.ts; add the pods its chart creates`,
            );
        }
        const release = String(r.inputs.name);
        const ns = String(r.inputs.namespace);
        const values = (r.inputs.values ?? {}) as Obj;
        const webhook = (values.webhook ?? {}) as { port?: number; enable?: boolean };
        const metrics = (
            (values.prometheus ?? {}) as { metrics?: { port?: number; portName?: string } }
        ).metrics;
        const base = {
            "app.kubernetes.io/name": "spark-operator",
            "app.kubernetes.io/instance": release,
        };
        pods.push({
            id: `Deployment ${ns}/${release}-controller`,
            kind: "Deployment",
            namespace: ns,
            name: `${release}-controller`,
            labels: { ...base, "app.kubernetes.io/component": "controller" },
            serviceAccount: `${release}-controller`,
            automountToken: true,
            containers: [
                {
                    name: "spark-operator-controller",
                    init: false,
                    ports: [
                        {
                            name: metrics?.portName ?? "metrics",
                            containerPort: metrics?.port ?? 8080,
                        },
                    ],
                },
            ],
            origin: "chart",
        });
        if (webhook.enable !== false) {
            pods.push({
                id: `Deployment ${ns}/${release}-webhook`,
                kind: "Deployment",
                namespace: ns,
                name: `${release}-webhook`,
                labels: { ...base, "app.kubernetes.io/component": "webhook" },
                serviceAccount: `${release}-webhook`,
                automountToken: true,
                containers: [
                    {
                        name: "spark-operator-webhook",
                        init: false,
                        ports: [{ name: "webhook", containerPort: webhook.port ?? 9443 }],
                    },
                ],
                origin: "chart",
            });
        }
    }
    return pods;
}

// ---------------------------------------------------------------------------------------------
// Task pods from the DAG templates

export interface JobCase {
    template: string;
    values: Record<string, unknown>;
}

const JOB_CASES_SCRIPT = `
import json, sys
from common import datasets
from common.jobs import batch_jobs, full_refresh_jobs
from common.pipeline_env import read
from common.templates import TEMPLATE_OF_KIND, job_values, spark_values
env = read(json.load(sys.stdin))
cases = {}
for ds in datasets.enabled():
    for dag_id, table in ((ds.batch_dag_id, batch_jobs(ds)), (ds.full_refresh_dag_id, full_refresh_jobs(ds))):
        for job in table:
            args = [*job.args, *(x for pair in job.optional_args for x in pair)]
            build = spark_values if job.kind == "spark" else job_values
            cases[f"{dag_id}.{job.task_id}"] = {"template": TEMPLATE_OF_KIND[job.kind], "values": build(job, env, dag_id=dag_id, args=args)}
json.dump(cases, sys.stdout, sort_keys=True)
`;

/**
 * The template context of every job of every enabled dataset, built by the DAGs' own Python
 * (`common.templates.job_values` / `spark_values`) with the stack's pipeline env, exactly what
 * the operators render at run time.
 */
export function jobCases(pipelineEnv: Record<string, string>): Record<string, JobCase> {
    if (!fs.existsSync(DAGS_PYTHON)) {
        throw new Error(
            `${DAGS_PYTHON} is missing: the task pods are rendered with the DAGs' own code. Create it with \`npx tsx tools/python-suites.ts --prepare dags\``,
        );
    }
    const r = spawnSync(DAGS_PYTHON, ["-c", JOB_CASES_SCRIPT], {
        cwd: path.join(ROOT, "dags"),
        encoding: "utf8",
        input: JSON.stringify(pipelineEnv),
        env: { ...process.env, PYTHONPATH: ".", PYTHONDONTWRITEBYTECODE: "1" },
        maxBuffer: 64 * 1024 * 1024,
    });
    if (r.status !== 0) throw new Error(`rendering the job table failed:\n${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, JobCase>;
}

/** Ports Spark gives its pods (Spark's Kubernetes constants; the JMX exporter's from the app). */
const SPARK_DRIVER_PORTS: ContainerPort[] = [
    { name: "driver-rpc-port", containerPort: 7078 },
    { name: "blockmanager", containerPort: 7079 },
    { name: "spark-ui", containerPort: 4040 },
];
const SPARK_EXECUTOR_PORTS: ContainerPort[] = [{ name: "blockmanager", containerPort: 7079 }];

/** The pods of one rendered task object (a Job's pod, or a SparkApplication's driver and executors). */
export function taskPods(caseName: string, obj: Obj): CatalogPod[] {
    const meta = obj.metadata as { name: string; namespace: string };
    if (obj.kind === "Job") {
        const t = podTemplateOf(obj)!;
        return [
            {
                id: `Job ${meta.namespace}/${caseName}`,
                kind: "Job",
                namespace: meta.namespace,
                name: meta.name,
                // The Job controller adds these to every pod it creates.
                labels: {
                    ...t.labels,
                    "job-name": meta.name,
                    "batch.kubernetes.io/job-name": meta.name,
                },
                serviceAccount: t.spec.serviceAccountName ?? "default",
                automountToken: t.spec.automountServiceAccountToken ?? true,
                containers: containersOf(t.spec),
                origin: "dag-template",
            },
        ];
    }
    if (obj.kind === "SparkApplication") {
        const spec = obj.spec as Obj;
        const monitoring = (spec.monitoring ?? {}) as { prometheus?: { port?: number } };
        const jmx: ContainerPort[] = monitoring.prometheus?.port
            ? [{ name: "jmx-exporter", containerPort: monitoring.prometheus.port }]
            : [];
        return (["driver", "executor"] as const).map((role) => {
            const pod = (spec[role] ?? {}) as {
                labels?: Record<string, string>;
                serviceAccount?: string;
            };
            return {
                id: `SparkApplication ${meta.namespace}/${caseName} ${role}`,
                kind: "SparkApplication",
                namespace: meta.namespace,
                name: `${meta.name}-${role}`,
                // Labels the operator and Spark put on the pods (spark-role, app name).
                labels: {
                    ...(pod.labels ?? {}),
                    "spark-role": role,
                    "sparkoperator.k8s.io/app-name": meta.name,
                    "sparkoperator.k8s.io/launched-by-spark-operator": "true",
                },
                serviceAccount: pod.serviceAccount ?? "default",
                // Kubernetes' default (the templates do not turn it off for Spark pods).
                automountToken: true,
                containers: [
                    {
                        name: `spark-kubernetes-${role}`,
                        init: false,
                        ports: [
                            ...(role === "driver" ? SPARK_DRIVER_PORTS : SPARK_EXECUTOR_PORTS),
                            ...jmx,
                        ],
                    },
                ],
                origin: "dag-template",
            };
        });
    }
    throw new Error(
        `task ${caseName}: template rendered a ${String(obj.kind)}, not a Job or SparkApplication`,
    );
}

/** Render every job case from the templates (nunjucks, the same subset Jinja2 renders). */
export function renderTaskObjects(cases: Record<string, JobCase>): Record<string, Obj> {
    const out: Record<string, Obj> = {};
    for (const [name, c] of Object.entries(cases)) out[name] = renderTemplate(c.template, c.values);
    return out;
}
