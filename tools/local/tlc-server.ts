/**
 * A loopback HTTP server that plays the TLC website for `npm start` and the tests: it serves
 * monthly Parquet files under `/trip-data/<file name>` the way the publisher does (one URL per
 * dataset and month, `Content-Length`, `ETag`, `Last-Modified`, 404 for a month that is not
 * published yet), and lets the caller change what is published while it runs:
 *
 * - `publish(name, file)`: the month appears (or is republished with new content: a new ETag
 *   and Last-Modified, as after a correction);
 * - `withhold(name)`: the month answers 404 ("not published yet").
 *
 * Files are streamed from disk (never read whole into memory). Only 127.0.0.1.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export const TRIP_DATA_PATH = "/trip-data";

interface Published {
    file: string;
    size: number;
    etag: string;
    lastModified: string;
}

export interface TlcRequest {
    path: string;
    status: number;
}

function md5File(file: string): string {
    const hash = createHash("md5");
    const fd = fs.openSync(file, "r");
    try {
        const buf = Buffer.alloc(1024 * 1024);
        let n: number;
        while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) hash.update(buf.subarray(0, n));
    } finally {
        fs.closeSync(fd);
    }
    return hash.digest("hex");
}

export class TlcServer {
    private readonly files = new Map<string, Published>();
    private server: http.Server | undefined;
    /** Every request answered, in order (path and status). */
    public readonly requests: TlcRequest[] = [];

    constructor(
        private readonly port: number,
        private readonly host = "127.0.0.1",
    ) {}

    /** `http://127.0.0.1:<port>/trip-data`: the base URL of the ingest DAGs' `source_url`. */
    get baseUrl(): string {
        const port = (this.server?.address() as AddressInfo | null)?.port ?? this.port;
        return `http://${this.host}:${port}${TRIP_DATA_PATH}`;
    }

    /** Publish (or republish) `name` with the content of `file`. */
    publish(name: string, file: string, when: Date = new Date()): void {
        if (name.includes("/")) throw new Error(`file name ${JSON.stringify(name)} contains '/'`);
        const size = fs.statSync(file).size;
        this.files.set(name, {
            file,
            size,
            etag: `"${md5File(file)}"`,
            lastModified: when.toUTCString(),
        });
    }

    /** Make `name` answer 404 (not published yet). */
    withhold(name: string): void {
        this.files.delete(name);
    }

    isPublished(name: string): boolean {
        return this.files.has(name);
    }

    /** Count of answers with `status` for `name`. */
    answered(name: string, status: number): number {
        const p = `${TRIP_DATA_PATH}/${name}`;
        return this.requests.filter((r) => r.path === p && r.status === status).length;
    }

    async start(): Promise<string> {
        const server = http.createServer((req, res) => this.handle(req, res));
        await new Promise<void>((resolve, reject) => {
            server.once("error", reject);
            server.listen(this.port, this.host, () => resolve());
        });
        this.server = server;
        return this.baseUrl;
    }

    async stop(): Promise<void> {
        const server = this.server;
        this.server = undefined;
        if (!server) return;
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
    }

    private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
        const url = new URL(req.url ?? "/", "http://x");
        const pathname = decodeURIComponent(url.pathname);
        const answer = (status: number) => {
            this.requests.push({ path: pathname, status });
            res.statusCode = status;
        };
        if (req.method !== "GET" && req.method !== "HEAD") {
            answer(405);
            res.end();
            return;
        }
        const name = pathname.startsWith(`${TRIP_DATA_PATH}/`)
            ? pathname.slice(TRIP_DATA_PATH.length + 1)
            : "";
        const published = name && !name.includes("/") ? this.files.get(name) : undefined;
        if (!published) {
            // What the real site (CloudFront in front of S3) answers for a missing month.
            answer(name ? 403 : 404);
            res.setHeader("Content-Type", "application/xml");
            res.end(`<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>`);
            return;
        }
        answer(200);
        res.setHeader("Content-Type", "application/octet-stream");
        res.setHeader("Content-Length", String(published.size));
        res.setHeader("ETag", published.etag);
        res.setHeader("Last-Modified", published.lastModified);
        if (req.method === "HEAD") {
            res.end();
            return;
        }
        const stream = fs.createReadStream(published.file);
        stream.on("error", () => res.destroy());
        stream.pipe(res);
    }
}
