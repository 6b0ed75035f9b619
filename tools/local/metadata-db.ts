/**
 * Airflow's metadata DB for `npm start` and the tests: a database on the local PostgreSQL
 * (created when missing). SQLite only when asked for (`--metadata-db sqlite`): measured with
 * `tools/local/burst.ts` (100 objects delivered 3 times by 8 concurrent trigger-function
 * containers against api-server, scheduler, dag-processor and triggerer), SQLite answered none
 * of the 300 calls within the function's 10 s timeout and the API stayed unresponsive
 * afterwards, while PostgreSQL created exactly the 100 runs with no failure. So when no
 * PostgreSQL answers, the default (`auto`) fails with a message saying how to start one.
 * The connection follows libpq's variables (PGHOST, PGPORT, PGUSER, PGPASSWORD; defaults
 * 127.0.0.1, 5432, postgres); a password reaches Airflow through PGPASSWORD in its environment,
 * never in the URL or a log line.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as path from "node:path";
import type { MetadataDbChoice } from "./options";
import { tcpAnswers } from "./processes";
import { runPython, venvBin } from "./python";

export interface MetadataDb {
    kind: "postgres" | "sqlite";
    /** SQLAlchemy URL (no password in it). */
    url: string;
    /** For messages: `PostgreSQL database taxi_local_airflow on 127.0.0.1:5432` or the file. */
    description: string;
    /** PostgreSQL database name. */
    database?: string;
    created?: boolean;
    /** Set when SQLite was chosen (explicitly): what that means for bursts. */
    fallbackReason?: string;
    /** libpq variables for Airflow's environment. */
    env: Record<string, string>;
}

export function pgSettings(env: NodeJS.ProcessEnv = process.env): {
    host: string;
    port: number;
    user: string;
} {
    return {
        host: env.PGHOST ?? "127.0.0.1",
        port: Number(env.PGPORT ?? 5432),
        user: env.PGUSER ?? "postgres",
    };
}

/**
 * `taxi_local_airflow_<hash of the state folder's path>`: one database per state folder, so two
 * clones (or a test run next to a `npm start`) never share Airflow's metadata.
 */
export function databaseName(stateDir: string): string {
    const digest = createHash("sha256").update(path.resolve(stateDir)).digest("hex").slice(0, 10);
    return `taxi_local_airflow_${digest}`;
}

const CREATE_DB = `
import json, sys
import psycopg2
name = sys.argv[1]
con = psycopg2.connect(dbname="postgres", connect_timeout=5)
con.autocommit = True
with con.cursor() as cur:
    cur.execute("select 1 from pg_database where datname = %s", (name,))
    exists = cur.fetchone() is not None
    if not exists:
        cur.execute('create database "%s"' % name)
print(json.dumps({"created": not exists}))
`;

/** Python that drops a database (the end-to-end test cleans up with it). */
export const DROP_DB = `
import sys
import psycopg2
con = psycopg2.connect(dbname="postgres", connect_timeout=5)
con.autocommit = True
with con.cursor() as cur:
    cur.execute('drop database if exists "%s" with (force)' % sys.argv[1])
`;

export function libpqEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
    const pg = pgSettings(env);
    const out: Record<string, string> = {
        PGHOST: pg.host,
        PGPORT: String(pg.port),
        PGUSER: pg.user,
    };
    if (env.PGPASSWORD !== undefined) out.PGPASSWORD = env.PGPASSWORD;
    return out;
}

export async function chooseMetadataDb(
    choice: MetadataDbChoice,
    stateDir: string,
    airflowHome: string,
    reset = false,
): Promise<MetadataDb> {
    const sqlite = (): MetadataDb => {
        const file = path.join(airflowHome, "airflow.db");
        return {
            kind: "sqlite",
            url: `sqlite:///${file}`,
            description: `SQLite ${file}`,
            fallbackReason:
                "chosen with --metadata-db sqlite; fine for one run at a time, but SQLite does not take a burst of trigger calls",
            env: {},
        };
    };
    if (choice === "sqlite") return sqlite();
    const pg = pgSettings();
    const where = `${pg.host}:${pg.port}`;
    const refuse = (why: string): never => {
        throw new Error(
            `${choice === "postgres" ? "--metadata-db postgres" : "Airflow's metadata DB needs PostgreSQL"}: ${why}. ` +
                "SQLite cannot take a burst of concurrent API calls (see tools/local/burst.ts). " +
                "Start PostgreSQL (e.g. `sudo service postgresql start`, or apt-get install postgresql) or point PGHOST/PGPORT/PGUSER/PGPASSWORD at one; " +
                "or run on SQLite anyway with --metadata-db sqlite.",
        );
    };
    if (!(await tcpAnswers(pg.host, pg.port, 1500))) refuse(`no PostgreSQL answers on ${where}`);
    const database = databaseName(stateDir);
    const env = libpqEnv();
    if (reset) {
        const dropped = await runPython("dags", ["-c", DROP_DB, database], env, 60_000);
        if (dropped.code !== 0) {
            throw new Error(
                `--reset: cannot drop database ${database} on ${where}:\n${dropped.stderr.trim()}`,
            );
        }
    }
    const r = await runPython("dags", ["-c", CREATE_DB, database], env, 60_000);
    if (r.code !== 0) {
        const last = r.stderr.trim().split("\n").slice(-1)[0] ?? `exit ${r.code}`;
        refuse(`cannot create database ${database} on ${where} as ${pg.user}: ${last}`);
    }
    const { created } = JSON.parse(r.stdout.trim()) as { created: boolean };
    return {
        kind: "postgres",
        url: `postgresql+psycopg2://${encodeURIComponent(pg.user)}@${pg.host}:${pg.port}/${database}`,
        description: `PostgreSQL database ${database} on ${where}`,
        database,
        created,
        env,
    };
}

/**
 * A new, empty database on the local PostgreSQL for one local Airflow (tests): its URL and
 * libpq environment, and `drop()` to remove it. Fails with a clear message when no PostgreSQL
 * answers (SQLite is not a default; see the file comment).
 */
export async function temporaryDatabase(): Promise<MetadataDb & { drop(): void }> {
    const pg = pgSettings();
    const where = `${pg.host}:${pg.port}`;
    if (!(await tcpAnswers(pg.host, pg.port, 1500))) {
        throw new Error(
            `a local Airflow needs PostgreSQL for its metadata DB, and none answers on ${where}: ` +
                "start it (e.g. `sudo service postgresql start`) or point PGHOST/PGPORT/PGUSER/PGPASSWORD at one " +
                '(or pass databaseUrl "sqlite:///…" to use SQLite, which does not take a burst of API calls)',
        );
    }
    const database = `taxi_tmp_airflow_${randomBytes(6).toString("hex")}`;
    const env = libpqEnv();
    const r = await runPython("dags", ["-c", CREATE_DB, database], env, 60_000);
    if (r.code !== 0) {
        throw new Error(
            `cannot create database ${database} on ${where} as ${pg.user}: ${r.stderr.trim().split("\n").at(-1) ?? `exit ${r.code}`}`,
        );
    }
    return {
        kind: "postgres",
        url: `postgresql+psycopg2://${encodeURIComponent(pg.user)}@${pg.host}:${pg.port}/${database}`,
        description: `PostgreSQL database ${database} on ${where} (temporary)`,
        database,
        created: true,
        env,
        drop: () => {
            spawnSync(venvBin("dags", "python"), ["-c", DROP_DB, database], {
                env: { ...process.env, ...env },
                stdio: "ignore",
                timeout: 60_000,
            });
        },
    };
}
