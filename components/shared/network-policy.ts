/**
 * NetworkPolicy builders. Every namespace starts with "deny all ingress and egress" plus DNS
 * (PlatformNamespaces); each component then allows exactly the traffic its pods need, next to
 * the pods, so a reader sees a workload's connections where the workload is defined.
 */
import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { PART_OF } from "./labels";

type Peer = k8s.types.input.networking.v1.NetworkPolicyPeer;
type Port = k8s.types.input.networking.v1.NetworkPolicyPort;

/** Source ranges of Google's load-balancer proxies and health checks (GKE Gateway traffic). */
export const GOOGLE_LB_RANGES = ["35.191.0.0/16", "130.211.0.0/22"];
/** GKE metadata server (Workload Identity tokens). */
export const GKE_METADATA = ["169.254.169.254/32", "169.254.169.252/32"];

/** Pods of namespace `ns` (by the name label Kubernetes sets on every namespace). */
export function fromNamespace(ns: pulumi.Input<string>, podLabels?: Record<string, string>): Peer {
    return {
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
        ...(podLabels ? { podSelector: { matchLabels: podLabels } } : {}),
    };
}

export function tcp(...ports: number[]): Port[] {
    return ports.map((port) => ({ protocol: "TCP", port }));
}

/** Anything outside the cluster on 443 (Google APIs through Private Google Access, or NAT). */
export const INTERNET_HTTPS = {
    to: [{ ipBlock: { cidr: "0.0.0.0/0" } }],
    ports: tcp(443),
};

/**
 * HTTPS outside the cluster except the control plane: for pods that must not reach the
 * Kubernetes API (they mount no token, and the API server should not even be reachable from a
 * compromised public pod). `0.0.0.0/0` alone includes the control plane's private endpoint.
 */
export function httpsExceptApiServer(apiServerCidr: string) {
    return {
        to: [{ ipBlock: { cidr: "0.0.0.0/0", except: [apiServerCidr] } }],
        ports: tcp(443),
    };
}

/** The GKE metadata server: Workload Identity tokens for Google APIs (ports 80 and 988). */
export const GKE_METADATA_EGRESS = {
    to: GKE_METADATA.map((cidr) => ({ ipBlock: { cidr } })),
    ports: tcp(80, 988),
};

/** The Kubernetes API server (the GKE control plane's range) on 443. */
export function apiServerEgress(cidr: string) {
    return { to: [{ ipBlock: { cidr } }], ports: tcp(443) };
}

export interface AllowRules {
    /** Pods the policy applies to. */
    podSelector: Record<string, string>;
    ingress?: { from: Peer[]; ports?: Port[] }[];
    egress?: { to: Peer[]; ports?: Port[] }[];
}

/** An allow policy for some pods of a namespace; omitted directions stay denied. */
export function allowPolicy(
    resourceName: string,
    meta: { name: string; namespace: pulumi.Input<string> },
    rules: AllowRules,
    opts: pulumi.CustomResourceOptions,
): k8s.networking.v1.NetworkPolicy {
    const policyTypes = [
        ...(rules.ingress ? ["Ingress"] : []),
        ...(rules.egress ? ["Egress"] : []),
    ];
    return new k8s.networking.v1.NetworkPolicy(
        resourceName,
        {
            metadata: { ...meta, labels: { "app.kubernetes.io/part-of": PART_OF } },
            spec: {
                podSelector: { matchLabels: rules.podSelector },
                policyTypes,
                ...(rules.ingress ? { ingress: rules.ingress } : {}),
                ...(rules.egress ? { egress: rules.egress } : {}),
            },
        },
        opts,
    );
}
