/**
 * Every long-running process `npm start` starts (MLflow, the docs app, the landing watcher) goes
 * through this registry: each runs in its own process group with its output in a log file, and
 * `stopAll()` (Ctrl-C, the end of `--once`, a failure) sends SIGTERM to every group, then SIGKILL
 * to what is left. If the Node process exits without calling it, the groups get SIGKILL.
 * (Airflow's processes are tracked the same way by `tools/local-airflow.ts`.)
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";

export interface Service {
    name: string;
    child: ChildProcess;
    logFile: string;
    /** True while the process has not exited. */
    running(): boolean;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Signal a whole process group (no error when it is already gone). */
export function killGroup(pgid: number, signal: NodeJS.Signals): void {
    try {
        process.kill(-pgid, signal);
    } catch {
        // already gone
    }
}

/** True while any process of the group is alive. */
export function groupAlive(pgid: number): boolean {
    try {
        process.kill(-pgid, 0);
        return true;
    } catch {
        return false;
    }
}

/** The last `lines` lines of a text file ("(no output)" when there is none). */
export function tailFile(file: string, lines = 25): string {
    try {
        const text = fs.readFileSync(file, "utf8").trimEnd();
        return text === "" ? "(no output)" : text.split("\n").slice(-lines).join("\n");
    } catch {
        return "(no output)";
    }
}

export class ProcessRegistry {
    private readonly services: Service[] = [];
    private exitHook = false;

    /** Start `cmd` in its own process group, stdout and stderr appended to `logFile`. */
    start(
        name: string,
        cmd: string,
        args: string[],
        logFile: string,
        options: Omit<SpawnOptions, "detached" | "stdio"> & { ipc?: boolean } = {},
    ): Service {
        const out = fs.openSync(logFile, "a");
        const { ipc, ...spawnOptions } = options;
        const child = spawn(cmd, args, {
            ...spawnOptions,
            detached: true,
            stdio: ipc ? ["ignore", out, out, "ipc"] : ["ignore", out, out],
        });
        fs.closeSync(out);
        if (child.pid === undefined) {
            throw new Error(`could not start ${name} (${cmd}); see ${logFile}`);
        }
        const service: Service = {
            name,
            child,
            logFile,
            running: () => child.exitCode === null && child.signalCode === null,
        };
        child.once("error", () => undefined); // reported through running() and the log
        this.services.push(service);
        if (!this.exitHook) {
            this.exitHook = true;
            process.once("exit", () => {
                for (const s of this.services) killGroup(s.child.pid!, "SIGKILL");
            });
        }
        return service;
    }

    /** Services whose process has exited although nobody stopped them. */
    dead(): Service[] {
        return this.services.filter((s) => !s.running());
    }

    /** SIGTERM to every group, up to `graceMs` to exit, then SIGKILL. Safe to call twice. */
    async stopAll(graceMs = 5000): Promise<void> {
        const pgids = this.services.map((s) => s.child.pid!);
        for (const s of this.services) {
            s.child.removeAllListeners("exit");
            if (s.child.connected) s.child.disconnect();
        }
        for (const pgid of pgids) killGroup(pgid, "SIGTERM");
        const until = Date.now() + graceMs;
        while (pgids.some(groupAlive) && Date.now() < until) await sleep(100);
        for (const pgid of pgids) killGroup(pgid, "SIGKILL");
        this.services.length = 0;
    }
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function portInUse(port: number): Promise<boolean> {
    return tcpAnswers("127.0.0.1", port, 1000);
}

/** True when something accepts TCP connections on host:port within `timeoutMs`. */
export function tcpAnswers(host: string, port: number, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
        const socket = net.connect({ host, port });
        socket.setTimeout(timeoutMs);
        socket.once("connect", () => {
            socket.destroy();
            resolve(true);
        });
        socket.once("timeout", () => {
            socket.destroy();
            resolve(false);
        });
        socket.once("error", () => resolve(false));
    });
}

/** Wait until `url` answers 200, failing early (with the log's tail) if the service exits. */
export async function waitForHttp(service: Service, url: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "no answer yet";
    while (Date.now() < deadline) {
        if (!service.running()) {
            throw new Error(
                `${service.name} exited (${service.child.exitCode ?? service.child.signalCode}) before answering ${url}; see ${service.logFile}:\n${tailFile(service.logFile)}`,
            );
        }
        try {
            const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
            if (res.ok) return;
            last = `HTTP ${res.status}`;
        } catch (err) {
            last = (err as Error & { cause?: { code?: string } }).cause?.code ?? String(err);
        }
        await sleep(500);
    }
    throw new Error(
        `${service.name} did not answer ${url} in ${Math.round(timeoutMs / 1000)} s (${last}); see ${service.logFile}:\n${tailFile(service.logFile)}`,
    );
}
