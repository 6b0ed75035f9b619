/**
 * Request-target parsing: the only place a URL path becomes site + object key. Everything that
 * could name something outside a site is rejected here, before storage is touched:
 * traversal (`..`, `.`, percent-encoded or not), separators hidden in a segment (`%2f`, `\`),
 * NUL and other control bytes, malformed percent-encoding, absolute-form and asterisk targets,
 * empty segments (`//`), and over-long targets, segments or depths. Backends re-check keys anyway.
 */
import { SITE_NAME_RE } from "./storage";

export const MAX_TARGET_LENGTH = 2048;
export const MAX_SEGMENT_BYTES = 255;
export const MAX_DEPTH = 32;

export type ParsedTarget =
    | { kind: "index"; query: string }
    | { kind: "healthz" }
    | { kind: "metrics" }
    | {
          kind: "site";
          site: string;
          /** Decoded segments after the site name (may be empty). */
          segments: string[];
          /** The target ended with `/`. */
          directory: boolean;
          /** The raw query string including `?`, or `""`. */
          query: string;
      }
    | { kind: "reject"; status: 400 | 404 | 414; reason: string };

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

function reject(status: 400 | 404 | 414, reason: string): ParsedTarget {
    return { kind: "reject", status, reason };
}

export function parseTarget(target: string | undefined): ParsedTarget {
    const raw = target ?? "";
    if (raw.length > MAX_TARGET_LENGTH) return reject(414, "target too long");
    if (!raw.startsWith("/")) return reject(400, "target is not origin-form");
    const q = raw.indexOf("?");
    const rawPath = q < 0 ? raw : raw.slice(0, q);
    const query = q < 0 ? "" : raw.slice(q);
    if (rawPath.includes("#") || CONTROL.test(raw) || raw.includes(" ")) {
        return reject(400, "illegal character in target");
    }
    if (rawPath === "/") return { kind: "index", query };
    if (rawPath === "/healthz") return { kind: "healthz" };
    if (rawPath === "/metrics") return { kind: "metrics" };

    const parts = rawPath.slice(1).split("/");
    const directory = parts[parts.length - 1] === "";
    if (directory) parts.pop();
    if (parts.length > MAX_DEPTH) return reject(414, "path too deep");
    const segments: string[] = [];
    for (const part of parts) {
        if (part === "") return reject(400, "empty path segment");
        let decoded: string;
        try {
            decoded = decodeURIComponent(part);
        } catch {
            return reject(400, "malformed percent-encoding");
        }
        if (decoded === "." || decoded === "..") return reject(400, "dot segment");
        if (decoded === "" || decoded.includes("/") || decoded.includes("\\")) {
            return reject(400, "separator inside a segment");
        }
        if (CONTROL.test(decoded)) return reject(400, "control character in path");
        if (Buffer.byteLength(decoded, "utf8") > MAX_SEGMENT_BYTES) {
            return reject(414, "path segment too long");
        }
        // Hidden files (.git, .env, partial uploads) are never served.
        if (decoded.startsWith(".")) return reject(404, "hidden path");
        segments.push(decoded);
    }
    const [site, ...rest] = segments;
    if (site === undefined || !SITE_NAME_RE.test(site)) return reject(404, "not a site name");
    return { kind: "site", site, segments: rest, directory, query };
}

/** The canonical URL path of `site` + `segments` (each segment percent-encoded). */
export function encodePath(site: string, segments: readonly string[], directory: boolean): string {
    const body = [site, ...segments].map((s) => encodeURIComponent(s)).join("/");
    return `/${body}${directory ? "/" : ""}`;
}
