/**
 * Every long-running process `npm start` starts (MLflow, the docs app, the landing watcher) goes
 * through this registry: each runs in its own process group with its output in a log file and
 * the registry's marker in its environment (`proctree.ts`), and `stopAll()` (Ctrl-C, the end of
 * `--once`, a failure) stops it and everything it started, including helpers that moved to
 * another process group or session: SIGTERM, up to a grace period, SIGKILL, and a bounded wait
 * until none is alive. If the Node process exits without calling it, they get SIGKILL.
 * (Airflow's processes are tracked the same way by `tools/local-airflow.ts`.)
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import { describe, ProcessTracker, sleep, type RunRecord } from "./proctree";
import { withQuickExit } from "./quick-exit";

export { sleep };

export interface Service {
    name: string;
    child: ChildProcess;
    logFile: string;
    /** True while the process has not exited. */
    running(): boolean;
}

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
    readonly tracker: ProcessTracker;

    /**
     * `record`: the state folder's record of running processes (see `proctree.ts`), updated
     * with their descendants every `snapshotMs` (default 5 s).
     */
    constructor(options: { record?: RunRecord; snapshotMs?: number } = {}) {
        this.tracker = new ProcessTracker(options);
    }

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
            // Python services exit without a full-heap collection (quick-exit.ts).
            env: withQuickExit(this.tracker.env(spawnOptions.env ?? process.env)),
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
        this.tracker.add(child.pid, name);
        this.services.push(service);
        return service;
    }

    /** Services whose process has exited although nobody stopped them. */
    dead(): Service[] {
        return this.services.filter((s) => !s.running());
    }

    /**
     * Stop every process started and all their descendants (SIGTERM, up to `graceMs` to exit,
     * then SIGKILL and up to 5 s more). Safe to call twice. Throws, naming them, when some
     * process would not die.
     */
    async stopAll(graceMs = 5000): Promise<void> {
        for (const s of this.services) {
            s.child.removeAllListeners("exit");
            if (s.child.connected) s.child.disconnect();
        }
        const survivors = await this.tracker.terminate(graceMs);
        this.services.length = 0;
        if (survivors.length > 0) {
            throw new Error(
                `processes still alive after SIGKILL:\n  ${survivors.map(describe).join("\n  ")}`,
            );
        }
    }
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function portInUse(port: number): Promise<boolean> {
    return tcpAnswers("127.0.0.1", port, 1000);
}

/** Wait (up to `timeoutMs`) until nothing listens on these loopback ports; the busy ones. */
export async function waitPortsFree(ports: number[], timeoutMs = 5000): Promise<number[]> {
    const until = Date.now() + timeoutMs;
    for (;;) {
        const busy: number[] = [];
        for (const p of ports) if (await portInUse(p)) busy.push(p);
        if (busy.length === 0 || Date.now() >= until) return busy;
        await sleep(200);
    }
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

/**
 * Poll `ready()` every `pollMs` until it is true, failing early (with the log's tail) when the
 * service exits first, and after `timeoutMs` naming `what` it was waiting for.
 */
export async function waitUntil(
    service: Service,
    what: string,
    ready: () => boolean | Promise<boolean>,
    o: { timeoutMs: number; pollMs?: number; exitHint?: (code: number | string | null) => string },
): Promise<void> {
    const deadline = Date.now() + o.timeoutMs;
    while (Date.now() < deadline) {
        if (!service.running()) {
            const code = service.child.exitCode ?? service.child.signalCode;
            throw new Error(
                `${service.name} exited (${code}${o.exitHint?.(code) ?? ""}) before ${what}; see ${service.logFile}:\n${tailFile(service.logFile)}`,
            );
        }
        if (await ready()) return;
        await sleep(o.pollMs ?? 500);
    }
    throw new Error(
        `${service.name} was not ${what} in ${Math.round(o.timeoutMs / 1000)} s; see ${service.logFile}:\n${tailFile(service.logFile)}`,
    );
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
