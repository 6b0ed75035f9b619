/**
 * Reachability: the flow table (flows.ts) evaluated against the rendered NetworkPolicies with
 * exact Kubernetes semantics (netpol.ts), for every pod of the catalog (pods.ts).
 *
 * - Each needed flow is checked for every source pod it selects and every destination pod (a
 *   flow that selects no pod is itself a problem: the table went stale).
 * - Each denied flow must be denied for every pair.
 * - Every container of every pod must be covered by a needed flow (as the source, or as the
 *   owner of the destination port); init containers only when a flow names them.
 */
import type { CatalogPod } from "./pods";
import { connectionAllowed, type Cluster, type Endpoint, type NetPod } from "./netpol";
import type { ExternalClass, Flow, FlowEnd, Workload } from "./flows";

export interface ReachabilityInput {
    pods: CatalogPod[];
    cluster: Cluster;
    /** The control plane's private range (the cluster's master CIDR). */
    masterCidr: string;
    /** The nodes' subnet (kubelets); undefined in inputs built without a subnet. */
    nodesCidr?: string;
}

export interface FlowResult {
    flow: string;
    /** One line per evaluated connection that went the wrong way. */
    problems: string[];
    /** Connections evaluated. */
    checked: number;
}

export interface ReachabilityReport {
    needed: FlowResult[];
    denied: FlowResult[];
    uncovered: string[];
    stale: string[];
    /** Pods and containers in the catalog. */
    pods: number;
    containers: number;
}

const DNS_POD: NetPod = {
    namespace: "kube-system",
    labels: { "k8s-app": "kube-dns" },
    ports: [
        { name: "dns", containerPort: 53, protocol: "UDP" },
        { name: "dns-tcp", containerPort: 53, protocol: "TCP" },
    ],
};

interface Target {
    label: string;
    /** The Spark application a pod belongs to. */
    app?: string;
    endpoint: Endpoint;
    port: number;
    protocol: string;
}

/** The concrete addresses/ports an external class stands for. */
function externalTargets(
    c: ExternalClass,
    masterCidr: string,
    port: number,
    nodesCidr?: string,
): Target[] {
    switch (c) {
        case "kubelets":
            if (!nodesCidr)
                throw new Error("preflight: a flow to the kubelets needs the nodes' subnet");
            return [
                {
                    label: `kubelets ${nodesCidr}`,
                    endpoint: { cidr: nodesCidr },
                    port,
                    protocol: "TCP",
                },
            ];
        case "aws-apis":
            // AWS's public endpoints (STS, SES, S3): a representative address of AWS's published
            // ranges; any public address stands for the others behind the same egress rule.
            return [
                {
                    label: "AWS APIs 52.94.0.0/22",
                    endpoint: { cidr: "52.94.0.0/22" },
                    port,
                    protocol: "TCP",
                },
            ];
        case "dns":
            return [
                { label: "kube-dns UDP 53", endpoint: { pod: DNS_POD }, port: 53, protocol: "UDP" },
                { label: "kube-dns TCP 53", endpoint: { pod: DNS_POD }, port: 53, protocol: "TCP" },
            ];
        case "kubernetes-api":
        case "control-plane":
            return [
                {
                    label: `API server ${masterCidr}`,
                    endpoint: { cidr: masterCidr },
                    port,
                    protocol: "TCP",
                },
            ];
        case "metadata-server":
            return [
                {
                    label: "metadata 169.254.169.254:80",
                    endpoint: { cidr: "169.254.169.254/32" },
                    port: 80,
                    protocol: "TCP",
                },
                {
                    label: "metadata 169.254.169.252:988",
                    endpoint: { cidr: "169.254.169.252/32" },
                    port: 988,
                    protocol: "TCP",
                },
            ];
        case "google-apis":
            return [
                {
                    label: "Google APIs 142.250.0.0/15",
                    endpoint: { cidr: "142.250.0.0/15" },
                    port,
                    protocol: "TCP",
                },
                {
                    label: "private.googleapis.com",
                    endpoint: { cidr: "199.36.153.8/30" },
                    port,
                    protocol: "TCP",
                },
            ];
        case "saas-apis":
            return [
                {
                    label: "SaaS APIs (any public address)",
                    endpoint: { cidr: "0.0.0.0/0" },
                    port,
                    protocol: "TCP",
                },
            ];
        case "aws-public":
            return [
                {
                    label: "CloudFront 13.32.0.0/15",
                    endpoint: { cidr: "13.32.0.0/15" },
                    port,
                    protocol: "TCP",
                },
                {
                    label: "S3 us-east-1 52.216.0.0/15",
                    endpoint: { cidr: "52.216.0.0/15" },
                    port,
                    protocol: "TCP",
                },
                {
                    label: "STS 54.239.0.0/16",
                    endpoint: { cidr: "54.239.0.0/16" },
                    port,
                    protocol: "TCP",
                },
            ];
        case "lb-health-checkers":
            return [
                {
                    label: "LB 35.191.0.0/16",
                    endpoint: { cidr: "35.191.0.0/16" },
                    port,
                    protocol: "TCP",
                },
                {
                    label: "LB 130.211.0.0/22",
                    endpoint: { cidr: "130.211.0.0/22" },
                    port,
                    protocol: "TCP",
                },
            ];
    }
}

export function selects(workload: Workload, pod: CatalogPod): boolean {
    if (pod.namespace !== workload.namespace) return false;
    if (workload.kind && pod.kind !== workload.kind) return false;
    return Object.entries(workload.labels).every(([k, v]) => pod.labels[k] === v);
}

function netPod(p: CatalogPod): NetPod {
    return {
        namespace: p.namespace,
        labels: p.labels,
        ports: p.containers.flatMap((c) => c.ports),
    };
}

function endName(e: FlowEnd): string {
    return e.workload ? e.workload.what : String(e.external);
}

export function flowName(f: Flow): string {
    const proto = f.to.external === "dns" ? "53/UDP+TCP" : `${f.port}/${f.protocol ?? "TCP"}`;
    const containers = f.from.containers ? ` [${f.from.containers.join(", ")}]` : "";
    return `${endName(f.from)}${containers} -> ${endName(f.to)} ${proto} (${f.why})`;
}

const APP_LABEL = "sparkoperator.k8s.io/app-name";

function sources(
    f: Flow,
    input: ReachabilityInput,
): { label: string; endpoint: Endpoint; app?: string }[] {
    if (f.from.workload) {
        const wl = f.from.workload;
        return input.pods
            .filter((p) => selects(wl, p))
            .map((p) => ({ label: p.id, endpoint: { pod: netPod(p) }, app: p.labels[APP_LABEL] }));
    }
    return externalTargets(f.from.external!, input.masterCidr, f.port, input.nodesCidr).map(
        (t) => ({
            label: t.label,
            endpoint: t.endpoint,
        }),
    );
}

function targets(f: Flow, input: ReachabilityInput): Target[] {
    if (f.to.workload) {
        const wl = f.to.workload;
        return input.pods
            .filter((p) => selects(wl, p))
            .map((p) => ({
                label: p.id,
                app: p.labels[APP_LABEL],
                endpoint: { pod: netPod(p) },
                port: f.port,
                protocol: f.protocol ?? "TCP",
            }));
    }
    return externalTargets(f.to.external!, input.masterCidr, f.port, input.nodesCidr);
}

function evaluateFlow(f: Flow, input: ReachabilityInput, expect: boolean): FlowResult {
    const problems: string[] = [];
    let checked = 0;
    const srcs = sources(f, input);
    const dsts = targets(f, input);
    for (const s of srcs) {
        for (const d of dsts) {
            // Pods of one Spark application talk among themselves, not to other applications'.
            if (s.app !== undefined && d.app !== undefined && s.app !== d.app) continue;
            checked++;
            const v = connectionAllowed(input.cluster, s.endpoint, d.endpoint, d.port, d.protocol);
            if (v.allowed !== expect) {
                problems.push(
                    expect
                        ? `${s.label} -> ${d.label} ${d.port}/${d.protocol} is DENIED: egress: ${v.egress}; ingress: ${v.ingress}`
                        : `${s.label} -> ${d.label} ${d.port}/${d.protocol} is ALLOWED (must be denied): egress by ${v.egress}; ingress by ${v.ingress}`,
                );
            }
        }
    }
    return { flow: flowName(f), problems, checked };
}

/**
 * The policies (`<namespace>/<name>`) that allow the needed flows leaving `pod`: what must exist
 * before the pod's first connection (egress at the source, ingress at the destination).
 */
export function allowingPolicies(
    pod: CatalogPod,
    input: ReachabilityInput,
    needed: Flow[],
): string[] {
    const out = new Set<string>();
    for (const f of needed) {
        if (!f.from.workload || !selects(f.from.workload, pod)) continue;
        for (const d of targets(f, input)) {
            const v = connectionAllowed(
                input.cluster,
                { pod: netPod(pod) },
                d.endpoint,
                d.port,
                d.protocol,
            );
            if (!v.allowed) continue;
            for (const why of [v.egress, v.ingress]) {
                const m = /^(\S+\/\S+) (?:egress|ingress)\[\d+\]$/.exec(why);
                if (m) out.add(m[1]!);
            }
        }
    }
    return [...out];
}

/** Evaluate the table; pods and policies come from the stack's render. */
export function checkReachability(
    input: ReachabilityInput,
    needed: Flow[],
    denied: Flow[],
): ReachabilityReport {
    const stale: string[] = [];
    for (const f of [...needed, ...denied]) {
        for (const end of [f.from, f.to]) {
            if (end.workload && !input.pods.some((p) => selects(end.workload!, p))) {
                stale.push(`${flowName(f)}: "${end.workload.what}" selects no pod of the stack`);
            }
        }
        if (f.from.workload && f.from.containers) {
            const pods = input.pods.filter((p) => selects(f.from.workload!, p));
            for (const c of f.from.containers) {
                if (
                    pods.length > 0 &&
                    !pods.some((p) => p.containers.some((pc) => pc.name === c))
                ) {
                    stale.push(
                        `${flowName(f)}: no pod of "${f.from.workload.what}" has a container ${c}`,
                    );
                }
            }
        }
    }

    // Coverage: every container of every pod appears in a needed flow.
    const uncovered: string[] = [];
    let containers = 0;
    for (const pod of input.pods) {
        for (const c of pod.containers) {
            containers++;
            const covered = needed.some((f) => {
                if (f.from.workload && selects(f.from.workload, pod)) {
                    // A flow without a container list stands for the pod's regular containers;
                    // init containers run on their own and must be named.
                    if (f.from.containers ? f.from.containers.includes(c.name) : !c.init)
                        return true;
                }
                if (f.to.workload && selects(f.to.workload, pod)) {
                    return c.ports.some(
                        (p) =>
                            p.containerPort === f.port &&
                            (p.protocol ?? "TCP") === (f.protocol ?? "TCP"),
                    );
                }
                return false;
            });
            if (!covered) {
                uncovered.push(
                    `${pod.id} container ${c.name}${c.init ? " (init)" : ""}: no flow of offline/preflight/flows.ts covers it; declare what it connects to`,
                );
            }
        }
    }

    return {
        needed: needed.map((f) => evaluateFlow(f, input, true)),
        denied: denied.map((f) => evaluateFlow(f, input, false)),
        uncovered,
        stale,
        pods: input.pods.length,
        containers,
    };
}
