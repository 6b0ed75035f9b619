/**
 * Settings read from the environment. Only this module reads `process.env`; `main.ts` calls
 * {@link loadConfig} once and passes the typed {@link Config} down. A missing or malformed value
 * fails with a message naming the variable, what was seen and what is expected.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";

import type { LogLevel } from "./log";
import { LOG_LEVELS } from "./log";

/** Where the sites live: a GCS bucket (and optional prefix) or a local folder. */
export type DocsLocation =
    | { kind: "gcs"; bucket: string; prefix: string; uri: string }
    | { kind: "file"; root: string; uri: string };

export interface Config {
    docs: DocsLocation;
    /**
     * `GCS_API_ENDPOINT`: a GCS-compatible endpoint instead of https://storage.googleapis.com
     * (an emulator: tests, `npm start -- --storage emulated`), used without credentials.
     */
    gcsApiEndpoint?: string;
    /** TCP port to listen on (default 8080). */
    port: number;
    /** Interface to bind (default 0.0.0.0). */
    host: string;
    /** Lowest log level written (default info). */
    logLevel: LogLevel;
    /** How long the site list and each site's summary are cached, in seconds (default 30). */
    catalogTtlSeconds: number;
    /** Memory for hot object bodies (raw and gzip), in MiB (default 32; 0 disables). */
    cacheMb: number;
    /**
     * How long a found object's stat is reused, in milliseconds (default 1000 for gs://, 0 for
     * file://; 0 disables).
     */
    statCacheMs: number;
    /** After SIGTERM, keep serving (with /healthz failing) this long so the LB drains (default 5). */
    shutdownDelaySeconds: number;
    /** Then wait at most this long for in-flight requests before closing sockets (default 20). */
    shutdownTimeoutSeconds: number;
}

export class ConfigError extends Error {
    override name = "ConfigError";
}

// GCS bucket names: 3-63 characters (up to 222 with dots), lower-case letters, digits, -, _ and .,
// starting and ending with a letter or digit.
const BUCKET_RE = /^[a-z0-9](?:[a-z0-9._-]{1,220})[a-z0-9]$/;

/** Parse `gs://bucket[/prefix]` or `file:///absolute/path` into a {@link DocsLocation}. */
export function parseDocsUri(raw: string, name = "DOCS_URI"): DocsLocation {
    const uri = raw.trim();
    const hint = `expected gs://<bucket>[/<prefix>] or file:///<absolute path>`;
    if (uri.startsWith("gs://")) {
        const rest = uri.slice("gs://".length);
        const slash = rest.indexOf("/");
        const bucket = slash < 0 ? rest : rest.slice(0, slash);
        const prefix = slash < 0 ? "" : rest.slice(slash + 1).replace(/^\/+|\/+$/g, "");
        if (!BUCKET_RE.test(bucket) || bucket.includes("..")) {
            throw new ConfigError(
                `${name}=${JSON.stringify(raw)} has an invalid bucket name ${JSON.stringify(bucket)}; ` +
                    `bucket names are 3-63 lower-case letters, digits, '-', '_' or '.' (${hint}).`,
            );
        }
        if (prefix !== "" && prefix.split("/").some((s) => s === "" || s === "." || s === "..")) {
            throw new ConfigError(
                `${name}=${JSON.stringify(raw)} has an invalid prefix ${JSON.stringify(prefix)}; ` +
                    "use plain path segments without '.', '..' or empty parts.",
            );
        }
        return { kind: "gcs", bucket, prefix, uri: `gs://${bucket}${prefix ? `/${prefix}` : ""}` };
    }
    if (uri.startsWith("file:")) {
        let root: string;
        try {
            root = fileURLToPath(uri);
        } catch (err) {
            throw new ConfigError(
                `${name}=${JSON.stringify(raw)} is not a valid file URI (${(err as Error).message}); ` +
                    `${hint}, e.g. file:///tmp/docs.`,
            );
        }
        if (!path.isAbsolute(root)) {
            throw new ConfigError(
                `${name}=${JSON.stringify(raw)} must name an absolute path; ${hint}.`,
            );
        }
        const normalized = path.resolve(root);
        return { kind: "file", root: normalized, uri: `file://${normalized}` };
    }
    throw new ConfigError(
        `${name}=${JSON.stringify(raw)} is not supported; ${hint} ` +
            "(it is normally set by the pipeline-env ConfigMap or the Deployment).",
    );
}

function get(env: NodeJS.ProcessEnv, key: string): string | undefined {
    const value = env[key];
    return value === undefined || value.trim() === "" ? undefined : value.trim();
}

function integer(
    env: NodeJS.ProcessEnv,
    key: string,
    fallback: number,
    min: number,
    max: number,
): number {
    const raw = get(env, key);
    if (raw === undefined) return fallback;
    const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
        throw new ConfigError(
            `environment variable ${key}=${JSON.stringify(raw)} is not valid; ` +
                `expected a whole number from ${min} to ${max} (default ${fallback}).`,
        );
    }
    return value;
}

/** Read and validate the app's settings from `env` (default `process.env`). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
    const docsUri = get(env, "DOCS_URI");
    if (docsUri === undefined) {
        throw new ConfigError(
            "environment variable DOCS_URI is not set; it says where the published sites are. " +
                "Set it, e.g. DOCS_URI=gs://my-docs-bucket or DOCS_URI=file:///tmp/docs " +
                "(in the cluster it comes from the pipeline-env ConfigMap).",
        );
    }
    const logLevel = (get(env, "LOG_LEVEL") ?? "info").toLowerCase();
    if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
        throw new ConfigError(
            `environment variable LOG_LEVEL=${JSON.stringify(env.LOG_LEVEL)} is not valid; ` +
                `expected one of ${LOG_LEVELS.join(", ")} (default info).`,
        );
    }
    if (get(env, "STORAGE_EMULATOR_HOST") !== undefined) {
        // @google-cloud/storage takes this variable as its JSON API base URL verbatim (without
        // /storage/v1) but downloads from it as the API endpoint: no value serves both.
        throw new ConfigError(
            "environment variable STORAGE_EMULATOR_HOST is set, which the Node GCS client " +
                "misroutes; unset it and set GCS_API_ENDPOINT=http://<host>:<port> (the emulator's " +
                "address) instead.",
        );
    }
    const endpoint = get(env, "GCS_API_ENDPOINT");
    if (endpoint !== undefined && !/^https?:\/\/[^/?#]+\/?$/.test(endpoint)) {
        throw new ConfigError(
            `environment variable GCS_API_ENDPOINT=${JSON.stringify(endpoint)} is not valid; ` +
                "expected http(s)://<host>[:<port>] without a path (a GCS emulator).",
        );
    }
    const docs = parseDocsUri(docsUri);
    return {
        docs,
        ...(endpoint !== undefined ? { gcsApiEndpoint: endpoint.replace(/\/$/, "") } : {}),
        port: integer(env, "PORT", 8080, 0, 65535),
        host: get(env, "HOST") ?? "0.0.0.0",
        logLevel: logLevel as LogLevel,
        catalogTtlSeconds: integer(env, "CATALOG_TTL_SECONDS", 30, 0, 3600),
        cacheMb: integer(env, "CACHE_MB", 32, 0, 4096),
        // GCS: a stat is a metadata request over the network, once per page view without this.
        // file://: a stat is two cheap system calls, and answering without them measured slower
        // for the 2.66 MB page (bench/nginx.ts), so it is off there unless asked for.
        statCacheMs: integer(env, "STAT_CACHE_MS", docs.kind === "gcs" ? 1000 : 0, 0, 60_000),
        shutdownDelaySeconds: integer(env, "SHUTDOWN_DELAY_SECONDS", 5, 0, 300),
        shutdownTimeoutSeconds: integer(env, "SHUTDOWN_TIMEOUT_SECONDS", 20, 0, 600),
    };
}
