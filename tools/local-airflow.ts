/**
 * A local Airflow 3 for tests and `npm start`: no Docker, no cluster, nothing left behind.
 *
 * `startLocalAirflow(options)` uses the Airflow installed in `dags/.venv` (created by
 * `tsx tools/python-suites.ts --prepare dags`):
 *   1. AIRFLOW_HOME in a new temp dir (or the one given), the FAB auth manager, a metadata DB
 *      (by default a new database on the local PostgreSQL, dropped by `stop()`: SQLite does
 *      not take a burst of API calls; or any SQLAlchemy URL you pass), generated fernet key /
 *      API secret key / JWT secret, a light password hash for the local users;
 *   2. `airflow db migrate`, then one API user (role `User` by default: enough to create DAG
 *      runs) and any extra users (e.g. an `Admin` for the UI), all in one Python process
 *      (`local/airflow_prepare.py`: the CLI's migrate, then FAB's security manager as
 *      `airflow users create` uses it; log `<home>/logs/prepare.log`), and, unless a
 *      `dag-processor` is started (it parses the folder itself), `airflow dags reserialize` so
 *      the API knows the DAGs. With a kept home, each user's password is read
 *      back from its credentials file, and a user that already exists in a kept metadata DB gets
 *      its password reset to the one in the file;
 *   3. starts the requested components (default: only `api-server`, which is all that creating
 *      runs needs; add `scheduler`, `dag-processor`, `triggerer` to run them), each in its own
 *      process group with output in `<home>/logs/<component>.log` and a marker in its
 *      environment that every descendant inherits (`local/proctree.ts`);
 *   4. waits for `GET /api/v2/monitor/health` and, if asked, until the expected DAGs are known
 *      to the API (a clear error at once when the folder has import errors).
 * It returns the base URL, the user's credentials, `status()` (which components still run) and
 * `stop()`, which stops every process it started and all their descendants, in whatever process
 * group or session they are (SIGTERM, then SIGKILL, bounded), and removes a temp home. If starting
 * fails, or the Node process exits without calling `stop()`, they are killed as well.
 *
 *   tsx tools/local-airflow.ts [--port 28110] [--components api-server,scheduler]
 *       starts one and keeps it running until Ctrl-C (prints the URL and the path of the
 *       credentials file as JSON; the password itself is never printed).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { killGroup, portInUse, sleep } from "./local/processes";
import { temporaryDatabase } from "./local/metadata-db";
import { describe, ProcessTracker, type RunRecord } from "./local/proctree";
import { withQuickExit } from "./local/quick-exit";

const ROOT = path.resolve(__dirname, "..");

export type AirflowComponent = "api-server" | "scheduler" | "dag-processor" | "triggerer";

/** A FAB user to create; its credentials are written to `credentialsFile` (mode 0600). */
export interface LocalAirflowUser {
    username: string;
    /** Default: the one in an existing `credentialsFile`, else a random one. */
    password?: string;
    /** FAB role (default `User`). */
    role?: string;
    /** Default `<home>/user-<username>.json`. */
    credentialsFile?: string;
}

export interface UserCredentials {
    username: string;
    password: string;
    credentialsFile: string;
}

export interface LocalAirflowOptions {
    /** The `airflow` executable (default `dags/.venv/bin/airflow`). */
    airflowBin?: string;
    /** AIRFLOW_HOME (default: a new temp dir, removed by `stop()`); an existing home is kept. */
    home?: string;
    /** DAGs folder (default `dags/`). */
    dagsFolder?: string;
    /** api-server port on 127.0.0.1 (default 28110). */
    port?: number;
    /**
     * SQLAlchemy URL of the metadata DB. Default: a new database on the local PostgreSQL,
     * dropped by `stop()`; an error when none answers (SQLite does not take a burst of API
     * calls: `tools/local/burst.ts`). Pass `sqlite:///<file>` to use SQLite anyway.
     */
    databaseUrl?: string;
    /** Processes to run (default `["api-server"]`). */
    components?: AirflowComponent[];
    /** The API user to create (default `trigger-fn`, a random password, role `User`). */
    user?: { username: string; password?: string; role?: string };
    /** More users to create (e.g. an `Admin` for the UI and for clearing runs). */
    extraUsers?: LocalAirflowUser[];
    /**
     * Run `airflow dags reserialize` before starting. Default: only when no `dag-processor` is
     * started (it parses the DAG folder as it starts, while the api-server starts: about 6 s of
     * a local start saved; `expectDags` then waits for its first parse).
     */
    reserialize?: boolean;
    /** DAG ids that must be known to the API once it is up; a clear error otherwise. */
    expectDags?: string[];
    /** Extra `AIRFLOW__…` (or any) variables for every Airflow process. */
    env?: Record<string, string>;
    /** Overall limit for migrate + start (default 240 s). */
    startupTimeoutMs?: number;
    /** Progress lines (default: JSON lines on stderr). */
    log?: (event: string, fields?: Record<string, unknown>) => void;
    /** The state folder's record of running processes (`npm start`), for a later cleanup. */
    record?: RunRecord;
}

export interface LocalAirflow {
    /** `http://127.0.0.1:<port>` */
    baseUrl: string;
    username: string;
    password: string;
    /** `<home>/api-user.json` (mode 0600): `{"username", "password"}`, usable as the trigger's AIRFLOW_CREDENTIALS_FILE. */
    credentialsFile: string;
    home: string;
    /** The environment the Airflow processes run with (to run more `airflow` commands). */
    env: NodeJS.ProcessEnv;
    /** The extra users, by user name. */
    users: Record<string, UserCredentials>;
    /** Log file of a component. */
    logFile(component: AirflowComponent): string;
    /** Each started component with its process id and whether its process group still runs. */
    status(): { component: AirflowComponent; pid: number; running: boolean }[];
    /**
     * Stop every process started and all their descendants, whatever process group or session
     * they moved to (SIGTERM, 10 s, SIGKILL, bounded wait), remove a temp home. Safe to call
     * twice. Throws, naming them, if a process would not die.
     */
    stop(): Promise<void>;
}

export class LocalAirflowError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "LocalAirflowError";
    }
}

function tail(file: string, lines = 25): string {
    try {
        return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
        return "(no output)";
    }
}

/** A command line for messages, with password values masked. */
function shown(args: string[]): string {
    return args.map((a) => (a.startsWith("--password=") ? "--password=********" : a)).join(" ");
}

/**
 * Run one `airflow` CLI command (or, with `what`, another program of the Airflow environment) to
 * completion in its own process group, output to a log file.
 */
async function runCommand(
    tracker: ProcessTracker,
    bin: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    logFile: string,
    deadline: number,
    input?: string,
    what = `airflow ${shown(args)}`,
): Promise<void> {
    const out = fs.openSync(logFile, "a");
    const child = spawn(bin, args, {
        env: tracker.env(env),
        detached: true,
        stdio: [input === undefined ? "ignore" : "pipe", out, out],
    });
    fs.closeSync(out);
    if (input !== undefined) {
        // Secrets go through stdin, never argv: a command line is readable by every user of
        // the machine (/proc/<pid>/cmdline, ps) for as long as the process runs.
        child.stdin!.on("error", () => undefined); // an early exit is reported below
        child.stdin!.end(input);
    }
    const pgid = child.pid!;
    tracker.add(pgid, what);
    const code = await new Promise<number | null>((resolve, reject) => {
        const timer = setTimeout(
            () => {
                killGroup(pgid, "SIGKILL");
                reject(
                    new LocalAirflowError(
                        `${what} did not finish in time; see ${logFile}:\n${tail(logFile)}`,
                    ),
                );
            },
            Math.max(1, deadline - Date.now()),
        );
        child.once("error", (err) => {
            clearTimeout(timer);
            reject(err);
        });
        child.once("exit", (c) => {
            clearTimeout(timer);
            resolve(c);
        });
    }).finally(() => {
        killGroup(pgid, "SIGKILL"); // children it may have left (others are found by stop())
    });
    if (code !== 0) {
        throw new LocalAirflowError(
            `${what} exited with ${code}; see ${logFile}:\n${tail(logFile)}`,
        );
    }
}

/** The password stored in a credentials file of `username`, if the file is there and matches. */
function storedPassword(file: string, username: string): string | undefined {
    try {
        const o = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
        return o.username === username && typeof o.password === "string" && o.password !== ""
            ? o.password
            : undefined;
    } catch {
        return undefined;
    }
}

/** Migrates the metadata DB and creates the users in one process (one Airflow start, not three). */
const PREPARE_SCRIPT = path.join(ROOT, "tools", "local", "airflow_prepare.py");

/**
 * `airflow db migrate` (Airflow's CLI, run in the script's process), then the FAB users that do
 * not exist. A user that exists already (a kept metadata DB) gets our password stored when its
 * password is not the one kept in its credentials file (`known`) or its stored hash predates
 * LOCAL_PASSWORD_HASH (`rehash`). Passwords go through stdin and are never logged.
 */
async function migrateAndEnsureUsers(
    tracker: ProcessTracker,
    bin: string,
    users: { username: string; password: string; role: string; known: boolean }[],
    rehash: boolean,
    env: NodeJS.ProcessEnv,
    logFile: string,
    deadline: number,
): Promise<void> {
    const input = users
        .map((u) =>
            JSON.stringify({
                username: u.username,
                password: u.password,
                role: u.role,
                reset: !u.known || rehash,
            }),
        )
        .join("\n");
    await runCommand(
        tracker,
        path.join(path.dirname(bin), "python"),
        [PREPARE_SCRIPT, "--migrate"],
        env,
        logFile,
        deadline,
        `${input}\n`,
        `airflow db migrate and the local users (${users.map((u) => u.username).join(", ")}) with ${path.relative(ROOT, PREPARE_SCRIPT)}`,
    );
}

/**
 * The password hash of the local FAB users. FAB's default, scrypt, costs about 0.4 s of CPU per
 * check on a loaded 2-core machine, and every `POST /auth/token` checks one: a burst of new
 * trigger-function containers (8 token requests at once) then timed out against the single
 * api-server worker. The local users' passwords are random (144 bits) or chosen by tests, on a
 * loopback-only server, so a light PBKDF2 costs nothing in safety. The cluster keeps FAB's
 * default.
 */
export const LOCAL_PASSWORD_HASH = "pbkdf2:sha256:20000";

/** `<home>/webserver_config.py`: FAB settings of the local Airflow (regenerated every start). */
function writeFabConfig(home: string): string {
    const file = path.join(home, "webserver_config.py");
    fs.writeFileSync(
        file,
        [
            "# Written by tools/local-airflow.ts at every start of a local Airflow; edits are lost.",
            "# A light password hash keeps POST /auth/token fast under a burst (see LOCAL_PASSWORD_HASH).",
            `FAB_PASSWORD_HASH_METHOD = "${LOCAL_PASSWORD_HASH}"`,
            "",
        ].join("\n"),
    );
    return file;
}

/**
 * Metadata-DB connection pool of every local Airflow process: 5 kept, overflow unlimited.
 *
 * Airflow's default (5 + 10 overflow, 30 s pool timeout) deadlocks the api-server under a burst
 * of trigger calls: FastAPI runs the synchronous route handlers in a thread pool of 40, each
 * holding a pooled connection, while the audit-log dependency (`action_logging`) of the same
 * requests runs on the event loop and waits for a connection of its own; with all 15 taken the
 * loop blocks, no handler can finish, and every caller times out until the pool timeout frees
 * one (the burst of tools/local/burst.ts: 140 first-try timeouts and 162 s). With unlimited
 * overflow the extra requests open short-lived connections instead (bounded by the thread pool,
 * far below PostgreSQL's max_connections) and the burst has no first-try failure. SQLite keeps
 * SQLAlchemy's own pool (Airflow sets NullPool-like settings for it).
 */
export const LOCAL_DB_POOL = { size: 5, maxOverflow: -1, recycleSeconds: 1800 } as const;

/** How long the stop lets the triggerer wait for its exited runner (`stop` in startLocalAirflow). */
export const TRIGGERER_WAIT_MS = 2_000;

/** Environment for every Airflow process. */
export function airflowEnv(o: {
    home: string;
    dagsFolder: string;
    port: number;
    databaseUrl: string;
    extra?: Record<string, string>;
}): NodeJS.ProcessEnv {
    const base = `http://127.0.0.1:${o.port}`;
    const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        LANG: process.env.LANG ?? "C.UTF-8",
        TZ: "UTC",
        AIRFLOW_HOME: o.home,
        AIRFLOW__CORE__DAGS_FOLDER: o.dagsFolder,
        AIRFLOW__CORE__LOAD_EXAMPLES: "False",
        AIRFLOW__CORE__AUTH_MANAGER:
            "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
        AIRFLOW__CORE__FERNET_KEY: randomBytes(32).toString("base64url") + "=",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL: `${base}/execution/`,
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: o.databaseUrl,
        ...(o.databaseUrl.startsWith("sqlite")
            ? {}
            : {
                  AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE: String(LOCAL_DB_POOL.size),
                  AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW: String(LOCAL_DB_POOL.maxOverflow),
                  AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_RECYCLE: String(LOCAL_DB_POOL.recycleSeconds),
              }),
        AIRFLOW__API__HOST: "127.0.0.1",
        AIRFLOW__API__PORT: String(o.port),
        AIRFLOW__API__BASE_URL: base,
        AIRFLOW__API__WORKERS: "1",
        AIRFLOW__API__SECRET_KEY: randomBytes(24).toString("hex"),
        AIRFLOW__API_AUTH__JWT_SECRET: randomBytes(32).toString("hex"),
        AIRFLOW__LOGGING__BASE_LOG_FOLDER: path.join(o.home, "logs"),
        AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR: "True",
        ...o.extra,
    };
    // Airflow's processes exit without a full-heap collection (local/quick-exit.ts).
    return withQuickExit(env);
}

async function waitForHealth(
    baseUrl: string,
    child: ChildProcess,
    logFile: string,
    deadline: number,
): Promise<void> {
    let last = "no answer yet";
    while (Date.now() < deadline) {
        if (child.exitCode !== null || child.signalCode !== null) {
            throw new LocalAirflowError(
                `airflow api-server exited (${child.exitCode ?? child.signalCode}) before becoming healthy; see ${logFile}:\n${tail(logFile)}`,
            );
        }
        try {
            const res = await fetch(`${baseUrl}/api/v2/monitor/health`, {
                signal: AbortSignal.timeout(2000),
            });
            if (res.ok) return;
            last = `HTTP ${res.status}`;
        } catch (err) {
            last = (err as Error & { cause?: { code?: string } }).cause?.code ?? String(err);
        }
        await sleep(500);
    }
    throw new LocalAirflowError(
        `airflow api-server at ${baseUrl} not healthy in time (${last}); see ${logFile}:\n${tail(logFile)}`,
    );
}

/**
 * One unauthenticated request to the Task Execution API (its health ping), which makes the
 * api-server do its first-request work; the milliseconds it took. Never throws: a failure here
 * only means the first task pays instead.
 */
async function warmExecutionApi(baseUrl: string): Promise<number | undefined> {
    const t0 = Date.now();
    try {
        const res = await fetch(`${baseUrl}/execution/health/ping`, {
            signal: AbortSignal.timeout(60_000),
        });
        await res.arrayBuffer();
        return Date.now() - t0;
    } catch {
        return undefined;
    }
}

/** How long the API may take to know an expected DAG once it is healthy (the first parse). */
const DAG_WAIT_MS = 120_000;

/**
 * Check that the API knows each of `dagIds`; until `waitUntil` (epoch ms), a DAG it does not
 * know yet is asked for again (the dag-processor's first parse). Fails at once when the DAG's
 * own file (`<dag id>.py`) has an import error; the error lists the folder's import errors.
 */
async function checkDags(
    baseUrl: string,
    username: string,
    password: string,
    dagIds: string[],
    options: { waitUntil: number },
): Promise<void> {
    const tokenRes = await fetch(`${baseUrl}/auth/token`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username, password }),
    });
    if (tokenRes.status !== 201 && tokenRes.status !== 200) {
        throw new LocalAirflowError(
            `POST /auth/token for the created user answered ${tokenRes.status}: ${await tokenRes.text()}`,
        );
    }
    const { access_token } = (await tokenRes.json()) as { access_token: string };
    const headers = { authorization: `Bearer ${access_token}` };
    for (const dagId of dagIds) {
        for (;;) {
            const res = await fetch(`${baseUrl}/api/v2/dags/${encodeURIComponent(dagId)}`, {
                headers,
            });
            if (res.status === 200) break;
            const body = await res.text();
            const errors = await fetch(`${baseUrl}/api/v2/importErrors`, { headers })
                .then((r) => (r.ok ? (r.json() as Promise<ImportErrors>) : undefined))
                .catch(() => undefined);
            // A DAG's own file failing to import ends the wait at once (this project names
            // each DAG's file after it); other import errors are listed if it times out.
            const ownFile = errors?.import_errors.some(
                (e) => path.basename(e.filename) === `${dagId}.py`,
            );
            if (ownFile || res.status !== 404 || Date.now() >= options.waitUntil) {
                const found = (errors?.import_errors ?? [])
                    .map((e) => `\n  ${e.filename}: ${e.stack_trace.trim().split("\n").at(-1)}`)
                    .join("");
                throw new LocalAirflowError(
                    `the API does not know DAG ${dagId} (${res.status}: ${body.slice(0, 300)})` +
                        (found
                            ? `; import errors in the DAG folder:${found}`
                            : `: is dags/${dagId}.py there, and does it import without errors (airflow dags list-import-errors)?`),
                );
            }
            await sleep(500);
        }
    }
}

interface ImportErrors {
    import_errors: { filename: string; stack_trace: string }[];
}

export async function startLocalAirflow(options: LocalAirflowOptions = {}): Promise<LocalAirflow> {
    const bin = options.airflowBin ?? path.join(ROOT, "dags", ".venv", "bin", "airflow");
    if (!fs.existsSync(bin)) {
        throw new LocalAirflowError(
            `${bin} not found: create the Airflow environment with \`tsx tools/python-suites.ts --prepare dags\``,
        );
    }
    const log =
        options.log ??
        ((event: string, fields: Record<string, unknown> = {}) =>
            process.stderr.write(
                `${JSON.stringify({ logger: "local-airflow", event, ...fields })}\n`,
            ));
    const tempHome = options.home === undefined;
    const home = options.home ?? fs.mkdtempSync(path.join(os.tmpdir(), "taxi-airflow-"));
    fs.mkdirSync(path.join(home, "logs"), { recursive: true });
    const port = options.port ?? 28110;
    const baseUrl = `http://127.0.0.1:${port}`;
    const dagsFolder = path.resolve(options.dagsFolder ?? path.join(ROOT, "dags"));
    let temporaryDb: Awaited<ReturnType<typeof temporaryDatabase>> | undefined;
    if (options.databaseUrl === undefined) {
        try {
            temporaryDb = await temporaryDatabase();
        } catch (err) {
            if (tempHome) fs.rmSync(home, { recursive: true, force: true });
            throw new LocalAirflowError(err instanceof Error ? err.message : String(err));
        }
    }
    const databaseUrl = options.databaseUrl ?? temporaryDb!.url;
    const credentialsFile = path.join(home, "api-user.json");
    const newPassword = () => randomBytes(18).toString("base64url");
    const username = options.user?.username ?? "trigger-fn";
    const stored = storedPassword(credentialsFile, username);
    const password = options.user?.password ?? stored ?? newPassword();
    const role = options.user?.role ?? "User";
    const users: Record<string, UserCredentials & { role: string; known: boolean }> = {};
    for (const u of options.extraUsers ?? []) {
        const file = u.credentialsFile ?? path.join(home, `user-${u.username}.json`);
        const kept = storedPassword(file, u.username);
        const pw = u.password ?? kept ?? newPassword();
        users[u.username] = {
            username: u.username,
            password: pw,
            role: u.role ?? "User",
            credentialsFile: file,
            known: kept !== undefined && kept === pw,
        };
    }
    const components = options.components ?? ["api-server"];
    const env = airflowEnv({
        home,
        dagsFolder,
        port,
        databaseUrl,
        extra: {
            AIRFLOW__FAB__CONFIG_FILE: writeFabConfig(home),
            ...temporaryDb?.env,
            ...options.env,
        },
    });
    const deadline = Date.now() + (options.startupTimeoutMs ?? 240_000);
    const logFile = (c: string) => path.join(home, "logs", `${c}.log`);
    const writeCredentials = (file: string, u: string, p: string) => {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, JSON.stringify({ username: u, password: p }), { mode: 0o600 });
        fs.chmodSync(file, 0o600); // an existing file keeps its mode on write
    };
    writeCredentials(credentialsFile, username, password);
    for (const u of Object.values(users))
        writeCredentials(u.credentialsFile, u.username, u.password);
    const started: { component: AirflowComponent; child: ChildProcess }[] = [];
    const tracker = new ProcessTracker({ record: options.record });

    let stopping: Promise<void> | undefined;
    const stop = () =>
        (stopping ??= (async () => {
            // The triggerer can outlive its trigger runner by the rest of its own 10 s escalation
            // delay: Airflow's supervisor then waits in a select with no socket left to wake it
            // (py-spy; 1 stop in 10 here, and 3 `npm start` runs of 13 ended so, in SIGKILL).
            // With no live child after 2 s it has nothing left to do and is ended then.
            const triggerer = started.find((s) => s.component === "triggerer")?.child.pid;
            const survivors = await tracker.terminate(
                10_000,
                undefined,
                triggerer ? { pids: [triggerer], afterMs: TRIGGERER_WAIT_MS } : undefined,
            );
            temporaryDb?.drop();
            if (tempHome) fs.rmSync(home, { recursive: true, force: true });
            log("local_airflow_stopped", {
                home,
                removed: tempHome,
                sigkill: tracker.killed,
                ended_idle: tracker.ended,
            });
            if (survivors.length > 0) {
                throw new LocalAirflowError(
                    `Airflow processes still alive after SIGKILL:\n  ${survivors.map(describe).join("\n  ")}`,
                );
            }
        })());

    if (components.includes("api-server") && (await portInUse(port))) {
        temporaryDb?.drop();
        if (tempHome) fs.rmSync(home, { recursive: true, force: true });
        throw new LocalAirflowError(
            `127.0.0.1:${port} is already in use (another local Airflow or test run?): stop it or pass another port`,
        );
    }

    try {
        const t0 = Date.now();
        log("local_airflow_preparing", {
            home,
            database: databaseUrl.replace(/\/\/[^@/]*@/, "//***@"),
            dags: dagsFolder,
        });
        const known = stored !== undefined && stored === password;
        // Which hash the users' passwords were last stored with (a marker next to the DB).
        const hashMarker = path.join(home, ".fab-password-hash");
        const rehash =
            !fs.existsSync(hashMarker) ||
            fs.readFileSync(hashMarker, "utf8").trim() !== LOCAL_PASSWORD_HASH;
        await migrateAndEnsureUsers(
            tracker,
            bin,
            [{ username, password, role, known }, ...Object.values(users)],
            rehash,
            env,
            logFile("prepare"),
            deadline,
        );
        fs.writeFileSync(hashMarker, `${LOCAL_PASSWORD_HASH}\n`);
        const reserialize = options.reserialize ?? !components.includes("dag-processor");
        if (reserialize) {
            await runCommand(
                tracker,
                bin,
                ["dags", "reserialize"],
                env,
                logFile("dags-reserialize"),
                deadline,
            );
        }
        log("local_airflow_prepared", { seconds: (Date.now() - t0) / 1000 });

        for (const component of components) {
            const out = fs.openSync(logFile(component), "a");
            const args =
                component === "api-server"
                    ? [
                          "api-server",
                          "--host",
                          "127.0.0.1",
                          "--port",
                          String(port),
                          "--workers",
                          "1",
                      ]
                    : [component];
            const child = spawn(bin, args, {
                env: tracker.env(env),
                detached: true,
                stdio: ["ignore", out, out],
            });
            fs.closeSync(out);
            tracker.add(child.pid!, `airflow ${component}`);
            started.push({ component, child });
        }
        const api = started.find((s) => s.component === "api-server");
        if (api) {
            await waitForHealth(baseUrl, api.child, logFile("api-server"), deadline);
            // The Task Execution API's first request costs seconds (measured: 5.5 s of a start
            // on 2 cores; 11 s when a task's `PATCH …/run` paid it, while the warm workers
            // started): paid here, alongside the DAG check, instead of by the first task.
            // Only when tasks will run (a scheduler is started).
            const warmUp = components.includes("scheduler")
                ? warmExecutionApi(baseUrl).then((ms) => log("execution_api_warmed", { ms }))
                : Promise.resolve();
            if (options.expectDags?.length) {
                await checkDags(baseUrl, username, password, options.expectDags, {
                    // Serialised before the start, or by the dag-processor's first parse.
                    waitUntil: reserialize ? 0 : Math.min(deadline, Date.now() + DAG_WAIT_MS),
                });
            }
            await warmUp;
        }
        log("local_airflow_ready", {
            url: baseUrl,
            components,
            username,
            seconds: (Date.now() - t0) / 1000,
        });
    } catch (err) {
        await stop().catch(() => undefined); // the first error is the one to report
        throw err;
    }

    return {
        baseUrl,
        username,
        password,
        credentialsFile,
        home,
        env,
        users: Object.fromEntries(
            Object.values(users).map((u) => [
                u.username,
                { username: u.username, password: u.password, credentialsFile: u.credentialsFile },
            ]),
        ),
        logFile: (c) => logFile(c),
        status: () =>
            started.map(({ component, child }) => ({
                component,
                pid: child.pid!,
                running: child.exitCode === null && child.signalCode === null,
            })),
        stop,
    };
}

if (require.main === module) {
    const arg = (name: string) => {
        const i = process.argv.indexOf(name);
        return i >= 0 ? process.argv[i + 1] : undefined;
    };
    const components = arg("--components")?.split(",") as AirflowComponent[] | undefined;
    startLocalAirflow({ port: Number(arg("--port") ?? 28110), components })
        .then((af) => {
            console.log(
                JSON.stringify({
                    url: af.baseUrl,
                    username: af.username,
                    credentials_file: af.credentialsFile,
                    home: af.home,
                }),
            );
            const shutdown = () => void af.stop().then(() => process.exit(0));
            process.once("SIGINT", shutdown);
            process.once("SIGTERM", shutdown);
        })
        .catch((err: unknown) => {
            console.error(err instanceof Error ? err.message : String(err));
            process.exit(1);
        });
}
