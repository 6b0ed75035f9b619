/**
 * Finding and stopping every process a command started, whatever it did afterwards.
 *
 * Process groups are not enough: a service may start helpers in a new session (`setsid`,
 * `start_new_session=True`), and those escape a group kill. So each `ProcessTracker` has a
 * random marker, passed to every process it starts as the environment variable
 * `TAXI_LOCAL_RUN=<marker>`; descendants inherit it, and it can be read back from
 * `/proc/<pid>/environ`. A process belongs to the tracker when it is one it started (pid and
 * start time match), carries its marker, or descends (through `/proc/<pid>/stat`'s parent ids)
 * from one that does. `terminate()` sends SIGTERM to all of them, keeps looking for new ones
 * while they shut down, sends SIGKILL to what is left after the grace period and waits (bounded)
 * until none is alive.
 *
 * A `RunRecord` (a JSON file in the state folder) lists the markers and the processes (pid and
 * start time, with the boot id) of a running command. The command removes it when it has stopped
 * everything; when it was killed with SIGKILL or crashed, the next start reads it and stops the
 * leftovers with `cleanLeftovers()`: only processes it can prove are the old run's own (same
 * boot, pid and start time recorded, or the recorded marker in their environment).
 *
 * Linux only (it reads /proc), like the rest of the local tooling.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/** The environment variable that carries a tracker's marker into every process it starts. */
export const MARKER_ENV = "TAXI_LOCAL_RUN";

export interface ProcInfo {
    pid: number;
    ppid: number;
    pgid: number;
    sid: number;
    /** Start time in clock ticks after boot (`/proc/<pid>/stat` field 22). */
    start: number;
    /** Process state letter (R, S, D, Z, ...). */
    state: string;
    comm: string;
}

/** One process from `/proc/<pid>/stat`, or undefined when it is gone. Zombies count as gone. */
export function procInfo(pid: number): ProcInfo | undefined {
    let text: string;
    try {
        text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
        return undefined;
    }
    const open = text.indexOf("(");
    const close = text.lastIndexOf(")");
    if (open < 0 || close < 0) return undefined;
    const f = text
        .slice(close + 2)
        .trim()
        .split(" ");
    const info: ProcInfo = {
        pid,
        comm: text.slice(open + 1, close),
        state: f[0] ?? "?",
        ppid: Number(f[1]),
        pgid: Number(f[2]),
        sid: Number(f[3]),
        start: Number(f[19]),
    };
    return info.state === "Z" || info.state === "X" ? undefined : info;
}

/** Every live (non-zombie) process. */
export function listProcs(): ProcInfo[] {
    const out: ProcInfo[] = [];
    for (const d of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(d)) continue;
        const p = procInfo(Number(d));
        if (p) out.push(p);
    }
    return out;
}

/** The value of `name` in a process's environment (undefined when unset or unreadable). */
export function procEnv(pid: number, name: string): string | undefined {
    let text: string;
    try {
        text = fs.readFileSync(`/proc/${pid}/environ`, "utf8");
    } catch {
        return undefined;
    }
    const prefix = `${name}=`;
    for (const entry of text.split("\0")) {
        if (entry.startsWith(prefix)) return entry.slice(prefix.length);
    }
    return undefined;
}

/** A process's command line for messages (arguments joined by spaces, cut at 200 chars). */
export function procCmdline(pid: number): string {
    try {
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0+$/, "");
        const text = cmd.replace(/\0/g, " ");
        return text.length > 200 ? `${text.slice(0, 197)}...` : text;
    } catch {
        return "(gone)";
    }
}

/** This boot's id: start times are only comparable within one boot. */
export function bootId(): string {
    try {
        return fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    } catch {
        return "unknown";
    }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function signal(pid: number, sig: NodeJS.Signals): void {
    try {
        process.kill(pid, sig);
    } catch {
        // already gone, or not ours to signal
    }
}

/** `pid 123 (python) python -m huey.bin.huey_consumer ...` for messages. */
export function describe(p: ProcInfo): string {
    return `pid ${p.pid} (${p.comm}): ${procCmdline(p.pid)}`;
}

interface RecordedProcess {
    pid: number;
    start: number;
    name: string;
}

interface RecordFile {
    /** What wrote it, for a reader of the file. */
    about: string;
    boot_id: string;
    owner: { pid: number; start: number };
    markers: string[];
    processes: RecordedProcess[];
}

/**
 * The record of a running command's processes in its state folder: written on every change
 * (atomically), removed by `close()` once everything is stopped.
 */
export class RunRecord {
    private readonly data: RecordFile;

    constructor(readonly file: string) {
        const me = procInfo(process.pid);
        this.data = {
            about: "processes started by `npm start` (tools/start.ts); a later start stops the ones still alive",
            boot_id: bootId(),
            owner: { pid: process.pid, start: me?.start ?? 0 },
            markers: [],
            processes: [],
        };
        this.write();
    }

    addMarker(marker: string): void {
        this.data.markers.push(marker);
        this.write();
    }

    /** Add processes not recorded yet (the tracker's members, from time to time). */
    add(procs: { pid: number; start: number; name: string }[]): void {
        const have = new Set(this.data.processes.map((p) => `${p.pid}/${p.start}`));
        const fresh = procs.filter((p) => !have.has(`${p.pid}/${p.start}`));
        if (fresh.length === 0) return;
        this.data.processes.push(
            ...fresh.map(({ pid, start, name }) => ({ pid, start, name: name.slice(0, 120) })),
        );
        this.write();
    }

    /** Everything stopped: remove the file. */
    close(): void {
        fs.rmSync(this.file, { force: true });
    }

    private write(): void {
        fs.mkdirSync(path.dirname(this.file), { recursive: true });
        const tmp = `${this.file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, `${JSON.stringify(this.data, null, 2)}\n`);
        fs.renameSync(tmp, this.file);
    }
}

export interface ProcessTrackerOptions {
    /** Record kept in the state folder (markers and processes) for the next start. */
    record?: RunRecord;
    /** How often members are added to the record while running (default 5 s; 0: never). */
    snapshotMs?: number;
}

/**
 * The processes one command started and everything they started in turn. See the file comment.
 */
export class ProcessTracker {
    readonly marker = randomBytes(16).toString("hex");
    /** Every process found to be ours: pid → start time. */
    private readonly known = new Map<number, { start: number; name: string }>();
    private timer: NodeJS.Timeout | undefined;
    private exitHook = false;
    /** After `terminate()`: the processes that outlived the grace period and got SIGKILL. */
    killed: string[] = [];
    /**
     * After `terminate()`: `waiters` that were only waiting for children already gone, ended
     * with SIGKILL before the grace period was over.
     */
    ended: string[] = [];

    constructor(private readonly options: ProcessTrackerOptions = {}) {
        options.record?.addMarker(this.marker);
    }

    /** `base` plus the marker variable: pass it as the environment of every process started. */
    env(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
        return { ...base, [MARKER_ENV]: this.marker };
    }

    /** A process this tracker started (right after spawn). */
    add(pid: number, name: string): void {
        const p = procInfo(pid);
        if (!p) return; // exited already; its descendants still carry the marker
        this.known.set(pid, { start: p.start, name });
        this.options.record?.add([{ pid, start: p.start, name }]);
        this.startSnapshots();
        if (!this.exitHook) {
            this.exitHook = true;
            // The Node process ends without stop(): kill what is left, synchronously.
            process.once("exit", () => {
                for (const m of this.members()) signal(m.pid, "SIGKILL");
            });
        }
    }

    /** Every live process that is ours (see the file comment); new ones are remembered. */
    members(): ProcInfo[] {
        const procs = listProcs();
        const byPid = new Map(procs.map((p) => [p.pid, p]));
        const ours = new Map<number, boolean>();
        const isOurs = (p: ProcInfo, depth = 0): boolean => {
            const cached = ours.get(p.pid);
            if (cached !== undefined) return cached;
            let result: boolean;
            if (p.pid === process.pid) result = false;
            else if (this.known.get(p.pid)?.start === p.start) result = true;
            else if (procEnv(p.pid, MARKER_ENV) === this.marker) result = true;
            else {
                const parent = byPid.get(p.ppid);
                result = parent !== undefined && depth < 64 && isOurs(parent, depth + 1);
            }
            ours.set(p.pid, result);
            return result;
        };
        const found = procs.filter((p) => isOurs(p));
        for (const p of found) {
            if (!this.known.has(p.pid) || this.known.get(p.pid)!.start !== p.start) {
                this.known.set(p.pid, { start: p.start, name: p.comm });
            }
        }
        return found;
    }

    private startSnapshots(): void {
        const every = this.options.snapshotMs ?? 5000;
        if (!this.options.record || every <= 0 || this.timer) return;
        this.timer = setInterval(() => {
            try {
                this.options.record!.add(
                    this.members().map((p) => ({ pid: p.pid, start: p.start, name: describe(p) })),
                );
            } catch {
                // the state folder may be gone (a test removed it); the next snapshot retries
            }
        }, every);
        this.timer.unref();
    }

    /**
     * SIGTERM to every member, looking for new ones every 100 ms while they exit; SIGKILL to
     * what is left after `graceMs`; then wait up to `killMs` until none is alive. Returns the
     * ones still alive after that (normally none). `waiters`: see `ended`.
     */
    async terminate(
        graceMs = 10_000,
        killMs = 5_000,
        waiters?: { pids: number[]; afterMs: number },
    ): Promise<ProcInfo[]> {
        if (this.timer) clearInterval(this.timer);
        this.timer = undefined;
        const signalled = new Set<string>();
        // `waiters`: processes (ones `add()`ed) that, once their children have exited, may only
        // sleep before noticing it; one still alive `afterMs` after SIGTERM with no live child
        // gets SIGKILL then (listed in `ended`, not in `killed`: it had nothing left to do).
        const waitUntil = waiters ? Date.now() + waiters.afterMs : Infinity;
        const endIdleWaiters = () => {
            if (Date.now() < waitUntil) return;
            const procs = listProcs();
            for (const pid of waiters!.pids) {
                const p = procs.find((q) => q.pid === pid);
                if (!p || this.known.get(pid)?.start !== p.start) continue;
                if (procs.some((c) => c.ppid === pid)) continue; // a child still runs
                this.ended.push(describe(p));
                signal(pid, "SIGKILL");
            }
        };
        this.ended = [];
        const round = (sig: NodeJS.Signals): ProcInfo[] => {
            const alive = this.members();
            for (const p of alive) {
                const id = `${p.pid}/${p.start}/${sig}`;
                if (sig === "SIGKILL" || !signalled.has(id)) {
                    signalled.add(id);
                    signal(p.pid, sig);
                }
            }
            return alive;
        };
        const graceUntil = Date.now() + graceMs;
        while (round("SIGTERM").length > 0 && Date.now() < graceUntil) {
            endIdleWaiters();
            await sleep(100);
        }
        const killUntil = Date.now() + killMs;
        this.killed = this.members().map(describe); // named before they die
        let alive = round("SIGKILL");
        while (alive.length > 0 && Date.now() < killUntil) {
            await sleep(100);
            alive = round("SIGKILL");
        }
        return alive;
    }
}

export interface LeftoverReport {
    /** Processes of the earlier run that were alive and have been stopped. */
    stopped: string[];
    /** Ones that would not die (should not happen). */
    survivors: string[];
}

/**
 * The owner of a record file when it is still running (another command uses the state folder),
 * else undefined.
 */
export function liveOwner(file: string): number | undefined {
    const rec = readRecord(file);
    if (!rec || rec.boot_id !== bootId()) return undefined;
    const p = procInfo(rec.owner.pid);
    return p && p.start === rec.owner.start && rec.owner.pid !== process.pid
        ? rec.owner.pid
        : undefined;
}

function readRecord(file: string): RecordFile | undefined {
    try {
        const data = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<RecordFile>;
        if (
            typeof data.boot_id !== "string" ||
            !data.owner ||
            !Array.isArray(data.markers) ||
            !Array.isArray(data.processes)
        ) {
            return undefined;
        }
        return data as RecordFile;
    } catch {
        return undefined;
    }
}

/**
 * Stop what an earlier run recorded in `file` left alive: the processes whose pid and start
 * time it recorded (same boot only) and every process carrying one of its markers, plus their
 * descendants. Nothing else is touched. The file is removed afterwards. No file: nothing to do.
 */
export async function cleanLeftovers(file: string, graceMs = 5_000): Promise<LeftoverReport> {
    const rec = readRecord(file);
    if (!rec) {
        fs.rmSync(file, { force: true });
        return { stopped: [], survivors: [] };
    }
    const sameBoot = rec.boot_id === bootId();
    const markers = new Set(rec.markers);
    const recorded = new Set(sameBoot ? rec.processes.map((p) => `${p.pid}/${p.start}`) : []);
    const find = (): ProcInfo[] => {
        const procs = listProcs();
        const byPid = new Map(procs.map((p) => [p.pid, p]));
        const memo = new Map<number, boolean>();
        const ours = (p: ProcInfo, depth = 0): boolean => {
            const cached = memo.get(p.pid);
            if (cached !== undefined) return cached;
            let r: boolean;
            if (p.pid === process.pid) r = false;
            else if (recorded.has(`${p.pid}/${p.start}`)) r = true;
            else if (markers.has(procEnv(p.pid, MARKER_ENV) ?? "")) r = true;
            else {
                const parent = byPid.get(p.ppid);
                r = parent !== undefined && depth < 64 && ours(parent, depth + 1);
            }
            memo.set(p.pid, r);
            return r;
        };
        return procs.filter((p) => ours(p));
    };
    const first = find();
    const stopped = first.map(describe);
    const until = Date.now() + graceMs;
    let alive = first;
    while (alive.length > 0 && Date.now() < until) {
        for (const p of alive) signal(p.pid, "SIGTERM");
        await sleep(100);
        alive = find();
    }
    const killUntil = Date.now() + 5_000;
    while (alive.length > 0 && Date.now() < killUntil) {
        for (const p of alive) signal(p.pid, "SIGKILL");
        await sleep(100);
        alive = find();
    }
    if (alive.length === 0) fs.rmSync(file, { force: true });
    return { stopped, survivors: alive.map(describe) };
}

/**
 * Before a command starts anything in a state folder: fail when another command that recorded
 * itself there is still running; stop the leftovers of one that was killed or crashed (see
 * `cleanLeftovers`). Returns what was stopped. The caller then starts its own `RunRecord`.
 */
export async function stopLeftovers(file: string, folder: string): Promise<string[]> {
    const owner = liveOwner(file);
    if (owner !== undefined) {
        throw new Error(
            `another \`npm start\` (pid ${owner}) is running with the state folder ${folder}: stop it (Ctrl-C), or pass another --state-dir`,
        );
    }
    const leftovers = await cleanLeftovers(file);
    if (leftovers.survivors.length > 0) {
        throw new Error(
            `processes left by an earlier \`npm start\` on ${folder} would not stop even with SIGKILL:\n  ${leftovers.survivors.join("\n  ")}`,
        );
    }
    return leftovers.stopped;
}
