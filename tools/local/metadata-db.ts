/**
 * Airflow's metadata DB for `npm start`: a database on the local PostgreSQL when one answers
 * (created when missing), SQLite in the Airflow home otherwise. The connection follows libpq's
 * variables (PGHOST, PGPORT, PGUSER, PGPASSWORD; defaults 127.0.0.1, 5432, postgres); a password
 * reaches Airflow through PGPASSWORD in its environment, never in the URL or a log line.
 */
import { createHash } from "node:crypto";
import * as path from "node:path";
import type { MetadataDbChoice } from "./options";
import { tcpAnswers } from "./processes";
import { runPython } from "./python";

export interface MetadataDb {
    kind: "postgres" | "sqlite";
    /** SQLAlchemy URL (no password in it). */
    url: string;
    /** For messages: `PostgreSQL database taxi_local_airflow on 127.0.0.1:5432` or the file. */
    description: string;
    /** PostgreSQL database name. */
    database?: string;
    created?: boolean;
    /** Why SQLite was chosen under `auto`. */
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
    const sqlite = (fallbackReason?: string): MetadataDb => {
        const file = path.join(airflowHome, "airflow.db");
        return {
            kind: "sqlite",
            url: `sqlite:///${file}`,
            description: `SQLite ${file}`,
            fallbackReason,
            env: {},
        };
    };
    if (choice === "sqlite") return sqlite();
    const pg = pgSettings();
    const where = `${pg.host}:${pg.port}`;
    const refuse = (why: string): MetadataDb => {
        if (choice === "postgres") {
            throw new Error(
                `--metadata-db postgres: ${why}. Start PostgreSQL (or set PGHOST/PGPORT/PGUSER/PGPASSWORD), or use --metadata-db sqlite.`,
            );
        }
        return sqlite(why);
    };
    if (!(await tcpAnswers(pg.host, pg.port, 1500)))
        return refuse(`no PostgreSQL answers on ${where}`);
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
        return refuse(`cannot create database ${database} on ${where} as ${pg.user}: ${last}`);
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
