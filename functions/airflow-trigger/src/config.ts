/**
 * The function's settings, read from environment variables once, at cold start.
 *
 * Only this module reads `process.env`. Every problem is collected and reported together, naming
 * the variable, what was seen (never a secret) and what is expected, so a misconfigured Lambda
 * fails its first invocation with one clear init error instead of failing on each object.
 */
import { LEVELS, type Level } from "./log";
import { parseRoutes, type DagRoute } from "./routing";

/** Where the Airflow user name and password come from. */
export type CredentialConfig =
    /** Lambda: a Secrets Manager secret holding `{"username": …, "password": …}`. */
    | { kind: "secrets-manager"; secretId: string; cacheTtlMs: number }
    /** Local runs: a JSON file with the same shape (re-read when Airflow rejects it). */
    | { kind: "file"; path: string }
    /** Local runs: `AIRFLOW_USERNAME` / `AIRFLOW_PASSWORD`. */
    | { kind: "env"; username: string; password: string };

export interface TriggerConfig {
    /** Base URL of the Airflow API server, without a trailing slash. */
    airflowUrl: string;
    /**
     * Key prefix → DAG: from `AIRFLOW_DAG_ROUTES` (one route per dataset, the stack's form), or
     * the single route `S3_KEY_PREFIX` → `AIRFLOW_DAG_ID` (local runs).
     */
    routes: DagRoute[];
    /** Only keys ending with this suffix trigger a run. */
    keySuffix: string;
    /** When set, `conf.uri` is `<base>/<key>` instead of `s3://<bucket>/<key>` (local runs). */
    landingUriBase: string | undefined;
    /** Timeout of each HTTP request to Airflow. */
    requestTimeoutMs: number;
    credentials: CredentialConfig;
    logLevel: Level;
}

/** Environment variable names, in one place (the AWS component sets them on the Lambda). */
export const ENV = {
    airflowUrl: "AIRFLOW_API_URL",
    dagId: "AIRFLOW_DAG_ID",
    keyPrefix: "S3_KEY_PREFIX",
    routes: "AIRFLOW_DAG_ROUTES",
    keySuffix: "S3_KEY_SUFFIX",
    landingUriBase: "LANDING_URI_BASE",
    requestTimeoutMs: "AIRFLOW_REQUEST_TIMEOUT_MS",
    secretId: "AIRFLOW_CREDENTIALS_SECRET_ID",
    secretCacheSeconds: "AIRFLOW_CREDENTIALS_CACHE_SECONDS",
    credentialsFile: "AIRFLOW_CREDENTIALS_FILE",
    username: "AIRFLOW_USERNAME",
    password: "AIRFLOW_PASSWORD",
    logLevel: "LOG_LEVEL",
} as const;

export class ConfigError extends Error {
    constructor(public readonly problems: string[]) {
        super(
            `airflow-trigger: invalid configuration (environment variables):\n  - ${problems.join("\n  - ")}`,
        );
        this.name = "ConfigError";
    }
}

/** Airflow's DAG id rule: letters, digits, `_`, `-`, `.`; at most 250 characters. */
const DAG_ID = /^[A-Za-z0-9_.-]{1,250}$/;

function get(env: NodeJS.ProcessEnv, key: string): string | undefined {
    const v = env[key];
    return v === undefined || v.trim() === "" ? undefined : v.trim();
}

function positiveInt(
    env: NodeJS.ProcessEnv,
    key: string,
    fallback: number,
    problems: string[],
): number {
    const raw = get(env, key);
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < 1) {
        problems.push(`${key} is ${JSON.stringify(raw)}; expected a positive whole number`);
        return fallback;
    }
    return Number(raw);
}

/** 127.0.0.0/8, ::1 and localhost: the machine itself, where plain http never leaves the host. */
function isLoopback(hostname: string): boolean {
    return (
        hostname === "localhost" ||
        hostname === "[::1]" ||
        /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
    );
}

export function loadConfig(env: NodeJS.ProcessEnv): TriggerConfig {
    const problems: string[] = [];

    const url = get(env, ENV.airflowUrl);
    let airflowUrl = "";
    if (url === undefined) {
        problems.push(
            `${ENV.airflowUrl} is not set: set it to the Airflow API server's base URL, e.g. https://airflow.example.com (the AwsTrigger component sets it from the stack config)`,
        );
    } else {
        let parsed: URL | undefined;
        try {
            parsed = new URL(url);
        } catch {
            parsed = undefined;
        }
        if (!parsed || (parsed.protocol !== "https:" && parsed.protocol !== "http:")) {
            problems.push(
                `${ENV.airflowUrl} is ${JSON.stringify(url)}; expected an http(s) URL such as https://airflow.example.com`,
            );
        } else if (parsed.protocol === "http:" && !isLoopback(parsed.hostname)) {
            problems.push(
                `${ENV.airflowUrl} is ${JSON.stringify(url)}: the function sends the trigger user's password to it, so it must be https:// (plain http is accepted only for a loopback address, in local runs)`,
            );
        } else if (parsed.username || parsed.password || parsed.search || parsed.hash) {
            problems.push(
                `${ENV.airflowUrl} must be a plain base URL without credentials, query or fragment (credentials come from ${ENV.secretId})`,
            );
        } else {
            airflowUrl = `${parsed.origin}${parsed.pathname}`.replace(/\/+$/, "");
        }
    }

    // One route per dataset (AIRFLOW_DAG_ROUTES), or one prefix and one DAG. The prefix may
    // legitimately be empty; spaces inside it are significant (`trip data/`).
    const routesRaw = get(env, ENV.routes);
    const dagId = get(env, ENV.dagId) ?? "";
    let routes: DagRoute[] = [];
    if (routesRaw !== undefined) {
        if (dagId !== "" || env[ENV.keyPrefix] !== undefined) {
            problems.push(
                `${ENV.routes} and ${ENV.dagId}/${ENV.keyPrefix} are both set; set ${ENV.routes} alone (one route per dataset) or the other two`,
            );
        }
        try {
            routes = parseRoutes(routesRaw);
        } catch (err) {
            problems.push(`${ENV.routes} ${(err as Error).message}`);
        }
    } else if (dagId === "") {
        problems.push(
            `${ENV.dagId} is not set: set it to the DAG to trigger, e.g. batch (or set ${ENV.routes} to route by key prefix)`,
        );
    } else if (!DAG_ID.test(dagId)) {
        problems.push(
            `${ENV.dagId} is ${JSON.stringify(dagId)}; a DAG id has only letters, digits, _, - and . (at most 250)`,
        );
    } else {
        routes = [{ prefix: env[ENV.keyPrefix] ?? "", dagId }];
    }
    const keySuffix = env[ENV.keySuffix] ?? ".parquet";

    const landingUriBase = get(env, ENV.landingUriBase)?.replace(/\/+$/, "");
    if (landingUriBase !== undefined && !/^[a-z][a-z0-9+.-]*:\/\//.test(landingUriBase)) {
        problems.push(
            `${ENV.landingUriBase} is ${JSON.stringify(landingUriBase)}; expected a URI such as file:///tmp/taxi/landing`,
        );
    }

    const requestTimeoutMs = positiveInt(env, ENV.requestTimeoutMs, 10_000, problems);

    const secretId = get(env, ENV.secretId);
    const file = get(env, ENV.credentialsFile);
    const username = get(env, ENV.username);
    const password = env[ENV.password];
    const chosen = [secretId, file, username ?? password].filter((v) => v !== undefined);
    let credentials: CredentialConfig = { kind: "env", username: "", password: "" };
    if (chosen.length === 0) {
        problems.push(
            `no Airflow credentials configured: set ${ENV.secretId} (Lambda: Secrets Manager secret with {"username","password"}), or for local runs ${ENV.credentialsFile} (a JSON file of that shape) or ${ENV.username} and ${ENV.password}`,
        );
    } else if (chosen.length > 1) {
        problems.push(
            `more than one Airflow credential source is set (${ENV.secretId}, ${ENV.credentialsFile}, ${ENV.username}/${ENV.password}); set exactly one`,
        );
    } else if (secretId !== undefined) {
        const ttl = positiveInt(env, ENV.secretCacheSeconds, 300, problems);
        credentials = { kind: "secrets-manager", secretId, cacheTtlMs: ttl * 1000 };
    } else if (file !== undefined) {
        credentials = { kind: "file", path: file };
    } else if (username === undefined || password === undefined || password === "") {
        problems.push(
            `${username === undefined ? ENV.username : ENV.password} is not set: set both ${ENV.username} and ${ENV.password}, or use ${ENV.credentialsFile}`,
        );
    } else {
        credentials = { kind: "env", username, password };
    }

    const level = (get(env, ENV.logLevel) ?? "info").toLowerCase();
    if (!(LEVELS as string[]).includes(level)) {
        problems.push(
            `${ENV.logLevel} is ${JSON.stringify(level)}; expected one of ${LEVELS.join(", ")}`,
        );
    }

    if (problems.length > 0) throw new ConfigError(problems);
    return {
        airflowUrl,
        routes,
        keySuffix,
        landingUriBase,
        requestTimeoutMs,
        credentials,
        logLevel: level as Level,
    };
}
