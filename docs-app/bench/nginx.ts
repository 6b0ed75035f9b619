/**
 * Docs app vs nginx, same files, same run: nginx with 1 worker (sendfile, gzip_static) and the
 * docs app as its production bundle (esbuild, like the image), each serving the same tree on
 * loopback, driven by wrk in interleaved rounds. Prints req/s and p99 per scenario and server
 * (medians over the rounds), the ratio to nginx, the server's CPU time per request (user +
 * system from /proc, nginx: its worker) and nginx's CPU per request divided by the server's (the
 * "pace" ratio, which unlike req/s does not depend on how much of the shared machine's CPU the
 * server and wrk got), and each server's resident memory after the load. Figures, not assertions; exits non-zero only if a run had socket errors or unexpected
 * statuses.
 *
 *   tsx docs-app/bench/nginx.ts [--rounds 3] [--duration 10] [--connections 10]
 *                               [--baseline <git revision>] [--node-floor] [--port-base 28750]
 *                               [--node-flags "--max-semi-space-size=1 …"]
 *
 * `--baseline main` also serves the tree with the docs app of that revision (its `docs-app/src`
 * taken with `git archive`), interleaved with the others, to compare before and after.
 * `--node-floor` adds, for the index scenario, a bare `node:http` server answering with the index
 * page's bytes from memory and the app's response headers (a fresh request id each time): what
 * one Node process can do with the same response at all, for scale. Every Node server runs with
 * the flags of the image's CMD (docs-app/Dockerfile; `--node-flags` to try others).
 *
 * Prerequisites: nginx and wrk (Debian: `apt-get install -y nginx-light wrk`).
 * Ports <port-base> to <port-base>+3 on 127.0.0.1 (default 28750-28753).
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";

import { build } from "esbuild";

import { imageNodeFlags } from "./image-flags";

const REPO = path.resolve(__dirname, "..", "..");
type ServerName = "nginx" | "app" | "baseline" | "floor";
/** Set in main() from `--port-base`. */
let PORTS: Record<ServerName, number> = { nginx: 28750, app: 28751, baseline: 28752, floor: 28753 };

function option(name: string): string | undefined {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
}

function numberOption(name: string, fallback: number): number {
    const raw = option(name);
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} needs a whole number`);
    return value;
}

function which(tool: string): string | undefined {
    for (const dir of [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/usr/local/sbin"]) {
        const candidate = path.join(dir, tool);
        try {
            fs.accessSync(candidate, fs.constants.X_OK);
            return candidate;
        } catch {
            // not here
        }
    }
    return undefined;
}

/** Deterministic, HTML-like text of exactly `bytes` bytes (compresses about like dbt docs). */
function htmlOfSize(bytes: number): Buffer {
    const words = ["trips", "fare", "zone", "pickup", "dropoff", "borough", "model", "source"];
    let seed = 42;
    const parts: string[] = ['<!doctype html><html><head><meta charset="utf-8">'];
    parts.push("<title>dbt docs</title></head><body><script>window.manifest=");
    let size = parts.join("").length;
    while (size < bytes) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        const w = `"${words[seed % words.length]}_${seed % 997}":${seed % 100},`;
        parts.push(w);
        size += w.length;
    }
    return Buffer.from(parts.join("")).subarray(0, bytes);
}

/** The docs tree both servers read: the 2.66 MB dbt page (+ its .gz, written after it). */
function makeTree(dir: string): string {
    const root = path.join(dir, "docs");
    const write = (rel: string, data: Buffer | string, at: Date): void => {
        const file = path.join(root, rel);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, data);
        fs.utimesSync(file, at, at);
    };
    const page = htmlOfSize(2_660_000);
    const published = new Date("2026-01-01T00:00:00Z");
    write("dbt/index.html", page, published);
    write("dbt/index.html.gz", zlib.gzipSync(page, { level: 9 }), new Date(+published + 1000));
    for (const site of ["model", "elementary"]) {
        write(
            `${site}/index.html`,
            `<!doctype html><title>${site}</title><p>report</p>`,
            published,
        );
    }
    write("data-docs/yellow_tripdata_2024-01/index.html", "<p>ok</p>", published);
    return root;
}

/** The docs app's production bundle (as in the Dockerfile) from `src` → `out`. */
async function bundle(src: string, out: string): Promise<void> {
    await build({
        entryPoints: [path.join(src, "main.ts")],
        bundle: true,
        platform: "node",
        target: "node24",
        format: "cjs",
        packages: "external",
        outfile: out,
        logLevel: "error",
    });
}

interface Running {
    name: ServerName;
    label: string;
    proc: ChildProcess;
    /** Process whose memory is reported (nginx: its worker). */
    pid: () => number;
}

async function waitFor(port: number, pathName: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
        try {
            const r = await fetch(`http://127.0.0.1:${port}${pathName}`);
            await r.arrayBuffer();
            if (r.ok) return;
        } catch {
            // not up yet
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`nothing answered on port ${port}`);
}

let NODE_FLAGS: string[] = [];

function startApp(name: "app" | "baseline", label: string, dir: string, root: string): Running {
    const log = fs.openSync(path.join(dir, `${name}.log`), "a");
    const proc = spawn(process.execPath, [...NODE_FLAGS, path.join(dir, `${name}.js`)], {
        env: {
            ...process.env,
            NODE_PATH: path.join(REPO, "node_modules"),
            DOCS_URI: `file://${root}`,
            PORT: String(PORTS[name]),
            HOST: "127.0.0.1",
            LOG_LEVEL: "info", // request logs on, to a file, like nginx's access log
            SHUTDOWN_DELAY_SECONDS: "0",
        },
        stdio: ["ignore", log, "inherit"],
    });
    fs.closeSync(log);
    return { name, label, proc, pid: () => proc.pid! };
}

function startNginx(nginx: string, dir: string, root: string): Running {
    const conf = path.join(dir, "nginx.conf");
    fs.writeFileSync(
        conf,
        `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 1024; }
http {
    types { text/html html; application/json json; }
    default_type application/octet-stream;
    access_log ${dir}/nginx-access.log;
    client_body_temp_path ${dir}/nginx-tmp;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 620s;
    gzip_static on;
    server {
        listen 127.0.0.1:${PORTS.nginx};
        root ${root};
        index index.html;
    }
}
`,
    );
    const proc = spawn(nginx, ["-c", conf, "-p", dir], { stdio: ["ignore", "ignore", "inherit"] });
    const pid = (): number => {
        const children = fs
            .readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, "utf8")
            .trim()
            .split(/\s+/)
            .filter(Boolean);
        return Number(children[0] ?? proc.pid);
    };
    return { name: "nginx", label: "nginx (sendfile)", proc, pid };
}

/**
 * A bare node:http server answering every request with the same bytes and the same headers (the
 * Node ceiling for this response).
 */
function startNodeFloor(dir: string, file: string, headers: Record<string, string>): Running {
    const script = path.join(dir, "floor.js");
    fs.writeFileSync(
        script,
        `const http = require("node:http");
const { randomUUID } = require("node:crypto");
const body = require("node:fs").readFileSync(process.argv[2]);
const headers = ${JSON.stringify(headers)};
const server = http.createServer((req, res) => {
    res.writeHead(200, { "X-Request-Id": randomUUID(), ...headers });
    res.end(body);
});
server.keepAliveTimeout = 620000;
server.listen(${PORTS.floor}, "127.0.0.1");
`,
    );
    const proc = spawn(process.execPath, [...NODE_FLAGS, script, file], {
        stdio: ["ignore", "ignore", "inherit"],
    });
    return { name: "floor", label: "bare node:http (floor)", proc, pid: () => proc.pid! };
}

interface Scenario {
    name: string;
    path: string;
    headers: string[];
    /** Servers that take part (default: all but the node:http floor). */
    floor?: boolean;
}

interface Sample {
    rps: number;
    p99ms: number;
    bad: number;
    /** Server CPU time (user + system) per request, microseconds (NaN for warm-ups). */
    cpuUs: number;
}

const CLOCK_TICKS = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

/** User + system CPU seconds `pid` has used so far (/proc/<pid>/stat, fields 14 and 15). */
function cpuSeconds(pid: number): number {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

function measure(r: Running, s: Scenario, seconds: number, connections: number): Sample {
    const pid = r.pid();
    const before = cpuSeconds(pid);
    const sample = wrk(PORTS[r.name], s, seconds, connections);
    const used = cpuSeconds(pid) - before;
    return { ...sample, cpuUs: (used * 1e6) / (sample.requests || NaN) };
}

function wrk(
    port: number,
    s: Scenario,
    seconds: number,
    connections: number,
): Omit<Sample, "cpuUs"> & { requests: number } {
    const args = ["-t1", `-c${connections}`, `-d${seconds}s`, "--latency"];
    for (const h of s.headers) args.push("-H", h);
    const out = execFileSync("wrk", [...args, `http://127.0.0.1:${port}${s.path}`], {
        encoding: "utf8",
    });
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
    const p99 = /\s99%\s+([\d.]+)(us|ms|s)\b/.exec(out);
    const scale = { us: 0.001, ms: 1, s: 1000 } as const;
    const p99ms = p99 ? Number(p99[1]) * scale[p99[2] as keyof typeof scale] : NaN;
    const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
    const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const errors = socket ? socket.slice(1).reduce((n, v) => n + Number(v), 0) : 0;
    const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
    return { rps, p99ms, bad: non2xx + errors, requests };
}

/** Resident and peak resident memory of `pid`, in MB. */
function memory(pid: number): { rss: number; hwm: number } {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (field: string): number =>
        Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
    return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 };
}

function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function printTable(header: string[], rows: string[][]): void {
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    const fmt = (cells: string[]): string =>
        cells.map((c, i) => (i <= 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
    console.log(fmt(header));
    for (const row of rows) console.log(fmt(row));
}

async function main(): Promise<void> {
    const rounds = numberOption("rounds", 3);
    const duration = numberOption("duration", 10);
    const connections = numberOption("connections", 10);
    const baselineRev = option("baseline");
    const portBase = numberOption("port-base", 28750);
    if (portBase < 1024 || portBase > 65532) throw new Error("--port-base needs a port 1024-65532");
    PORTS = { nginx: portBase, app: portBase + 1, baseline: portBase + 2, floor: portBase + 3 };
    const flags = option("node-flags");
    NODE_FLAGS =
        flags !== undefined
            ? flags.split(/\s+/).filter(Boolean)
            : imageNodeFlags(fs.readFileSync(path.join(REPO, "docs-app", "Dockerfile"), "utf8"));
    const nginx = which("nginx");
    if (nginx === undefined || which("wrk") === undefined) {
        console.error(
            "docs-app/bench/nginx.ts needs nginx and wrk " +
                "(Debian/Ubuntu: apt-get install -y nginx-light wrk).",
        );
        process.exit(2);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "docs-bench-"));
    fs.chmodSync(dir, 0o755); // nginx workers run as another user when started by root
    const root = makeTree(dir);
    const running: Running[] = [];
    try {
        await bundle(path.join(REPO, "docs-app", "src"), path.join(dir, "app.js"));
        running.push(startNginx(nginx, dir, root));
        running.push(startApp("app", "docs app", dir, root));
        if (baselineRev !== undefined) {
            const src = path.join(dir, "baseline-src");
            fs.mkdirSync(src);
            execFileSync("sh", [
                "-c",
                `git -C "${REPO}" archive "${baselineRev}" docs-app/src | tar -x -C "${src}"`,
            ]);
            await bundle(path.join(src, "docs-app", "src"), path.join(dir, "baseline.js"));
            running.push(startApp("baseline", `docs app @ ${baselineRev}`, dir, root));
        }
        for (const r of running) await waitFor(PORTS[r.name], "/dbt/index.html");
        // nginx serves the app's own index page as a static file: the same bytes.
        const indexResponse = await fetch(`http://127.0.0.1:${PORTS.app}/`, {
            headers: { "Accept-Encoding": "identity" },
        });
        const index = Buffer.from(await indexResponse.arrayBuffer());
        fs.writeFileSync(path.join(root, "index.html"), index);
        if (process.argv.includes("--node-floor")) {
            const skip = new Set(["date", "connection", "keep-alive", "x-request-id"]);
            const headers = Object.fromEntries(
                [...indexResponse.headers].filter(([name]) => !skip.has(name)),
            );
            running.push(startNodeFloor(dir, path.join(root, "index.html"), headers));
            await waitFor(PORTS.floor, "/");
        }
        const scenarios: Scenario[] = [
            { name: "dbt page 2.66 MB, identity", path: "/dbt/index.html", headers: [] },
            { name: `small index (${index.length} B)`, path: "/", headers: [], floor: true },
            {
                name: "dbt page, gzip (pre-compressed)",
                path: "/dbt/index.html",
                headers: ["Accept-Encoding: gzip"],
            },
        ];
        const version = spawnSync(nginx, ["-v"], { encoding: "utf8" }).stderr.trim();
        console.log(`node flags (docs app and floor): ${NODE_FLAGS.join(" ") || "(none)"}`);
        const cpus = os.cpus();
        console.log(
            `docs app vs nginx: ${rounds} interleaved rounds, wrk 1 thread, ${connections} ` +
                `connections, ${duration} s each; ${cpus.length} x ${cpus[0]?.model ?? "cpu"}, ` +
                `load average ${os.loadavg()[0]!.toFixed(1)} at start (shared machine); ` +
                `node ${process.version}; ${version}\n`,
        );
        const samples = new Map<string, Sample[]>();
        for (let round = 0; round < rounds; round++) {
            for (const s of scenarios) {
                const servers = running.filter((r) => r.name !== "floor" || s.floor === true);
                // Rotate the order each round so no server always goes first.
                for (let i = 0; i < servers.length; i++) {
                    const r = servers[(i + round) % servers.length]!;
                    wrk(PORTS[r.name], s, 1, connections); // warm-up
                    const key = `${s.name}\u0000${r.name}`;
                    samples.set(key, [
                        ...(samples.get(key) ?? []),
                        measure(r, s, duration, connections),
                    ]);
                }
            }
        }
        const rows: string[][] = [];
        let bad = 0;
        for (const s of scenarios) {
            const nginxSamples = samples.get(`${s.name}\u0000nginx`)!;
            const nginxRps = median(nginxSamples.map((x) => x.rps));
            const nginxCpu = median(nginxSamples.map((x) => x.cpuUs));
            for (const r of running) {
                const list = samples.get(`${s.name}\u0000${r.name}`);
                if (list === undefined) continue;
                const rps = median(list.map((x) => x.rps));
                const cpu = median(list.map((x) => x.cpuUs));
                bad += list.reduce((n, x) => n + x.bad, 0);
                rows.push([
                    s.name,
                    r.label,
                    rps.toFixed(0),
                    median(list.map((x) => x.p99ms)).toFixed(1),
                    (rps / nginxRps).toFixed(2),
                    cpu.toFixed(0),
                    (nginxCpu / cpu).toFixed(2),
                    list.map((x) => x.rps.toFixed(0)).join(" / "),
                ]);
            }
        }
        printTable(
            [
                "scenario",
                "server",
                "req/s",
                "p99 ms",
                "x nginx",
                "CPU us/req",
                "pace x nginx",
                "req/s per round",
            ],
            rows,
        );
        console.log("\nresident memory after the load (now / peak, MB):");
        for (const r of running) {
            const m = memory(r.pid());
            console.log(`  ${r.label.padEnd(24)} ${m.rss.toFixed(1)} / ${m.hwm.toFixed(1)}`);
        }
        if (bad > 0) {
            console.error(`\n${bad} socket errors or unexpected statuses`);
            process.exitCode = 1;
        }
    } finally {
        for (const r of running) {
            const exited = new Promise((resolve) => r.proc.once("exit", resolve));
            if (r.proc.exitCode === null && r.proc.signalCode === null) {
                r.proc.kill("SIGTERM");
                await exited;
            }
        }
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
});
