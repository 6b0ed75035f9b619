/**
 * A throwaway PostgreSQL cluster for tests that need password authentication: the machine's
 * shared server trusts every loopback connection, so "a wrong password is rejected" cannot be
 * tested against it. This starts the same PostgreSQL binaries (initdb + pg_ctl) on a private
 * data directory with scram-sha-256 for every connection, and removes it on stop().
 * When run as root it runs the server as the `postgres` system user (PostgreSQL refuses root).
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface PrivatePostgres {
    host: string;
    port: number;
    superuser: string;
    password: string;
    /** Directory holding the PostgreSQL client and server binaries. */
    binDir: string;
    /** Environment for psql/pg_dump as the superuser (PGHOST, PGPORT, PGUSER, PGPASSWORD, PATH). */
    env: NodeJS.ProcessEnv;
    stop(): void;
}

export function postgresBinDir(): string {
    const fromConfig = spawnSync("pg_config", ["--bindir"], { encoding: "utf8" });
    const candidates = [
        process.env.PG_BINDIR,
        fromConfig.status === 0 ? fromConfig.stdout.trim() : undefined,
        ...(fs.existsSync("/usr/lib/postgresql")
            ? fs
                  .readdirSync("/usr/lib/postgresql")
                  .sort((a, b) => Number(b) - Number(a))
                  .map((v) => `/usr/lib/postgresql/${v}/bin`)
            : []),
    ];
    const found = candidates.find((d) => d && fs.existsSync(path.join(d, "initdb")));
    if (!found) {
        throw new Error(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install the postgresql package or set PG_BINDIR",
        );
    }
    return found;
}

export function startPrivatePostgres(port: number): PrivatePostgres {
    const binDir = postgresBinDir();
    const asRoot = process.getuid?.() === 0;
    const run = (cmd: string, args: string[]) =>
        asRoot
            ? execFileSync("runuser", ["-u", "postgres", "--", path.join(binDir, cmd), ...args], {
                  stdio: "pipe",
              })
            : execFileSync(path.join(binDir, cmd), args, { stdio: "pipe" });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taxi-pg-"));
    const data = path.join(dir, "data");
    const password = `test-${Math.random().toString(36).slice(2)}`;
    const pwfile = path.join(dir, "pw");
    fs.writeFileSync(pwfile, password, { mode: 0o600 });
    if (asRoot) {
        execFileSync("chown", ["-R", "postgres:postgres", dir]);
        fs.chmodSync(dir, 0o700);
    }
    run("initdb", [
        "-D",
        data,
        "-U",
        "postgres",
        "--auth=scram-sha-256",
        `--pwfile=${pwfile}`,
        "--no-sync",
    ]);
    fs.rmSync(pwfile);
    run("pg_ctl", [
        "-D",
        data,
        "-w",
        "-l",
        path.join(dir, "server.log"),
        "-o",
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
        "start",
    ]);
    let stopped = false;
    return {
        host: "127.0.0.1",
        port,
        superuser: "postgres",
        password,
        binDir,
        env: {
            ...process.env,
            PATH: `${binDir}${path.delimiter}${process.env.PATH ?? ""}`,
            PGHOST: "127.0.0.1",
            PGPORT: String(port),
            PGUSER: "postgres",
            PGPASSWORD: password,
            PGCONNECT_TIMEOUT: "5",
        },
        stop() {
            if (stopped) return;
            stopped = true;
            try {
                run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        },
    };
}
