/**
 * `npm start`: the main job on the embedded default (docs/architecture.md#environments-and-checks) — the batch pipeline end
 * to end on this machine, no cloud account.
 *
 *   1. the pipeline folders' Python environments (spark, dags, dbt, ml), created once and cached;
 *   2. a few months of TLC-shaped monthly files (`taxi_spark.testdata`: real schema drift, a few
 *      bad rows), generated once into the state folder, served by a loopback stand-in of the TLC
 *      website (`local/tlc-server.ts`; none with --source, a real publisher);
 *   3. on 127.0.0.1: Airflow 3 (api-server, scheduler, dag-processor, triggerer; metadata DB on
 *      the local PostgreSQL, required unless --metadata-db sqlite), the MLflow tracking server and the
 *      docs app; the DAGs run with PLATFORM_RUNTIME=local (Spark local mode, DuckDB warehouse);
 *   4. the landing watcher: each new file in the landing folder becomes an S3-shaped event for
 *      the trigger function's own handler (functions/airflow-trigger/src/handler.ts), which starts
 *      the `batch` DAG through Airflow's REST API with its deterministic run id;
 *   5. the `ingest` DAG, bounded to the run's months, downloads each month into the landing
 *      folder (`local/ingest-flow.ts`: the last month is "not published yet" at first, the first
 *      is then republished corrected and every month checked again); each new file's batch run
 *      is followed task by task (rows loaded and quarantined, expectations, dbt tests, model
 *      metric, champion);
 *   6. a summary with the warehouse counts and the URLs. With `--once` everything is then
 *      stopped and the exit code says whether every run succeeded; without it the services keep
 *      running (new files dropped into the landing folder are triggered and followed) until
 *      Ctrl-C, which stops every process started.
 *
 * Everything is kept in the state folder (default `.local/`), so a second run reuses it: its
 * months' ingest runs are cleared and check the publisher again; a landing file that differs is
 * uploaded again, and when its content was seen before it has the same ETag, hence the same run
 * id (the trigger gets HTTP 409): the existing run is cleared and runs again, and every task
 * overwrites what it owns, so the warehouse ends with the same row counts. `npm start -- --help`
 * lists the options.
 *
 * The offline render of the dev stack that `npm start` used to run is `npm run render -- dev`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { startLocalAirflow, type LocalAirflow } from "./local-airflow";
import { AirflowApi } from "./local/airflow-api";
import { followRun, type RunResult } from "./local/follow";
import type { WatcherMessage } from "./local/landing";
import { chooseMetadataDb } from "./local/metadata-db";
import {
    monthList,
    OptionsError,
    parseOptions,
    REPO_ROOT,
    USAGE,
    type StartOptions,
} from "./local/options";
import { curlExample, LOCAL_POLL_SECONDS, LocalFareApi, predict } from "./local/fare-api";
import { ProcessRegistry, tailFile, waitPortsFree, type Service } from "./local/processes";
import { RunRecord, stopLeftovers } from "./local/proctree";
import { count, duration, Progress } from "./local/progress";
import { lastJsonLine, prepareVenvs, runPython } from "./local/python";
import { mailSummary, reportEnv, reportFor, startSmtpSink } from "./local/mail";
import { startDocsApp, startMlflow } from "./local/services";
import { LANDING_BUCKET, startEmulatedStorage } from "./local/emulated-storage";
import { startSparkConnect } from "./local/spark-connect";
import { WarmWorkers } from "./local/warm-workers";
import {
    createState,
    LANDING_KEY_PREFIX,
    removeState,
    shown,
    stateLayout,
    writeFileAtomic,
    type StateLayout,
} from "./local/state";
import { promotion } from "./local/summaries";
import {
    ensureCorrected,
    ensureTestData,
    fileName,
    injectedTotal,
    type GeneratedFile,
} from "./local/testdata";
import { INGEST_DAG_ID, IngestFlow, ingestEnv, type IngestPass } from "./local/ingest-flow";
import { TlcServer } from "./local/tlc-server";

const DAG_ID = "batch";
const MODEL_NAME = "fare-model";
const ADMIN = "admin";

interface MonthRun {
    month: string;
    file: string;
    outcome: "created" | "exists";
    rerun: boolean;
    result: RunResult;
}

/**
 * The local Airflow's own settings (Airflow ignores an `AIRFLOW__…` name it does not know, so
 * local.test.ts checks each against the real Airflow).
 */
export const LOCAL_AIRFLOW_SETTINGS: Record<string, string> = {
    AIRFLOW__CORE__EXECUTOR: "LocalExecutor",
    AIRFLOW__CORE__PARALLELISM: "4",
    // The scheduler's sleep after a loop that found nothing to do (default 1 s): a task's
    // successor waited up to that long, 3.5-4.9 s per batch run of 7 tasks (0.9-1.2 s at 0.2,
    // whose idle loops cost the scheduler 2.5x its CPU).
    AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME: "0.5",
    AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION: "False",
};

/** The `pipeline-env` values of the local runtime (docs/architecture.md#pipeline-env), plus job settings. */
export function localPipelineEnv(s: StateLayout, mlflowUrl: string): Record<string, string> {
    const env: Record<string, string> = {
        PLATFORM_ENV: "local",
        PLATFORM_RUNTIME: "local",
        STAGING_URI: `file://${s.staging}`,
        DOCS_URI: `file://${s.docs}`,
        WAREHOUSE: "duckdb",
        WAREHOUSE_PATH: s.warehouse,
        BQ_DATASET_RAW: "raw",
        BQ_DATASET_MARTS: "marts",
        MLFLOW_TRACKING_URI: mlflowUrl,
        S3_LANDING_BUCKET: `file://${s.landing}`,
        // Job settings outside the contract: dbt's artifacts and logs in the state folder (not
        // in dbt/, which tests share), one OpenMP thread (gradient boosting on a loaded 2-core
        // machine is much slower with more), no usage statistics.
        DBT_TARGET_PATH: s.dbtTarget,
        DBT_LOG_PATH: s.dbtLogs,
        OMP_NUM_THREADS: "1",
        GX_ANALYTICS_ENABLED: "False",
        MLFLOW_DISABLE_TELEMETRY: "true",
        DO_NOT_TRACK: "true",
    };
    if (process.env.JAVA_HOME) env.JAVA_HOME = process.env.JAVA_HOME;
    return env;
}

type KeyMessage = Exclude<WatcherMessage, { type: "ready" }>;

/** Messages from the watcher, and waiting for the one about a given key. */
class WatcherInbox {
    private readonly waiting = new Map<string, (m: KeyMessage) => void>();
    private readyResolve: (() => void) | undefined;
    readonly ready: Promise<void>;
    /** Messages nobody waited for (files dropped by hand while the services run). */
    onOther: (m: KeyMessage) => void = () => undefined;

    constructor(service: Service) {
        this.ready = new Promise((resolve) => (this.readyResolve = resolve));
        service.child.on("message", (raw) => {
            const m = raw as WatcherMessage;
            if (m.type === "ready") return this.readyResolve?.();
            const resolve = this.waiting.get(m.key);
            if (resolve) {
                this.waiting.delete(m.key);
                resolve(m);
            } else this.onOther(m);
        });
    }

    waitFor(key: string): Promise<KeyMessage> {
        return new Promise((resolve) => this.waiting.set(key, resolve));
    }
}

async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
    });
    try {
        return await Promise.race([p, timeout]);
    } finally {
        clearTimeout(timer);
    }
}

/** Thrown inside the run when Ctrl-C (or SIGTERM) arrived: stop quietly, the handler exits. */
class Interrupted extends Error {}

async function main(opts: StartOptions): Promise<number> {
    const progress = new Progress();
    const state = stateLayout(opts.stateDir);
    const ports = {
        airflow: opts.portBase,
        mlflow: opts.portBase + 1,
        docs: opts.portBase + 2,
        fareApi: opts.portBase + 3,
        sparkConnect: opts.portBase + 4,
        tlc: opts.portBase + 5,
        smtp: opts.portBase + 6,
    };
    const mailDir = path.join(state.root, "mail");
    let wiped: boolean;
    let runRecord: RunRecord;
    try {
        // Another `npm start` on this state folder, or leftovers of one that was killed. The
        // record lives in the state folder, so this comes before --reset deletes it.
        const stopped = await stopLeftovers(state.processes, shown(state.root));
        if (stopped.length > 0) {
            progress.plain(
                `Stopped ${stopped.length} process(es) left running by an earlier \`npm start\` that did not stop (killed or crashed), found through ${shown(state.processes)}:\n  ${stopped.join("\n  ")}`,
            );
        }
        wiped = opts.reset && removeState(state);
        createState(state);
        runRecord = new RunRecord(state.processes);
    } catch (err) {
        console.error(err instanceof Error ? err.message : String(err));
        return 2;
    }
    const registry = new ProcessRegistry({ record: runRecord });
    let airflow: LocalAirflow | undefined;
    let warm: WarmWorkers | undefined;
    // The loopback stand-in of the TLC website the ingest DAG downloads from (in this process);
    // none with --source (a real publisher).
    const site = opts.source ? undefined : new TlcServer(ports.tlc);
    let stopping: Promise<boolean> | undefined;
    /** Stop everything; false (after saying what) when a process or a port is left. */
    const stopAll = () =>
        (stopping ??= (async () => {
            const t = progress.start("stopping", "every process this command started");
            const problems: string[] = [];
            for (const r of await Promise.allSettled([
                registry.stopAll(),
                airflow?.stop(),
                site?.stop(),
            ])) {
                if (r.status === "rejected") problems.push(String(r.reason));
            }
            warm?.cleanup();
            const busy = await waitPortsFree(Object.values(ports));
            if (busy.length > 0) {
                problems.push(
                    `something still listens on 127.0.0.1:${busy.join(", ")} after every process this command started has exited`,
                );
            }
            if (problems.length > 0) {
                progress.failed("stopping", t, problems.join("\n"));
                return false;
            }
            runRecord.close();
            const killed = registry.tracker.killed;
            progress.done(
                "stopped",
                t,
                killed.length > 0
                    ? `needed SIGKILL after the grace period: ${killed.slice(0, 3).join("; ")}`
                    : "",
            );
            return true;
        })());
    // First Ctrl-C: stop every process started, then exit. A second one (not the echo of the
    // first that a wrapper such as tsx or npm may relay) exits at once; the exit hooks then
    // SIGKILL every process group still there.
    let interrupted: { code: number; at: number } | undefined;
    const onSignal = (code: number) => () => {
        if (interrupted) {
            if (Date.now() - interrupted.at < 2000) return;
            progress.plain("Interrupted again: killing every process now.");
            process.exit(code);
        }
        interrupted = { code, at: Date.now() };
        progress.plain(`\nInterrupted: stopping everything (logs stay in ${shown(state.logs)}).`);
        void stopAll().then(() => process.exit(code));
    };
    process.on("SIGINT", onSignal(130));
    process.on("SIGTERM", onSignal(143));

    const months = monthList(opts.firstMonth, opts.months);
    progress.plain(
        `taxi-platform: the batch pipeline on this machine (no cloud account)\n` +
            `state folder ${shown(state.root)}: warehouse, landing folder, MLflow store, Airflow home, logs` +
            `${wiped ? " (--reset: deleted and created anew)" : ""}\n`,
    );
    let stage = "";
    let stageStart: number | undefined;
    const begin = (name: string, detail = "") => {
        stage = name;
        stageStart = progress.start(name, detail);
        return stageStart;
    };
    const runs: MonthRun[] = [];
    const record = (status: string, extra: Record<string, unknown> = {}) =>
        writeFileAtomic(
            state.lastRun,
            `${JSON.stringify(
                {
                    status,
                    finished: new Date().toISOString(),
                    options: { ...opts, help: undefined },
                    runs: runs.map((r) => ({
                        month: r.month,
                        file: r.file,
                        run_id: r.result.runId,
                        trigger: r.outcome,
                        rerun: r.rerun,
                        state: r.result.state,
                        seconds: Math.round(r.result.seconds),
                        failed_task: r.result.failure?.taskId,
                        tasks: Object.fromEntries(
                            r.result.tasks.map((t) => [
                                t.taskId,
                                { state: t.state, summary: t.summary },
                            ]),
                        ),
                    })),
                    ...extra,
                },
                null,
                2,
            )}\n`,
        );

    try {
        // 1. Python environments.
        let t = begin(
            "Python environments",
            "spark, dags, dbt, ml (created once, refreshed when requirements change)",
        );
        prepareVenvs();
        progress.done("Python environments", t);

        // 2. Test data (none with --source: the real months, rows counted when downloaded).
        let data: { files: GeneratedFile[]; reused: boolean };
        if (opts.source) {
            data = { files: months.map((m) => realMonth(m)), reused: false };
            progress.info(`test data: none (--source: the real months from ${opts.source})`);
        } else {
            t = begin(
                "test data",
                `${months.length} monthly file${months.length === 1 ? "" : "s"} ${months[0]}..${months.at(-1)}, ${count(opts.rows)} rows each, ${opts.badFraction * 100}% bad rows`,
            );
            data = await ensureTestData(state.generated, months, opts.rows, opts.badFraction);
            const totalRows = data.files.reduce((a, f) => a + f.rows, 0);
            const totalBad = data.files.reduce((a, f) => a + injectedTotal(f), 0);
            progress.done(
                "test data",
                t,
                `${data.reused ? "reused" : "generated"} ${shown(path.join(state.generated, "trip data"))}: ${count(totalRows)} rows, ${count(totalBad)} with an injected defect`,
            );
        }

        // 3. Services.
        t = begin("Airflow metadata DB");
        const db = await chooseMetadataDb(
            opts.metadataDb,
            state.root,
            state.airflowHome,
            opts.reset,
        );
        progress.done(
            "Airflow metadata DB",
            t,
            db.description +
                (db.created ? " (created)" : "") +
                (db.fallbackReason ? ` (${db.fallbackReason})` : ""),
        );

        let sourceBase: string;
        if (site) {
            t = begin(
                "publisher",
                `a loopback stand-in of the TLC website on 127.0.0.1:${ports.tlc}`,
            );
            sourceBase = await site.start();
            progress.done(
                "publisher",
                t,
                `${sourceBase}/<file name>, as the TLC serves its monthly files`,
            );
        } else {
            sourceBase = opts.source!;
            progress.info(`publisher ${sourceBase} (--source)`);
        }

        // --storage emulated: s3:// landing, gs:// docs and MLflow artifacts on emulators.
        const emulated =
            opts.storage === "emulated"
                ? await startEmulatedStorage(registry, { stateDir: state.root, logDir: state.logs })
                : undefined;
        for (const line of emulated?.describe() ?? []) progress.info(line);
        t = begin(
            "services",
            `Airflow 3, MLflow, docs app on 127.0.0.1:${ports.airflow}-${ports.docs}`,
        );
        const mlflow = await startMlflow(registry, {
            dir: state.mlflow,
            port: ports.mlflow,
            logFile: path.join(state.logs, "mlflow.log"),
            ...(emulated
                ? { artifactsDestination: emulated.mlflowArtifacts, env: emulated.clientEnv }
                : {}),
        });
        const docs = await startDocsApp(registry, {
            docsDir: state.docs,
            port: ports.docs,
            logFile: path.join(state.logs, "docs-app.log"),
            ...(emulated ? { env: emulated.docsAppEnv } : {}),
        });
        // One local Spark for every Spark task (its JVM starts while Airflow does).
        // Not with --storage emulated: the copy task's s3:// read would then run in the
        // server's JVM, which has no emulator endpoint (that mode keeps a JVM per task).
        const spark =
            opts.sparkConnect && !emulated
                ? await startSparkConnect(registry, {
                      port: ports.sparkConnect,
                      logFile: path.join(state.logs, "spark-connect.log"),
                      env: localPipelineEnv(state, mlflow.url),
                  })
                : undefined;
        // One warm Python per component venv, started once Airflow is up: the tasks run in
        // forks of it (warm-workers.ts).
        warm = opts.warmWorkers ? new WarmWorkers(state.logs) : undefined;
        const mail = await startSmtpSink(registry, {
            dir: mailDir,
            port: ports.smtp,
            logFile: path.join(state.logs, "smtp-sink.log"),
        });
        await mail.ready;
        progress.info(`SMTP sink 127.0.0.1:${ports.smtp}: run reports saved in ${shown(mailDir)}`);
        const airflowLog = path.join(state.logs, "local-airflow.log");
        airflow = await startLocalAirflow({
            home: state.airflowHome,
            port: ports.airflow,
            databaseUrl: db.url,
            record: runRecord,
            components: ["api-server", "scheduler", "dag-processor", "triggerer"],
            user: { username: "trigger-fn", role: "User" },
            extraUsers: [
                {
                    username: ADMIN,
                    role: "Admin",
                    credentialsFile: path.join(state.airflowHome, "admin-user.json"),
                },
            ],
            expectDags: [DAG_ID, INGEST_DAG_ID],
            startupTimeoutMs: 600_000,
            env: {
                ...localPipelineEnv(state, mlflow.url),
                ...emulated?.pipelineEnv,
                ...ingestEnv(sourceBase, months, { smallFiles: site !== undefined }),
                ...spark?.env,
                ...warm?.env,
                ...db.env,
                ...reportEnv({
                    smtpPort: ports.smtp,
                    airflowUrl: `http://127.0.0.1:${ports.airflow}`,
                    docsUrl: docs.url,
                }),
                ...LOCAL_AIRFLOW_SETTINGS,
            },
            log: (event, fields = {}) =>
                fs.appendFileSync(
                    airflowLog,
                    `${JSON.stringify({ ts: new Date().toISOString(), event, ...fields })}\n`,
                ),
        });
        const af = airflow;
        progress.info(
            `Airflow 3 ${af.baseUrl}: ${af
                .status()
                .map((s) => s.component)
                .join(", ")} (logs ${shown(path.join(af.home, "logs"))})`,
        );
        await mlflow.ready;
        progress.info(
            `MLflow ${mlflow.url} (store ${shown(state.mlflow)}${emulated ? `, artifacts ${emulated.mlflowArtifacts}` : ""})`,
        );
        await docs.ready;
        progress.info(`docs app ${docs.url} (serving ${emulated?.docsUri ?? shown(state.docs)})`);
        await spark?.ready;
        if (spark) progress.info(`Spark Connect ${spark.url} (the Spark tasks' local Spark)`);
        if (warm) {
            // Not awaited: a task that comes first starts its own interpreter; a worker that
            // fails to start stops the run through checkAlive (registry.dead()).
            warm.start(registry).catch(() => undefined);
            progress.info(
                `warm workers for spark, dbt and ml starting: each task runs in a fork of its component's (logs ${shown(state.logs)}/warm-worker-*.log)`,
            );
        }
        const admin = af.users[ADMIN]!;
        const api = new AirflowApi(af.baseUrl, admin.username, admin.password);
        await api.unpause(DAG_ID);
        const leftovers = await api.listRuns(DAG_ID, ["queued", "running"]);
        for (const run of leftovers) await api.setRunState(DAG_ID, run.dag_run_id, "failed");
        if (leftovers.length > 0) {
            progress.info(
                `marked ${leftovers.length} run(s) left unfinished by an interrupted session as failed; they run again when their file is delivered again`,
            );
        }
        const checkAlive = () => {
            if (interrupted) throw new Interrupted();
            const dead = registry.dead()[0];
            if (dead) {
                throw new Error(
                    `${dead.name} stopped unexpectedly; end of ${dead.logFile}:\n${tailFile(dead.logFile)}`,
                );
            }
            const component = af.status().find((s) => !s.running);
            if (component) {
                const log = af.logFile(component.component);
                throw new Error(
                    `Airflow ${component.component} stopped unexpectedly; end of ${log}:\n${tailFile(log)}`,
                );
            }
        };

        const watcherService = registry.start(
            "landing watcher",
            process.execPath,
            ["--require", require.resolve("tsx/cjs"), path.join(__dirname, "local", "watcher.ts")],
            path.join(state.logs, "trigger.log"),
            {
                ipc: true,
                cwd: REPO_ROOT,
                env: {
                    ...process.env,
                    // The trigger function's own configuration, as the AwsTrigger component sets it
                    // on the Lambda, with the local credentials file instead of Secrets Manager.
                    AIRFLOW_API_URL: af.baseUrl,
                    AIRFLOW_DAG_ID: DAG_ID,
                    AIRFLOW_CREDENTIALS_FILE: af.credentialsFile,
                    S3_KEY_PREFIX: LANDING_KEY_PREFIX,
                    S3_KEY_SUFFIX: ".parquet",
                    LOG_LEVEL: "info",
                    ...(emulated
                        ? { ...emulated.clientEnv, WATCH_S3_BUCKET: LANDING_BUCKET }
                        : {
                              LANDING_URI_BASE: `file://${state.landing}`,
                              WATCH_LANDING_DIR: state.landing,
                          }),
                },
            },
        );
        const inbox = new WatcherInbox(watcherService);
        await withTimeout(
            inbox.ready,
            60_000,
            `the landing watcher did not start; see ${watcherService.logFile}:\n${tailFile(watcherService.logFile)}`,
        );
        progress.info(
            `landing watcher on ${emulated?.landingUri ?? shown(state.landing)} → trigger function (log ${shown(watcherService.logFile)})`,
        );
        // The fare API starts once a champion exists (now, when an earlier run left one).
        const fareApi = new LocalFareApi(registry, {
            port: ports.fareApi,
            mlflowUrl: mlflow.url,
            artifactsDir: path.join(state.mlflow, "artifacts"),
            logFile: path.join(state.logs, "fare-api.log"),
            ...(emulated
                ? {
                      env: {
                          ...emulated.clientEnv,
                          MODEL_ARTIFACTS_DESTINATION: emulated.mlflowArtifacts,
                      },
                  }
                : {}),
        });
        await syncFareApi(progress, fareApi);
        progress.done("services", t);

        // 4. Deliver each month and follow its run.
        const deliver = async (
            m: WatcherMessage,
            month: string,
            file: string,
        ): Promise<MonthRun> => {
            if (m.type === "trigger_failed") {
                throw new Error(
                    `the trigger function failed for ${m.key} after ${m.attempts} attempt(s): ${m.error}`,
                );
            }
            if (m.type !== "triggered" || m.runs.length === 0) {
                const reason =
                    m.type === "triggered" ? m.ignored.map((i) => i.reason).join("; ") : m.type;
                throw new Error(`the trigger function started no run for ${file}: ${reason}`);
            }
            const run = m.runs[0]!;
            progress.info(
                `S3 event (bucket ${JSON.stringify(emulated ? LANDING_BUCKET : path.basename(state.landing))}, key ${JSON.stringify(m.key)}, ETag ${m.eTag}) → trigger function → run ${run.dagRunId}: ${run.outcome === "created" ? "created" : "exists (HTTP 409)"}`,
            );
            let rerun = false;
            if (run.outcome === "exists") {
                const existing = await api.getRun(DAG_ID, run.dagRunId);
                if (["success", "failed"].includes(existing.state)) {
                    progress.info(
                        `same object as before (same ETag, same run id; last state ${existing.state}): clearing the run to run it again`,
                    );
                    await api.clearRun(DAG_ID, run.dagRunId);
                    rerun = true;
                }
            }
            const result = await followRun({
                api,
                dagId: DAG_ID,
                runId: run.dagRunId,
                label: month,
                progress,
                airflowHome: af.home,
                failFast: opts.failFast,
                checkAlive,
            });
            return { month, file, outcome: run.outcome, rerun, result };
        };

        // The months arrive from the publisher through the ingest DAG (local/ingest-flow.ts):
        // every month but the last is published now, the last once the DAG has asked for it.
        const ingest = new IngestFlow({
            api,
            site,
            progress,
            airflowHome: af.home,
            failFast: opts.failFast,
            checkAlive,
        });
        const lastFile = data.files.at(-1)!;
        for (const f of site ? data.files : []) {
            if (f === lastFile) ingest.withholdUntilAsked(f.month, f.name, f.path);
            else site!.publish(f.name, f.path);
        }
        const landingTarget = emulated ? emulated.landingUri : shown(state.landing);
        const keyOf = (f: GeneratedFile) => `${LANDING_KEY_PREFIX}${f.name}`;
        // Registered before anything can land, so no watcher message goes unheard.
        const arrivals = new Map(data.files.map((f) => [f.month, inbox.waitFor(keyOf(f))]));
        const cleared = await ingest.prepare(months);
        progress.info(
            `${INGEST_DAG_ID} DAG unpaused for ${months[0]}..${months.at(-1)} (INGEST_MONTHS): it downloads each month from ${sourceBase} into ${landingTarget}` +
                (cleared ? `; ${cleared} run(s) of an earlier session cleared to check again` : ""),
        );
        let fareSync = Promise.resolve();
        /** The landing event of `f` → its batch run, followed; false when something failed. */
        const loadMonth = async (
            f: GeneratedFile,
            arrival: Promise<WatcherMessage>,
            since: number,
            what: string,
        ): Promise<boolean> => {
            const m = await withTimeout(
                arrival,
                120_000,
                `the landing watcher did not report ${keyOf(f)} within 2 min of its upload; see ${watcherService.logFile}:\n${tailFile(watcherService.logFile)}`,
            );
            const mr = await deliver(m, f.month, f.name);
            runs.push(mr);
            // The dag-processor mails the run report once the run has ended.
            const eml = await reportFor(mailDir, mr.result.runId, 120_000);
            progress.info(
                eml
                    ? `run report of ${f.month} mailed: ${shown(eml)}`
                    : `no run report mail for ${f.month} within 2 min (see ${shown(path.join(state.logs, "smtp-sink.log"))} and the dag-processor log)`,
            );
            if (mr.result.state !== "success") {
                reportFailure(progress, mr, since);
                return false;
            }
            progress.done(`month ${f.month}`, since, `${what}: run ${mr.result.runId} succeeded`);
            // The fare API picks up a new champion (within its poll interval) while the next
            // month goes on; the summary waits for it.
            fareSync = fareSync.then(() => syncFareApi(progress, fareApi));
            fareSync.catch(() => undefined); // awaited before the summary
            return true;
        };
        const ingestFailed = (month: string, since: number, runId: string, state: string) =>
            progress.failed(
                `month ${month}`,
                since,
                `ingest run ${runId} ended ${state} (its task log is above)`,
            );
        /** One pass over the months: each ingest run followed, what it uploaded loaded. */
        const ingestPass = async (o: {
            pass: IngestPass;
            arrivals: Map<string, Promise<WatcherMessage>>;
            detail: string;
            fileFor: (f: GeneratedFile) => GeneratedFile;
            unchanged: string;
            loaded: string;
        }): Promise<boolean> => {
            for (const f of data.files) {
                t = begin(`month ${f.month}`, o.detail);
                const got = await ingest.follow(f.month, f.name, o.pass);
                if (opts.source && o.pass === "first") f.rows = got.rows ?? 0;
                if (got.state !== "success") {
                    ingestFailed(f.month, t, got.runId, got.state);
                    return false;
                }
                if (got.action === "unchanged") {
                    progress.done(`month ${f.month}`, t, o.unchanged);
                    continue;
                }
                if (!(await loadMonth(o.fileFor(f), o.arrivals.get(f.month)!, t, o.loaded))) {
                    return false;
                }
            }
            return true;
        };
        let allOk = await ingestPass({
            pass: "first",
            arrivals,
            detail: `from the publisher to ${landingTarget}`,
            fileFor: (f) => f,
            unchanged:
                "already in the landing folder with the same content: no S3 event, no batch run",
            loaded: "downloaded",
        });
        if (allOk && site) {
            // The publisher corrects the first month; every month is checked again.
            const first = data.files[0]!;
            t = begin(
                "republication",
                `the publisher republishes ${first.name} corrected; every month is checked again`,
            );
            const corrected = await ensureCorrected(state.generated, first);
            site.publish(first.name, corrected.path);
            const again = new Map(data.files.map((f) => [f.month, inbox.waitFor(keyOf(f))]));
            await ingest.recheck(data.files);
            progress.done("republication", t, `${months.length} ingest run(s) cleared`);
            allOk = await ingestPass({
                pass: "re-check",
                arrivals: again,
                detail: "checked again at the publisher",
                fileFor: (f) => (f === first ? corrected : f),
                unchanged:
                    "unchanged at the publisher (same sha256): nothing uploaded, no batch run",
                loaded: "re-loaded",
            });
        }
        await ingest.close();
        await fareSync;

        // 5. Summary.
        const ok = allOk && runs.every((r) => r.result.state === "success");
        stage = "summary";
        const summary = await summarise(progress, {
            state,
            opts,
            runs,
            files: data.files,
            ingest: ingest.describe(
                sourceBase,
                site ? "loopback stand-in of the TLC website" : "--source",
            ),
            mlflowUrl: mlflow.url,
            docsUrl: docs.url,
            airflow: af,
            fareApi,
            ...(emulated ? { storage: emulated.describe(), docsUri: emulated.docsUri } : {}),
        });
        record(ok ? "succeeded" : "failed", summary);
        if (opts.once) {
            const clean = await stopAll();
            progress.plain(
                ok ? "\nAll runs succeeded." : "\nA run failed (see above). Exit code 1.",
            );
            if (!clean) progress.plain("Not every process stopped (see above). Exit code 1.");
            return ok && clean ? 0 : 1;
        }

        progress.plain(
            `\nThe services keep running. Drop more monthly files into ${shown(state.landingPrefix)} to trigger runs ` +
                `(e.g. cp "${shown(path.join(state.generated, "trip data"))}"/*.parquet "${shown(state.landingPrefix)}"); Ctrl-C stops everything.`,
        );
        let queue = Promise.resolve();
        inbox.onOther = (m) => {
            queue = queue.then(async () => {
                const t2 = begin(`new file ${m.key}`);
                try {
                    const month = /(\d{4}-\d{2})\.parquet$/.exec(m.key)?.[1] ?? m.key;
                    const mr = await deliver(m, month, path.basename(m.key));
                    runs.push(mr);
                    if (mr.result.state === "success") {
                        progress.done(`new file ${m.key}`, t2, `run ${mr.result.runId} succeeded`);
                        await syncFareApi(progress, fareApi);
                    } else reportFailure(progress, mr, t2);
                } catch (err) {
                    progress.failed(
                        `new file ${m.key}`,
                        t2,
                        err instanceof Error ? err.message : String(err),
                    );
                }
            });
        };
        for (;;) {
            await new Promise((r) => setTimeout(r, 2000));
            checkAlive();
        }
    } catch (err) {
        if (interrupted || err instanceof Interrupted) {
            await stopAll();
            return interrupted?.code ?? 130;
        }
        progress.failed(stage || "start", stageStart, "");
        progress.info(err instanceof Error ? err.message : String(err));
        try {
            record("failed", { error: err instanceof Error ? err.message : String(err), stage });
        } catch {
            // the state folder may be the problem
        }
        await stopAll();
        return 1;
    }
}

/** A month of `--source`: nothing generated, its rows are counted when it is downloaded. */
function realMonth(month: string): GeneratedFile {
    return { month, name: fileName(month), path: "", rows: 0, injected: {} };
}

/** Start the fare API once a champion exists; after a promotion, show the version it serves. */
async function syncFareApi(progress: Progress, api: LocalFareApi): Promise<void> {
    const s = await api.sync();
    if (s.change === "none") return;
    const p = await predict(api.url);
    if (p.status !== 200 || p.version !== s.version) {
        throw new Error(
            `the fare API answered HTTP ${p.status} with version ${p.version ?? "none"} for the example trip; champion is ${s.version}`,
        );
    }
    if (s.change === "started") {
        progress.info(
            `fare API ${api.url} serves champion v${s.version} (checks the alias every ${LOCAL_POLL_SECONDS} s)`,
        );
        progress.info(`try it: ${curlExample(api.url)}`);
        progress.info(`  → ${p.fares[0]} USD from model version ${p.version}`);
    } else {
        progress.info(
            `fare API now serves champion v${s.version} (was v${s.previous}; reloaded without a restart): example trip ${p.fares[0]} USD`,
        );
    }
}

function reportFailure(progress: Progress, mr: MonthRun, since: number): void {
    const f = mr.result.failure;
    progress.failed(
        `month ${mr.month}`,
        since,
        f
            ? `run ${mr.result.runId} failed: task ${f.taskId} failed (try ${f.tryNumber}, end of its log above: ${f.logFile})`
            : `run ${mr.result.runId} ended ${mr.result.state}`,
    );
}

interface WarehouseSummary {
    tables: Record<string, number | null>;
    by_month: Record<string, { loaded?: number; quarantined?: number }>;
}

async function summarise(
    progress: Progress,
    o: {
        state: StateLayout;
        opts: StartOptions;
        runs: MonthRun[];
        files: GeneratedFile[];
        mlflowUrl: string;
        docsUrl: string;
        /** What the ingest DAG downloaded, waited for, skipped and re-loaded. */
        ingest: string[];
        /** `--storage emulated`: where each URI lives. */
        storage?: string[];
        docsUri?: string;
        airflow: LocalAirflow;
        fareApi: LocalFareApi;
    },
): Promise<Record<string, unknown>> {
    const s = o.state;
    let warehouse: WarehouseSummary | undefined;
    if (fs.existsSync(s.warehouse)) {
        const r = await runPython("dbt", [
            path.join(__dirname, "local", "warehouse_summary.py"),
            s.warehouse,
        ]);
        warehouse = r.code === 0 ? (lastJsonLine(r.stdout) as WarehouseSummary) : undefined;
    }
    let champion: { version: string; run_id?: string } | undefined;
    try {
        const res = await fetch(
            `${o.mlflowUrl}/api/2.0/mlflow/registered-models/alias?name=${MODEL_NAME}&alias=champion`,
            { signal: AbortSignal.timeout(10_000) },
        );
        if (res.ok)
            champion = (
                (await res.json()) as { model_version: { version: string; run_id?: string } }
            ).model_version;
    } catch {
        champion = undefined;
    }
    let sites: string[] = [];
    try {
        const html = await (
            await fetch(`${o.docsUrl}/`, { signal: AbortSignal.timeout(10_000) })
        ).text();
        sites = [...html.matchAll(/<tr data-site="([^"]+)"><td><a /g)].map((m) => m[1]!);
    } catch {
        // the docs app is checked elsewhere; the summary then says nothing was published
    }

    const t = (name: string) => warehouse?.tables[name];
    const n = (v: number | null | undefined) =>
        v === null || v === undefined ? "(not built)" : count(v);
    const changes = o.runs.flatMap((r) => {
        const p = promotion(r.result.tasks.find((x) => x.taskId === "retrain")?.summary);
        return p === undefined ? [] : [`${r.month}: ${p}`];
    });
    progress.plain("\nSummary");
    progress.plain(`  ingest        ${o.ingest.join("\n                ")}`);
    progress.plain(
        `  DAG runs      ${o.runs.map((r) => `${r.month} ${r.result.state}${r.rerun ? " (re-run)" : ""} in ${duration(r.result.seconds)}`).join(", ") || "none"}`,
    );
    const generated = o.files.reduce((a, f) => a + f.rows, 0);
    const mine = o.files.map((f) => warehouse?.by_month[f.month] ?? {});
    const loaded = mine.reduce((a, m) => a + (m.loaded ?? 0), 0);
    const quarantined = mine.reduce((a, m) => a + (m.quarantined ?? 0), 0);
    const balance =
        loaded + quarantined === generated
            ? `${count(loaded)} loaded + ${count(quarantined)} quarantined = ${count(generated)} generated`
            : `${count(loaded)} loaded + ${count(quarantined)} quarantined, ${count(generated)} generated: not every month was loaded`;
    progress.plain(
        warehouse === undefined
            ? `  warehouse     ${s.warehouse}: not created yet (no load ran)`
            : `  warehouse     ${s.warehouse}\n` +
                  `                months ${o.files[0]?.month}..${o.files.at(-1)?.month}: ${balance}\n` +
                  `                raw.trips ${n(t("raw.trips"))} rows, raw.trips_quarantine ${n(t("raw.trips_quarantine"))}, ` +
                  `marts.fare_features ${n(t("marts.fare_features"))}, marts.borough_monthly_report ${n(t("marts.borough_monthly_report"))}`,
    );
    const retrained = o.runs.filter((r) =>
        r.result.tasks.some((x) => x.taskId === "retrain" && x.state === "success"),
    ).length;
    progress.plain(
        `  model         ${MODEL_NAME} champion: ${champion ? `version ${champion.version}` : "none"}; ` +
            (changes.length
                ? `promoted in this run: ${changes.join(", ")}`
                : retrained
                  ? `kept in all ${retrained} retraining(s) of this run`
                  : "no retraining ran"),
    );
    progress.plain(
        `  docs          ${sites.length ? sites.join(", ") : "nothing published"} (${o.docsUri ? `objects in ${o.docsUri}` : `files in ${shown(s.docs)}`})`,
    );
    if (o.storage) progress.plain(`  storage       ${o.storage.join("\n                ")}`);
    progress.plain(`  run reports   ${mailSummary(path.join(s.root, "mail"), shown)}`);
    progress.plain(
        `  Airflow UI    ${o.airflow.baseUrl}  (user ${ADMIN}; password in ${shown(o.airflow.users[ADMIN]!.credentialsFile)})\n` +
            `  MLflow UI     ${o.mlflowUrl}\n` +
            `  docs app      ${o.docsUrl}\n` +
            (o.fareApi.started
                ? `  fare API      ${o.fareApi.url}  (champion v${o.fareApi.served})\n` +
                  `                ${curlExample(o.fareApi.url)}\n`
                : `  fare API      not started (no champion yet)\n`) +
            `  logs          ${shown(s.logs)}, task logs in ${shown(path.join(o.airflow.home, "logs"))}`,
    );
    return {
        warehouse_path: s.warehouse,
        warehouse,
        generated_rows: generated,
        ingest: o.ingest,
        champion_version: champion?.version ?? null,
        champion_changes: changes,
        docs_sites: sites,
        urls: {
            airflow: o.airflow.baseUrl,
            mlflow: o.mlflowUrl,
            docs: o.docsUrl,
            ...(o.fareApi.started ? { fareApi: o.fareApi.url } : {}),
        },
        fare_api_version: o.fareApi.served ?? null,
    };
}

if (require.main === module) {
    let opts: StartOptions;
    try {
        opts = parseOptions(process.argv.slice(2));
    } catch (err) {
        console.error(err instanceof OptionsError ? err.message : String(err));
        process.exit(2);
    }
    if (opts.help) {
        console.log(USAGE);
        process.exit(0);
    }
    main(opts).then(
        (code) => process.exit(code),
        (err: unknown) => {
            console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
            process.exit(1);
        },
    );
}
