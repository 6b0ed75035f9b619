/**
 * The real server on a loopback ephemeral port against the file backend: listings, content
 * types, conditional requests, gzip, streaming, headers, probes, metrics, logs and shutdown.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import type { Readable } from "node:stream";
import * as zlib from "node:zlib";

import type { Storage } from "../src/storage";
import { StorageError } from "../src/storage";
import { FileStorage } from "../src/storage-file";
import type { DocsTree, RunningServer } from "./fixtures";
import {
    PNG,
    SENTINEL,
    T_DBT,
    T_GX_FEB,
    T_MODEL,
    keepAliveGet,
    makeDocsTree,
    request,
    startServer,
} from "./fixtures";

/** Request ids are UUIDs of the version 4 form. */
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("docs-app server (file backend, loopback)", () => {
    let tree: DocsTree;
    let srv: RunningServer;

    before(async () => {
        tree = makeDocsTree();
        srv = await startServer(new FileStorage(tree.root));
    });
    after(async () => {
        await srv.close();
        tree.cleanup();
    });

    describe("index and listings", () => {
        it("lists every site discovered in storage with its newest object time and a link", async () => {
            const r = await request(srv.port, "/");
            assert.equal(r.status, 200);
            assert.equal(r.headers["content-type"], "text/html; charset=utf-8");
            const html = r.body.toString();
            for (const [site, title, t] of [
                ["dbt", "dbt docs", T_DBT],
                ["data-docs", "Data docs", T_GX_FEB],
                ["model", "Model reports", T_MODEL],
            ] as const) {
                const row = new RegExp(
                    `<tr data-site="${site}"><td><a href="/${site}/">${title}</a>.*?` +
                        `<time datetime="${t.toISOString()}">`,
                );
                assert.match(html, row, `row for ${site}`);
            }
            // A known site that has not been published is shown as such, without a link.
            assert.match(
                html,
                /<tr data-site="elementary"><td>Elementary report<br>.*not published yet/,
            );
            assert.doesNotMatch(html, /href="\/elementary\/"/);
            // Symlinked folders at the top level are not sites.
            assert.doesNotMatch(html, /outside-site/);
        });

        it("picks up a new prefix without a restart (after the catalog TTL)", async () => {
            const local = await startServer(new FileStorage(tree.root), { catalogTtlSeconds: 0 });
            try {
                fs.mkdirSync(path.join(tree.root, "new-report"));
                fs.writeFileSync(path.join(tree.root, "new-report", "index.html"), "<p>new</p>");
                const r = await request(local.port, "/");
                assert.match(r.body.toString(), /<a href="\/new-report\/">new-report<\/a>/);
            } finally {
                fs.rmSync(path.join(tree.root, "new-report"), { recursive: true });
                await local.close();
            }
        });

        it("serves a site's index.html at /<site>/ and redirects /<site> there", async () => {
            const r = await request(srv.port, "/dbt/");
            assert.equal(r.status, 200);
            assert.deepEqual(r.body, tree.files.get("dbt/index.html"));
            const redirect = await request(srv.port, "/dbt?x=1");
            assert.equal(redirect.status, 301);
            assert.equal(redirect.headers.location, "/dbt/?x=1");
        });

        it("generates a listing of entry pages for a site without a root page (data docs)", async () => {
            const r = await request(srv.port, "/data-docs/");
            assert.equal(r.status, 200);
            const html = r.body.toString();
            const feb = html.indexOf('href="/data-docs/yellow_tripdata_2024-02/"');
            const jan = html.indexOf('href="/data-docs/yellow_tripdata_2024-01/"');
            assert.ok(feb > 0 && jan > feb, "entries listed, newest month first");
            const entry = await request(srv.port, "/data-docs/yellow_tripdata_2024-01/");
            assert.deepEqual(
                entry.body,
                tree.files.get("data-docs/yellow_tripdata_2024-01/index.html"),
            );
            const folder = await request(srv.port, "/data-docs/yellow_tripdata_2024-01");
            assert.equal(folder.status, 301);
            assert.equal(folder.headers.location, "/data-docs/yellow_tripdata_2024-01/");
        });

        it("says clearly when a known site has not been published yet", async () => {
            const r = await request(srv.port, "/elementary/");
            assert.equal(r.status, 404);
            assert.match(r.body.toString(), /Elementary report.*has not been published yet/s);
            assert.equal(r.headers["cache-control"], "no-store");
        });

        it("answers 404 for missing objects and folders without an index", async () => {
            for (const target of [
                "/dbt/nope.html",
                "/model/static/",
                "/nosuchsite/x",
                "/dbt/.env",
            ]) {
                const r = await request(srv.port, target);
                assert.equal(r.status, 404, target);
                assert.ok(!r.body.toString().includes(SENTINEL));
            }
        });
    });

    describe("objects", () => {
        const cases: [string, string][] = [
            ["/dbt/index.html", "text/html; charset=utf-8"],
            ["/dbt/static/site.css", "text/css; charset=utf-8"],
            ["/dbt/catalog.json", "application/json; charset=utf-8"],
            ["/model/app.js", "text/javascript; charset=utf-8"],
            ["/model/chart.png", "image/png"],
            ["/model/plot.svg", "image/svg+xml"],
            ["/model/metrics.csv", "text/csv; charset=utf-8"],
            ["/model/font.woff2", "font/woff2"],
            ["/model/weights.bin", "application/octet-stream"],
            ["/model/empty.txt", "text/plain; charset=utf-8"],
            ["/model/space%20name.txt", "text/plain; charset=utf-8"],
        ];
        for (const [target, type] of cases) {
            it(`serves ${target} as ${type} with its exact bytes`, async () => {
                const r = await request(srv.port, target);
                assert.equal(r.status, 200);
                assert.equal(r.headers["content-type"], type);
                const key = decodeURIComponent(target.slice(1));
                assert.deepEqual(r.body, tree.files.get(key));
                assert.equal(Number(r.headers["content-length"]), tree.files.get(key)!.length);
            });
        }

        it("sets validators and cache headers (HTML revalidates, assets cache briefly)", async () => {
            const html = await request(srv.port, "/dbt/index.html");
            assert.match(String(html.headers.etag), /^"[0-9a-f]+-[0-9a-f]+"$/);
            assert.equal(html.headers["last-modified"], T_DBT.toUTCString());
            assert.equal(html.headers["cache-control"], "private, no-cache");
            const png = await request(srv.port, "/model/chart.png");
            assert.equal(png.headers["cache-control"], "private, max-age=300");
            assert.deepEqual(png.body, PNG);
            assert.equal(png.headers.vary, undefined, "images do not vary by encoding");
        });

        it("sets security headers on objects, generated pages and errors", async () => {
            for (const target of ["/dbt/", "/", "/nope/", "/%2e%2e/"]) {
                const r = await request(srv.port, target);
                assert.equal(r.headers["x-content-type-options"], "nosniff", target);
                assert.equal(r.headers["x-frame-options"], "SAMEORIGIN", target);
                assert.equal(r.headers["referrer-policy"], "same-origin", target);
                assert.match(
                    String(r.headers["content-security-policy"]),
                    /frame-ancestors/,
                    target,
                );
                assert.match(String(r.headers["x-request-id"]), UUID_V4, target);
                assert.equal(r.headers["strict-transport-security"], undefined);
            }
            const https = await request(srv.port, "/dbt/", {
                headers: { "x-forwarded-proto": "https" },
            });
            assert.equal(https.headers["strict-transport-security"], "max-age=31536000");
        });
    });

    describe("conditional requests", () => {
        it("answers 304 to a matching If-None-Match (strong, weak, list, *)", async () => {
            const first = await request(srv.port, "/dbt/index.html");
            const etag = String(first.headers.etag);
            for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
                const r = await request(srv.port, "/dbt/index.html", {
                    headers: { "if-none-match": inm },
                });
                assert.equal(r.status, 304, inm);
                assert.equal(r.body.length, 0);
                assert.equal(r.headers.etag, etag);
            }
            const miss = await request(srv.port, "/dbt/index.html", {
                headers: { "if-none-match": '"nope"' },
            });
            assert.equal(miss.status, 200);
        });

        it("treats the gzip variant's ETag as the same content", async () => {
            const gz = await request(srv.port, "/dbt/index.html", {
                headers: { "accept-encoding": "gzip" },
            });
            assert.match(String(gz.headers.etag), /-gz"$/);
            const r = await request(srv.port, "/dbt/index.html", {
                headers: { "if-none-match": String(gz.headers.etag) },
            });
            assert.equal(r.status, 304);
        });

        it("uses If-Modified-Since when there is no If-None-Match", async () => {
            const at = T_DBT.toUTCString();
            const before = new Date(T_DBT.getTime() - 1000).toUTCString();
            const hit = await request(srv.port, "/dbt/index.html", {
                headers: { "if-modified-since": at },
            });
            assert.equal(hit.status, 304);
            const stale = await request(srv.port, "/dbt/index.html", {
                headers: { "if-modified-since": before },
            });
            assert.equal(stale.status, 200);
            const both = await request(srv.port, "/dbt/index.html", {
                headers: { "if-modified-since": at, "if-none-match": '"changed"' },
            });
            assert.equal(both.status, 200, "If-None-Match wins over If-Modified-Since");
        });

        it("keeps the generated index page's four header variants apart (gzip x HSTS)", async () => {
            const variants = [
                { gzip: true, https: true },
                { gzip: false, https: false },
                { gzip: true, https: false },
                { gzip: false, https: true },
            ];
            // Twice over, in an order that reuses each prepared variant after the others.
            for (const round of [1, 2]) {
                for (const v of variants) {
                    const headers: Record<string, string> = {};
                    if (v.gzip) headers["accept-encoding"] = "gzip";
                    if (v.https) headers["x-forwarded-proto"] = "https";
                    const r = await request(srv.port, "/", { headers });
                    const what = `round ${round} ${JSON.stringify(v)}`;
                    assert.equal(r.status, 200, what);
                    const body = v.gzip ? zlib.gunzipSync(r.body) : r.body;
                    assert.match(body.toString("utf8"), /<html/i, what);
                    assert.equal(r.headers["content-length"], String(r.body.length), what);
                    assert.equal(r.headers["content-encoding"], v.gzip ? "gzip" : undefined, what);
                    assert.equal(
                        r.headers["strict-transport-security"],
                        v.https ? "max-age=31536000" : undefined,
                        what,
                    );
                    assert.match(
                        String(r.headers.etag),
                        v.gzip ? /^"p[0-9a-f]+-gz"$/ : /^"p[0-9a-f]+"$/,
                        what,
                    );
                    assert.match(String(r.headers["x-request-id"]), UUID_V4, what);
                }
            }
        });

        it("revalidates the generated index page by ETag", async () => {
            const first = await request(srv.port, "/");
            const r = await request(srv.port, "/", {
                headers: { "if-none-match": String(first.headers.etag) },
            });
            assert.equal(r.status, 304);
        });
    });

    describe("compression and streaming", () => {
        it("gzips compressible responses when the client accepts gzip", async () => {
            const local = await startServer(new FileStorage(tree.root));
            try {
                const ask = () =>
                    request(local.port, "/dbt/index.html", {
                        headers: { "accept-encoding": "br, gzip" },
                    });
                const first = await ask();
                assert.equal(first.headers["content-encoding"], "gzip");
                assert.equal(first.headers.vary, "Accept-Encoding");
                assert.equal(
                    first.headers["transfer-encoding"],
                    "chunked",
                    "streamed through gzip",
                );
                assert.deepEqual(zlib.gunzipSync(first.body), tree.files.get("dbt/index.html"));
                assert.ok(first.body.length < tree.files.get("dbt/index.html")!.length / 3);
                // The second time it comes from the gzip cache, whole, with a length.
                const second = await ask();
                assert.equal(second.headers["content-encoding"], "gzip");
                assert.equal(Number(second.headers["content-length"]), second.body.length);
                assert.deepEqual(second.body, first.body);
                const metrics = (await request(local.port, "/metrics")).body.toString();
                const lookups = (result: string) =>
                    new RegExp(
                        `docs_cache_lookups_total\\{variant="gzip",result="${result}"\\} 1\n`,
                    );
                assert.match(metrics, lookups("miss"));
                assert.match(metrics, lookups("hit"));
            } finally {
                await local.close();
            }
        });

        it("compresses a republished file afresh (cache keyed by ETag)", async () => {
            const file = path.join(tree.root, "model", "notes.html");
            const local = await startServer(new FileStorage(tree.root));
            const ask = async () =>
                zlib
                    .gunzipSync(
                        (
                            await request(local.port, "/model/notes.html", {
                                headers: { "accept-encoding": "gzip" },
                            })
                        ).body,
                    )
                    .toString();
            try {
                fs.writeFileSync(file, "<p>first</p>".repeat(200));
                fs.utimesSync(file, T_MODEL, T_MODEL);
                assert.equal(await ask(), "<p>first</p>".repeat(200));
                assert.equal(await ask(), "<p>first</p>".repeat(200));
                fs.writeFileSync(file, "<p>second</p>".repeat(200));
                assert.equal(await ask(), "<p>second</p>".repeat(200));
            } finally {
                fs.rmSync(file, { force: true });
                await local.close();
            }
        });

        it("does not gzip when refused, for images, or for small bodies", async () => {
            const refused = await request(srv.port, "/dbt/index.html", {
                headers: { "accept-encoding": "gzip;q=0, identity" },
            });
            assert.equal(refused.headers["content-encoding"], undefined);
            const png = await request(srv.port, "/model/chart.png", {
                headers: { "accept-encoding": "gzip" },
            });
            assert.equal(png.headers["content-encoding"], undefined);
            const small = await request(srv.port, "/dbt/static/site.css", {
                headers: { "accept-encoding": "gzip" },
            });
            assert.equal(small.headers["content-encoding"], undefined);
        });

        it("streams a large object in chunks, plain and gzipped, byte for byte", async () => {
            const expected = tree.files.get("model/large.txt")!;
            const plain = await request(srv.port, "/model/large.txt");
            assert.equal(Number(plain.headers["content-length"]), expected.length);
            assert.ok(plain.body.equals(expected));
            const gz = await request(srv.port, "/model/large.txt", {
                headers: { "accept-encoding": "gzip" },
            });
            assert.equal(gz.headers["transfer-encoding"], "chunked");
            assert.ok(zlib.gunzipSync(gz.body).equals(expected));
        });

        it("survives clients that disconnect mid-download", async () => {
            await new Promise<void>((resolve, reject) => {
                const req = http.get(
                    { host: "127.0.0.1", port: srv.port, path: "/model/large.txt" },
                    (res) => {
                        res.once("data", () => {
                            req.destroy();
                            resolve();
                        });
                    },
                );
                req.on("error", (err: NodeJS.ErrnoException) =>
                    err.code === "ECONNRESET" ? resolve() : reject(err),
                );
            });
            const after = await request(srv.port, "/healthz");
            assert.equal(after.status, 200);
        });

        it("closes the file when the client left before the body was streamed", async () => {
            // Hold the read until the client has gone, then check the opened stream is closed.
            const inner = new FileStorage(tree.root);
            let release!: () => void;
            const gate = new Promise<void>((resolve) => (release = resolve));
            const opened: Readable[] = [];
            const gated: Storage = {
                backend: "file",
                uri: inner.uri,
                listSites: () => inner.listSites(),
                listObjects: (site) => inner.listObjects(site),
                stat: (key) => inner.stat(key),
                read: async (info) => {
                    await gate;
                    const stream = await inner.read(info);
                    opened.push(stream);
                    return stream;
                },
            };
            const local = await startServer(gated);
            try {
                const req = http.get({
                    host: "127.0.0.1",
                    port: local.port,
                    path: "/model/large.txt",
                });
                req.on("error", () => undefined);
                await new Promise((resolve) => setTimeout(resolve, 100));
                req.destroy();
                await new Promise((resolve) => setTimeout(resolve, 100));
                release();
                for (let i = 0; i < 50 && !(opened[0]?.destroyed ?? false); i++) {
                    await new Promise((resolve) => setTimeout(resolve, 20));
                }
                assert.equal(opened.length, 1, "the read happened");
                assert.equal(opened[0]!.destroyed, true, "the file stream was closed");
            } finally {
                await local.close();
            }
        });

        it("answers HEAD with headers only", async () => {
            const r = await request(srv.port, "/model/large.txt", { method: "HEAD" });
            assert.equal(r.status, 200);
            assert.equal(
                Number(r.headers["content-length"]),
                tree.files.get("model/large.txt")!.length,
            );
            assert.equal(r.body.length, 0);
        });
    });

    describe("hot objects and pre-compressed variants", () => {
        let dir: string;
        let reads: string[];
        let local: RunningServer;

        /** The file backend, counting reads, so a test can tell storage from cache. */
        function counting(root: string): Storage {
            const inner = new FileStorage(root);
            return {
                backend: "file",
                uri: inner.uri,
                listSites: () => inner.listSites(),
                listObjects: (site) => inner.listObjects(site),
                stat: (key) => inner.stat(key),
                read: (info) => {
                    reads.push(info.key);
                    return inner.read(info);
                },
            };
        }
        function publish(rel: string, data: Buffer | string, mtime: Date): void {
            const file = path.join(dir, ...rel.split("/"));
            fs.mkdirSync(path.dirname(file), { recursive: true });
            fs.writeFileSync(file, data);
            fs.utimesSync(file, mtime, mtime);
        }
        const gzipped = { headers: { "accept-encoding": "gzip" } };
        const page = "<p>Trips by zone.</p>".repeat(500);

        beforeEach(async () => {
            dir = fs.mkdtempSync(path.join(tree.dir, "hot-"));
            reads = [];
            local = await startServer(counting(dir));
        });
        afterEach(async () => {
            await local.close();
            fs.rmSync(dir, { recursive: true, force: true });
        });

        it("reads a hot object once per version and serves a republished one at once", async () => {
            publish("dbt/index.html", page, T_DBT);
            for (let i = 0; i < 3; i++) {
                const r = await request(local.port, "/dbt/index.html");
                assert.equal(r.body.toString(), page);
                assert.equal(Number(r.headers["content-length"]), page.length);
            }
            assert.deepEqual(reads, ["dbt/index.html"], "one read, then the cache");
            publish("dbt/index.html", "<p>v2</p>", new Date(T_DBT.getTime() + 1000));
            const fresh = await request(local.port, "/dbt/index.html");
            assert.equal(fresh.body.toString(), "<p>v2</p>", "the stat revalidates every request");
            assert.equal(reads.length, 2);
        });

        it("shares one read between concurrent requests for the same object", async () => {
            publish("dbt/index.html", page, T_DBT);
            const all = await Promise.all(
                Array.from({ length: 8 }, () => request(local.port, "/dbt/index.html")),
            );
            for (const r of all) assert.equal(r.body.toString(), page);
            assert.deepEqual(reads, ["dbt/index.html"]);
        });

        it("sends the pre-compressed .gz sibling written after the page", async () => {
            publish("dbt/index.html", page, T_DBT);
            // Level 1 output differs from the server's level 6, so the test can tell which.
            const sibling = zlib.gzipSync(page, { level: 1 });
            publish("dbt/index.html.gz", sibling, new Date(T_DBT.getTime() + 1000));
            const first = await request(local.port, "/dbt/index.html", gzipped);
            assert.equal(first.headers["content-encoding"], "gzip");
            assert.equal(
                first.headers.etag,
                (await request(local.port, "/dbt/index.html")).headers.etag!.replace(/"$/, '-gz"'),
            );
            assert.deepEqual(first.body, sibling);
            const second = await request(local.port, "/dbt/index.html", gzipped);
            assert.deepEqual(second.body, sibling);
            assert.equal(reads.filter((k) => k.endsWith(".gz")).length, 1, "kept after one read");
        });

        it("ignores a .gz sibling older than the page or of another length", async () => {
            const sibling = zlib.gzipSync(page, { level: 1 });
            publish("stale/index.html", page, T_DBT);
            publish("stale/index.html.gz", sibling, new Date(T_DBT.getTime() - 1000));
            publish("other/index.html", page, T_DBT);
            publish("other/index.html.gz", zlib.gzipSync(page + "x", { level: 1 }), T_DBT);
            for (const site of ["stale", "other"]) {
                const r = await request(local.port, `/${site}/index.html`, gzipped);
                assert.equal(r.headers["content-encoding"], "gzip");
                assert.notDeepEqual(r.body, sibling, `${site}: compressed by the server`);
                assert.equal(zlib.gunzipSync(r.body).toString(), page);
            }
            assert.ok(local.logs.some((l) => l.event === "precompressed_mismatch"));
        });
    });

    describe("methods, probes, metrics and logs", () => {
        it("refuses other methods with 405 and Allow", async () => {
            for (const method of ["POST", "PUT", "DELETE", "PATCH", "TRACE"]) {
                const r = await request(srv.port, "/dbt/index.html", { method });
                assert.equal(r.status, 405, method);
                assert.equal(r.headers.allow, "GET, HEAD");
            }
            const options = await request(srv.port, "/", { method: "OPTIONS" });
            assert.equal(options.status, 204);
            assert.equal(options.headers.allow, "GET, HEAD");
        });

        it("serves /healthz without touching storage", async () => {
            const broken = await startServer(new FileStorage("/proc/definitely/missing"));
            try {
                const r = await request(broken.port, "/healthz");
                assert.equal(r.status, 200);
                assert.equal(r.body.toString(), "ok\n");
            } finally {
                await broken.close();
            }
        });

        it("exposes Prometheus metrics with bounded labels", async () => {
            await request(srv.port, "/dbt/index.html");
            await request(srv.port, "/%2e%2e/etc/passwd");
            const r = await request(srv.port, "/metrics");
            assert.equal(r.status, 200);
            assert.match(String(r.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
            const text = r.body.toString();
            assert.match(
                text,
                /docs_http_requests_total\{route="site",method="GET",status="200"\} \d+/,
            );
            assert.match(
                text,
                /docs_http_requests_total\{route="rejected",method="GET",status="400"\} \d+/,
            );
            assert.match(
                text,
                /docs_http_request_duration_seconds_bucket\{le="0.005",route="site"\}/,
            );
            assert.match(
                text,
                new RegExp(
                    `docs_site_last_updated_timestamp_seconds\\{site="dbt"\\} ${T_DBT.getTime() / 1000}`,
                ),
            );
            assert.doesNotMatch(text, /etc\/passwd/);
            // The scrape itself is the one request in flight: the others were counted out.
            assert.match(text, /^docs_http_requests_in_flight 1$/m);
        });

        it("writes one structured JSON log line per request", async () => {
            const before = srv.logs.length;
            await request(srv.port, "/model/chart.png?v=1", {
                headers: { "user-agent": "probe/1" },
            });
            const line = srv.logs.slice(before).find((l) => l.event === "request");
            assert.ok(line, "a request log line");
            assert.equal(line.level, "info");
            assert.equal(line.severity, "INFO");
            assert.equal(line.method, "GET");
            assert.equal(line.path, "/model/chart.png?v=1");
            assert.equal(line.route, "site");
            assert.equal(line.site, "model");
            assert.equal(line.status, 200);
            assert.equal(line.user_agent, "probe/1");
            assert.equal(typeof line.duration_ms, "number");
            assert.match(String(line.ts), /^\d{4}-\d\d-\d\dT/);
        });
    });

    describe("stat cache and fast paths", () => {
        let dir: string;
        let stats: string[];
        let reads: string[];
        let failReads: number;
        let local: RunningServer;
        const page = "<p>Fares by zone.</p>".repeat(400);

        /** The file backend, counting stats and reads; the next `failReads` reads fail. */
        function counting(root: string): Storage {
            const inner = new FileStorage(root);
            return {
                backend: "file",
                uri: inner.uri,
                listSites: () => inner.listSites(),
                listObjects: (site) => inner.listObjects(site),
                stat: (key) => {
                    stats.push(key);
                    return inner.stat(key);
                },
                read: (info) => {
                    reads.push(info.key);
                    if (failReads > 0) {
                        failReads--;
                        return Promise.reject(new StorageError("unavailable", "throttled"));
                    }
                    return inner.read(info);
                },
            };
        }
        function publish(rel: string, data: string, mtime: Date): void {
            const file = path.join(dir, ...rel.split("/"));
            fs.mkdirSync(path.dirname(file), { recursive: true });
            fs.writeFileSync(file, data);
            fs.utimesSync(file, mtime, mtime);
        }

        beforeEach(async () => {
            dir = fs.mkdtempSync(path.join(tree.dir, "stat-"));
            stats = [];
            reads = [];
            failReads = 0;
            local = await startServer(counting(dir), { statCacheMs: 300 });
        });
        afterEach(async () => {
            await local.close();
            fs.rmSync(dir, { recursive: true, force: true });
        });

        it("stats a hot object once per TTL and serves a republished one, whole, after it", async () => {
            publish("dbt/index.html", page, T_DBT);
            const first = await request(local.port, "/dbt/index.html");
            for (let i = 0; i < 4; i++) await request(local.port, "/dbt/index.html");
            assert.deepEqual(stats, ["dbt/index.html"], "one stat for five requests");
            assert.deepEqual(reads, ["dbt/index.html"], "one read, then the body cache");
            publish("dbt/index.html", "<p>v2</p>", new Date(T_DBT.getTime() + 1000));
            const within = await request(local.port, "/dbt/index.html");
            assert.equal(
                within.body.toString(),
                page,
                "the old version, consistently, within the TTL",
            );
            assert.equal(within.headers.etag, first.headers.etag);
            await new Promise((resolve) => setTimeout(resolve, 350));
            const after = await request(local.port, "/dbt/index.html");
            assert.equal(after.body.toString(), "<p>v2</p>");
            assert.notEqual(after.headers.etag, first.headers.etag);
            assert.equal(stats.length, 2);
        });

        it("forgets the stat when the read fails, so the next request asks storage again", async () => {
            publish("dbt/index.html", page, T_DBT);
            failReads = 1;
            const failed = await request(local.port, "/dbt/index.html");
            assert.equal(failed.status, 503);
            const ok = await request(local.port, "/dbt/index.html");
            assert.equal(ok.status, 200);
            assert.equal(ok.body.toString(), page);
            assert.deepEqual(stats, ["dbt/index.html", "dbt/index.html"]);
        });

        it("keeps HEAD, If-None-Match and Range right on cached objects and the index", async () => {
            publish("dbt/index.html", page, T_DBT);
            for (const target of ["/dbt/index.html", "/"]) {
                const full = await request(local.port, target); // warms every cache
                const again = await request(local.port, target);
                assert.equal(again.status, 200, target);
                assert.deepEqual(again.body, full.body, target);
                assert.notEqual(
                    again.headers["x-request-id"],
                    full.headers["x-request-id"],
                    `${target}: one request id per response`,
                );
                const head = await request(local.port, target, { method: "HEAD" });
                assert.equal(head.status, 200);
                assert.equal(head.body.length, 0, `${target}: HEAD has no body`);
                assert.equal(head.headers["content-length"], String(full.body.length), target);
                assert.equal(head.headers.etag, full.headers.etag, target);
                const inm = await request(local.port, target, {
                    headers: { "if-none-match": `W/${String(full.headers.etag)}` },
                });
                assert.equal(inm.status, 304, target);
                assert.equal(inm.body.length, 0);
                assert.equal(inm.headers.etag, full.headers.etag);
                assert.match(String(inm.headers["x-request-id"]), UUID_V4);
                // No range support (Accept-Ranges: none): a Range request gets the whole body.
                const range = await request(local.port, target, {
                    headers: { range: "bytes=0-9" },
                });
                assert.equal(range.status, 200, target);
                assert.equal(range.headers["content-range"], undefined);
                assert.deepEqual(range.body, full.body, target);
                // The object's first gzip response is compressed while it streams (chunked);
                // the second comes from the cache, with its length.
                for (let i = 0; i < 2; i++) {
                    const gz = await request(local.port, target, {
                        headers: { "accept-encoding": "gzip" },
                    });
                    assert.equal(gz.headers["content-encoding"], "gzip", target);
                    assert.deepEqual(zlib.gunzipSync(gz.body), full.body, target);
                    if (i === 1) {
                        assert.equal(gz.headers["content-length"], String(gz.body.length), target);
                    }
                }
            }
            // The request id and HSTS go into the same writeHead as the rest: each header once.
            const raw = await new Promise<string[]>((resolve, reject) => {
                http.get(
                    {
                        host: "127.0.0.1",
                        port: local.port,
                        path: "/dbt/index.html",
                        headers: { "x-forwarded-proto": "https" },
                    },
                    (res) => {
                        res.resume();
                        res.on("end", () => resolve(res.rawHeaders));
                    },
                ).on("error", reject);
            });
            const names = raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
            assert.equal(new Set(names).size, names.length, names.join(", "));
            assert.ok(
                names.includes("x-request-id") && names.includes("strict-transport-security"),
            );
        });
    });

    describe("graceful shutdown", () => {
        it("fails /healthz while draining, closes keep-alive sockets, then stops listening", async () => {
            const local = await startServer(new FileStorage(tree.root));
            const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
            const get = (target: string) => keepAliveGet(local.port, target, agent);
            try {
                assert.equal((await get("/healthz")).status, 200);
                const done = local.docs.shutdown({ delayMs: 300, timeoutMs: 2000 });
                const draining = await get("/healthz");
                assert.equal(draining.status, 503);
                assert.equal(draining.connection, "close");
                await done;
                assert.equal(local.docs.server.listening, false);
                await assert.rejects(request(local.port, "/healthz"), /ECONNREFUSED/);
                assert.ok(
                    local.logs.some((l) => l.event === "shutdown_complete" && l.forced === false),
                );
            } finally {
                agent.destroy();
            }
        });
    });
});
