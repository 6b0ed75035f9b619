/**
 * Stopping everything `npm start` started, for real: process trees that escape their process
 * group and session (setsid), ignore SIGTERM, drop the marker from their environment and hold a
 * port (`proctree.fixture.ts`); a stand-in for `npm start` killed with SIGKILL whose leftovers
 * the next start stops; and processes that are not provably ours, which must survive.
 * Ports 28640-28641.
 */
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { portInUse, ProcessRegistry } from "./processes";
import {
    bootId,
    cleanLeftovers,
    liveOwner,
    MARKER_ENV,
    procEnv,
    procInfo,
    ProcessTracker,
    sleep,
    stopLeftovers,
} from "./proctree";

const FIXTURE = path.join(__dirname, "proctree.fixture.ts");
const TSX = require.resolve("tsx/cjs");

/** Wait until the pids file lists every one of `modes`; returns mode → pid. */
async function pidsOf(file: string, modes: string[], timeoutMs = 30_000) {
    const until = Date.now() + timeoutMs;
    for (;;) {
        const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
        const found = Object.fromEntries(
            text
                .trim()
                .split("\n")
                .filter(Boolean)
                .map((l) => l.split(" ") as [string, string])
                .map(([m, p]) => [m, Number(p)]),
        ) as Record<string, number>;
        if (modes.every((m) => found[m] !== undefined)) return found;
        if (Date.now() > until) assert.fail(`fixture did not start ${modes.join(", ")}: ${text}`);
        await sleep(100);
    }
}

const alive = (pid: number) => procInfo(pid) !== undefined;

/** A process that is none of ours (started by the test itself, not through a tracker). */
function bystander(): ChildProcess {
    return spawn(process.execPath, ["-e", "setInterval(() => undefined, 60000)"], {
        stdio: "ignore",
    });
}

describe("npm start: stopping every process it started (proctree)", function () {
    this.timeout(90_000);
    let dir: string;
    const others: ChildProcess[] = [];

    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "taxi-proctree-"));
    });
    afterEach(() => {
        for (const o of others.splice(0)) o.kill("SIGKILL");
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("stopAll() stops descendants that left the session, ignore SIGTERM or drop the marker, and frees their port", async () => {
        const port = 28640;
        assert.equal(await portInUse(port), false, `127.0.0.1:${port} must be free`);
        const other = bystander();
        others.push(other);
        const pids = path.join(dir, "pids");
        const registry = new ProcessRegistry();
        registry.start(
            "service",
            process.execPath,
            ["--require", TSX, FIXTURE, "service", pids, String(port)],
            path.join(dir, "service.log"),
        );
        const p = await pidsOf(pids, ["service", "escaped", "noenv"]);
        const [service, escaped, noenv] = [p.service!, p.escaped!, p.noenv!].map((pid) =>
            procInfo(pid)!,
        );
        assert.notEqual(escaped!.sid, service!.sid, "the fixture left the service's session");
        assert.notEqual(escaped!.pgid, service!.pgid, "and its process group");
        assert.equal(procEnv(escaped!.pid, MARKER_ENV), registry.tracker.marker);
        assert.equal(procEnv(noenv!.pid, MARKER_ENV), undefined, "noenv has no marker");
        assert.equal(await portInUse(port), true);

        const t0 = Date.now();
        await registry.stopAll(2000);
        const seconds = (Date.now() - t0) / 1000;
        for (const x of [service!, escaped!, noenv!]) {
            assert.ok(!alive(x.pid), `pid ${x.pid} (${x.comm}) still alive after stopAll()`);
        }
        assert.equal(await portInUse(port), false, "the port is free once stopAll() returns");
        assert.ok(seconds < 2 + 5 + 1, `bounded: SIGTERM grace 2 s, then SIGKILL (${seconds} s)`);
        assert.ok(alive(other.pid!), "a process that is not ours is left alone");
    });

    it("the next start stops what a SIGKILLed npm start left, and only that", async () => {
        const port = 28641;
        assert.equal(await portInUse(port), false, `127.0.0.1:${port} must be free`);
        const other = bystander();
        others.push(other);
        const record = path.join(dir, "processes.json");
        const pids = path.join(dir, "pids");
        const owner = spawn(
            process.execPath,
            ["--require", TSX, FIXTURE, "owner", record, pids, String(port)],
            { stdio: ["ignore", "pipe", "inherit"] },
        );
        others.push(owner);
        const p = await pidsOf(pids, ["service", "escaped", "noenv"]);
        // The record's snapshots (every 200 ms here) list the descendants without the marker.
        const until = Date.now() + 10_000;
        while (!fs.readFileSync(record, "utf8").includes(`"pid": ${p.noenv}`)) {
            assert.ok(Date.now() < until, "the record lists the descendants");
            await sleep(100);
        }
        assert.equal(liveOwner(record), owner.pid, "a running owner is recognised");
        await assert.rejects(
            stopLeftovers(record, dir),
            new RegExp(`another \`npm start\` \\(pid ${owner.pid}\\) is running`),
        );

        owner.kill("SIGKILL");
        await new Promise((r) => owner.once("exit", r));
        await sleep(300);
        for (const m of ["service", "escaped", "noenv"]) {
            assert.ok(alive(p[m]!), `${m} outlives the SIGKILLed owner (what this is about)`);
        }
        assert.equal(await portInUse(port), true, "and still holds the port");
        assert.equal(liveOwner(record), undefined, "the owner is gone");

        const stopped = await stopLeftovers(record, dir);
        assert.equal(stopped.length, 3, stopped.join("\n"));
        for (const m of ["service", "escaped", "noenv"]) {
            assert.ok(!alive(p[m]!), `${m} (pid ${p[m]}) stopped`);
            assert.ok(
                stopped.some((s) => s.startsWith(`pid ${p[m]} `)),
                `${m} reported`,
            );
        }
        assert.equal(await portInUse(port), false, "the port is free again");
        assert.equal(fs.existsSync(record), false, "the record is removed once all are stopped");
        assert.ok(alive(other.pid!), "a process that is not ours is left alone");
        assert.deepEqual(await stopLeftovers(record, dir), [], "nothing left the second time");
    });

    it("touches no process it cannot prove is the old run's (pid reused: other start time, no marker)", async () => {
        const other = bystander();
        others.push(other);
        await sleep(200);
        const info = procInfo(other.pid!)!;
        const record = path.join(dir, "processes.json");
        const write = (boot: string, start: number) =>
            fs.writeFileSync(
                record,
                JSON.stringify({
                    about: "test",
                    boot_id: boot,
                    owner: { pid: 999_999_999, start: 1 },
                    markers: ["0123456789abcdef0123456789abcdef"],
                    processes: [{ pid: info.pid, start, name: "reused pid" }],
                }),
            );
        write(bootId(), info.start + 1);
        assert.deepEqual((await cleanLeftovers(record)).stopped, []);
        write("another-boot", info.start);
        assert.deepEqual((await cleanLeftovers(record)).stopped, [], "other boot: not comparable");
        assert.ok(alive(other.pid!));
        fs.writeFileSync(record, "{ not json");
        assert.deepEqual(await stopLeftovers(record, dir), [], "an unreadable record is dropped");
        assert.equal(fs.existsSync(record), false);
    });
});

/**
 * A parent that, like Airflow's triggerer after its runner exited, only sleeps once it got
 * SIGTERM (in its handler, with no child process of its own), and a child that exits
 * `childLingerMs` after its own SIGTERM and marks the moment in `childExit`.
 */
const WAITER = `
import signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", """
import signal, sys, time
def term(*_):
    time.sleep(float(sys.argv[1]) / 1000)
    open(sys.argv[2], "w").write(repr(time.time()))
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
open(sys.argv[2] + ".ready", "w").close()
while True:
    time.sleep(0.05)
""", sys.argv[1], sys.argv[2]])
signal.signal(signal.SIGTERM, lambda *_: time.sleep(60))
print(child.pid, flush=True)
time.sleep(60)
`;

describe("npm start: a waiter whose children are gone is ended early (proctree)", function () {
    this.timeout(60_000);
    let dir: string;
    beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "proctree-waiter-"))));
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    async function start(childLingerMs: number) {
        const tracker = new ProcessTracker();
        const childExit = path.join(dir, `child-exit-${childLingerMs}`);
        const parent = spawn("python3", ["-c", WAITER, String(childLingerMs), childExit], {
            env: tracker.env(process.env),
            stdio: ["ignore", "pipe", "inherit"],
        });
        const childPid = await new Promise<number>((resolve) =>
            parent.stdout.once("data", (d: Buffer) => resolve(Number(d.toString().trim()))),
        );
        tracker.add(parent.pid!, "waiter");
        while (!fs.existsSync(`${childExit}.ready`)) await sleep(20); // its handler is set
        return { tracker, parent: parent.pid!, childPid, childExit };
    }

    it("without waiters it lives to the end of the grace period and gets SIGKILL", async () => {
        const { tracker, parent } = await start(0);
        assert.deepEqual(await tracker.terminate(1500, 5000), []);
        assert.equal(alive(parent), false);
        assert.equal(tracker.killed.length, 1, tracker.killed.join("; "));
        assert.deepEqual(tracker.ended, []);
    });

    it("is ended once its child has exited, not while the child still runs, and not counted as killed", async () => {
        const { tracker, parent, childPid, childExit } = await start(1200);
        let parentGoneAt = 0;
        const watch = (async () => {
            while (alive(parent)) await sleep(20);
            parentGoneAt = Date.now() / 1000;
        })();
        assert.deepEqual(
            await tracker.terminate(30_000, 5000, { pids: [parent], afterMs: 200 }),
            [],
        );
        await watch;
        assert.equal(alive(parent), false);
        assert.equal(alive(childPid), false);
        const childExitedAt = Number(fs.readFileSync(childExit, "utf8"));
        assert.ok(
            parentGoneAt >= childExitedAt,
            `parent ended at ${parentGoneAt}, before its child exited at ${childExitedAt}`,
        );
        assert.deepEqual(tracker.killed, []);
        assert.equal(tracker.ended.length, 1);
        assert.match(tracker.ended[0]!, new RegExp(`^pid ${parent} `));
    });
});
