/**
 * A burst of S3 deliveries through the trigger function's handler against a local Airflow 3,
 * measured: `objects` objects, each delivered `deliveries` times (S3 delivers at least once),
 * by `containers` concurrent handler instances (Lambda containers, each with its own token
 * cache) taking one-record events off a shared queue; the deliveries of the first `together`
 * objects are sent at the same moment (duplicates racing each other), the rest in a seeded
 * shuffle. Airflow runs as `npm start` runs it (api-server, scheduler, dag-processor,
 * triggerer), the DAG `trigger_smoke` stays paused so runs are created but not executed.
 * Every invocation counts on its first try: any failed invocation (HTTP 5xx, timeout, network
 * error) is a failure of the burst's bar (`ok`, the figure this script exists to print). Failed
 * objects are then delivered again, as Lambda retries, so the run count shows correctness. Afterwards the runs are listed through the API: there must
 * be exactly one per object, with the handler's run ids.
 *
 *   tsx tools/local/burst.ts [--metadata-db auto|postgres|sqlite] [--port 28630]
 *       [--objects 100] [--deliveries 3] [--containers 8]
 * prints one JSON line with the figures; exit 0 when the burst met the bar, 1 otherwise.
 * `burst.test.ts` runs it on the metadata DB `npm start` and the tests use.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadConfig } from "../../functions/airflow-trigger/src/config";
import { dagRunId, objectCreatedEvent } from "../../functions/airflow-trigger/src/events";
import { createLogger } from "../../functions/airflow-trigger/src/log";
import { createTriggerHandler } from "../../functions/airflow-trigger/src/trigger";
import { startLocalAirflow, type LocalAirflow } from "../local-airflow";
import { AirflowApi } from "./airflow-api";
import { chooseMetadataDb, DROP_DB, libpqEnv, type MetadataDb } from "./metadata-db";
import type { MetadataDbChoice } from "./options";
import { REPO_ROOT } from "./options";
import { venvBin } from "./python";

const DAG = "trigger_smoke";
const BUCKET = "acme-taxi-landing";

export interface BurstOptions {
    metadataDb: MetadataDbChoice;
    port: number;
    objects?: number;
    deliveries?: number;
    containers?: number;
    together?: number;
    /** Progress lines (default: none). */
    log?: (line: string) => void;
}

export interface BurstResult {
    metadata_db: string;
    db_kind: "postgres" | "sqlite";
    objects: number;
    deliveries: number;
    invocations: number;
    containers: number;
    seconds: number;
    invocations_per_second: number;
    latency_ms: { p50: number; p95: number; max: number };
    outcomes: { created: number; exists: number };
    failed_invocations: number;
    /** Deliveries of the failed objects again, as Lambda retries (not part of the first try). */
    redeliveries: number;
    /** Objects still failing after 5 redeliveries each. */
    unresolved_after_redelivery: number;
    /** HTTP status (or "timeout"/"network") of every failed request, with counts. */
    failures: Record<string, number>;
    /** First few failure messages. */
    failure_samples: string[];
    /** The api-server log's database errors during the burst (e.g. SQLite's "database is locked"). */
    server_db_errors: Record<string, number>;
    /** Machine load (1-minute average) before and after the burst. */
    load: [number, number];
    runs_in_airflow: number;
    /** Set when the runs could not be listed afterwards (three tries). */
    list_error?: string;
    missing_runs: number;
    unexpected_runs: number;
    ok: boolean;
}

/** Mulberry32: a small seeded generator, so the delivery order is the same every time. */
function seeded(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

function percentile(sorted: number[], p: number): number {
    if (sorted.length === 0) return 0;
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function runBurst(o: BurstOptions): Promise<BurstResult> {
    const log = o.log ?? (() => undefined);
    const objects = o.objects ?? 100;
    const deliveries = o.deliveries ?? 3;
    const containers = o.containers ?? 8;
    const together = Math.min(o.together ?? 10, objects);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "taxi-burst-"));
    const home = path.join(root, "airflow");
    fs.mkdirSync(home);
    let db: MetadataDb | undefined;
    let af: LocalAirflow | undefined;
    try {
        db = await chooseMetadataDb(o.metadataDb, root, home);
        log(`metadata DB: ${db.description}`);
        af = await startLocalAirflow({
            home,
            port: o.port,
            databaseUrl: db.url,
            components: ["api-server", "scheduler", "dag-processor", "triggerer"],
            expectDags: [DAG],
            startupTimeoutMs: 600_000,
            extraUsers: [{ username: "admin", role: "Admin" }],
            env: { ...db.env, AIRFLOW__CORE__EXECUTOR: "LocalExecutor" },
            log: (event) => log(`local airflow: ${event}`),
        });
        const env = {
            AIRFLOW_API_URL: af.baseUrl,
            AIRFLOW_DAG_ID: DAG,
            AIRFLOW_CREDENTIALS_FILE: af.credentialsFile,
            S3_KEY_PREFIX: "trip data/",
            LOG_LEVEL: "info",
        };
        const failures: Record<string, number> = {};
        const samples: string[] = [];
        const outcomes = { created: 0, exists: 0 };
        const sink = (line: string) => {
            const e = JSON.parse(line) as { event: string; status?: number; message?: string };
            if (e.event === "dag_run_created") outcomes.created++;
            else if (e.event === "dag_run_exists") outcomes.exists++;
            else if (e.event === "dag_run_failed") {
                const what =
                    e.status !== undefined
                        ? String(e.status)
                        : /timed out|timeout/i.test(e.message ?? "")
                          ? "timeout"
                          : "network";
                failures[what] = (failures[what] ?? 0) + 1;
                if (samples.length < 5) samples.push(e.message ?? what);
            }
        };
        // One handler per "container", each with its own token cache, as Lambda scales out.
        const handlers = Array.from({ length: containers }, () =>
            createTriggerHandler({
                config: loadConfig(env),
                logger: createLogger({ level: "info", sink }),
            }),
        );
        const objs = Array.from({ length: objects }, (_, i) => ({
            bucket: BUCKET,
            key: `trip data/burst_${String(i).padStart(4, "0")}.parquet`,
            eTag: `etag-${i}`,
        }));
        // Work items: a group of events sent at the same moment, or a single event.
        const random = seeded(17);
        type Obj = (typeof objs)[number];
        const times = (obj: Obj): Obj[] => Array.from({ length: deliveries }, () => obj);
        const singles = objs.slice(together).flatMap(times);
        for (let i = singles.length - 1; i > 0; i--) {
            const j = Math.floor(random() * (i + 1));
            [singles[i], singles[j]] = [singles[j]!, singles[i]!];
        }
        const items: Obj[][] = [...objs.slice(0, together).map(times), ...singles.map((o) => [o])];
        const latencies: number[] = [];
        let failedInvocations = 0;
        let n = 0;
        const failedObjs: Obj[] = [];
        const invoke = async (h: (typeof handlers)[number], obj: Obj) => {
            const t = performance.now();
            try {
                await h(objectCreatedEvent([obj]), { awsRequestId: `burst-${n++}` });
            } catch {
                failedInvocations++;
                failedObjs.push(obj);
            }
            latencies.push(performance.now() - t);
        };
        log(`burst: ${objects} objects × ${deliveries} deliveries by ${containers} containers`);
        const load0 = os.loadavg()[0]!;
        const t0 = performance.now();
        let next = 0;
        await Promise.all(
            handlers.map(async (_h, c) => {
                for (;;) {
                    const item = items[next++];
                    if (item === undefined) return;
                    // A group: its deliveries at once, from this and the next containers.
                    await Promise.all(
                        item.map((obj, k) => invoke(handlers[(c + k) % containers]!, obj)),
                    );
                }
            }),
        );
        const seconds = (performance.now() - t0) / 1000;
        log(
            `burst done in ${seconds.toFixed(1)} s: ${failedInvocations} failed invocation(s) ${JSON.stringify(failures)}`,
        );

        // Lambda retries a failed asynchronous invocation: deliver each failed object again, one
        // at a time, until it succeeds (bounded). What this converges to is the correctness
        // check; first-try failures are a performance figure.
        let redeliveries = 0;
        let unresolved = 0;
        for (const obj of failedObjs) {
            let done = false;
            for (let attempt = 1; attempt <= 5 && !done; attempt++) {
                redeliveries++;
                try {
                    await handlers[0]!(objectCreatedEvent([obj]), { awsRequestId: `retry-${n++}` });
                    done = true;
                } catch {
                    await new Promise((r) => setTimeout(r, 1000 * attempt));
                }
            }
            if (!done) unresolved++;
        }

        const admin = af.users.admin!;
        const api = new AirflowApi(af.baseUrl, admin.username, admin.password);
        const load1 = os.loadavg()[0]!;
        const serverDbErrors: Record<string, number> = {};
        for (const line of fs.readFileSync(af.logFile("api-server"), "utf8").split("\n")) {
            const m =
                /(database is locked|deadlock detected|OperationalError|TimeoutError|QueuePool limit)/.exec(
                    line,
                );
            if (m) serverDbErrors[m[1]!] = (serverDbErrors[m[1]!] ?? 0) + 1;
        }
        // Listing is the check, not part of the burst: a few tries, the error kept if all fail.
        const runs: { dag_run_id: string }[] = [];
        let listError: string | undefined;
        for (let attempt = 1; attempt <= 3; attempt++) {
            runs.length = 0;
            listError = undefined;
            try {
                for (;;) {
                    const page = await api.request<{ dag_runs: { dag_run_id: string }[] }>(
                        "GET",
                        `/api/v2/dags/${DAG}/dagRuns?limit=100&offset=${runs.length}`,
                    );
                    runs.push(...page.dag_runs);
                    if (page.dag_runs.length < 100) break;
                }
                break;
            } catch (err) {
                listError = `listing the runs (try ${attempt}): ${err instanceof Error ? err.message : String(err)}`;
                log(listError);
            }
        }
        const expected = new Set(objs.map((obj) => dagRunId(obj)));
        const got = new Set(runs.map((r) => r.dag_run_id));
        const missing = [...expected].filter((id) => !got.has(id)).length;
        const unexpected = [...got].filter((id) => !expected.has(id)).length;
        latencies.sort((a, b) => a - b);
        const invocations = objects * deliveries;
        const result: BurstResult = {
            metadata_db: db.description,
            db_kind: db.kind,
            objects,
            deliveries,
            invocations,
            containers,
            seconds: Math.round(seconds * 10) / 10,
            invocations_per_second: Math.round((invocations / seconds) * 10) / 10,
            latency_ms: {
                p50: Math.round(percentile(latencies, 50)),
                p95: Math.round(percentile(latencies, 95)),
                max: Math.round(latencies.at(-1) ?? 0),
            },
            outcomes,
            failed_invocations: failedInvocations,
            redeliveries,
            unresolved_after_redelivery: unresolved,
            failures,
            failure_samples: samples,
            server_db_errors: serverDbErrors,
            load: [Math.round(load0 * 10) / 10, Math.round(load1 * 10) / 10],
            runs_in_airflow: runs.length,
            ...(listError ? { list_error: listError } : {}),
            missing_runs: missing,
            unexpected_runs: unexpected,
            ok: false,
        };
        result.ok =
            listError === undefined &&
            failedInvocations === 0 &&
            runs.length === objects &&
            missing === 0 &&
            unexpected === 0 &&
            outcomes.created === objects &&
            outcomes.exists === invocations - objects;
        return result;
    } finally {
        await af?.stop();
        if (db?.kind === "postgres" && db.database) {
            spawnSync(venvBin("dags", "python"), ["-c", DROP_DB, db.database], {
                cwd: REPO_ROOT,
                env: { ...process.env, ...libpqEnv() },
            });
        }
        fs.rmSync(root, { recursive: true, force: true });
    }
}

if (require.main === module) {
    const arg = (name: string) => {
        const i = process.argv.indexOf(name);
        return i >= 0 ? process.argv[i + 1] : undefined;
    };
    const num = (name: string) => (arg(name) === undefined ? undefined : Number(arg(name)));
    runBurst({
        metadataDb: (arg("--metadata-db") ?? "auto") as MetadataDbChoice,
        port: num("--port") ?? 28630,
        objects: num("--objects"),
        deliveries: num("--deliveries"),
        containers: num("--containers"),
        log: (line) => process.stderr.write(`${line}\n`),
    }).then(
        (r) => {
            console.log(JSON.stringify(r));
            process.exit(r.ok ? 0 : 1);
        },
        (err: unknown) => {
            console.error(err instanceof Error ? err.message : String(err));
            process.exit(2);
        },
    );
}
