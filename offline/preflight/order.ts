/**
 * First `pulumi up` on an empty project: the order in which the engine creates the recorded
 * resources, and each resource's prerequisites on the real clouds.
 *
 * The engine creates a resource only after everything it depends on: its explicit `dependsOn`
 * (a component there stands for all its descendants), every resource an input's value came
 * from (property dependencies) and its provider; and the SDK registers a child only after its
 * parent, which registers after its own dependencies (so a component's `dependsOn` orders its
 * children too). Anything else may be created in parallel, so a prerequisite that is not
 * reachable through these edges is a race the first `up` can lose.
 *
 * Prerequisites checked (each "after" must be a transitive dependency):
 * - Workload Identity IAM members (`<pool>.svc.id.goog[ns/ksa]`) after a cluster with that
 *   workload pool (the pool exists only once the first such cluster does);
 * - every Kubernetes object after the GKE cluster;
 * - Gateway API kinds (gateway.networking.k8s.io, networking.gke.io policies) after a cluster
 *   with the Gateway API enabled;
 * - SparkApplications, and workloads whose account may create them, after the operator release
 *   that installs the CRD;
 * - namespaced objects after their Namespace (the API server rejects them otherwise);
 * - advisories (Kubernetes retries, so the first `up` is only delayed): pods after their
 *   ServiceAccount and the Secrets and ConfigMaps they read, and workloads `pulumi up` waits for
 *   (Deployments, StatefulSets, Jobs) after a node pool that can schedule them (node selector
 *   and taints), since the cluster starts without nodes;
 * - Jobs that connect to PostgreSQL (flows.ts) after its StatefulSet and, except the reconcile
 *   Job itself, after the reconcile Job that creates their role and database;
 * - Jobs after the NetworkPolicies that allow their needed flows (both ends);
 * - anything that references an image digest after that image's build.
 */
import type { RecordedResource } from "../engine";
import { cloudFakes } from "../cloud-fakes";
import { NEEDED_FLOWS, WORKLOADS } from "./flows";
import type { PreflightInput } from "./input";
import { renderedPods } from "./pods";
import { allowingPolicies, selects } from "./reachability";
import { authorize, rbacModelOf } from "./rbac";

type Obj = Record<string, unknown>;

export interface OrderReport {
    /** Edges (resource -> prerequisite) checked. */
    checked: number;
    /** Missing edges that make the first `up` fail. */
    problems: string[];
    /** Missing edges that only delay it (Kubernetes retries until the prerequisite exists). */
    advisories: string[];
    /** Creation waves: how many rounds the engine needs, and the resources in each. */
    waves: number;
    resources: number;
}

const label = (r: RecordedResource) => `${r.type} "${r.name}"`;
const str = (v: unknown): string => (typeof v === "string" ? v : "");

export class DependencyGraph {
    readonly byUrn = new Map<string, RecordedResource>();
    private readonly direct = new Map<string, Set<string>>();
    private readonly closure = new Map<string, Set<string>>();

    constructor(readonly resources: RecordedResource[]) {
        for (const r of resources) this.byUrn.set(r.urn, r);
        const childrenOf = new Map<string, RecordedResource[]>();
        for (const r of resources) {
            if (r.parentUrn)
                childrenOf.set(r.parentUrn, [...(childrenOf.get(r.parentUrn) ?? []), r]);
        }
        // A dependency on a component is a dependency on every resource under it.
        const expand = (urn: string, out: Set<string>) => {
            const r = this.byUrn.get(urn);
            if (!r) return;
            out.add(urn);
            if (!r.custom) for (const c of childrenOf.get(urn) ?? []) expand(c.urn, out);
        };
        for (const r of resources) {
            const deps = new Set<string>();
            const raw = [
                ...r.dependencies,
                ...Object.values(r.propertyDependencies).flat(),
                ...(r.provider ? [r.provider.split("::").slice(0, -1).join("::")] : []),
            ];
            // The SDK registers a child only once its parent's URN has resolved, and a parent
            // (component or not) registers only after its own dependencies: so a child comes after
            // whatever its parent depends on.
            for (const d of raw) expand(d, deps);
            if (r.parentUrn && this.byUrn.has(r.parentUrn)) deps.add(r.parentUrn);
            deps.delete(r.urn);
            this.direct.set(r.urn, deps);
        }
    }

    /** Every resource created before `r` (transitively). */
    before(r: RecordedResource): Set<string> {
        const hit = this.closure.get(r.urn);
        if (hit) return hit;
        const out = new Set<string>();
        const stack = [...(this.direct.get(r.urn) ?? [])];
        while (stack.length > 0) {
            const u = stack.pop()!;
            if (out.has(u)) continue;
            out.add(u);
            stack.push(...(this.direct.get(u) ?? []));
        }
        this.closure.set(r.urn, out);
        return out;
    }

    /** The engine's creation rounds (each resource in the first round after all it depends on). */
    waves(): RecordedResource[][] {
        const level = new Map<string, number>();
        const depth = (urn: string, seen: Set<string>): number => {
            const known = level.get(urn);
            if (known !== undefined) return known;
            if (seen.has(urn)) throw new Error(`dependency cycle through ${urn}`);
            seen.add(urn);
            let d = 0;
            for (const dep of this.direct.get(urn) ?? []) {
                if (this.byUrn.get(dep)?.custom) d = Math.max(d, depth(dep, seen) + 1);
                else d = Math.max(d, depth(dep, seen));
            }
            seen.delete(urn);
            level.set(urn, d);
            return d;
        };
        const waves: RecordedResource[][] = [];
        for (const r of this.resources.filter((x) => x.custom)) {
            const d = depth(r.urn, new Set());
            (waves[d] ??= []).push(r);
        }
        return waves.filter(Boolean);
    }
}

function k8sObjects(resources: RecordedResource[]) {
    return resources.filter(
        (r) => r.custom && r.type.startsWith("kubernetes:") && typeof r.inputs.kind === "string",
    );
}

function meta(r: RecordedResource) {
    return (r.inputs.metadata ?? {}) as { name?: string; namespace?: string };
}

/** Secret and ConfigMap names a pod spec reads (env, envFrom, volumes), without optional ones. */
function podReferences(podSpec: Obj): { secrets: Set<string>; configMaps: Set<string> } {
    const secrets = new Set<string>();
    const configMaps = new Set<string>();
    const containers = [
        ...((podSpec.initContainers ?? []) as Obj[]),
        ...((podSpec.containers ?? []) as Obj[]),
    ];
    for (const c of containers) {
        for (const e of (c.env ?? []) as {
            valueFrom?: {
                secretKeyRef?: { name: string; optional?: boolean };
                configMapKeyRef?: { name: string; optional?: boolean };
            };
        }[]) {
            const s = e.valueFrom?.secretKeyRef;
            if (s && !s.optional) secrets.add(s.name);
            const m = e.valueFrom?.configMapKeyRef;
            if (m && !m.optional) configMaps.add(m.name);
        }
        for (const e of (c.envFrom ?? []) as {
            secretRef?: { name: string; optional?: boolean };
            configMapRef?: { name: string; optional?: boolean };
        }[]) {
            if (e.secretRef && !e.secretRef.optional) secrets.add(e.secretRef.name);
            if (e.configMapRef && !e.configMapRef.optional) configMaps.add(e.configMapRef.name);
        }
    }
    for (const v of (podSpec.volumes ?? []) as {
        secret?: { secretName: string; optional?: boolean };
        configMap?: { name: string; optional?: boolean };
    }[]) {
        if (v.secret && !v.secret.optional) secrets.add(v.secret.secretName);
        if (v.configMap && !v.configMap.optional) configMaps.add(v.configMap.name);
    }
    return { secrets, configMaps };
}

function podSpecOf(r: RecordedResource): Obj | undefined {
    const kind = r.inputs.kind;
    const spec = (r.inputs.spec ?? {}) as Obj;
    if (kind === "CronJob")
        return (((spec.jobTemplate as Obj).spec as Obj).template as Obj).spec as Obj;
    if (["Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"].includes(kind as string)) {
        return (spec.template as Obj).spec as Obj;
    }
    if (kind === "Pod") return spec;
    return undefined;
}

interface NodePoolShape {
    labels: Record<string, string>;
    taints: { key: string; value?: string; effect: string }[];
}

function nodePoolShape(r: RecordedResource): NodePoolShape {
    const nc = (r.inputs.nodeConfig ?? {}) as {
        labels?: Record<string, string>;
        taints?: { key: string; value?: string; effect: string }[];
    };
    return { labels: nc.labels ?? {}, taints: nc.taints ?? [] };
}

const K8S_EFFECT: Record<string, string> = {
    NO_SCHEDULE: "NoSchedule",
    PREFER_NO_SCHEDULE: "PreferNoSchedule",
    NO_EXECUTE: "NoExecute",
};

function schedulable(pool: NodePoolShape, podSpec: Obj): boolean {
    const selector = (podSpec.nodeSelector ?? {}) as Record<string, string>;
    if (!Object.entries(selector).every(([k, v]) => pool.labels[k] === v)) return false;
    const tolerations = (podSpec.tolerations ?? []) as {
        key?: string;
        operator?: string;
        value?: string;
        effect?: string;
    }[];
    return pool.taints.every((t) => {
        const effect = K8S_EFFECT[t.effect] ?? t.effect;
        if (effect === "PreferNoSchedule") return true;
        return tolerations.some(
            (tol) =>
                (tol.key === undefined || tol.key === t.key) &&
                (tol.operator === "Exists" || tol.value === t.value) &&
                (tol.effect === undefined || tol.effect === effect),
        );
    });
}

/** The image digests each build produces (the offline engine's digest of what it would build). */
function imageDigests(input: PreflightInput): Map<string, RecordedResource> {
    const fake = cloudFakes(input.config.gcpProject ?? "offline-project")[
        "docker-build:index:Image"
    ]!;
    const out = new Map<string, RecordedResource>();
    for (const r of input.resources.filter((x) => x.type === "docker-build:index:Image")) {
        out.set(String(fake(r.name, r.inputs).digest), r);
    }
    return out;
}

function digestsIn(value: unknown, found: Set<string>): void {
    if (typeof value === "string") {
        for (const m of value.matchAll(/sha256:[0-9a-f]{64}/g)) found.add(m[0]);
    } else if (Array.isArray(value)) {
        for (const v of value) digestsIn(v, found);
    } else if (value && typeof value === "object") {
        for (const v of Object.values(value)) digestsIn(v, found);
    }
}

export function checkOrder(input: PreflightInput): OrderReport {
    const g = new DependencyGraph(input.resources);
    const problems: string[] = [];
    const advisories: string[] = [];
    let checked = 0;
    const need = (
        r: RecordedResource,
        candidates: RecordedResource[],
        what: string,
        soft = false,
    ) => {
        checked++;
        const before = g.before(r);
        const out = soft ? advisories : problems;
        if (candidates.length === 0) {
            out.push(`${label(r)} needs ${what}, which the stack does not declare`);
        } else if (!candidates.some((c) => before.has(c.urn))) {
            out.push(
                `${label(r)} may be created before ${candidates.map(label).join(" / ")} (${what}): add a dependency (dependsOn or an output of it)`,
            );
        }
    };

    const clusters = input.resources.filter((r) => r.type === "gcp:container/cluster:Cluster");
    const objects = k8sObjects(input.resources);

    // Workload Identity members after a cluster with their pool.
    for (const r of input.resources.filter((x) => x.custom && /IAM|Iam/.test(x.type))) {
        const members = [r.inputs.member, ...((r.inputs.members as unknown[]) ?? [])].filter(
            (m): m is string => typeof m === "string",
        );
        for (const m of members) {
            const pool = /^serviceAccount:([^[]+\.svc\.id\.goog)\[/.exec(m)?.[1];
            if (!pool) continue;
            const withPool = clusters.filter(
                (c) =>
                    (c.inputs.workloadIdentityConfig as { workloadPool?: string } | undefined)
                        ?.workloadPool === pool,
            );
            need(
                r,
                withPool,
                `a GKE cluster with workload pool ${pool}: the identity pool exists only once it does`,
            );
        }
    }

    // Kubernetes objects after the cluster; Gateway API kinds after a cluster with it enabled.
    const gatewayClusters = clusters.filter((c) => {
        const ch = (c.inputs.gatewayApiConfig as { channel?: string } | undefined)?.channel;
        return ch !== undefined && ch !== "CHANNEL_DISABLED";
    });
    for (const r of [
        ...objects,
        ...input.resources.filter((x) => x.type.startsWith("kubernetes:helm.sh/")),
    ]) {
        need(r, clusters, "the GKE cluster its provider talks to");
        const apiVersion = str(r.inputs.apiVersion);
        if (/^(gateway\.networking\.k8s\.io|networking\.gke\.io)\//.test(apiVersion)) {
            need(
                r,
                gatewayClusters,
                `a cluster with the Gateway API enabled (${apiVersion} ${String(r.inputs.kind)})`,
            );
        }
    }

    // Custom kinds from a chart's CRDs: SparkApplications, and who creates them at run time.
    const releases = input.resources.filter(
        (r) => r.type === "kubernetes:helm.sh/v3:Release" && r.inputs.chart === "spark-operator",
    );
    for (const r of objects.filter((x) =>
        String(x.inputs.apiVersion).startsWith("sparkoperator.k8s.io/"),
    )) {
        need(r, releases, "the spark-operator release that installs the SparkApplication CRD");
    }
    const rbac = rbacModelOf(input.kubernetes);
    const jobsNs = input.pods.find((p) => p.origin === "dag-template")?.namespace;
    for (const r of objects.filter((x) =>
        ["Deployment", "StatefulSet"].includes(String(x.inputs.kind)),
    )) {
        const spec = podSpecOf(r)!;
        const sa = `${meta(r).namespace}/${(spec.serviceAccountName as string | undefined) ?? "default"}`;
        if (!jobsNs) continue;
        const creates = authorize(rbac, {
            serviceAccount: sa,
            verb: "create",
            group: "sparkoperator.k8s.io",
            resource: "sparkapplications",
            namespace: jobsNs,
        });
        if (creates.allowed)
            need(r, releases, "the SparkApplication CRD (it creates SparkApplications)");
    }

    // Namespaces, service accounts, secrets and config maps.
    const find = (kind: string, ns: string | undefined, name: string) =>
        objects.filter(
            (o) =>
                o.inputs.kind === kind &&
                meta(o).name === name &&
                (kind === "Namespace" || meta(o).namespace === ns),
        );
    for (const r of objects) {
        const ns = meta(r).namespace;
        if (ns && find("Namespace", undefined, ns).length > 0)
            need(r, find("Namespace", undefined, ns), `its namespace ${ns}`);
        const spec = podSpecOf(r);
        if (!spec) continue;
        const sa = (spec.serviceAccountName as string | undefined) ?? "default";
        // Kubernetes retries pods whose account, Secret or ConfigMap is missing: a delay, not a failure.
        if (find("ServiceAccount", ns, sa).length > 0)
            need(r, find("ServiceAccount", ns, sa), `its service account ${ns}/${sa}`, true);
        const refs = podReferences(spec);
        for (const s of refs.secrets)
            if (find("Secret", ns, s).length > 0)
                need(r, find("Secret", ns, s), `the Secret ${ns}/${s} it reads`, true);
        for (const c of refs.configMaps)
            if (find("ConfigMap", ns, c).length > 0)
                need(r, find("ConfigMap", ns, c), `the ConfigMap ${ns}/${c} it reads`, true);
    }
    for (const r of input.resources.filter((x) => x.type === "kubernetes:helm.sh/v3:Release")) {
        const ns = str(r.inputs.namespace);
        if (find("Namespace", undefined, ns).length > 0)
            need(r, find("Namespace", undefined, ns), `its namespace ${ns}`);
    }

    // Awaited workloads after a node pool that can run them.
    const pools = input.resources.filter((r) => r.type === "gcp:container/nodePool:NodePool");
    for (const r of objects.filter((x) =>
        ["Deployment", "StatefulSet", "Job"].includes(String(x.inputs.kind)),
    )) {
        const spec = podSpecOf(r)!;
        const fitting = pools.filter((p) => schedulable(nodePoolShape(p), spec));
        // Pending until the pool has nodes: a delay, unless it outlasts the await timeout.
        need(
            r,
            fitting,
            "a node pool that can schedule its pods (the cluster starts without nodes)",
            true,
        );
    }

    // Jobs that connect to PostgreSQL: after the server and the reconcile Job.
    const pgServer = objects.filter((o) => {
        const pods = renderedPods([o.inputs]);
        return pods.length > 0 && selects(WORKLOADS.postgres, pods[0]!);
    });
    const reconcile = objects.filter((o) => {
        const pods = renderedPods([o.inputs]);
        return (
            o.inputs.kind === "Job" &&
            pods.length > 0 &&
            selects(WORKLOADS.postgresMaintenance, pods[0]!)
        );
    });
    for (const r of objects.filter((x) => x.inputs.kind === "Job")) {
        const pod = renderedPods([r.inputs])[0]!;
        const usesDb = NEEDED_FLOWS.some(
            (f) =>
                f.to.workload === WORKLOADS.postgres &&
                f.from.workload &&
                selects(f.from.workload, pod),
        );
        if (!usesDb) continue;
        need(r, pgServer, "the PostgreSQL server it connects to");
        if (!reconcile.includes(r))
            need(r, reconcile, "the reconcile Job that creates its role and database");
    }

    // Jobs (`pulumi up` waits for them) after the NetworkPolicies their connections need: a Job
    // started before them meets the namespaces' default deny.
    const policyResources = objects.filter((o) => o.inputs.kind === "NetworkPolicy");
    for (const r of objects.filter((x) => x.inputs.kind === "Job")) {
        const pod = renderedPods([r.inputs])[0]!;
        for (const id of allowingPolicies(pod, input, NEEDED_FLOWS)) {
            const [ns, name] = id.split("/");
            const policy = policyResources.filter(
                (p) => meta(p).namespace === ns && meta(p).name === name,
            );
            need(r, policy, `the NetworkPolicy ${id} that lets its pods connect`);
        }
    }

    // Images before anything that references their digest.
    const digests = imageDigests(input);
    for (const r of input.resources.filter(
        (x) => x.custom && x.type !== "docker-build:index:Image",
    )) {
        const found = new Set<string>();
        digestsIn(r.inputs, found);
        for (const d of found) {
            const image = digests.get(d);
            if (image) need(r, [image], `the image build that produces ${d.slice(0, 19)}…`);
        }
    }

    const waves = g.waves();
    return {
        checked,
        problems: [...new Set(problems)],
        advisories: [...new Set(advisories)],
        waves: waves.length,
        resources: input.resources.filter((r) => r.custom).length,
    };
}
