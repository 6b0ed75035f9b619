/**
 * A loopback HTTP server playing the two Airflow 3 REST endpoints the function calls, with
 * Airflow's status codes and error bodies (`{"detail": ...}`): `POST /auth/token` (201 with a
 * JWT-shaped token, 401 "Invalid credentials") and `POST /api/v2/dags/{dag_id}/dagRuns` (bearer
 * token required, 404 unknown DAG, 409 duplicate run id, 200 with the run). Tests can revoke
 * tokens and queue forced responses, and read every request it received.
 *
 * It is a fake of a remote HTTP API; the real Airflow is exercised by integration.test.ts.
 */
import * as http from "node:http";
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
    method: string;
    path: string;
    authorization: string | undefined;
    body: unknown;
    status: number;
}

export interface FakeRun {
    dag_id: string;
    dag_run_id: string;
    logical_date: unknown;
    conf: unknown;
}

export interface FakeAirflowOptions {
    port: number;
    username: string;
    password: string;
    dags: string[];
    /** Lifetime of issued tokens (default 1 hour). */
    tokenTtlSeconds?: number;
}

export class FakeAirflow {
    readonly requests: RecordedRequest[] = [];
    readonly runs = new Map<string, FakeRun>();
    private readonly tokens = new Set<string>();
    private readonly forced: { path: RegExp; status: number; body: unknown }[] = [];
    private server: http.Server | undefined;
    password: string;

    constructor(private readonly options: FakeAirflowOptions) {
        this.password = options.password;
    }

    get url(): string {
        const port = (this.server?.address() as AddressInfo | null)?.port ?? this.options.port;
        return `http://127.0.0.1:${port}`;
    }

    /** Answer the next request whose path matches with this status and body. */
    force(path: RegExp, status: number, body: unknown): void {
        this.forced.push({ path, status, body });
    }

    /** Invalidate every issued token (as a restart with a new JWT secret would). */
    revokeTokens(): void {
        this.tokens.clear();
    }

    /** `token` and `run` for each request, in order: a compact view for assertions. */
    sequence(): string[] {
        return this.requests.map(
            (r) => `${r.path === "/auth/token" ? "token" : "run"} ${r.status}`,
        );
    }

    reset(): void {
        this.requests.length = 0;
        this.runs.clear();
        this.tokens.clear();
        this.forced.length = 0;
        this.password = this.options.password;
    }

    async start(): Promise<void> {
        this.server = http.createServer((req, res) => {
            const chunks: Buffer[] = [];
            req.on("data", (c: Buffer) => chunks.push(c));
            req.on("end", () => {
                const text = Buffer.concat(chunks).toString("utf8");
                let body: unknown;
                try {
                    body = text ? JSON.parse(text) : undefined;
                } catch {
                    body = text;
                }
                const [status, out] = this.answer(req, body);
                this.requests.push({
                    method: req.method ?? "",
                    path: req.url ?? "",
                    authorization: req.headers.authorization,
                    body,
                    status,
                });
                res.writeHead(status, { "content-type": "application/json" });
                res.end(JSON.stringify(out));
            });
        });
        await new Promise<void>((resolve, reject) => {
            this.server!.once("error", reject);
            this.server!.listen(this.options.port, "127.0.0.1", resolve);
        });
    }

    async stop(): Promise<void> {
        const server = this.server;
        this.server = undefined;
        if (!server) return;
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
    }

    private issueToken(): string {
        const exp = Math.floor(Date.now() / 1000) + (this.options.tokenTtlSeconds ?? 3600);
        const part = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
        const token = `${part({ alg: "HS512", typ: "JWT" })}.${part({ sub: "1", exp })}.${randomBytes(16).toString("base64url")}`;
        this.tokens.add(token);
        return token;
    }

    private answer(req: http.IncomingMessage, body: unknown): [number, unknown] {
        const path = req.url ?? "";
        const forcedAt = this.forced.findIndex((f) => f.path.test(path));
        if (forcedAt >= 0) {
            const [f] = this.forced.splice(forcedAt, 1);
            return [f!.status, f!.body];
        }
        if (req.method === "POST" && path === "/auth/token") {
            const b = (body ?? {}) as Record<string, unknown>;
            if (b.username === this.options.username && b.password === this.password) {
                return [201, { access_token: this.issueToken() }];
            }
            return [401, { detail: "Invalid credentials" }];
        }
        const m = /^\/api\/v2\/dags\/([^/]+)\/dagRuns$/.exec(path);
        if (req.method === "POST" && m) {
            const auth = req.headers.authorization ?? "";
            if (!auth.startsWith("Bearer ") || !this.tokens.has(auth.slice(7))) {
                return [401, { detail: "Not authenticated" }];
            }
            const dagId = decodeURIComponent(m[1]!);
            if (!this.options.dags.includes(dagId)) {
                return [404, { detail: `Dag with dag_id: '${dagId}' not found` }];
            }
            const b = (body ?? {}) as Record<string, unknown>;
            if (!("logical_date" in b)) {
                return [
                    422,
                    { detail: [{ loc: ["body", "logical_date"], msg: "Field required" }] },
                ];
            }
            const runId = String(b.dag_run_id);
            const key = `${dagId}/${runId}`;
            if (this.runs.has(key)) {
                return [409, { detail: `Unique constraint violation: dag_run ${runId} exists` }];
            }
            const run = {
                dag_id: dagId,
                dag_run_id: runId,
                logical_date: b.logical_date,
                conf: b.conf,
            };
            this.runs.set(key, run);
            return [200, { ...run, state: "queued" }];
        }
        return [404, { detail: "Not Found" }];
    }
}
