/**
 * Test helpers: a published docs tree on disk (with traps outside it), a server on an
 * ephemeral loopback port, and HTTP clients that do not rewrite what they send or receive.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

import type { LogLevel } from "../src/log";
import { createLogger } from "../src/log";
import { Metrics } from "../src/metrics";
import { DocsServer } from "../src/server";
import type { Storage } from "../src/storage";

/** Text planted outside the docs root; no response may ever contain it. */
export const SENTINEL = "SENTINEL-OUTSIDE-THE-DOCS-ROOT-7f3a";

export const T_DBT = new Date("2024-03-05T10:00:00Z");
export const T_GX_JAN = new Date("2024-02-01T08:00:00Z");
export const T_GX_FEB = new Date("2024-03-01T08:30:00Z");
export const T_MODEL = new Date("2024-03-04T12:00:00Z");

/** 1x1 transparent PNG. */
export const PNG = Buffer.from(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=",
    "base64",
);

export interface DocsTree {
    /** The folder containing `docs/` (the root) and the traps next to it. */
    dir: string;
    root: string;
    uri: string;
    /** Every regular file inside the root, by key, with its bytes. */
    files: Map<string, Buffer>;
    cleanup(): void;
}

function page(title: string, body: string): string {
    return (
        `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>` +
        `<link rel="stylesheet" href="static/site.css"></head><body><h1>${title}</h1>${body}` +
        `</body></html>\n`
    );
}

/** A docs tree shaped like the pipeline's output (docs/architecture.md#docs-bucket-layout, docs-app README). */
export function makeDocsTree(): DocsTree {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "docs-app-test-"));
    const root = path.join(dir, "docs");
    const files = new Map<string, Buffer>();
    const write = (key: string, content: string | Buffer, mtime: Date): void => {
        const full = path.join(root, ...key.split("/"));
        fs.mkdirSync(path.dirname(full), { recursive: true });
        const data = typeof content === "string" ? Buffer.from(content) : content;
        fs.writeFileSync(full, data);
        fs.utimesSync(full, mtime, mtime);
        files.set(key, data);
    };
    const filler = "<p>" + "Trips by pickup zone and hour. ".repeat(80) + "</p>";
    write(
        "dbt/index.html",
        page("dbt docs fixture", `<div id="lineage">lineage</div>${filler}`),
        T_DBT,
    );
    write("dbt/static/site.css", "h1{color:#0b5394}\n", T_DBT);
    write("dbt/catalog.json", JSON.stringify({ nodes: { a: 1 }, pad: "x".repeat(4000) }), T_DBT);
    for (const [name, t] of [
        ["yellow_tripdata_2024-01", T_GX_JAN],
        ["yellow_tripdata_2024-02", T_GX_FEB],
    ] as const) {
        write(`data-docs/${name}/index.html`, page(`Validation ${name}`, filler), t);
        write(`data-docs/${name}/static/site.css`, "body{margin:0}\n", t);
        write(`data-docs/${name}/validations/run.html`, page(`Run ${name}`, "<p>ok</p>"), t);
    }
    write("model/index.html", page("Model report", '<img src="chart.png" alt="chart">'), T_MODEL);
    write("model/chart.png", PNG, T_MODEL);
    write("model/plot.svg", `<svg xmlns="http://www.w3.org/2000/svg"/>`, T_MODEL);
    write("model/metrics.csv", "month,rmse\n2024-01,3.1\n", T_MODEL);
    write("model/app.js", `console.log(${JSON.stringify("x".repeat(3000))});\n`, T_MODEL);
    write("model/font.woff2", Buffer.from([0x77, 0x4f, 0x46, 0x32, 0, 1]), T_MODEL);
    write("model/weights.bin", Buffer.from([1, 2, 3, 4]), T_MODEL);
    write("model/empty.txt", "", T_MODEL);
    write("model/space name.txt", "spaced\n", T_MODEL);
    // 3 MiB of varied text: streamed, never buffered whole.
    const big = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = 32 + ((i * 7919) % 95);
    write("model/large.txt", big, T_MODEL);

    // Traps: hidden files inside, secrets outside, symlinks pointing out.
    fs.writeFileSync(path.join(root, "dbt", ".env"), SENTINEL);
    fs.mkdirSync(path.join(dir, "outside"));
    fs.writeFileSync(path.join(dir, "outside", "secret.txt"), SENTINEL);
    fs.mkdirSync(path.join(dir, "docs-evil", "dbt"), { recursive: true });
    fs.writeFileSync(path.join(dir, "docs-evil", "dbt", "index.html"), SENTINEL);
    fs.writeFileSync(path.join(dir, "secret.txt"), SENTINEL);
    fs.symlinkSync(path.join(dir, "outside", "secret.txt"), path.join(root, "dbt", "leak.txt"));
    fs.symlinkSync(path.join(dir, "outside"), path.join(root, "dbt", "leakdir"));
    fs.symlinkSync(path.join(dir, "outside"), path.join(root, "outside-site"));
    return {
        dir,
        root,
        uri: `file://${root}`,
        files,
        cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
    };
}

export interface RunningServer {
    docs: DocsServer;
    port: number;
    base: string;
    logs: Record<string, unknown>[];
    /** Lines the logger wrote that are not one JSON object (there must be none). */
    unparsable: string[];
    close(): Promise<void>;
}

export async function startServer(
    storage: Storage,
    options: {
        logLevel?: LogLevel;
        catalogTtlSeconds?: number;
        statCacheMs?: number;
        fastLane?: boolean;
    } = {},
): Promise<RunningServer> {
    const logs: Record<string, unknown>[] = [];
    const unparsable: string[] = [];
    const logger = createLogger({
        level: options.logLevel ?? "info",
        write: (line) => {
            let parsed: unknown;
            try {
                parsed = JSON.parse(line);
            } catch {
                parsed = undefined;
            }
            const oneLine = line.endsWith("\n") && line.indexOf("\n") === line.length - 1;
            if (oneLine && typeof parsed === "object" && parsed !== null) {
                logs.push(parsed as Record<string, unknown>);
            } else {
                unparsable.push(line);
            }
        },
    });
    const docs = new DocsServer({
        storage,
        logger,
        metrics: new Metrics(),
        catalogTtlSeconds: options.catalogTtlSeconds ?? 30,
        ...(options.statCacheMs !== undefined ? { statCacheMs: options.statCacheMs } : {}),
        ...(options.fastLane !== undefined ? { fastLane: options.fastLane } : {}),
    });
    const address = await docs.listen(0, "127.0.0.1");
    return {
        docs,
        port: address.port,
        base: `http://127.0.0.1:${address.port}`,
        logs,
        unparsable,
        close: () => docs.shutdown({ delayMs: 0, timeoutMs: 2000 }),
    };
}

export interface Reply {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: Buffer;
}

/** One request with `node:http` (no automatic decompression, no redirects followed). */
export function request(
    port: number,
    target: string,
    options: { method?: string; headers?: http.OutgoingHttpHeaders } = {},
): Promise<Reply> {
    return new Promise((resolve, reject) => {
        const req = http.request(
            {
                host: "127.0.0.1",
                port,
                path: target,
                method: options.method ?? "GET",
                headers: options.headers ?? {},
                agent: false,
            },
            (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("end", () =>
                    resolve({
                        status: res.statusCode ?? 0,
                        headers: res.headers,
                        body: Buffer.concat(chunks),
                    }),
                );
                res.on("error", reject);
            },
        );
        req.on("error", reject);
        req.end();
    });
}

/** A GET over `agent` (keep-alive): its status and `Connection` header once the body was read. */
export function keepAliveGet(
    port: number,
    target: string,
    agent: http.Agent,
): Promise<{ status: number; connection: string | undefined }> {
    return new Promise((resolve, reject) => {
        http.get({ host: "127.0.0.1", port, path: target, agent }, (res) => {
            res.resume();
            res.on("end", () =>
                resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }),
            );
        }).on("error", reject);
    });
}

/**
 * Send a request line exactly as given (node:http refuses many hostile targets client-side),
 * read until the server closes, and split status, headers and body.
 */
/** `headers`: extra header lines, sent as latin1 bytes (`Name: value\r\n` each). */
export function rawRequest(
    port: number,
    target: string,
    method = "GET",
    headers = "",
): Promise<Reply> {
    return new Promise((resolve, reject) => {
        const socket = net.connect(port, "127.0.0.1");
        const chunks: Buffer[] = [];
        socket.setTimeout(10_000, () => socket.destroy(new Error(`timeout on ${target}`)));
        socket.on("connect", () => {
            socket.write(
                Buffer.concat([
                    Buffer.from(`${method} `, "latin1"),
                    Buffer.from(target, "utf8"),
                    Buffer.from(
                        ` HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${headers}\r\n`,
                        "latin1",
                    ),
                ]),
            );
        });
        socket.on("data", (c: Buffer) => chunks.push(c));
        socket.on("error", reject);
        socket.on("close", () => {
            const all = Buffer.concat(chunks);
            const split = all.indexOf("\r\n\r\n");
            const head = all.subarray(0, split < 0 ? all.length : split).toString("latin1");
            const [statusLine, ...lines] = head.split("\r\n");
            const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? "")?.[1] ?? 0);
            const headers: http.IncomingHttpHeaders = {};
            for (const line of lines) {
                const i = line.indexOf(":");
                if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
            }
            let body: Buffer = split < 0 ? Buffer.alloc(0) : all.subarray(split + 4);
            if (headers["transfer-encoding"] === "chunked") body = dechunk(body);
            resolve({ status, headers, body });
        });
    });
}

function dechunk(data: Buffer): Buffer {
    const out: Buffer[] = [];
    let i = 0;
    while (i < data.length) {
        const eol = data.indexOf("\r\n", i);
        if (eol < 0) break;
        const size = parseInt(data.subarray(i, eol).toString("latin1"), 16);
        if (!(size > 0)) break;
        out.push(data.subarray(eol + 2, eol + 2 + size));
        i = eol + 2 + size + 2;
    }
    return Buffer.concat(out);
}
