/**
 * The Airflow 3 REST calls `npm start` makes besides the trigger's (which go through the trigger
 * function itself): follow a DAG run's task instances, read their XCom summaries and logs, clear
 * a run to re-run it, fail a leftover run, unpause a DAG. Authenticates as the local admin user
 * with `POST /auth/token` (FAB), renewing the token on 401.
 */

export interface DagRun {
    dag_run_id: string;
    dag_id: string;
    state: string;
    conf: Record<string, unknown> | null;
    start_date: string | null;
    end_date: string | null;
    queued_at: string | null;
    /** Start of the run's data interval (the month of an ingest run). */
    data_interval_start?: string | null;
    run_type?: string;
}

export interface TaskInstance {
    task_id: string;
    state: string | null;
    try_number: number;
    max_tries: number;
    start_date: string | null;
    end_date: string | null;
    duration: number | null;
}

export const TERMINAL_RUN_STATES = ["success", "failed"];

export class AirflowApiError extends Error {
    constructor(
        message: string,
        public readonly status?: number,
    ) {
        super(message);
        this.name = "AirflowApiError";
    }
}

/** Waits between the tries of a call whose answer did not come (timeout, refused, 502-504). */
export const RETRY_WAITS_MS = [2_000, 5_000, 10_000];

function transient(err: unknown): boolean {
    const e = err as Error & { cause?: { code?: string } };
    return (
        e?.name === "TimeoutError" ||
        e?.name === "AbortError" ||
        (e instanceof TypeError && /fetch failed/.test(e.message))
    );
}

/**
 * `send` again after a timeout, a network error or a 502/503/504: an api-server on a busy
 * machine (a shared 2-core CI runner) sometimes answers a call after its 15-30 s limit, and a
 * local run must not fail on that before any task ran. The last error is thrown as it came,
 * with the call named.
 */
async function withRetries(call: string, send: () => Promise<Response>): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
        const wait = RETRY_WAITS_MS[attempt];
        try {
            const res = await send();
            if (wait === undefined || ![502, 503, 504].includes(res.status)) return res;
            await res.body?.cancel();
        } catch (err) {
            if (wait === undefined || !transient(err)) {
                if (transient(err)) {
                    throw new AirflowApiError(
                        `${call}: no answer from Airflow after ${attempt + 1} tries (${(err as Error).message})`,
                        0,
                    );
                }
                throw err;
            }
        }
        await new Promise((r) => setTimeout(r, wait));
    }
}

export class AirflowApi {
    private token: string | undefined;

    constructor(
        public readonly baseUrl: string,
        private readonly username: string,
        private readonly password: string,
    ) {}

    private async login(): Promise<string> {
        const res = await withRetries(`POST /auth/token`, () =>
            fetch(`${this.baseUrl}/auth/token`, {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: JSON.stringify({ username: this.username, password: this.password }),
                signal: AbortSignal.timeout(15_000),
            }),
        );
        if (res.status !== 200 && res.status !== 201) {
            throw new AirflowApiError(
                `POST /auth/token as ${this.username} answered ${res.status}: ${(await res.text()).slice(0, 300)}`,
                res.status,
            );
        }
        return ((await res.json()) as { access_token: string }).access_token;
    }

    async request<T>(method: string, path: string, body?: unknown): Promise<T> {
        for (let attempt = 0; attempt < 2; attempt++) {
            this.token ??= await this.login();
            const send = () =>
                fetch(`${this.baseUrl}${path}`, {
                    method,
                    headers: {
                        authorization: `Bearer ${this.token}`,
                        ...(body === undefined ? {} : { "content-type": "application/json" }),
                        accept: "application/json",
                    },
                    body: body === undefined ? undefined : JSON.stringify(body),
                    signal: AbortSignal.timeout(30_000),
                });
            // Reads and state changes (PATCH) are safe to send again; a POST (clear a run) is
            // sent once, as a second clear of a run already started again would reset it.
            const res =
                method === "POST" ? await send() : await withRetries(`${method} ${path}`, send);
            if (res.status === 401 && attempt === 0) {
                this.token = undefined;
                continue;
            }
            const text = await res.text();
            if (!res.ok) {
                throw new AirflowApiError(
                    `${method} ${path} answered ${res.status}: ${text.slice(0, 500)}`,
                    res.status,
                );
            }
            return (text ? JSON.parse(text) : undefined) as T;
        }
        throw new AirflowApiError(`${method} ${path}: not authorised after a new token`, 401);
    }

    private runPath(dagId: string, runId: string): string {
        return `/api/v2/dags/${encodeURIComponent(dagId)}/dagRuns/${encodeURIComponent(runId)}`;
    }

    getRun(dagId: string, runId: string): Promise<DagRun> {
        return this.request("GET", this.runPath(dagId, runId));
    }

    async listRuns(dagId: string, states: string[] = []): Promise<DagRun[]> {
        const q = states.map((s) => `&state=${encodeURIComponent(s)}`).join("");
        const out = await this.request<{ dag_runs: DagRun[] }>(
            "GET",
            `/api/v2/dags/${encodeURIComponent(dagId)}/dagRuns?limit=100${q}`,
        );
        return out.dag_runs;
    }

    async taskInstances(dagId: string, runId: string): Promise<TaskInstance[]> {
        const out = await this.request<{ task_instances: TaskInstance[] }>(
            "GET",
            `${this.runPath(dagId, runId)}/taskInstances?limit=100`,
        );
        return out.task_instances;
    }

    /** The task's `return_value` XCom (the job's JSON summary), or undefined. */
    async xcom(dagId: string, runId: string, taskId: string): Promise<unknown> {
        try {
            const out = await this.request<{ value: unknown }>(
                "GET",
                `${this.runPath(dagId, runId)}/taskInstances/${encodeURIComponent(taskId)}/xcomEntries/return_value`,
            );
            return typeof out.value === "string" ? tryJson(out.value) : out.value;
        } catch (err) {
            if (err instanceof AirflowApiError && err.status === 404) return undefined;
            throw err;
        }
    }

    /** The task log of one try, as the JSON lines (or text) of its log file. */
    async taskLog(
        dagId: string,
        runId: string,
        taskId: string,
        tryNumber: number,
    ): Promise<string> {
        const out = await this.request<{ content: unknown }>(
            "GET",
            `${this.runPath(dagId, runId)}/taskInstances/${encodeURIComponent(taskId)}/logs/${tryNumber}?full_content=true`,
        );
        const content = out.content;
        if (typeof content === "string") return content;
        if (Array.isArray(content)) {
            return content.map((e) => (typeof e === "string" ? e : JSON.stringify(e))).join("\n");
        }
        return JSON.stringify(content);
    }

    /** Clear every task of a finished run: the run is queued and runs again, same run id. */
    async clearRun(dagId: string, runId: string): Promise<void> {
        await this.request("POST", `${this.runPath(dagId, runId)}/clear`, { dry_run: false });
    }

    async setRunState(dagId: string, runId: string, state: "failed" | "success"): Promise<void> {
        await this.request("PATCH", this.runPath(dagId, runId), { state });
    }

    async setTaskState(
        dagId: string,
        runId: string,
        taskId: string,
        state: "failed",
    ): Promise<void> {
        await this.request(
            "PATCH",
            `${this.runPath(dagId, runId)}/taskInstances/${encodeURIComponent(taskId)}`,
            { new_state: state },
        );
    }

    async unpause(dagId: string): Promise<void> {
        await this.request("PATCH", `/api/v2/dags/${encodeURIComponent(dagId)}`, {
            is_paused: false,
        });
    }
}

function tryJson(text: string): unknown {
    try {
        return JSON.parse(text) as unknown;
    } catch {
        return text;
    }
}

/** Airflow's own bookkeeping lines, left out of failure excerpts. */
const NOISE = [
    /^::(end)?group::/,
    /^DAG bundles loaded/,
    /^Filling up the DagBag/,
    /^Worker startup parse complete/,
    /^Pushing xcom/,
];

const MAX_LINE = 400;

function clip(text: string): string {
    return text.length > MAX_LINE ? `${text.slice(0, MAX_LINE - 3)}...` : text;
}

/** A job's own JSON log line (`{"level", "event", ...}`) as `event key=value ...` + its level. */
function jobLine(event: string): { level?: string; text: string } {
    if (!event.startsWith("{")) return { text: event };
    try {
        const o = JSON.parse(event) as Record<string, unknown>;
        if (typeof o.event !== "string") return { text: event };
        const rest = Object.entries(o)
            .filter(([k]) => !["ts", "timestamp", "level", "logger", "event"].includes(k))
            .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
        return {
            level: typeof o.level === "string" ? o.level : undefined,
            text: [o.event, ...rest].join(" "),
        };
    } catch {
        return { text: event };
    }
}

/**
 * One structured log entry as a line: `HH:MM:SS level event` (Airflow 3 task logs are JSON
 * lines; a job's own JSON log line is relayed as the entry's event). An exception keeps the first
 * line of its message (the local runner repeats the job's last log lines after it).
 */
export function logLine(e: Record<string, unknown>): string {
    const ts = typeof e.timestamp === "string" ? e.timestamp.slice(11, 19) : "";
    const level = typeof e.level === "string" ? e.level : "";
    const event = typeof e.event === "string" ? e.event : JSON.stringify(e.event ?? "");
    const detail = e.error_detail;
    const text = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));
    const extra = Array.isArray(detail)
        ? detail
              .map((d: unknown) => {
                  const o = (typeof d === "object" && d !== null ? d : {}) as Record<
                      string,
                      unknown
                  >;
                  const message = (text(o.exc_value ?? "").split("\n")[0] ?? "").replace(
                      / Last log lines:$/,
                      "",
                  );
                  return ` (${text(o.exc_type ?? "error")}: ${message})`;
              })
              .join("")
        : "";
    const job = jobLine(event);
    return clip([ts, job.level ?? level, job.text].filter((x) => x !== "").join(" ") + extra);
}

/** A task log file's text (JSON lines, or plain lines) rendered one entry per line. */
export function renderLogText(text: string): string[] {
    const out: string[] = [];
    for (const raw of text.split("\n")) {
        const line = raw.trim();
        if (!line) continue;
        if (line.startsWith("{")) {
            try {
                const e = JSON.parse(line) as Record<string, unknown>;
                if (typeof e.event === "string" && NOISE.some((re) => re.test(e.event as string))) {
                    continue;
                }
                out.push(logLine(e));
                continue;
            } catch {
                // not JSON after all
            }
        }
        out.push(clip(line));
    }
    return out;
}
