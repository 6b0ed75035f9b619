/**
 * A small client for the two Airflow 3 REST calls the trigger needs, over the global `fetch`.
 *
 * - `POST /auth/token` (FAB auth manager) exchanges the user name and password for a JWT. The
 *   token is cached until shortly before its `exp` claim; a 401 on an API call drops it and the
 *   call is retried once with a new token (read from freshly fetched credentials, in case the
 *   secret was rotated).
 * - `POST /api/v2/dags/{dag_id}/dagRuns` creates a run with a caller-chosen `dag_run_id` and
 *   `logical_date: null`. 409 means a run with that id exists: the object was already handled.
 *
 * Errors are classified: `retryable` (5xx, 429, timeouts, network errors: Lambda's retry may
 * succeed) or not (other 4xx: retrying cannot help; the message carries Airflow's `detail`).
 */
import type { CredentialSource } from "./credentials";
import type { Logger } from "./log";

export class AirflowError extends Error {
    constructor(
        message: string,
        /** True when the same request may succeed later (Lambda should retry). */
        public readonly retryable: boolean,
        /** HTTP status, when Airflow answered. */
        public readonly status?: number,
    ) {
        super(message);
        this.name = retryable ? "AirflowUnavailableError" : "AirflowRejectedError";
    }
}

export interface AirflowClientOptions {
    /** Base URL without trailing slash, e.g. https://airflow.example.com. */
    baseUrl: string;
    credentials: CredentialSource;
    logger: Logger;
    /** Per-request timeout (default 10 s). */
    timeoutMs?: number;
    /** Token lifetime assumed when the token carries no `exp` claim (default 5 minutes). */
    defaultTokenTtlMs?: number;
    now?: () => number;
}

export type TriggerOutcome = "created" | "exists";

/** Renew tokens this long before they expire, so a request never carries an expiring one. */
const EXPIRY_MARGIN_MS = 60_000;
const MAX_DETAIL = 500;

/** Airflow's error body (`{"detail": "..."}` or FastAPI's validation list) as one short line. */
export function airflowMessage(body: string): string {
    let detail: unknown = body;
    try {
        const parsed = JSON.parse(body) as unknown;
        detail =
            typeof parsed === "object" && parsed !== null && "detail" in parsed
                ? parsed.detail
                : parsed;
    } catch {
        // not JSON: use the text as is
    }
    let text: string;
    if (typeof detail === "string") {
        text = detail;
    } else if (Array.isArray(detail)) {
        text = detail
            .map((d) => {
                const o = (typeof d === "object" && d !== null ? d : {}) as Record<string, unknown>;
                const loc = Array.isArray(o.loc) ? o.loc.join(".") : "";
                const msg = typeof o.msg === "string" ? o.msg : JSON.stringify(d);
                return loc ? `${loc}: ${msg}` : msg;
            })
            .join("; ");
    } else {
        text = JSON.stringify(detail);
    }
    text = text.replace(/\s+/g, " ").trim();
    return text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL)}…` : text || "(empty body)";
}

/** Expiry (ms since epoch) from a JWT's `exp` claim; undefined when absent or unreadable. */
export function jwtExpiry(token: string): number | undefined {
    const payload = token.split(".")[1];
    if (payload === undefined) return undefined;
    try {
        const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as unknown;
        const exp = (claims as Record<string, unknown> | null)?.exp;
        return typeof exp === "number" ? exp * 1000 : undefined;
    } catch {
        return undefined;
    }
}

export class AirflowClient {
    private token: { value: string; until: number } | undefined;
    private readonly timeoutMs: number;
    private readonly defaultTtlMs: number;
    private readonly now: () => number;

    constructor(private readonly options: AirflowClientOptions) {
        this.timeoutMs = options.timeoutMs ?? 10_000;
        this.defaultTtlMs = options.defaultTokenTtlMs ?? 300_000;
        this.now = options.now ?? Date.now;
    }

    /** Create the run; resolves `exists` when Airflow already has a run with this id. */
    async triggerDagRun(
        dagId: string,
        dagRunId: string,
        conf: Record<string, unknown>,
    ): Promise<TriggerOutcome> {
        const path = `/api/v2/dags/${encodeURIComponent(dagId)}/dagRuns`;
        const body = JSON.stringify({ dag_run_id: dagRunId, logical_date: null, conf });
        let res = await this.post(path, body, await this.bearer(false));
        if (res.status === 401) {
            this.options.logger.info("airflow_token_rejected", { dag_id: dagId, retry: true });
            this.token = undefined;
            res = await this.post(path, body, await this.bearer(true));
        }
        if (res.status === 200 || res.status === 201) return "created";
        if (res.status === 409) return "exists";
        const detail = airflowMessage(res.text);
        if (res.status === 401) {
            throw new AirflowError(
                `Airflow rejected a fresh token for ${path} (401): ${detail}`,
                false,
                401,
            );
        }
        if (res.status === 403) {
            throw new AirflowError(
                `the Airflow user from ${this.options.credentials.description} may not create runs of DAG ${dagId} (403: ${detail}): give it a role with "can create on DAG Runs" for this DAG`,
                false,
                403,
            );
        }
        if (res.status === 404) {
            throw new AirflowError(
                `Airflow does not know DAG ${dagId} (404: ${detail}): check AIRFLOW_DAG_ID and that the DAG is deployed and parsed`,
                false,
                404,
            );
        }
        throw this.statusError(`POST ${path}`, res.status, detail);
    }

    private statusError(what: string, status: number, detail: string): AirflowError {
        const retryable = status >= 500 || status === 429 || status === 408;
        return new AirflowError(
            `${what} failed with ${status}: ${detail}${retryable ? " (transient: the invocation will be retried)" : ""}`,
            retryable,
            status,
        );
    }

    private async bearer(fresh: boolean): Promise<string> {
        if (!fresh && this.token && this.now() < this.token.until - EXPIRY_MARGIN_MS) {
            return this.token.value;
        }
        const source = this.options.credentials;
        let creds = await source.get({ refresh: fresh });
        let res = await this.post("/auth/token", JSON.stringify(creds));
        if ((res.status === 401 || res.status === 403) && !fresh) {
            // The cached credentials may be stale (rotated secret): read them again, once.
            creds = await source.get({ refresh: true });
            res = await this.post("/auth/token", JSON.stringify(creds));
        }
        if (res.status === 401 || res.status === 403) {
            throw new AirflowError(
                `Airflow rejected the credentials from ${source.description} (${res.status}: ${airflowMessage(res.text)}): check the user name and password stored there`,
                false,
                res.status,
            );
        }
        if (res.status !== 200 && res.status !== 201) {
            throw this.statusError("POST /auth/token", res.status, airflowMessage(res.text));
        }
        let value: unknown;
        try {
            value = (JSON.parse(res.text) as Record<string, unknown>).access_token;
        } catch {
            value = undefined;
        }
        if (typeof value !== "string" || value === "") {
            throw new AirflowError(
                "POST /auth/token answered without an access_token: is AIRFLOW_API_URL the Airflow 3 api-server with the FAB auth manager?",
                false,
                res.status,
            );
        }
        const until = jwtExpiry(value) ?? this.now() + this.defaultTtlMs;
        this.token = { value, until };
        this.options.logger.debug("airflow_token_issued", {
            expires_at: new Date(until).toISOString(),
        });
        return value;
    }

    private async post(
        path: string,
        body: string,
        token?: string,
    ): Promise<{ status: number; text: string }> {
        const url = `${this.options.baseUrl}${path}`;
        const headers: Record<string, string> = {
            "content-type": "application/json",
            accept: "application/json",
        };
        if (token !== undefined) headers.authorization = `Bearer ${token}`;
        let res: Response;
        try {
            res = await fetch(url, {
                method: "POST",
                headers,
                body,
                signal: AbortSignal.timeout(this.timeoutMs),
            });
            return { status: res.status, text: await res.text() };
        } catch (err) {
            const e = err as Error & { cause?: { code?: string } };
            const reason =
                e.name === "TimeoutError"
                    ? `no answer within ${this.timeoutMs} ms`
                    : `${e.cause?.code ?? e.name}: ${e.message}`;
            throw new AirflowError(
                `cannot reach Airflow at ${this.options.baseUrl} (POST ${path}: ${reason}); the invocation will be retried`,
                true,
            );
        }
    }
}
