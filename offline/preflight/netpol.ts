/**
 * Kubernetes NetworkPolicy semantics (networking.k8s.io/v1), evaluated on rendered objects.
 *
 * What the API documents and this evaluator implements:
 * - A pod is isolated for a direction when at least one policy in its namespace selects it
 *   (`spec.podSelector`) and lists that direction in `policyTypes` (`policyTypes` absent means
 *   `["Ingress"]`, plus `"Egress"` when the policy has an `egress` section).
 * - An isolated direction allows exactly the union of the rules of the policies that select
 *   the pod for that direction; a non-isolated direction allows everything.
 * - A connection needs BOTH the source's egress and the destination's ingress.
 * - A rule with no `from`/`to` matches every peer; with no `ports` every port. Peers:
 *   `podSelector` alone = pods of the policy's namespace; `namespaceSelector` alone = every pod
 *   of the selected namespaces; both = those pods of those namespaces; `ipBlock` = addresses
 *   in `cidr` minus `except`.
 * - Label selectors: `matchLabels` AND `matchExpressions` (In, NotIn, Exists, DoesNotExist);
 *   an empty selector matches everything.
 * - Ports: `protocol` (default TCP), `port` as a number or a named container port of the
 *   DESTINATION pod (resolved on that pod), `endPort` for a numeric range.
 * - Namespaces carry `kubernetes.io/metadata.name: <name>` (set by the API server).
 *
 * Pod addresses and `ipBlock`: pod IPs come from the cluster's pod range; an `ipBlock` matches a
 * pod peer only when it contains the whole pod range (and no `except` overlaps it), so the
 * evaluation never depends on which address a pod happens to get.
 */

export interface LabelSelector {
    matchLabels?: Record<string, string>;
    matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export interface PolicyPort {
    protocol?: string;
    port?: number | string;
    endPort?: number;
}

export interface PolicyPeer {
    podSelector?: LabelSelector;
    namespaceSelector?: LabelSelector;
    ipBlock?: { cidr: string; except?: string[] };
}

export interface PolicyRule {
    from?: PolicyPeer[];
    to?: PolicyPeer[];
    ports?: PolicyPort[];
}

export interface NetworkPolicy {
    metadata: { name: string; namespace: string };
    spec: {
        podSelector?: LabelSelector;
        policyTypes?: string[];
        ingress?: PolicyRule[];
        egress?: PolicyRule[];
    };
}

export interface ContainerPort {
    name?: string;
    containerPort: number;
    protocol?: string;
}

/** A pod as network policies see it. */
export interface NetPod {
    namespace: string;
    labels: Record<string, string>;
    /** Named ports of the pod's containers (for policies that name a port). */
    ports: ContainerPort[];
}

/** One side of a connection: a pod, or an address range outside the pod network. */
export type Endpoint = { pod: NetPod } | { cidr: string };

export interface Verdict {
    allowed: boolean;
    /** Why: which policies isolate and which rule (if any) allowed each direction. */
    egress: string;
    ingress: string;
}

// ---------------------------------------------------------------------------------------------
// Selectors

export function selectorMatches(sel: LabelSelector | undefined, labels: Record<string, string>) {
    if (!sel) return true;
    for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
        if (labels[k] !== v) return false;
    }
    for (const e of sel.matchExpressions ?? []) {
        const has = Object.prototype.hasOwnProperty.call(labels, e.key);
        const values = e.values ?? [];
        switch (e.operator) {
            case "In":
                if (!has || !values.includes(labels[e.key]!)) return false;
                break;
            case "NotIn":
                // A pod without the key satisfies NotIn (Kubernetes label selector semantics).
                if (has && values.includes(labels[e.key]!)) return false;
                break;
            case "Exists":
                if (!has) return false;
                break;
            case "DoesNotExist":
                if (has) return false;
                break;
            default:
                throw new Error(`label selector: unknown operator ${JSON.stringify(e.operator)}`);
        }
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// CIDR arithmetic (IPv4)

interface Range {
    lo: number;
    hi: number;
}

export function parseCidr(cidr: string): Range {
    const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
    if (!m) throw new Error(`not an IPv4 CIDR: ${JSON.stringify(cidr)}`);
    const octets = m.slice(1, 5).map(Number);
    const bits = Number(m[5]);
    if (octets.some((o) => o > 255) || bits > 32) throw new Error(`bad CIDR ${cidr}`);
    const addr = octets.reduce((a, o) => a * 256 + o, 0);
    const size = 2 ** (32 - bits);
    const lo = addr - (addr % size);
    return { lo, hi: lo + size - 1 };
}

const contains = (outer: Range, inner: Range) => outer.lo <= inner.lo && inner.hi <= outer.hi;
const overlaps = (a: Range, b: Range) => a.lo <= b.hi && b.lo <= a.hi;

/** True when every address of `cidr` is in the block (inside `cidr`, outside each `except`). */
export function ipBlockCovers(block: { cidr: string; except?: string[] }, cidr: string): boolean {
    const target = parseCidr(cidr);
    if (!contains(parseCidr(block.cidr), target)) return false;
    return !(block.except ?? []).some((e) => overlaps(parseCidr(e), target));
}

// ---------------------------------------------------------------------------------------------
// Policies

/** The policy types a policy applies to, with the API server's defaulting. */
export function policyTypesOf(p: NetworkPolicy): string[] {
    if (p.spec.policyTypes && p.spec.policyTypes.length > 0) return p.spec.policyTypes;
    return p.spec.egress !== undefined ? ["Ingress", "Egress"] : ["Ingress"];
}

export interface Cluster {
    policies: NetworkPolicy[];
    /** Labels of each namespace (the name label is added here). */
    namespaces: Record<string, Record<string, string>>;
    /** The pod address range (for ipBlock peers that may cover pods). */
    podCidr: string;
}

function namespaceLabels(cluster: Cluster, ns: string): Record<string, string> {
    return { ...(cluster.namespaces[ns] ?? {}), "kubernetes.io/metadata.name": ns };
}

function peerMatches(
    peer: PolicyPeer,
    policyNs: string,
    other: Endpoint,
    cluster: Cluster,
): boolean {
    if (peer.ipBlock) {
        const cidr = "pod" in other ? cluster.podCidr : other.cidr;
        return ipBlockCovers(peer.ipBlock, cidr);
    }
    if (!("pod" in other)) return false; // selectors select pods only
    const pod = other.pod;
    if (peer.namespaceSelector) {
        if (!selectorMatches(peer.namespaceSelector, namespaceLabels(cluster, pod.namespace))) {
            return false;
        }
    } else if (pod.namespace !== policyNs) {
        return false;
    }
    return selectorMatches(peer.podSelector, pod.labels);
}

/** Does a policy port admit `port`/`protocol` on the destination? */
function portMatches(
    pp: PolicyPort,
    port: number,
    protocol: string,
    destination: Endpoint,
): boolean {
    if ((pp.protocol ?? "TCP") !== protocol) return false;
    if (pp.port === undefined) return true;
    if (typeof pp.port === "string") {
        // A named port: the destination pod's container port of that name and protocol.
        if (!("pod" in destination)) return false;
        return destination.pod.ports.some(
            (p) =>
                p.name === pp.port &&
                p.containerPort === port &&
                (p.protocol ?? "TCP") === protocol,
        );
    }
    const end = pp.endPort ?? pp.port;
    return pp.port <= port && port <= end;
}

function ruleAllows(
    rule: PolicyRule,
    peers: PolicyPeer[] | undefined,
    policyNs: string,
    other: Endpoint,
    port: number,
    protocol: string,
    destination: Endpoint,
    cluster: Cluster,
): boolean {
    const peerOk =
        peers === undefined ||
        peers.length === 0 ||
        peers.some((p) => peerMatches(p, policyNs, other, cluster));
    const portOk =
        rule.ports === undefined ||
        rule.ports.length === 0 ||
        rule.ports.some((pp) => portMatches(pp, port, protocol, destination));
    return peerOk && portOk;
}

function direction(
    dir: "Ingress" | "Egress",
    subject: NetPod,
    other: Endpoint,
    port: number,
    protocol: string,
    destination: Endpoint,
    cluster: Cluster,
): { allowed: boolean; why: string } {
    const selecting = cluster.policies.filter(
        (p) =>
            p.metadata.namespace === subject.namespace &&
            policyTypesOf(p).includes(dir) &&
            selectorMatches(p.spec.podSelector, subject.labels),
    );
    if (selecting.length === 0) {
        return { allowed: true, why: `${dir.toLowerCase()} not isolated (no policy selects it)` };
    }
    for (const p of selecting) {
        const rules = (dir === "Ingress" ? p.spec.ingress : p.spec.egress) ?? [];
        for (const [i, rule] of rules.entries()) {
            const peers = dir === "Ingress" ? rule.from : rule.to;
            if (
                ruleAllows(
                    rule,
                    peers,
                    p.metadata.namespace,
                    other,
                    port,
                    protocol,
                    destination,
                    cluster,
                )
            ) {
                return {
                    allowed: true,
                    why: `${p.metadata.namespace}/${p.metadata.name} ${dir.toLowerCase()}[${i}]`,
                };
            }
        }
    }
    const names = selecting.map((p) => `${p.metadata.namespace}/${p.metadata.name}`);
    return { allowed: false, why: `no ${dir.toLowerCase()} rule of ${names.join(", ")} allows it` };
}

/**
 * May `source` open a connection to `destination` on `port`/`protocol`? Endpoints outside the
 * pod network (`{cidr}`) have no policies of their own.
 */
export function connectionAllowed(
    cluster: Cluster,
    source: Endpoint,
    destination: Endpoint,
    port: number,
    protocol = "TCP",
): Verdict {
    const egress =
        "pod" in source
            ? direction("Egress", source.pod, destination, port, protocol, destination, cluster)
            : { allowed: true, why: "source outside the cluster" };
    const ingress =
        "pod" in destination
            ? direction("Ingress", destination.pod, source, port, protocol, destination, cluster)
            : { allowed: true, why: "destination outside the cluster" };
    return { allowed: egress.allowed && ingress.allowed, egress: egress.why, ingress: ingress.why };
}
