/**
 * The typed field kinds stack configuration is built from. Each field knows its Pulumi.yaml
 * declaration (type, description, default) and how to parse and check the raw string the
 * Pulumi engine hands the program, so the declaration and the check can never drift apart.
 *
 * Raw values arrive as the engine passes them: scalars as strings ("3", "true"), arrays as
 * JSON text. `undefined` means the stack file does not set the key.
 */

/** The types Pulumi.yaml can declare for a project config key. */
export type PulumiConfigType = "string" | "integer" | "boolean" | "array";

/** A problem with one key: what was seen and what is expected. */
export interface FieldProblem {
    seen: string;
    expected: string;
}

export interface Field<T> {
    readonly type: PulumiConfigType;
    /** Values of this key are never echoed in a problem (it is easily confused with a secret). */
    readonly sensitive?: boolean;
    readonly itemType?: "string";
    readonly description: string;
    /** Default applied when the key is unset; absent means the key is required. */
    readonly default?: T;
    /** Marks the key as a Pulumi secret (read with requireSecret). */
    readonly secret?: boolean;
    /** Parse and check a raw value; returns the typed value or the problem. */
    parse(raw: string): { value: T } | { problem: FieldProblem };
}

interface Common<T> {
    description: string;
    default?: T;
    /** Never echo a rejected value of this key, only its kind and length. */
    sensitive?: boolean;
}

/**
 * A value for an error message, with anything that looks like a credential replaced by its kind
 * and length: the userinfo of a URL (`https://<credentials: 44 characters, not shown>@host/…`), a
 * token with a well-known prefix (GitHub, GitLab, Slack, AWS, OpenAI, a JWT or a private key).
 * Error messages and logs must never carry a secret, even when the secret is what is wrong.
 */
export function showValue(value: unknown): string {
    const raw = typeof value === "string" ? value : JSON.stringify(value);
    let text = raw;
    if (typeof value === "string") {
        const url = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#@\s]*)@(.*)$/i.exec(text);
        if (url) {
            text = `${url[1]}<credentials: ${url[2]!.length} characters, not shown>@${url[3]}`;
        }
        const query = /^([a-z][a-z0-9+.-]*:\/\/[^?#\s]*)\?([^#\s]*)(.*)$/i.exec(text);
        if (query) {
            text = `${query[1]}?<query: ${query[2]!.length} characters, not shown>${query[3]}`;
        }
    }
    const token = tokenKind(text);
    if (token !== undefined) return `${token} (${raw.length} characters, not shown)`;
    return typeof value === "string" ? JSON.stringify(text) : text;
}

const TOKEN_PATTERNS: [RegExp, string][] = [
    [/(^|[^A-Za-z0-9])(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}/, "a GitHub token"],
    [/github_pat_[A-Za-z0-9_]{20,}/, "a GitHub token"],
    [/glpat-[A-Za-z0-9_-]{20,}/, "a GitLab token"],
    [/xox[abprs]-[A-Za-z0-9-]{10,}/, "a Slack token"],
    [/(^|[^A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}/, "an AWS access key id"],
    [/(^|[^A-Za-z0-9])sk-[A-Za-z0-9_-]{20,}/, "an API key"],
    [/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./, "a JSON Web Token"],
    [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, "a private key"],
];

function tokenKind(raw: string): string | undefined {
    return TOKEN_PATTERNS.find(([re]) => re.test(raw))?.[1];
}

/** A value never shown at all (a field marked `sensitive`): only its kind and length. */
function hidden(raw: string): string {
    return `a ${raw.length}-character string (not shown: this key must not hold a credential, and a wrong value here may be one)`;
}

/** A string, optionally limited to a set of values or a pattern. */
export function str(
    opts: Common<string> & {
        oneOf?: readonly string[];
        pattern?: RegExp;
        /** Human wording of the pattern, e.g. "a GCP region such as europe-west1". */
        patternText?: string;
        /** Extra check returning the expectation text on failure. */
        check?: (v: string) => string | undefined;
    },
): Field<string> {
    const show = opts.sensitive ? hidden : showValue;
    return {
        type: "string",
        description: opts.description,
        ...(opts.default !== undefined ? { default: opts.default } : {}),
        ...(opts.sensitive ? { sensitive: true } : {}),
        parse(raw) {
            if (opts.oneOf && !opts.oneOf.includes(raw)) {
                return {
                    problem: { seen: show(raw), expected: `one of ${opts.oneOf.join(", ")}` },
                };
            }
            if (opts.pattern && !(raw === opts.default || opts.pattern.test(raw))) {
                return {
                    problem: { seen: show(raw), expected: opts.patternText ?? `${opts.pattern}` },
                };
            }
            const failed = opts.check?.(raw);
            if (failed !== undefined) return { problem: { seen: show(raw), expected: failed } };
            return { value: raw };
        },
    };
}

/** An enum of string literals; the parsed type is the literal union. */
export function oneOf<const V extends readonly string[]>(
    values: V,
    opts: Common<V[number]>,
): Field<V[number]> {
    return str({ ...opts, oneOf: values });
}

/** A whole number within [min, max]. */
export function int(opts: Common<number> & { min: number; max: number }): Field<number> {
    const expected = `a whole number from ${opts.min} to ${opts.max}`;
    return {
        type: "integer",
        description: opts.description,
        ...(opts.default !== undefined ? { default: opts.default } : {}),
        parse(raw) {
            if (!/^-?\d+$/.test(raw.trim())) return { problem: { seen: showValue(raw), expected } };
            const n = Number(raw);
            if (n < opts.min || n > opts.max) return { problem: { seen: raw, expected } };
            return { value: n };
        },
    };
}

/** true or false. */
export function bool(opts: Common<boolean>): Field<boolean> {
    return {
        type: "boolean",
        description: opts.description,
        ...(opts.default !== undefined ? { default: opts.default } : {}),
        parse(raw) {
            if (raw === "true") return { value: true };
            if (raw === "false") return { value: false };
            return { problem: { seen: showValue(raw), expected: "true or false" } };
        },
    };
}

/**
 * A list of strings, each accepted by `item.ok` (described by `item.text`); `item.why`, when
 * given, explains why a well-formed item is still refused (undefined: accepted).
 */
export function list(
    opts: Common<string[]> & {
        item: {
            text: string;
            ok: (v: string) => boolean;
            why?: (v: string) => string | undefined;
        };
        minItems?: number;
        maxItems?: number;
    },
): Field<string[]> {
    const min = opts.minItems ?? 0;
    const max = opts.maxItems ?? 100;
    const expected = `a list of ${min} to ${max} items, each ${opts.item.text}`;
    return {
        type: "array",
        itemType: "string",
        description: opts.description,
        ...(opts.default !== undefined ? { default: opts.default } : {}),
        parse(raw) {
            let parsed: unknown;
            try {
                parsed = JSON.parse(raw);
            } catch {
                return { problem: { seen: showValue(raw), expected } };
            }
            if (!Array.isArray(parsed) || parsed.length < min || parsed.length > max) {
                return { problem: { seen: showValue(raw), expected } };
            }
            for (const [i, item] of parsed.entries()) {
                const seen = `${showValue(item)} at index ${i}`;
                if (typeof item !== "string" || !opts.item.ok(item)) {
                    const why = typeof item === "string" ? opts.item.why?.(item) : undefined;
                    const expected = `each item ${opts.item.text}`;
                    const reason = why ? `; ${showValue(item)}: ${why}` : "";
                    return { problem: { seen, expected: `${expected}${reason}` } };
                }
                const why = opts.item.why?.(item);
                if (why !== undefined) {
                    const expected = `each item ${opts.item.text}; this one ${why}`;
                    return { problem: { seen, expected } };
                }
            }
            return { value: parsed as string[] };
        },
    };
}

// ---- Shared value checks ------------------------------------------------------------------

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

function cidrSize(c: Cidr): number {
    return 2 ** (32 - c.prefix);
}

export function cidrHostBitsZero(c: Cidr): boolean {
    return c.base % cidrSize(c) === 0;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
    return a.base < b.base + cidrSize(b) && b.base < a.base + cidrSize(a);
}

/** A CIDR check whose prefix lies within [minPrefix, maxPrefix]: predicate plus its wording. */
export function cidrRule(
    minPrefix: number,
    maxPrefix: number,
    example: string,
): { text: string; ok: (v: string) => boolean } {
    const range =
        minPrefix === maxPrefix ? `/${minPrefix}` : `a prefix from /${minPrefix} to /${maxPrefix}`;
    return {
        text: `an IPv4 CIDR block with ${range} and zero host bits (e.g. ${example})`,
        ok: (v) => {
            const c = parseCidr(v);
            return !!c && c.prefix >= minPrefix && c.prefix <= maxPrefix && cidrHostBitsZero(c);
        },
    };
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
