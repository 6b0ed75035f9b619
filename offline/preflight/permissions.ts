/**
 * Permissions: the Kubernetes API calls the platform's in-cluster clients make, each authorized
 * against the rendered Roles, ClusterRoles and bindings (rbac.ts), plus the RBAC a pinned chart
 * creates (modelled below from its templates).
 *
 * Where the calls come from:
 * - Airflow's task operators (cncf-kubernetes KubernetesJobOperator and SparkKubernetesOperator):
 *   the recording of the loopback API stand-in (dags helper, issue 27), one JSON object per
 *   request. INTEGRATION POINT: `PREFLIGHT_K8S_RECORDING=<file.jsonl>` or the recorder module
 *   `dags/tests/k8s_recorder.py` when it exists (it runs `dag.test()` of the batch and
 *   full_refresh DAGs through the provider's own code, about a minute, once per process);
 *   otherwise `fixtures/provider-calls.jsonl`, a recording that recorder made (apache-airflow-
 *   providers-cncf-kubernetes 10.25.0, with the read of the end of each succeeded pod's log
 *   that returns the job's JSON summary as XCom, issue 23), and the report says which.
 * - Prometheus: its own config (`kubernetes_sd_configs`), as Prometheus documents service
 *   discovery: role `pod` lists and watches pods of each named namespace (all namespaces when
 *   none are named); `endpoints` adds endpoints, services and pods; `service` services.
 * - kube-state-metrics: its `--resources` and `--namespaces` flags; for each resource it lists
 *   and watches that kind (cluster-wide without `--namespaces`).
 * - The Spark driver managing its executors (Spark "Running on Kubernetes": the driver's service
 *   account must be able to create, get, list, watch and delete pods, and Spark creates the
 *   executors' ConfigMap and lists the application's PVCs to reuse them).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import YAML from "yaml";
import { ROOT } from "../job-templates";
import type { PreflightInput } from "./input";
import { NEEDED_FLOWS } from "./flows";
import { selects } from "./reachability";
import { authorize, describeCall, rbacModelOf, type ApiCall, type RbacModel } from "./rbac";

type Obj = Record<string, unknown>;

export const PROVIDER_CALLS_FIXTURE = path.join(__dirname, "fixtures", "provider-calls.jsonl");
const RECORDER_MODULE = path.join(ROOT, "dags", "tests", "k8s_recorder.py");

export interface CallSet {
    /** Who makes these calls and where the list comes from. */
    client: string;
    source: string;
    calls: ApiCall[];
}

export interface CallResult {
    client: string;
    call: string;
    allowed: boolean;
    by: string;
}

export interface PermissionsReport {
    results: CallResult[];
    sources: { client: string; source: string; calls: number }[];
    tokenProblems: string[];
}

export function parseRecording(text: string, origin: string): ApiCall[] {
    const calls: ApiCall[] = [];
    text.split("\n").forEach((line, i) => {
        if (line.trim() === "") return;
        let rec: Obj;
        try {
            rec = JSON.parse(line) as Obj;
        } catch {
            throw new Error(`${origin}:${i + 1}: not JSON: ${line.slice(0, 80)}`);
        }
        for (const key of ["serviceAccount", "verb", "resource"]) {
            if (typeof rec[key] !== "string" || rec[key] === "") {
                throw new Error(`${origin}:${i + 1}: "${key}" missing in ${line.slice(0, 120)}`);
            }
        }
        calls.push({
            serviceAccount: rec.serviceAccount as string,
            verb: rec.verb as string,
            group: typeof rec.group === "string" ? rec.group : "",
            version: rec.version as string | undefined,
            resource: rec.resource as string,
            subresource: (rec.subresource as string | null | undefined) ?? null,
            namespace: (rec.namespace as string | null | undefined) ?? null,
            name: (rec.name as string | null | undefined) ?? null,
        });
    });
    return calls;
}

let recording: { text: string; source: string } | undefined;

/** The recording: a given file, a fresh run of the recorder (once per process), or the fixture. */
function operatorRecording(): { text: string; source: string } {
    const env = process.env.PREFLIGHT_K8S_RECORDING;
    if (env) {
        return {
            text: fs.readFileSync(env, "utf8"),
            source: `recorded by the loopback API stand-in (${env})`,
        };
    }
    if (recording) return recording;
    if (fs.existsSync(RECORDER_MODULE) && fs.existsSync(path.join(ROOT, "dags", ".venv"))) {
        const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "k8s-rec-")), "calls.jsonl");
        const r = spawnSync(
            path.join(ROOT, "dags", ".venv", "bin", "python"),
            ["-m", "tests.k8s_recorder", "--out", out],
            {
                cwd: path.join(ROOT, "dags"),
                encoding: "utf8",
                env: { ...process.env, PYTHONPATH: ".", PYTHONDONTWRITEBYTECODE: "1" },
                maxBuffer: 64 * 1024 * 1024,
            },
        );
        if (r.status !== 0)
            throw new Error(`dags/tests/k8s_recorder failed:\n${r.stdout}\n${r.stderr}`);
        recording = {
            text: fs.readFileSync(out, "utf8"),
            source: "recorded by dags/tests/k8s_recorder (the real operators against the loopback API)",
        };
    } else {
        recording = {
            text: fs.readFileSync(PROVIDER_CALLS_FIXTURE, "utf8"),
            source: "recorded earlier by dags/tests/k8s_recorder (fixtures/provider-calls.jsonl; the recorder is not in this checkout)",
        };
    }
    return recording;
}

/** The operators' calls, in the stack's jobs namespace. */
export function operatorCalls(jobsNamespace: string): CallSet {
    const { text, source } = operatorRecording();
    // The recording runs in its own namespace; the stack's jobs namespace is where tasks go.
    const calls = parseRecording(text, source).map((c) =>
        c.namespace ? { ...c, namespace: jobsNamespace } : c,
    );
    return { client: "Airflow task operators", source, calls };
}

/** Prometheus' discovery calls, from its rendered configuration. */
export function prometheusCalls(objects: Obj[]): CallSet[] {
    const sets: CallSet[] = [];
    for (const sts of objects.filter((o) => o.kind === "StatefulSet" || o.kind === "Deployment")) {
        const m = sts.metadata as { name: string; namespace: string };
        const podSpec = ((sts.spec as Obj).template as Obj).spec as Obj;
        const prom = ((podSpec.containers ?? []) as { name: string; args?: string[] }[]).find((c) =>
            // Prometheus's own flag and file (Alertmanager has a --config.file too).
            (c.args ?? []).some(
                (a) => a.startsWith("--config.file=") && a.endsWith("prometheus.yml"),
            ),
        );
        if (!prom) continue;
        const cms = objects.filter(
            (o) =>
                o.kind === "ConfigMap" &&
                (o.metadata as { namespace: string }).namespace === m.namespace,
        );
        const configText = cms
            .map((cm) => (cm.data as Record<string, string> | undefined)?.["prometheus.yml"])
            .find(Boolean);
        if (!configText)
            throw new Error(`preflight: no prometheus.yml ConfigMap for ${m.namespace}/${m.name}`);
        const config = YAML.parse(configText) as {
            scrape_configs?: {
                kubernetes_sd_configs?: { role: string; namespaces?: { names?: string[] } }[];
            }[];
        };
        const sa = `${m.namespace}/${(podSpec.serviceAccountName as string | undefined) ?? "default"}`;
        const calls: ApiCall[] = [];
        for (const sc of config.scrape_configs ?? []) {
            for (const sd of sc.kubernetes_sd_configs ?? []) {
                const resources =
                    sd.role === "pod"
                        ? ["pods"]
                        : sd.role === "endpoints"
                          ? ["endpoints", "services", "pods"]
                          : sd.role === "service"
                            ? ["services"]
                            : sd.role === "node"
                              ? ["nodes"]
                              : [];
                const names = sd.namespaces?.names ?? [];
                for (const resource of resources) {
                    for (const verb of ["list", "watch"]) {
                        if (resource === "nodes" || names.length === 0) {
                            calls.push({
                                serviceAccount: sa,
                                verb,
                                group: "",
                                resource,
                                namespace: null,
                            });
                        } else {
                            for (const ns of names)
                                calls.push({
                                    serviceAccount: sa,
                                    verb,
                                    group: "",
                                    resource,
                                    namespace: ns,
                                });
                        }
                    }
                }
            }
        }
        sets.push({
            client: `Prometheus (${m.namespace}/${m.name})`,
            source: "its kubernetes_sd_configs",
            calls,
        });
    }
    return sets;
}

/** kube-state-metrics resource names -> API group (kube-state-metrics docs, --resources). */
const KSM_GROUPS: Record<string, string> = {
    certificatesigningrequests: "certificates.k8s.io",
    configmaps: "",
    cronjobs: "batch",
    daemonsets: "apps",
    deployments: "apps",
    endpoints: "",
    endpointslices: "discovery.k8s.io",
    horizontalpodautoscalers: "autoscaling",
    ingresses: "networking.k8s.io",
    ingressclasses: "networking.k8s.io",
    jobs: "batch",
    leases: "coordination.k8s.io",
    limitranges: "",
    mutatingwebhookconfigurations: "admissionregistration.k8s.io",
    namespaces: "",
    networkpolicies: "networking.k8s.io",
    nodes: "",
    persistentvolumeclaims: "",
    persistentvolumes: "",
    poddisruptionbudgets: "policy",
    pods: "",
    replicasets: "apps",
    replicationcontrollers: "",
    resourcequotas: "",
    secrets: "",
    services: "",
    statefulsets: "apps",
    storageclasses: "storage.k8s.io",
    validatingwebhookconfigurations: "admissionregistration.k8s.io",
    volumeattachments: "storage.k8s.io",
};
const KSM_CLUSTER_SCOPED = new Set([
    "certificatesigningrequests",
    "ingressclasses",
    "mutatingwebhookconfigurations",
    "namespaces",
    "nodes",
    "persistentvolumes",
    "storageclasses",
    "validatingwebhookconfigurations",
    "volumeattachments",
]);

/** kube-state-metrics' list/watch calls, from its rendered flags. */
export function kubeStateMetricsCalls(objects: Obj[]): CallSet[] {
    const sets: CallSet[] = [];
    for (const d of objects.filter((o) => o.kind === "Deployment")) {
        const m = d.metadata as { name: string; namespace: string };
        const podSpec = ((d.spec as Obj).template as Obj).spec as Obj;
        for (const c of (podSpec.containers ?? []) as {
            name: string;
            image?: string;
            args?: string[];
        }[]) {
            if (!/kube-state-metrics/.test(`${c.name} ${c.image ?? ""}`)) continue;
            const flag = (name: string) =>
                (c.args ?? []).find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
            const resources = flag("resources")?.split(",") ?? Object.keys(KSM_GROUPS);
            const namespaces = flag("namespaces")?.split(",").filter(Boolean) ?? [];
            const sa = `${m.namespace}/${(podSpec.serviceAccountName as string | undefined) ?? "default"}`;
            const calls: ApiCall[] = [];
            for (const r of resources) {
                const group = KSM_GROUPS[r];
                if (group === undefined)
                    throw new Error(
                        `preflight: kube-state-metrics resource ${r} has no API group in permissions.ts`,
                    );
                for (const verb of ["list", "watch"]) {
                    if (namespaces.length === 0 || KSM_CLUSTER_SCOPED.has(r)) {
                        calls.push({
                            serviceAccount: sa,
                            verb,
                            group,
                            resource: r,
                            namespace: null,
                        });
                    } else {
                        for (const ns of namespaces)
                            calls.push({
                                serviceAccount: sa,
                                verb,
                                group,
                                resource: r,
                                namespace: ns,
                            });
                    }
                }
            }
            sets.push({
                client: `kube-state-metrics (${m.namespace}/${m.name})`,
                source: "its --resources/--namespaces flags",
                calls,
            });
        }
    }
    return sets;
}

/** The Spark driver's executor management, for the service account of the Spark pods. */
export function sparkDriverCalls(input: PreflightInput): CallSet[] {
    const drivers = input.pods.filter((p) => p.labels["spark-role"] === "driver");
    const accounts = [...new Set(drivers.map((p) => `${p.namespace}/${p.serviceAccount}`))];
    return accounts.map((sa) => {
        const ns = sa.split("/")[0]!;
        const calls: ApiCall[] = [];
        const add = (verb: string, resource: string, name: string | null = null) =>
            calls.push({ serviceAccount: sa, verb, group: "", resource, namespace: ns, name });
        add("get", "pods", "app-driver"); // its own pod (owner of executors and ConfigMaps)
        for (const v of ["create", "get", "list", "watch", "delete", "deletecollection"])
            add(v, "pods", v === "get" || v === "delete" ? "app-exec-1" : null);
        add("create", "configmaps");
        add("deletecollection", "configmaps");
        add("list", "persistentvolumeclaims");
        return {
            client: `Spark driver (${sa})`,
            source: "Spark on Kubernetes: executor pods, their ConfigMap, PVC reuse",
            calls,
        };
    });
}

/**
 * RBAC the spark-operator chart creates (chart 2.5.0, templates/spark/rbac.yaml): when
 * `spark.rbac.create`, a Role in each job namespace for the Spark service account on pods,
 * configmaps, persistentvolumeclaims and services with every verb but `*`.
 */
export function chartRbac(input: PreflightInput): RbacModel {
    const model: RbacModel = { roles: [], bindings: [] };
    for (const r of input.resources.filter((x) => x.type === "kubernetes:helm.sh/v3:Release")) {
        const spark = ((r.inputs.values ?? {}) as Obj).spark as
            | {
                  jobNamespaces?: string[];
                  rbac?: { create?: boolean };
                  serviceAccount?: { name?: string };
              }
            | undefined;
        if (!spark?.rbac?.create) continue;
        const name = `${String(r.inputs.name)}-spark`;
        for (const ns of spark.jobNamespaces ?? []) {
            model.roles.push({
                kind: "Role",
                metadata: { name, namespace: ns },
                rules: [
                    {
                        apiGroups: [""],
                        resources: ["pods", "configmaps", "persistentvolumeclaims", "services"],
                        verbs: [
                            "get",
                            "list",
                            "watch",
                            "create",
                            "update",
                            "patch",
                            "delete",
                            "deletecollection",
                        ],
                    },
                ],
            });
            model.bindings.push({
                kind: "RoleBinding",
                metadata: { name, namespace: ns },
                roleRef: { kind: "Role", name, apiGroup: "rbac.authorization.k8s.io" },
                subjects: [
                    {
                        kind: "ServiceAccount",
                        name: spark.serviceAccount?.name ?? "spark-operator-spark",
                        namespace: ns,
                    },
                ],
            });
        }
    }
    return model;
}

/** Every call set the stack's clients make. */
export function callSets(input: PreflightInput): CallSet[] {
    const jobsNs = input.pods.find((p) => p.origin === "dag-template")?.namespace;
    if (!jobsNs) throw new Error("preflight: no task pods rendered from the DAG templates");
    return [
        operatorCalls(jobsNs),
        ...prometheusCalls(input.kubernetes),
        ...kubeStateMetricsCalls(input.kubernetes),
        ...sparkDriverCalls(input),
    ];
}

/**
 * Authorize every call; also check that a pod mounts a service-account token exactly when its
 * account is one that calls the API.
 */
export function checkPermissions(
    input: PreflightInput,
    sets: CallSet[] = callSets(input),
): PermissionsReport {
    const rendered = rbacModelOf(input.kubernetes);
    const chart = chartRbac(input);
    const model: RbacModel = {
        roles: [...rendered.roles, ...chart.roles],
        bindings: [...rendered.bindings, ...chart.bindings],
    };
    const results: CallResult[] = [];
    for (const set of sets) {
        const seen = new Set<string>();
        for (const call of set.calls) {
            const key = `${call.serviceAccount} ${describeCall(call)}`;
            if (seen.has(key)) continue;
            seen.add(key);
            const v = authorize(model, call);
            results.push({
                client: set.client,
                call: `${call.serviceAccount}: ${describeCall(call)}`,
                allowed: v.allowed,
                by: v.by,
            });
        }
    }
    // Tokens: a pod mounts a service-account token exactly when it talks to the API server
    // (a source of a `kubernetes-api` flow of the table) and its account makes API calls.
    const tokenProblems: string[] = [];
    for (const pod of input.pods.filter((p) => p.origin === "render")) {
        const talks = NEEDED_FLOWS.some(
            (f) =>
                f.to.external === "kubernetes-api" &&
                f.from.workload &&
                selects(f.from.workload, pod),
        );
        if (talks && !pod.automountToken) {
            tokenProblems.push(
                `${pod.id}: talks to the Kubernetes API but mounts no service-account token`,
            );
        }
        if (!talks && pod.automountToken) {
            tokenProblems.push(
                `${pod.id}: mounts a service-account token (${pod.namespace}/${pod.serviceAccount}) but never talks to the Kubernetes API; set automountServiceAccountToken: false`,
            );
        }
    }
    return {
        results,
        sources: sets.map((s) => ({ client: s.client, source: s.source, calls: s.calls.length })),
        tokenProblems,
    };
}
