/**
 * What the preflight checks read from one stack's offline render: the recorded resources (with
 * parents, providers and dependencies), the Kubernetes objects, and the pod catalog (rendered
 * workloads, chart pods, and the task pods the DAG templates create with the stack's pipeline env).
 */
import type { RecordedResource } from "../engine";
import {
    chartPods,
    jobCases,
    renderTaskObjects,
    renderedPods,
    taskPods,
    type CatalogPod,
    type JobCase,
} from "./pods";
import type { Cluster, NetworkPolicy } from "./netpol";

type Obj = Record<string, unknown>;

export interface PreflightInput {
    stack: string;
    resources: RecordedResource[];
    kubernetes: Obj[];
    pods: CatalogPod[];
    /** The job table's template contexts (built with the stack's pipeline env). */
    jobCases: Record<string, JobCase>;
    /** Task objects (Jobs, SparkApplications) rendered from the DAG templates, by `<dag>.<task>`. */
    taskObjects: Record<string, Obj>;
    cluster: Cluster;
    masterCidr: string;
    /** The nodes' subnet (the kubelets Prometheus scrapes). */
    nodesCidr?: string;
    /** Stack config (project keys without the namespace), raw strings as the engine passes them. */
    config: Record<string, string>;
}

function meta(o: Obj): { name: string; namespace?: string } {
    return o.metadata as { name: string; namespace?: string };
}

export function findObject(
    objects: Obj[],
    kind: string,
    namespace: string | undefined,
    name: string,
): Obj | undefined {
    return objects.find(
        (o) => o.kind === kind && meta(o).name === name && meta(o).namespace === namespace,
    );
}

/** The pod range and control-plane range the cluster is created with. */
function clusterRanges(resources: RecordedResource[]): {
    podCidr: string;
    masterCidr: string;
    nodesCidr?: string;
} {
    const clusters = resources.filter((r) => r.type === "gcp:container/cluster:Cluster");
    if (clusters.length !== 1)
        throw new Error(`preflight: expected one GKE cluster, found ${clusters.length}`);
    const c = clusters[0]!.inputs;
    const masterCidr = (c.privateClusterConfig as { masterIpv4CidrBlock?: string } | undefined)
        ?.masterIpv4CidrBlock;
    const podRange = (c.ipAllocationPolicy as { clusterSecondaryRangeName?: string } | undefined)
        ?.clusterSecondaryRangeName;
    let podCidr: string | undefined;
    let nodesCidr: string | undefined;
    for (const s of resources.filter((r) => r.type === "gcp:compute/subnetwork:Subnetwork")) {
        const ranges = (s.inputs.secondaryIpRanges ?? []) as {
            rangeName: string;
            ipCidrRange: string;
        }[];
        const pods = ranges.find((x) => x.rangeName === podRange)?.ipCidrRange;
        if (pods && !podCidr) nodesCidr = s.inputs.ipCidrRange as string | undefined;
        podCidr ??= pods;
    }
    if (!masterCidr || !podCidr) {
        throw new Error(
            `preflight: the cluster's master CIDR (${masterCidr}) or pod range ${podRange} (${podCidr}) is not in the render`,
        );
    }
    return { podCidr, masterCidr, nodesCidr };
}

export interface BuildOptions {
    /** Job-table cases (default: built by the DAGs' Python with the stack's pipeline env). */
    jobCases?: Record<string, JobCase>;
}

/** Rebuild an input after its resources or Kubernetes objects were changed (tests' mutations). */
export function rebuildInput(input: PreflightInput): PreflightInput {
    const kubernetes = input.resources
        .filter(
            (r) =>
                r.custom && r.type.startsWith("kubernetes:") && typeof r.inputs.kind === "string",
        )
        .map((r) => r.inputs);
    return buildInput(
        { stack: input.stack, resources: input.resources, kubernetes },
        input.config,
        {
            jobCases: input.jobCases,
        },
    );
}

export function buildInput(
    rendered: { stack: string; resources: RecordedResource[]; kubernetes: Obj[] },
    config: Record<string, string>,
    options: BuildOptions = {},
): PreflightInput {
    const { podCidr, masterCidr, nodesCidr } = clusterRanges(rendered.resources);
    const namespaces: Record<string, Record<string, string>> = {};
    for (const o of rendered.kubernetes) {
        if (o.kind === "Namespace") {
            namespaces[meta(o).name] = ((o.metadata as Obj).labels ?? {}) as Record<string, string>;
        }
    }
    namespaces["kube-system"] ??= {};
    const policies = rendered.kubernetes.filter(
        (o) => o.kind === "NetworkPolicy",
    ) as unknown as NetworkPolicy[];

    const envMaps = rendered.kubernetes.filter(
        (o) => o.kind === "ConfigMap" && meta(o).name === "pipeline-env",
    );
    const jobsEnv = envMaps.find(
        (o) => (o.data as Obj | undefined)?.JOBS_NAMESPACE === meta(o).namespace,
    );
    if (!jobsEnv)
        throw new Error(
            "preflight: no pipeline-env ConfigMap in the jobs namespace; the task pods cannot be rendered",
        );
    const cases = options.jobCases ?? jobCases(jobsEnv.data as Record<string, string>);
    const taskObjects = renderTaskObjects(cases);

    const pods = [
        ...renderedPods(rendered.kubernetes),
        ...chartPods(rendered.resources),
        ...Object.entries(taskObjects).flatMap(([name, obj]) => taskPods(name, obj)),
    ];
    return {
        stack: rendered.stack,
        resources: rendered.resources,
        kubernetes: rendered.kubernetes,
        pods,
        jobCases: cases,
        taskObjects,
        cluster: { policies, namespaces, podCidr },
        masterCidr,
        nodesCidr,
        config,
    };
}
