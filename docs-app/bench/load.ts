/**
 * Load benchmark: starts the docs app (`src/main.ts`, a separate process, request logs on) over a
 * fixture docs tree on the file backend, drives it with autocannon, and prints requests/s,
 * p50/p99 latency, errors and unexpected statuses per scenario. Figures, not assertions; it exits
 * non-zero only if a request errored or got a status other than the scenario's.
 *
 *   tsx docs-app/bench/load.ts [--duration 10] [--connections 10]
 */
import autocannon from "autocannon";
import { spawn } from "node:child_process";
import * as path from "node:path";
import * as readline from "node:readline";

import { makeDocsTree } from "../test/fixtures";

function arg(name: string, fallback: number): number {
    const i = process.argv.indexOf(`--${name}`);
    const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
    if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number`);
    return value;
}

interface Scenario {
    name: string;
    path: string;
    headers?: Record<string, string>;
    status: number;
}

async function main(): Promise<void> {
    const duration = arg("duration", 10);
    const connections = arg("connections", 10);
    const tree = makeDocsTree();
    const server = spawn(
        process.execPath,
        ["--import", "tsx", path.join(__dirname, "..", "src", "main.ts")],
        {
            env: {
                ...process.env,
                DOCS_URI: tree.uri,
                PORT: "0",
                HOST: "127.0.0.1",
                LOG_LEVEL: "info",
                SHUTDOWN_DELAY_SECONDS: "0",
            },
            stdio: ["ignore", "pipe", "inherit"],
        },
    );
    try {
        const port = await new Promise<number>((resolve, reject) => {
            const lines = readline.createInterface({ input: server.stdout });
            server.once("exit", (code) => reject(new Error(`docs app exited early (${code})`)));
            lines.on("line", (line) => {
                const event = JSON.parse(line) as { event?: string; port?: number };
                if (event.event === "listening" && event.port !== undefined) resolve(event.port);
            });
        });
        const base = `http://127.0.0.1:${port}`;
        const etag = (await fetch(`${base}/dbt/index.html`)).headers.get("etag") ?? "";
        const scenarios: Scenario[] = [
            { name: "index page (catalog cached)", path: "/", status: 200 },
            { name: "dbt page, 200 identity", path: "/dbt/index.html", status: 200 },
            {
                name: "dbt page, 304 (If-None-Match)",
                path: "/dbt/index.html",
                headers: { "if-none-match": etag },
                status: 304,
            },
            {
                name: "dbt page, 200 gzip",
                path: "/dbt/index.html",
                headers: { "accept-encoding": "gzip" },
                status: 200,
            },
            { name: "healthz", path: "/healthz", status: 200 },
        ];
        console.log(
            `docs-app load: ${connections} connections, ${duration} s per scenario, ` +
                `node ${process.version}, server = separate process with JSON request logs\n`,
        );
        const header = ["scenario", "req/s", "p50 ms", "p99 ms", "errors", "unexpected status"];
        const rows: string[][] = [];
        let failures = 0;
        for (const s of scenarios) {
            await autocannon({
                url: base + s.path,
                connections,
                duration: 1,
                headers: s.headers ?? {},
            });
            const r = await autocannon({
                url: base + s.path,
                connections,
                duration,
                headers: s.headers ?? {},
            });
            const expected = r.statusCodeStats[String(s.status)]?.count ?? 0;
            const total = Object.values(r.statusCodeStats).reduce((n, c) => n + c.count, 0);
            const unexpected = total - expected;
            const errors = r.errors + r.timeouts;
            failures += errors + unexpected;
            rows.push([
                `${s.name} [${s.status}]`,
                r.requests.average.toFixed(0),
                String(r.latency.p50),
                String(r.latency.p99),
                String(errors),
                String(unexpected),
            ]);
        }
        const widths = header.map((h, i) =>
            Math.max(h.length, ...rows.map((row) => row[i]!.length)),
        );
        const fmt = (cells: string[]): string =>
            cells
                .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
                .join("  ");
        console.log(fmt(header));
        for (const row of rows) console.log(fmt(row));
        if (failures > 0) {
            console.error(`\n${failures} requests errored or got an unexpected status`);
            process.exitCode = 1;
        }
    } finally {
        server.kill("SIGTERM");
        await new Promise((resolve) => server.once("exit", resolve));
        tree.cleanup();
    }
}

main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
});
