/**
 * The local Spark Connect server `npm start` runs next to Airflow (issue 26: one long-lived
 * local Spark instead of a JVM per task): `python -m taxi_spark.connect_server` from spark/.venv
 * on 127.0.0.1, a tracked service of the {@link ProcessRegistry} (stopped with everything else,
 * its JVM included, since the JVM inherits the registry's marker).
 *
 * The Spark tasks reach it through two variables in the local Airflow's environment, which the
 * local runner passes to the Spark component's jobs only (dags/common/runners.py):
 * `SPARK_REMOTE=sc://localhost:PORT` and `SPARK_CONNECT_AUTHENTICATE_TOKEN`, a random token made
 * for this run (kept in memory and in the environment of these processes, never written to the
 * state folder), which the server requires from every client, so other users of the machine
 * cannot run Spark code as this user through the port.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { REPO_ROOT } from "./options";
import { portInUse, waitUntil, type ProcessRegistry, type Service } from "./processes";
import { venvBin } from "./python";

export interface SparkConnect {
    service: Service;
    /** `sc://localhost:PORT` */
    url: string;
    /** What the local Airflow (hence the Spark jobs) needs in its environment. */
    env: Record<string, string>;
    /** Resolves once the server logged it is ready; rejects (with its log) if it exits. */
    ready: Promise<void>;
}

/** The environment of the Spark tasks for the server at `port` with `token`. */
export function sparkConnectEnv(port: number, token: string): Record<string, string> {
    return { SPARK_REMOTE: `sc://localhost:${port}`, SPARK_CONNECT_AUTHENTICATE_TOKEN: token };
}

export async function startSparkConnect(
    registry: ProcessRegistry,
    o: { port: number; logFile: string; env?: Record<string, string> },
): Promise<SparkConnect> {
    if (await portInUse(o.port)) {
        throw new Error(
            `127.0.0.1:${o.port} (Spark Connect server) is already in use: another \`npm start\` or test run? Stop it, or pass --port-base with a free range`,
        );
    }
    const token = randomBytes(24).toString("hex");
    const offset = fs.existsSync(o.logFile) ? fs.statSync(o.logFile).size : 0;
    const spark = path.join(REPO_ROOT, "spark");
    const service = registry.start(
        "Spark Connect server",
        venvBin("spark", "python"),
        ["-m", "taxi_spark.connect_server", "--host", "127.0.0.1", "--port", String(o.port)],
        o.logFile,
        {
            cwd: spark,
            env: {
                ...process.env,
                ...o.env,
                PYTHONPATH: [path.join(spark, "src"), path.join(REPO_ROOT, "libs", "python")].join(
                    path.delimiter,
                ),
                PYTHONUNBUFFERED: "1",
                SPARK_LOCAL_IP: "127.0.0.1",
                SPARK_CONNECT_AUTHENTICATE_TOKEN: token,
            },
        },
    );
    const ready = waitForReady(service, offset, 300_000);
    ready.catch(() => undefined); // awaited later, after the other services started
    return { service, url: `sc://localhost:${o.port}`, env: sparkConnectEnv(o.port, token), ready };
}

/**
 * Wait until the server logged `connect_server_ready` after `offset` of its (appended) log,
 * failing early (with the log) on exit. Its port alone is not enough: the gRPC service listens
 * before the server's Spark session is the default one, and a client in between gets
 * "[INTERNAL_ERROR] No active or default Spark session found" (seen: the first validate of a
 * run failed so, and its retry came minutes later).
 */
function waitForReady(service: Service, offset: number, timeoutMs: number): Promise<void> {
    return waitUntil(
        service,
        "ready (connect_server_ready in its log)",
        () => loggedReady(service.logFile, offset),
        {
            timeoutMs,
            pollMs: 200,
            exitHint: (code) => (code === 2 ? ": bad argument or port taken" : ""),
        },
    );
}

/** Whether `file` holds a `connect_server_ready` JSON line after byte `offset`. */
export function loggedReady(file: string, offset: number): boolean {
    let text: string;
    try {
        const fd = fs.openSync(file, "r");
        try {
            const size = fs.fstatSync(fd).size;
            const buf = Buffer.alloc(Math.max(0, size - offset));
            fs.readSync(fd, buf, 0, buf.length, offset);
            text = buf.toString("utf8");
        } finally {
            fs.closeSync(fd);
        }
    } catch {
        return false;
    }
    return text.split("\n").some((line) => {
        if (!line.includes("connect_server_ready")) return false;
        try {
            return (JSON.parse(line) as { event?: unknown }).event === "connect_server_ready";
        } catch {
            return false;
        }
    });
}
