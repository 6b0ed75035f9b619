/**
 * IPv4 CIDR arithmetic and the control-plane authorized-network rule, shared by the stack config
 * (stacks/config-schema.ts, through components/index.ts) and the policy pack's
 * `gke-control-plane-restricted` rule. Pure functions: no Pulumi resources.
 */

/** An IPv4 CIDR block such as 10.0.0.0/20, with host bits zero. */
export interface Cidr {
    base: number;
    prefix: number;
}

export function parseCidr(text: string): Cidr | undefined {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
    if (!m) return undefined;
    const octets = m.slice(1, 5).map(Number);
    const prefix = Number(m[5]);
    if (octets.some((o) => o > 255) || prefix > 32) return undefined;
    const base = octets.reduce((acc, o) => acc * 256 + o, 0);
    return { base, prefix };
}

export function cidrSize(c: Cidr): number {
    return 2 ** (32 - c.prefix);
}

export function cidrHostBitsZero(c: Cidr): boolean {
    return c.base % cidrSize(c) === 0;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
    return a.base < b.base + cidrSize(b) && b.base < a.base + cidrSize(a);
}

/** Ranges that are not on the public internet (RFC 1918 private, RFC 6598 shared). */
const NON_PUBLIC: Cidr[] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"].map(
    (t) => parseCidr(t)!,
);

/** The widest public range accepted as a control-plane authorized network. */
export const WIDEST_PUBLIC_AUTHORIZED_PREFIX = 16;

function within(inner: Cidr, outer: Cidr): boolean {
    return (
        inner.prefix >= outer.prefix &&
        inner.base >= outer.base &&
        inner.base + cidrSize(inner) <= outer.base + cidrSize(outer)
    );
}

/**
 * Why a CIDR block must not be allowed to reach the GKE control plane, or undefined when it may.
 * `/0` is the whole internet; a public range wider than /16 (65,536 addresses: a provider's
 * or a cloud's pool, not one office or VPN egress) lets strangers reach the Kubernetes API and
 * try stolen credentials or an unpatched API-server flaw. Private ranges reach the control
 * plane only from inside the VPC, so any width from /8 is accepted. Shared by the stack config
 * and the `gke-control-plane-restricted` policy.
 */
export function authorizedNetworkProblem(text: string): string | undefined {
    const c = parseCidr(text);
    if (!c) return "is not an IPv4 CIDR block such as 203.0.113.0/24";
    if (c.prefix === 0) {
        return "is the whole internet: it opens the Kubernetes API to anyone, who can then try stolen credentials and API-server exploits";
    }
    if (NON_PUBLIC.some((n) => within(c, n))) return undefined;
    if (c.prefix < WIDEST_PUBLIC_AUTHORIZED_PREFIX) {
        return `is a public range of ${cidrSize(c).toLocaleString("en-US")} addresses, wider than /${WIDEST_PUBLIC_AUTHORIZED_PREFIX}: list only your office, VPN or runner egress ranges`;
    }
    return undefined;
}
