/**
 * Command-line options of `npm start` (`tools/start.ts`): parsed and validated in one place, every
 * problem named with what is expected.
 */
import * as path from "node:path";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");

export type MetadataDbChoice = "auto" | "postgres" | "sqlite";
/** `local`: folders; `emulated`: the cluster's s3:// and gs:// URIs on loopback emulators. */
export type StorageChoice = "local" | "emulated";

export interface StartOptions {
    /** Run the months to completion, then stop everything and exit 0/1. */
    once: boolean;
    /** Number of monthly files to generate and deliver. */
    months: number;
    /** First month delivered (`YYYY-MM`). */
    firstMonth: string;
    /** Rows per monthly file. */
    rows: number;
    /** Share of rows with one injected defect (quarantined by the load). */
    badFraction: number;
    /** Where everything the run keeps lives (default `<repo>/.local`). */
    stateDir: string;
    /** Airflow api-server on this port, MLflow on +1, the docs app on +2, the fare API on +3,
     * the Spark Connect server on +4 (127.0.0.1). */
    portBase: number;
    /** Spark tasks as clients of one local Spark Connect server (false: a JVM per task). */
    sparkConnect: boolean;
    /** Python jobs run in forks of warm workers that imported their libraries once (false: a
     * fresh interpreter per task). */
    warmWorkers: boolean;
    /** Airflow metadata DB: local PostgreSQL when reachable (`auto`), or forced. */
    metadataDb: MetadataDbChoice;
    /** Mark a failed task failed for good instead of waiting for Airflow's retries. */
    failFast: boolean;
    /** Delete the state folder and drop its metadata database first: start from scratch. */
    reset: boolean;
    /** Landing, docs and MLflow artifacts in folders, or on S3/GCS emulators (emulated-storage.ts). */
    storage: StorageChoice;
    /** Base URL of the publisher's monthly files instead of the loopback stand-in (`--source`). */
    source?: string;
    help: boolean;
}

export const DEFAULTS: Omit<StartOptions, "stateDir"> = {
    once: false,
    months: 3,
    firstMonth: "2022-12",
    rows: 20_000,
    badFraction: 0.002,
    portBase: 28500,
    sparkConnect: true,
    warmWorkers: true,
    metadataDb: "auto",
    failFast: false,
    reset: false,
    storage: "local",
    help: false,
};

export const USAGE = `Usage: npm start [-- options]

The batch pipeline end to end on this machine, no cloud account: generates TLC-shaped monthly
files and serves them from a loopback stand-in of the TLC website, starts a local Airflow 3,
MLflow and the docs app on 127.0.0.1; the ingest DAG downloads each month into a landing folder
(the last month is "not published yet" at first; the first is then republished corrected); a
watcher turns each new file into an S3 event for the trigger function, which starts the batch
DAG (Spark, DuckDB, dbt, Great Expectations, MLflow retraining, docs).

Options:
  --once               run every month to completion, stop everything, exit 0 (all runs
                       succeeded) or 1; without it the services keep running until Ctrl-C
  --months N           monthly files to deliver (default ${DEFAULTS.months}, 1-24)
  --first-month YYYY-MM  first month (default ${DEFAULTS.firstMonth}; 2022-12 -> 2023-01 crosses a
                       schema change and a fare increase)
  --rows N             rows per monthly file (default ${DEFAULTS.rows}, 1000-5000000)
  --bad-fraction F     share of rows with one injected defect, quarantined by the load
                       (default ${DEFAULTS.badFraction}; above 0.004 validation fails by design)
  --state-dir DIR      where the warehouse, landing folder, MLflow store, Airflow home and
                       logs are kept between runs (default .local/ in the repository)
  --port-base N        Airflow on N, MLflow on N+1, docs app on N+2, fare API on N+3,
                       Spark Connect server on N+4, TLC stand-in on N+5, SMTP sink on N+6
                       (default ${DEFAULTS.portBase})
  --metadata-db auto|postgres|sqlite
                       Airflow metadata DB: the local PostgreSQL (127.0.0.1:5432, user postgres,
                       or PGHOST/PGPORT/PGUSER/PGPASSWORD); auto and postgres fail with a clear
                       message when none answers; sqlite runs anyway but does not take a burst
                       of trigger calls (default auto)
  --storage local|emulated
                       local (default): landing, docs and MLflow artifacts in folders of the
                       state folder; emulated: the cluster's URIs on emulators started on
                       127.0.0.1 (moto for s3://taxi-landing, fake-gcs-server for
                       gs://taxi-docs and gs://taxi-mlflow/artifacts; the lake stays a folder:
                       local Spark has no GCS connector)
  --no-spark-connect   each Spark task starts a local Spark of its own (a JVM per task, as
                       before issue 26) instead of being a client of one long-lived local
                       Spark Connect server (the default; --storage emulated keeps a JVM per
                       task)
  --no-warm-workers    each Python task starts a fresh interpreter that imports its libraries
                       (dbt, MLflow, scikit-learn, PySpark's client, Great Expectations) instead
                       of running in a fork of its component's warm worker (the default)
  --source URL         the ingest DAG downloads the real months from this base URL (the TLC's
                       https://d37ci6vzurychx.cloudfront.net/trip-data, or a mirror) instead
                       of the loopback stand-in; nothing is generated and nothing republished
                       (needs internet; a real month is tens of MB and millions of rows)
  --fail-fast          a failed task fails its run at once instead of after Airflow's retries
  --reset              start from scratch: delete the state folder and drop its PostgreSQL
                       metadata database first (the Python environments are kept)
  --help               this text

A second run reuses what exists (environments, data, metadata DB, warehouse) and checks each
month at the publisher again: a landing file that differs from what it serves is uploaded again;
its run id (bucket, key, ETag) may exist from before, and is then cleared and run again.`;

export class OptionsError extends Error {
    constructor(message: string) {
        super(`${message}\nRun \`npm start -- --help\` for the options.`);
        this.name = "OptionsError";
    }
}

function integer(flag: string, raw: string | undefined, min: number, max: number): number {
    if (raw === undefined || !/^\d+$/.test(raw)) {
        throw new OptionsError(
            `${flag} needs a whole number between ${min} and ${max}, got ${JSON.stringify(raw ?? "")}`,
        );
    }
    const n = Number(raw);
    if (n < min || n > max) {
        throw new OptionsError(`${flag} ${n} is out of range: expected ${min}-${max}`);
    }
    return n;
}

export function parseOptions(argv: string[], cwd = process.cwd()): StartOptions {
    const o: StartOptions = { ...DEFAULTS, stateDir: path.join(REPO_ROOT, ".local") };
    for (let i = 0; i < argv.length; i++) {
        const raw = argv[i]!;
        const eq = raw.indexOf("=");
        const flag = raw.startsWith("--") && eq > 0 ? raw.slice(0, eq) : raw;
        const inline = raw.startsWith("--") && eq > 0 ? raw.slice(eq + 1) : undefined;
        const value = (): string | undefined => inline ?? argv[++i];
        switch (flag) {
            case "--once":
                o.once = true;
                break;
            case "--fail-fast":
                o.failFast = true;
                break;
            case "--reset":
                o.reset = true;
                break;
            case "--no-spark-connect":
                o.sparkConnect = false;
                break;
            case "--no-warm-workers":
                o.warmWorkers = false;
                break;
            case "--help":
            case "-h":
                o.help = true;
                break;
            case "--months":
                o.months = integer(flag, value(), 1, 24);
                break;
            case "--rows":
                o.rows = integer(flag, value(), 1000, 5_000_000);
                break;
            case "--port-base":
                o.portBase = integer(flag, value(), 1024, 65_000);
                break;
            case "--first-month": {
                const v = value();
                if (v === undefined || !/^\d{4}-(0[1-9]|1[0-2])$/.test(v)) {
                    throw new OptionsError(
                        `--first-month needs a month YYYY-MM, got ${JSON.stringify(v ?? "")}`,
                    );
                }
                const year = Number(v.slice(0, 4));
                if (year < 2011 || year > 2030) {
                    throw new OptionsError(`--first-month ${v}: the generator covers 2011-2030`);
                }
                o.firstMonth = v;
                break;
            }
            case "--bad-fraction": {
                const v = value();
                const n = Number(v);
                if (v === undefined || v.trim() === "" || !Number.isFinite(n) || n < 0 || n > 0.5) {
                    throw new OptionsError(
                        `--bad-fraction needs a number between 0 and 0.5, got ${JSON.stringify(v ?? "")}`,
                    );
                }
                o.badFraction = n;
                break;
            }
            case "--state-dir": {
                const v = value();
                if (v === undefined || v.trim() === "") {
                    throw new OptionsError("--state-dir needs a folder path");
                }
                o.stateDir = path.resolve(cwd, v);
                break;
            }
            case "--storage": {
                const v = value();
                if (v !== "local" && v !== "emulated") {
                    throw new OptionsError(
                        `--storage must be local or emulated, got ${JSON.stringify(v ?? "")}`,
                    );
                }
                o.storage = v;
                break;
            }
            case "--source": {
                o.source = sourceUrl(value());
                break;
            }
            case "--metadata-db": {
                const v = value();
                if (v !== "auto" && v !== "postgres" && v !== "sqlite") {
                    throw new OptionsError(
                        `--metadata-db must be auto, postgres or sqlite, got ${JSON.stringify(v ?? "")}`,
                    );
                }
                o.metadataDb = v;
                break;
            }
            default:
                throw new OptionsError(`unknown option ${JSON.stringify(raw)}`);
        }
    }
    return o;
}

/** `--source`: an http(s) base URL without credentials (they would reach logs), no query. */
export function sourceUrl(raw: string | undefined): string {
    let url: URL;
    try {
        url = new URL(raw ?? "");
    } catch {
        throw new OptionsError(
            `--source needs the base URL of the monthly files, e.g. https://d37ci6vzurychx.cloudfront.net/trip-data; got ${JSON.stringify(raw ?? "")}`,
        );
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
        throw new OptionsError(`--source must be an http:// or https:// URL, got ${url.protocol}`);
    }
    if (url.username || url.password) {
        throw new OptionsError(
            "--source must not carry credentials (user:password@): they would be printed in task logs; use a mirror that needs none",
        );
    }
    if (url.search || url.hash) {
        throw new OptionsError(
            "--source is a base URL: the file name is appended to it, so it takes no ?query or #fragment",
        );
    }
    return url.toString().replace(/\/+$/, "");
}

/** `YYYY-MM` months from `first`, `count` of them. */
export function monthList(first: string, count: number): string[] {
    let y = Number(first.slice(0, 4));
    let m = Number(first.slice(5, 7));
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
        out.push(`${y}-${String(m).padStart(2, "0")}`);
        m += 1;
        if (m > 12) {
            m = 1;
            y += 1;
        }
    }
    return out;
}
