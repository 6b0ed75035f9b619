/**
 * The HTTP server (`node:http`, no framework): routing, conditional requests, gzip, streaming,
 * security headers, request logs, metrics and graceful shutdown. Plain requests for the index
 * page are answered by the fast lane in front of it (fast-lane.ts), with the same bytes.
 *
 *   GET /           index of the published sites
 *   GET /<site>/…   files of a site (`…/` → `…/index.html`; a site without a root page gets a
 *                   generated listing of its entry pages; an unpublished one a clear 404 page)
 *   GET /healthz    200 `ok` (503 while draining after SIGTERM); never touches storage
 *   GET /metrics    Prometheus text format
 */
import { createHash, randomUUID } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import * as zlib from "node:zlib";

import { Catalog } from "./catalog";
import { acceptsGzip, contentTypeFor, isCompressible } from "./content-types";
import { BodyCache } from "./body-cache";
import type { SimpleRequest } from "./fast-lane";
import { FastLane, writeResponse } from "./fast-lane";
import { StatCache } from "./stat-cache";
import type { SiteSummary } from "./catalog";
import { renderError, renderIndex, renderNotPublished, renderSiteListing } from "./index-page";
import type { Logger } from "./log";
import { errorFields } from "./log";

import type { Metrics, RouteLabel } from "./metrics";
import type { ParsedTarget } from "./paths";
import { encodePath, parseTarget } from "./paths";
import { RequestLog } from "./request-log";
import type { ObjectInfo, Storage } from "./storage";
import { StorageError, isStorageError } from "./storage";

const gzipAsync = promisify(zlib.gzip);

/** Smaller bodies are sent as they are: gzip would not pay for its header and CPU. */
export const GZIP_MIN_BYTES = 1024;
const HTML_CACHE = "private, no-cache";
const ASSET_CACHE = "private, max-age=300";
const HSTS = "max-age=31536000";

/** Headers on every response. */
const SECURITY_HEADERS: Record<string, string> = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "SAMEORIGIN",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
};

/** Pages the app renders: no script at all. */
export const GENERATED_CSP =
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; " +
    "form-action 'none'; frame-ancestors 'none'";

/**
 * Published sites: dbt docs (AngularJS, inline scripts, eval) and Great Expectations data docs
 * (Bootstrap/jQuery from public CDNs) need inline code and https sources; plugins, foreign
 * framing, foreign form targets and plain-http loads stay blocked.
 */
export const SITE_CSP =
    "default-src 'self' https: data: blob: 'unsafe-inline' 'unsafe-eval'; object-src 'none'; " +
    "base-uri 'self'; form-action 'self'; frame-ancestors 'self'";

export interface DocsServerOptions {
    storage: Storage;
    logger: Logger;
    metrics: Metrics;
    /** How long site lists and summaries are cached. */
    catalogTtlSeconds: number;
    /** Memory for hot object bodies, raw and gzip, in bytes (default 32 MiB; 0 disables it). */
    cacheBytes?: number;
    /**
     * How long a found object's stat (size, ETag, time) is reused before storage is asked again,
     * in milliseconds (default 0: every request stats). See {@link StatCache}.
     */
    statCacheMs?: number;
    /**
     * Answer plain requests for pages held in memory straight on the socket (default true; see
     * fast-lane.ts). False: `node:http` answers every request.
     */
    fastLane?: boolean;
}

/**
 * The server's response class: it carries what the request's log line and metrics need (request
 * id, route, site, start time), so a request allocates no context object and no closure. Each
 * response's headers go to `writeHead` in one object: a `setHeader` before `writeHead` makes Node
 * merge every header one by one (validate, lower-case, store): measured, about a third of the CPU
 * of a small response.
 */
export class DocsResponse extends http.ServerResponse {
    requestId = "";
    route: RouteLabel = "rejected";
    site: string | undefined = undefined;
    /** `performance.now()` when the request arrived. */
    startedAt = 0;
    /** The server that answers it (read by the shared `close` listener). */
    owner: DocsServer | undefined = undefined;
}

/** Every response's one `close` listener, shared: `this` is the response. */
function responseClosed(this: DocsResponse): void {
    this.owner?.finished(this);
}

/** A generated page, ready to send: its bytes, ETag and (once a client asked) gzip variant. */
interface Page {
    body: Buffer;
    etag: string;
    gzip?: Buffer;
    /**
     * The response headers of a 200 by variant (gzip or not, HSTS or not), built on first use as
     * a flat `[name, value, …]` list whose last pair is `X-Request-Id` and an empty value: a
     * request copies the list and sets its id (last, so that the fast lane writes everything
     * before it as one constant buffer), instead of concatenating an ETag and spreading
     * the constants into a new object (Node also walks a list faster than an object's keys).
     */
    headers?: (string[] | undefined)[];
}

class HttpError extends Error {
    constructor(
        readonly status: number,
        message: string,
    ) {
        super(message);
    }
}

export class DocsServer {
    readonly server: http.Server<typeof http.IncomingMessage, typeof DocsResponse>;
    readonly catalog: Catalog;
    private readonly storage: Storage;
    private readonly log: Logger;
    private readonly metrics: Metrics;
    private readonly cache: BodyCache;
    private readonly stats: StatCache;
    /** Reads of whole objects in progress, so concurrent misses share one read. */
    private readonly loading = new Map<string, Promise<Buffer>>();
    /** The index page rendered from the catalog's current summaries. */
    private indexPage: { sites: readonly SiteSummary[]; page: Page } | undefined;
    private draining = false;
    private readonly ids = new RequestIds();
    private readonly requestLog: RequestLog;
    private closing: Promise<void> | undefined;
    /** Undefined when turned off (`fastLane: false`). */
    readonly fastLane: FastLane | undefined;

    constructor(options: DocsServerOptions) {
        this.storage = options.storage;
        this.log = options.logger;
        this.requestLog = new RequestLog(this.log);
        this.metrics = options.metrics;
        this.cache = new BodyCache(options.cacheBytes ?? 32 * 1024 * 1024);
        this.catalog = new Catalog(options.storage, {
            ttlSeconds: options.catalogTtlSeconds,
            onSites: (names) => {
                this.metrics.siteUpdated.reset();
                this.metrics.siteObjects.reset();
                this.log.debug("sites_listed", { sites: names });
            },
            onSummary: (s) => {
                if (s.updated)
                    this.metrics.siteUpdated.set({ site: s.name }, s.updated.getTime() / 1000);
                this.metrics.siteObjects.set({ site: s.name }, s.objects);
            },
        });
        this.stats = new StatCache(options.statCacheMs ?? 0);
        this.server = http.createServer<typeof http.IncomingMessage, typeof DocsResponse>(
            { ServerResponse: DocsResponse },
            (req, res) => this.onRequest(req, res),
        );
        // The Google Cloud load balancer keeps idle backend connections for 600 s; a shorter
        // keep-alive here would make it reuse sockets we are closing (sporadic 502s).
        this.server.keepAliveTimeout = 620_000;
        this.server.headersTimeout = 30_000;
        this.server.requestTimeout = 120_000;
        this.fastLane =
            options.fastLane === false
                ? undefined
                : new FastLane(
                      this.server,
                      (request, socket) => this.answerFast(request, socket),
                      this.server.keepAliveTimeout,
                  );
        this.server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
            const status =
                err.code === "HPE_HEADER_OVERFLOW"
                    ? 431
                    : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
                      ? 408
                      : 400;
            // The parser refused the request: no method to speak of, no duration.
            this.metrics.recordRequest("rejected", undefined, status);
            this.log.debug("client_error", { status, error_code: err.code });
            if (socket.writable && err.code !== "ECONNRESET") {
                socket.end(
                    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\n` +
                        `Content-Length: 0\r\n\r\n`,
                );
            }
            socket.destroy();
        });
    }

    listen(port: number, host: string): Promise<AddressInfo> {
        return new Promise((resolve, reject) => {
            this.server.once("error", reject);
            this.server.listen(port, host, () => {
                this.server.off("error", reject);
                resolve(this.server.address() as AddressInfo);
            });
        });
    }

    /**
     * Graceful shutdown: fail /healthz and close keep-alive connections after each response for
     * `delayMs` (the load balancer takes the pod out), stop accepting, wait up to `timeoutMs` for
     * in-flight responses, then close whatever is left.
     */
    shutdown(options: { delayMs: number; timeoutMs: number }): Promise<void> {
        this.closing ??= (async () => {
            this.draining = true;
            this.fastLane?.drain();
            this.log.info("shutdown_started", {
                drain_ms: options.delayMs,
                timeout_ms: options.timeoutMs,
            });
            if (options.delayMs > 0) await sleep(options.delayMs);
            const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
            const closeIdle = (): void => {
                this.server.closeIdleConnections();
                this.fastLane?.closeIdle();
            };
            closeIdle();
            const sweep = setInterval(closeIdle, 250);
            let forced = false;
            const timer = setTimeout(() => {
                forced = true;
                this.log.warn("shutdown_forced", {
                    reason: "in-flight requests outlived the timeout",
                });
                this.server.closeAllConnections();
                this.fastLane?.closeAll();
            }, options.timeoutMs);
            await closed;
            clearInterval(sweep);
            clearTimeout(timer);
            this.log.info("shutdown_complete", { forced });
        })();
        return this.closing;
    }

    private onRequest(req: http.IncomingMessage, res: DocsResponse): void {
        res.startedAt = performance.now();
        res.requestId = this.ids.next();
        res.owner = this;
        if (this.draining) res.shouldKeepAlive = false;
        this.metrics.inFlightCount++;
        res.on("close", responseClosed);
        // Synchronous when it can be (a cached page): no promise per request.
        try {
            const pending = this.handle(req, res);
            if (pending !== undefined) pending.catch((err: unknown) => this.fail(req, res, err));
        } catch (err) {
            this.fail(req, res, err);
        }
    }

    /**
     * Count and log a response that ended (sent, failed or abandoned by the client). Called by
     * the response's `close` listener only.
     * @internal
     */
    finished(res: DocsResponse): void {
        this.metrics.inFlightCount--;
        const req = res.req;
        const seconds = (performance.now() - res.startedAt) / 1000;
        const status = res.statusCode;
        const route = res.route;
        this.metrics.recordRequest(route, req.method, status, seconds);
        const forwarded = req.headers["x-forwarded-for"];
        this.requestLog.write(
            res.requestId,
            req.method ?? "",
            req.url ?? "",
            route,
            res.site,
            status,
            seconds,
            !res.writableFinished,
            typeof forwarded === "string" ? forwarded : undefined,
            req.socket.remoteAddress,
            req.headers["user-agent"],
        );
    }

    /**
     * The fast lane's question (fast-lane.ts): the index page is written here, with the same
     * headers, log line and metrics as through `node:http`; anything else is left to it
     * (false). Like the `node:http` path it waits, when it must, for the catalog to be listed
     * again or for the page's gzip variant: the connection then stays in the lane.
     */
    private answerFast(request: SimpleRequest, socket: Socket): boolean | Promise<boolean> {
        const startedAt = performance.now();
        if (this.draining || parseTarget(request.url).kind !== "index") return false;
        const sites = this.catalog.freshSites();
        if (sites !== undefined) return this.writeIndex(request, socket, sites, startedAt);
        return this.catalog
            .sites()
            .then((listed) => this.writeIndex(request, socket, listed, startedAt));
    }

    private writeIndex(
        request: SimpleRequest,
        socket: Socket,
        sites: readonly SiteSummary[],
        startedAt: number,
    ): boolean | Promise<boolean> {
        // Waited for something, and meanwhile the drain began: node:http says `close`.
        if (this.draining) return false;
        const page = this.renderIndexPage(sites);
        const gzip = gzipsPage(page, request.acceptEncoding);
        if (gzip && page.gzip === undefined) {
            return gzipAsync(page.body).then((compressed) => {
                page.gzip ??= compressed;
                return this.writeIndex(request, socket, sites, startedAt);
            });
        }
        const hsts = request.forwardedProto === "https";
        const requestId = this.ids.next();
        const head = request.method === "HEAD";
        writeResponse(
            socket,
            pageHeaderList(page, gzip, hsts),
            requestId,
            head ? undefined : gzip ? page.gzip : page.body,
            this.server.keepAliveTimeout / 1000,
        );
        const seconds = (performance.now() - startedAt) / 1000;
        this.metrics.recordRequest("index", request.method, 200, seconds);
        this.requestLog.write(
            requestId,
            request.method,
            request.url,
            "index",
            undefined,
            200,
            seconds,
            socket.destroyed,
            request.forwardedFor,
            socket.remoteAddress,
            request.userAgent,
        );
        return true;
    }

    /** Answers the request; a promise only when it waits for something (storage, gzip, metrics). */
    private handle(req: http.IncomingMessage, res: DocsResponse): Promise<void> | undefined {
        const method = req.method ?? "";
        if (method !== "GET" && method !== "HEAD") {
            res.setHeader("Allow", "GET, HEAD");
            if (method === "OPTIONS") {
                res.writeHead(204, { "X-Request-Id": res.requestId, ...SECURITY_HEADERS }).end();
                return;
            }
            throw new HttpError(405, `method ${method} is not allowed`);
        }
        const target: ParsedTarget = parseTarget(req.url);
        switch (target.kind) {
            case "reject":
                throw new HttpError(target.status, target.reason);
            case "healthz":
                res.route = "healthz";
                this.sendText(
                    req,
                    res,
                    this.draining ? 503 : 200,
                    this.draining ? "draining\n" : "ok\n",
                );
                return;
            case "metrics":
                res.route = "metrics";
                return this.sendMetrics(req, res);
            case "index": {
                res.route = "index";
                const sites = this.catalog.freshSites();
                if (sites !== undefined) {
                    return this.sendPage(req, res, 200, this.renderIndexPage(sites));
                }
                return this.catalog
                    .sites()
                    .then((listed) => this.sendPage(req, res, 200, this.renderIndexPage(listed)));
            }
            case "site":
                res.route = "site";
                res.site = target.site;
                return this.serveSite(req, res, target);
        }
    }

    private async sendMetrics(req: http.IncomingMessage, res: DocsResponse): Promise<void> {
        const body = await this.metrics.registry.metrics();
        res.writeHead(200, {
            "X-Request-Id": res.requestId,
            ...SECURITY_HEADERS,
            "Content-Type": this.metrics.registry.contentType,
            "Cache-Control": "no-store",
        });
        res.end(req.method === "HEAD" ? undefined : body);
    }

    private async serveSite(
        req: http.IncomingMessage,
        res: DocsResponse,
        t: Extract<ParsedTarget, { kind: "site" }>,
    ): Promise<void> {
        if (t.segments.length === 0 && !t.directory) {
            return this.redirect(res, encodePath(t.site, [], true) + t.query);
        }
        const key = [t.site, ...t.segments].join("/");
        if (t.directory) {
            const index = await this.stat(`${key}/index.html`);
            if (index) return this.serveObject(req, res, index);
            if (t.segments.length === 0) {
                const summary = await this.catalog.site(t.site);
                if (summary !== undefined && summary.objects > 0) {
                    return this.sendPage(req, res, 200, renderSiteListing(summary));
                }
                return this.sendPage(req, res, 404, renderNotPublished(t.site));
            }
            throw new HttpError(404, "no index.html in folder");
        }
        const info = await this.stat(key);
        if (info) return this.serveObject(req, res, info);
        // `/site/folder` where `folder/index.html` exists: send the browser to `folder/` so the
        // page's relative links resolve.
        if (await this.stat(`${key}/index.html`)) {
            return this.redirect(res, encodePath(t.site, t.segments, true) + t.query);
        }
        throw new HttpError(404, "no such object");
    }

    private async serveObject(
        req: http.IncomingMessage,
        res: DocsResponse,
        info: ObjectInfo,
    ): Promise<void> {
        try {
            await this.sendObject(req, res, info);
        } catch (err) {
            // Vanished, changed while read, unreadable: the next request stats it again.
            this.stats.forget(info.key);
            throw err;
        }
    }

    private async sendObject(
        req: http.IncomingMessage,
        res: DocsResponse,
        info: ObjectInfo,
    ): Promise<void> {
        const type = contentTypeFor(info.key, info.contentType);
        const clientGzip = acceptsGzip(req.headers["accept-encoding"]);
        const storedGzip = info.contentEncoding?.toLowerCase() === "gzip";
        const mode: "identity" | "gzip" | "stored-gzip" | "gunzip" = storedGzip
            ? clientGzip
                ? "stored-gzip"
                : "gunzip"
            : clientGzip && isCompressible(type) && info.size >= GZIP_MIN_BYTES
              ? "gzip"
              : "identity";
        const encoded = mode === "gzip" || mode === "stored-gzip";
        const headers: http.OutgoingHttpHeaders = {
            "X-Request-Id": res.requestId,
            ...SECURITY_HEADERS,
            "Content-Security-Policy": SITE_CSP,
            "Content-Type": type,
            ETag: `"${info.etag}${encoded ? "-gz" : ""}"`,
            "Last-Modified": info.updated.toUTCString(),
            "Cache-Control": type.startsWith("text/html") ? HTML_CACHE : ASSET_CACHE,
            "Accept-Ranges": "none",
        };
        if (storedGzip || isCompressible(type)) headers.Vary = "Accept-Encoding";
        this.addHsts(req, headers);
        if (notModified(req, info.etag, info.updated)) {
            delete headers["Content-Security-Policy"];
            res.writeHead(304, headers).end();
            return;
        }
        if (encoded) headers["Content-Encoding"] = "gzip";
        if (mode === "identity" || mode === "stored-gzip") headers["Content-Length"] = info.size;
        if (req.method === "HEAD" || info.size === 0) {
            if (mode === "gzip" || mode === "gunzip") headers["Content-Length"] = undefined;
            res.writeHead(200, stripUndefined(headers)).end();
            return;
        }
        if (mode === "identity" || mode === "stored-gzip") {
            // Hot objects from memory, in one write: no per-request read, no per-chunk garbage.
            const body = await this.rawBody(info);
            if (body !== undefined) {
                res.writeHead(200, headers).end(body);
                return;
            }
        } else if (mode === "gzip" && this.cache.enabled) {
            const body = this.lookup(info, "gzip") ?? (await this.precompressed(info));
            if (body !== undefined) {
                headers["Content-Length"] = body.length;
                res.writeHead(200, headers).end(body);
                return;
            }
        }
        // Opening may fail (vanished, throttled): that throws before any header is written.
        const source: Readable = await this.storage.read(info);
        res.writeHead(200, headers);
        try {
            if (mode === "gzip") {
                const gzip = zlib.createGzip({ level: 6 });
                const keep = this.collectFor(gzip);
                await pipeline(source, gzip, res);
                const body = keep();
                if (body) this.cache.set(info.key, info.etag, body, "gzip");
            } else if (mode === "gunzip") {
                await pipeline(source, zlib.createGunzip(), res);
            } else {
                await pipeline(source, res);
            }
        } catch (err) {
            if (res.destroyed && !res.writableFinished && req.socket.destroyed) {
                // The client went away (closed tab, cancelled download): nothing to report.
                this.log.debug("client_aborted", { key: info.key });
            } else {
                this.countStorageError(err);
                this.stats.forget(info.key);
                this.log.error("stream_failed", { key: info.key, ...errorFields(err) });
            }
            res.destroy();
        } finally {
            // pipeline() leaves the source open when the response was already gone (client
            // disconnected while we were opening it): close it, or the file handle leaks.
            if (!source.destroyed) source.destroy();
        }
    }

    /** The object's stat: from the stat cache while it is fresh, else from storage. */
    private async stat(key: string): Promise<ObjectInfo | undefined> {
        const cached = this.stats.get(key);
        if (cached !== undefined) return cached;
        const info = await this.storage.stat(key);
        if (info !== undefined) this.stats.set(key, info);
        return info;
    }

    private lookup(info: ObjectInfo, variant: "raw" | "gzip"): Buffer | undefined {
        const hit = this.cache.get(info.key, info.etag, variant);
        this.metrics.cacheLookups.inc({ variant, result: hit ? "hit" : "miss" });
        return hit;
    }

    /** One read of `id` however many requests miss at once. */
    private load(id: string, read: () => Promise<Buffer>): Promise<Buffer> {
        let pending = this.loading.get(id);
        if (pending === undefined) {
            pending = read().finally(() => this.loading.delete(id));
            this.loading.set(id, pending);
        }
        return pending;
    }

    /**
     * The stored bytes of `info` from the cache, else read whole from storage into it; undefined
     * when the object is too large to keep (the caller streams it).
     */
    private async rawBody(info: ObjectInfo): Promise<Buffer | undefined> {
        if (!this.cache.fits(info.size)) return undefined;
        const hit = this.lookup(info, "raw");
        if (hit !== undefined) return hit;
        const body = await this.load(`raw\u0000${info.etag}\u0000${info.key}`, () =>
            readWhole(this.storage, info),
        );
        this.cache.set(info.key, info.etag, body, "raw");
        return body;
    }

    /**
     * The pre-compressed sibling `<key>.gz` written at publish time, when it belongs to this
     * version of the object: written after it (publishers write the page, then its `.gz`) and
     * its gzip trailer's length equals the object's size. Kept in the cache as the object's gzip
     * variant, so the sibling is looked up once per version.
     */
    private async precompressed(info: ObjectInfo): Promise<Buffer | undefined> {
        const sibling = await this.storage.stat(`${info.key}.gz`);
        if (
            sibling === undefined ||
            sibling.contentEncoding !== undefined ||
            sibling.updated.getTime() < info.updated.getTime() ||
            !this.cache.fits(sibling.size)
        ) {
            return undefined;
        }
        const body = await this.load(`gz\u0000${sibling.etag}\u0000${sibling.key}`, () =>
            readWhole(this.storage, sibling),
        );
        if (!isGzipOf(body, info.size)) {
            this.log.warn("precompressed_mismatch", {
                key: sibling.key,
                reason: "not gzip, or its length does not match the object; compressing instead",
            });
            return undefined;
        }
        this.cache.set(info.key, info.etag, body, "gzip");
        return body;
    }

    /** Copy what `gzip` emits, up to the cache's entry limit, for the body cache. */
    private collectFor(gzip: zlib.Gzip): () => Buffer | undefined {
        if (!this.cache.enabled) return () => undefined;
        const chunks: Buffer[] = [];
        let total = 0;
        let tooBig = false;
        const onData = (chunk: Buffer): void => {
            total += chunk.length;
            if (total > this.cache.maxEntryBytes) {
                tooBig = true;
                chunks.length = 0;
                gzip.off("data", onData);
            } else {
                chunks.push(chunk);
            }
        };
        gzip.on("data", onData);
        return () => (tooBig ? undefined : Buffer.concat(chunks));
    }

    /** The index page, rendered again only when the catalog's summaries changed. */
    private renderIndexPage(sites: readonly SiteSummary[]): Page {
        const last = this.indexPage;
        if (
            last !== undefined &&
            last.sites.length === sites.length &&
            last.sites.every((s, i) => s === sites[i])
        ) {
            return last.page;
        }
        const page = preparePage(renderIndex(sites));
        this.indexPage = { sites, page };
        return page;
    }

    /** Sends a generated page; a promise only while its gzip variant is first compressed. */
    private sendPage(
        req: http.IncomingMessage,
        res: DocsResponse,
        status: number,
        html: string | Page,
    ): Promise<void> | undefined {
        const page = typeof html === "string" ? preparePage(html) : html;
        const hsts = req.headers["x-forwarded-proto"] === "https";
        if (status === 200 && notModified(req, `p${page.etag}`, undefined)) {
            const headers = pageHeaders(page, status, false, hsts);
            delete headers["Content-Length"];
            delete headers["Content-Encoding"];
            headers.ETag = `"p${page.etag}"`;
            res.writeHead(304, { "X-Request-Id": res.requestId, ...headers }).end();
            return;
        }
        const gzip = gzipsPage(page, req.headers["accept-encoding"]);
        if (gzip && page.gzip === undefined) {
            return gzipAsync(page.body).then((compressed) => {
                page.gzip ??= compressed;
                this.writePage(req, res, status, page, gzip, hsts);
            });
        }
        this.writePage(req, res, status, page, gzip, hsts);
        return;
    }

    private writePage(
        req: http.IncomingMessage,
        res: DocsResponse,
        status: number,
        page: Page,
        gzip: boolean,
        hsts: boolean,
    ): void {
        let headers: http.OutgoingHttpHeaders | string[];
        if (status === 200) {
            headers = pageHeaderList(page, gzip, hsts).slice();
            headers[headers.length - 1] = res.requestId;
        } else {
            headers = { "X-Request-Id": res.requestId, ...pageHeaders(page, status, gzip, hsts) };
        }
        res.writeHead(status, headers);
        res.end(req.method === "HEAD" ? undefined : gzip ? page.gzip! : page.body);
    }

    private sendText(
        req: http.IncomingMessage,
        res: DocsResponse,
        status: number,
        text: string,
    ): void {
        res.writeHead(status, {
            "X-Request-Id": res.requestId,
            ...SECURITY_HEADERS,
            "Content-Type": "text/plain; charset=utf-8",
            "Cache-Control": "no-store",
            "Content-Length": Buffer.byteLength(text),
        });
        res.end(req.method === "HEAD" ? undefined : text);
    }

    private redirect(res: DocsResponse, location: string): void {
        // `location` is built from validated, re-encoded segments: always a same-origin path.
        res.writeHead(301, {
            "X-Request-Id": res.requestId,
            ...SECURITY_HEADERS,
            Location: location,
            "Cache-Control": "private, max-age=300",
            "Content-Length": 0,
        });
        res.end();
    }

    private addHsts(req: http.IncomingMessage, headers: http.OutgoingHttpHeaders): void {
        // Only over HTTPS (the load balancer terminates TLS and says so).
        if (req.headers["x-forwarded-proto"] === "https") {
            headers["Strict-Transport-Security"] = HSTS;
        }
    }

    private countStorageError(err: unknown): void {
        if (isStorageError(err)) {
            this.metrics.storageErrors.inc({ backend: this.storage.backend, kind: err.kind });
        }
    }

    /** Map a failure to a response. Causes go to the log, never to the client. */
    private fail(req: http.IncomingMessage, res: DocsResponse, err: unknown): void {
        let status = 500;
        let detail: string | undefined;
        if (err instanceof HttpError) {
            status = err.status;
            this.log.debug("request_rejected", {
                request_id: res.requestId,
                status,
                reason: err.message,
            });
        } else if (isStorageError(err)) {
            status = err.kind === "unavailable" ? 503 : err.kind === "not_found" ? 404 : 502;
            this.countStorageError(err);
            if (status !== 404) {
                this.log.error("storage_error", {
                    request_id: res.requestId,
                    status,
                    backend: this.storage.backend,
                    ...errorFields(err),
                });
            }
        } else {
            this.log.error("request_failed", {
                request_id: res.requestId,
                ...errorFields(err),
                stack: err instanceof Error ? err.stack : undefined,
            });
        }
        if (status === 405) detail = "Only GET and HEAD are supported.";
        if (res.headersSent) {
            res.destroy();
            return;
        }
        if (status === 503) res.setHeader("Retry-After", "5");
        try {
            this.sendPage(req, res, status, renderError(status, res.requestId, detail))?.catch(() =>
                res.destroy(),
            );
        } catch {
            res.destroy();
        }
    }
}

/** RFC 9110 §13.1.2/§13.1.3: weak comparison of If-None-Match; If-Modified-Since otherwise. */
export function notModified(
    req: http.IncomingMessage,
    etag: string,
    updated: Date | undefined,
): boolean {
    const inm = req.headers["if-none-match"];
    if (inm !== undefined) {
        if (inm.trim() === "*") return true;
        return inm.split(",").some((candidate) => {
            const tag = candidate.trim().replace(/^W\//, "");
            return tag === `"${etag}"` || tag === `"${etag}-gz"`;
        });
    }
    const ims = req.headers["if-modified-since"];
    if (ims !== undefined && updated !== undefined) {
        const since = Date.parse(ims);
        if (!Number.isNaN(since))
            return Math.floor(updated.getTime() / 1000) <= Math.floor(since / 1000);
    }
    return false;
}

/**
 * The headers of a generated page's response but the request id: a 200 has an ETag (the gzip
 * variant its own, `-gz`); an error page is not stored by caches.
 */
function pageHeaders(
    page: Page,
    status: number,
    gzip: boolean,
    hsts: boolean,
): http.OutgoingHttpHeaders {
    const headers: http.OutgoingHttpHeaders = {
        ...SECURITY_HEADERS,
        "Content-Security-Policy": GENERATED_CSP,
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": status === 200 ? HTML_CACHE : "no-store",
        Vary: "Accept-Encoding",
    };
    // Only over HTTPS (the load balancer terminates TLS and says so).
    if (hsts) headers["Strict-Transport-Security"] = HSTS;
    if (status === 200) headers.ETag = `"p${page.etag}${gzip ? "-gz" : ""}"`;
    if (gzip) headers["Content-Encoding"] = "gzip";
    headers["Content-Length"] = String((gzip ? page.gzip! : page.body).length);
    return headers;
}

/** Whether a generated page goes gzip-compressed to a client sending `acceptEncoding`. */
function gzipsPage(page: Page, acceptEncoding: string | undefined): boolean {
    return page.body.length >= GZIP_MIN_BYTES && acceptsGzip(acceptEncoding);
}

/** The headers of a page's 200 in one variant, prepared once (see {@link Page.headers}). */
function pageHeaderList(page: Page, gzip: boolean, hsts: boolean): string[] {
    const variant = (gzip ? 1 : 0) + (hsts ? 2 : 0);
    page.headers ??= [];
    return (page.headers[variant] ??= flatHeaders(pageHeaders(page, 200, gzip, hsts)));
}

/** `headers` as a flat `[name, value, …]` list ending with an `X-Request-Id` pair to fill in. */
function flatHeaders(headers: http.OutgoingHttpHeaders): string[] {
    const flat: string[] = [];
    for (const [name, value] of Object.entries(headers)) {
        if (value !== undefined) flat.push(name, String(value));
    }
    flat.push("X-Request-Id", "");
    return flat;
}

/**
 * Request ids: UUIDs (version 4 form) whose first 74 random bits are drawn once per process and
 * whose last 48 bits count requests, so an id costs a counter increment rather than 16 bytes of
 * randomness. Unique across processes (the random part) and within one (the counter); not
 * secret, and not meant to be: they name a request in logs and on error pages.
 */
class RequestIds {
    private prefix = randomUUID().slice(0, 24);
    private count = 0;

    next(): string {
        if (this.count === 2 ** 48) {
            // The counter's 12 hex digits are used up: a new random part.
            this.prefix = randomUUID().slice(0, 24);
            this.count = 0;
        }
        return this.prefix + (this.count++).toString(16).padStart(12, "0");
    }
}

function preparePage(html: string): Page {
    const body = Buffer.from(html, "utf8");
    return { body, etag: createHash("sha1").update(body).digest("hex").slice(0, 20) };
}

/**
 * Read an object whole (it fits the cache). Any failure, including one after the first bytes,
 * is a {@link StorageError}: nothing has been sent yet, so the client gets a clean 503/404.
 */
async function readWhole(storage: Storage, info: ObjectInfo): Promise<Buffer> {
    const source = await storage.read(info);
    const chunks: Buffer[] = [];
    try {
        for await (const chunk of source) chunks.push(chunk as Buffer);
    } catch (err) {
        if (isStorageError(err)) throw err;
        throw new StorageError("unavailable", `reading ${info.key} failed`, { cause: err });
    } finally {
        if (!source.destroyed) source.destroy();
    }
    const body = Buffer.concat(chunks);
    if (body.length !== info.size) {
        throw new StorageError(
            "unavailable",
            `${info.key} changed while it was read (${body.length} of ${info.size} bytes)`,
        );
    }
    return body;
}

/** A gzip member whose trailer says it inflates to `size` bytes (ISIZE is the size mod 2^32). */
function isGzipOf(body: Buffer, size: number): boolean {
    return (
        body.length >= 18 &&
        body[0] === 0x1f &&
        body[1] === 0x8b &&
        body.readUInt32LE(body.length - 4) === size % 2 ** 32
    );
}

function stripUndefined(headers: http.OutgoingHttpHeaders): http.OutgoingHttpHeaders {
    return Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined));
}

function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}
