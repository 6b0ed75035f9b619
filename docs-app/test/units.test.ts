/** Pure functions: config parsing, request-target parsing, content negotiation, page escaping. */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { ConfigError, loadConfig, parseDocsUri } from "../src/config";
import { acceptsGzip, contentTypeFor } from "../src/content-types";
import { BodyCache } from "../src/body-cache";
import { escapeHtml, renderIndex } from "../src/index-page";
import { Catalog } from "../src/catalog";
import { batchedWriter, createLogger } from "../src/log";
import type { LogLevel } from "../src/log";
import { Metrics } from "../src/metrics";
import type { RouteLabel } from "../src/metrics";
import { StatCache } from "../src/stat-cache";
import type { ObjectInfo, Storage } from "../src/storage";
import { encodePath, parseTarget } from "../src/paths";
import { RequestLog } from "../src/request-log";

describe("config", () => {
    it("parses gs:// and file:// URIs", () => {
        assert.deepEqual(parseDocsUri("gs://acme-docs"), {
            kind: "gcs",
            bucket: "acme-docs",
            prefix: "",
            uri: "gs://acme-docs",
        });
        assert.deepEqual(parseDocsUri("gs://acme-docs/env/dev/"), {
            kind: "gcs",
            bucket: "acme-docs",
            prefix: "env/dev",
            uri: "gs://acme-docs/env/dev",
        });
        assert.deepEqual(parseDocsUri("file:///tmp/docs/"), {
            kind: "file",
            root: "/tmp/docs",
            uri: "file:///tmp/docs",
        });
    });

    it("rejects other URIs with a message naming the variable and the expected forms", () => {
        for (const bad of [
            "s3://bucket/docs",
            "/tmp/docs",
            "gs://Bad_Bucket",
            "gs://a",
            "gs://b..x",
            "gs://ok-bucket/a//b",
            "file://host/x",
            "https://x",
        ]) {
            assert.throws(
                () => parseDocsUri(bad),
                (err: Error) => {
                    assert.ok(err instanceof ConfigError, bad);
                    assert.match(err.message, /DOCS_URI=/);
                    return true;
                },
            );
        }
    });

    it("takes a GCS emulator endpoint only as GCS_API_ENDPOINT", () => {
        assert.equal(loadConfig({ DOCS_URI: "gs://acme-docs" }).gcsApiEndpoint, undefined);
        assert.equal(
            loadConfig({ DOCS_URI: "gs://acme-docs", GCS_API_ENDPOINT: "http://127.0.0.1:4443/" })
                .gcsApiEndpoint,
            "http://127.0.0.1:4443",
        );
        assert.throws(
            () => loadConfig({ DOCS_URI: "gs://acme-docs", GCS_API_ENDPOINT: "127.0.0.1:4443" }),
            /GCS_API_ENDPOINT="127.0.0.1:4443" is not valid/,
        );
        assert.throws(
            () => loadConfig({ DOCS_URI: "gs://acme-docs", STORAGE_EMULATOR_HOST: "http://h:1" }),
            /STORAGE_EMULATOR_HOST is set.*set GCS_API_ENDPOINT/,
        );
    });

    it("reads the environment with defaults and validates numbers and levels", () => {
        const cfg = loadConfig({ DOCS_URI: "file:///srv/docs" });
        assert.equal(cfg.port, 8080);
        assert.equal(cfg.host, "0.0.0.0");
        assert.equal(cfg.logLevel, "info");
        assert.equal(cfg.catalogTtlSeconds, 30);
        assert.equal(cfg.shutdownDelaySeconds, 5);
        assert.equal(cfg.shutdownTimeoutSeconds, 20);
        assert.equal(cfg.cacheMb, 32);
        assert.equal(loadConfig({ DOCS_URI: "file:///x", CACHE_MB: "0" }).cacheMb, 0);
        assert.throws(() => loadConfig({ DOCS_URI: "file:///x", CACHE_MB: "-1" }), /CACHE_MB/);
        assert.equal(cfg.statCacheMs, 0, "file://: off unless asked for");
        assert.equal(loadConfig({ DOCS_URI: "gs://acme-docs" }).statCacheMs, 1000);
        assert.equal(loadConfig({ DOCS_URI: "gs://acme-docs", STAT_CACHE_MS: "0" }).statCacheMs, 0);
        assert.equal(loadConfig({ DOCS_URI: "file:///x", STAT_CACHE_MS: "500" }).statCacheMs, 500);
        assert.throws(
            () => loadConfig({ DOCS_URI: "file:///x", STAT_CACHE_MS: "1s" }),
            /STAT_CACHE_MS="1s" is not valid; expected a whole number from 0 to 60000/,
        );
        const custom = loadConfig({
            DOCS_URI: "gs://acme-docs",
            PORT: "28201",
            HOST: "127.0.0.1",
            LOG_LEVEL: "DEBUG",
        });
        assert.deepEqual(
            [custom.port, custom.host, custom.logLevel],
            [28201, "127.0.0.1", "debug"],
        );
        assert.throws(() => loadConfig({}), /DOCS_URI is not set.*gs:\/\/my-docs-bucket/);
        assert.throws(
            () => loadConfig({ DOCS_URI: "file:///x", PORT: "80a" }),
            /PORT="80a".*0 to 65535/,
        );
        assert.throws(() => loadConfig({ DOCS_URI: "file:///x", PORT: "70000" }), /PORT/);
        assert.throws(
            () => loadConfig({ DOCS_URI: "file:///x", LOG_LEVEL: "loud" }),
            /LOG_LEVEL.*debug, info, warn, error/,
        );
    });
});

describe("request targets", () => {
    const cases: [string, string][] = [
        ["/", "index"],
        ["/?x=1", "index"],
        ["/healthz", "healthz"],
        ["/metrics", "metrics"],
        ["/dbt", "site dbt [] file"],
        ["/dbt/", "site dbt [] dir"],
        ["/data-docs/yellow_tripdata_2024-01/", "site data-docs [yellow_tripdata_2024-01] dir"],
        ["/model/space%20name.txt", "site model [space name.txt] file"],
        ["/model/caf%C3%A9.html?x", "site model [café.html] file"],
        ["/dbt/..", "reject 400"],
        ["/dbt/%2e%2E/x", "reject 400"],
        ["/dbt/a%2fb", "reject 400"],
        ["/dbt/a%5Cb", "reject 400"],
        ["/dbt/a%00b", "reject 400"],
        ["/dbt/%E0%A4%A", "reject 400"],
        ["/dbt//x", "reject 400"],
        ["/dbt/a#b", "reject 400"],
        ["http://h/dbt/", "reject 400"],
        ["*", "reject 400"],
        ["/dbt/.git/config", "reject 404"],
        ["/-dbt/", "reject 404"],
        ["/dbt/" + "x".repeat(256), "reject 414"],
        ["/dbt/" + "%C3%A9".repeat(128), "reject 414"],
        ["/" + "a/".repeat(33), "reject 414"],
        ["/" + "a".repeat(2048), "reject 414"],
    ];
    for (const [target, expected] of cases) {
        it(`${target.slice(0, 40)} → ${expected}`, () => {
            const t = parseTarget(target);
            const got =
                t.kind === "site"
                    ? `site ${t.site} [${t.segments.join(",")}] ${t.directory ? "dir" : "file"}`
                    : t.kind === "reject"
                      ? `reject ${t.status}`
                      : t.kind;
            assert.equal(got, expected);
        });
    }

    it("re-encodes paths for links and redirects", () => {
        assert.equal(encodePath("model", ["space name.txt"], false), "/model/space%20name.txt");
        assert.equal(encodePath("data-docs", ["a?b#c"], true), "/data-docs/a%3Fb%23c/");
    });
});

describe("content negotiation and pages", () => {
    it("maps extensions, trusts only well-formed stored types", () => {
        assert.equal(contentTypeFor("a/b.HTML"), "text/html; charset=utf-8");
        assert.equal(contentTypeFor("a/noext", "text/plain"), "text/plain");
        assert.equal(
            contentTypeFor("a/noext", "text/html\r\nX-Evil: 1"),
            "application/octet-stream",
        );
        assert.equal(contentTypeFor("a/.hidden"), "application/octet-stream");
    });

    it("parses Accept-Encoding q-values", () => {
        assert.equal(acceptsGzip(undefined), false);
        assert.equal(acceptsGzip("gzip, deflate, br"), true);
        assert.equal(acceptsGzip("br;q=1.0, gzip;q=0"), false);
        assert.equal(acceptsGzip("*"), true);
        assert.equal(acceptsGzip("*;q=0"), false);
        assert.equal(acceptsGzip("identity"), false);
    });

    it("escapes every value it puts in a page", () => {
        assert.equal(
            escapeHtml(`<a href="x">'&'</a>`),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;",
        );
        const html = renderIndex([
            {
                name: "x<script>",
                title: "<script>alert(1)</script>",
                description: "",
                objects: 1,
                bytes: 1,
                updated: new Date(0),
                hasIndex: true,
                entries: [],
            },
        ]);
        assert.doesNotMatch(html, /<script>/);
    });
});

describe("body cache", () => {
    it("keeps one version per key, evicts least recently used, skips oversized bodies", () => {
        const cache = new BodyCache(4000); // entries up to 1000 bytes
        const body = (n: number) => Buffer.alloc(n, 1);
        cache.set("a", "v1", body(900));
        cache.set("a", "v2", body(900));
        assert.equal(cache.get("a", "v1"), undefined, "old version dropped");
        assert.equal(cache.size, 900);
        cache.set("b", "v1", body(900));
        cache.set("c", "v1", body(900));
        assert.ok(cache.get("a", "v2"), "a is now most recent");
        cache.set("d", "v1", body(900));
        cache.set("e", "v1", body(900));
        assert.equal(cache.get("b", "v1"), undefined, "least recently used evicted");
        assert.ok(cache.get("a", "v2"));
        assert.ok(cache.size <= 4000);
        cache.set("big", "v1", body(1001));
        assert.equal(cache.get("big", "v1"), undefined);
        assert.equal(cache.fits(1000), true);
        assert.equal(cache.fits(1001), false);
        const off = new BodyCache(0);
        off.set("a", "v1", body(10));
        assert.equal(off.get("a", "v1"), undefined);
        assert.equal(off.fits(1), false);
    });

    it("holds the raw and gzip variants of a version side by side and drops both for a new one", () => {
        const cache = new BodyCache(4000);
        cache.set("p", "v1", Buffer.from("raw"), "raw");
        cache.set("p", "v1", Buffer.from("gz"), "gzip");
        assert.equal(cache.get("p", "v1", "raw")?.toString(), "raw");
        assert.equal(cache.get("p", "v1", "gzip")?.toString(), "gz");
        cache.set("p", "v1", Buffer.from("raw2"), "raw");
        assert.equal(cache.size, 6, "replacing an entry does not count it twice");
        cache.set("p", "v2", Buffer.from("new"), "raw");
        assert.equal(cache.get("p", "v1", "raw"), undefined);
        assert.equal(cache.get("p", "v1", "gzip"), undefined);
        assert.equal(cache.get("p", "v2", "gzip"), undefined, "variants are not interchangeable");
        assert.equal(cache.size, 3);
    });
});

describe("batched log writer", () => {
    it("writes lines collected together in one write, in order, and flushes early when full", () => {
        const chunks: string[] = [];
        const turns: (() => void)[] = [];
        const writer = batchedWriter((c) => chunks.push(c.toString("utf8")) > 0, {
            maxBytes: 10,
            schedule: (fn) => turns.push(fn),
        });
        writer.write("a\n");
        writer.write("b\n");
        assert.deepEqual(chunks, [], "nothing written until the scheduled flush");
        assert.equal(turns.length, 1, "one flush scheduled for both lines");
        turns[0]!();
        assert.deepEqual(chunks, ["a\nb\n"]);
        writer.write("0123456789\n");
        assert.deepEqual(chunks, ["a\nb\n", "0123456789\n"], "over maxBytes: written at once");
        writer.write("c\n");
        writer.flush();
        assert.deepEqual(chunks.at(-1), "c\n");
        turns.at(-1)!();
        assert.equal(chunks.length, 3, "a flush with nothing pending writes nothing");
    });

    it("keeps non-ASCII lines whole, and never overwrites bytes a sink still holds", () => {
        const held: Buffer[] = [];
        let release = false;
        const turns: (() => void)[] = [];
        // A sink that keeps the chunk it was given (a stream with writes queued) unless told.
        const writer = batchedWriter(
            (c) => {
                held.push(c);
                return release;
            },
            { maxBytes: 16, schedule: (fn) => turns.push(fn) },
        );
        writer.write("é€\n"); // 2 + 3 + 1 bytes
        writer.flush();
        writer.write("xyz\n");
        writer.flush();
        assert.deepEqual(
            held.map((c) => c.toString("utf8")),
            ["é€\n", "xyz\n"],
            "the first chunk is intact after the second was written",
        );
        release = true;
        writer.write("12345\n"); // room for 18 bytes > 16: flushed first, then alone
        writer.write("😀\n"); // a surrogate pair: 4 bytes
        writer.flush();
        assert.deepEqual(
            held.slice(2).map((c) => c.toString("utf8")),
            ["12345\n", "😀\n"],
        );
        const long = "ü".repeat(40) + "\n";
        writer.write(long);
        assert.equal(held.at(-1)!.toString("utf8"), long, "a line longer than the buffer, alone");
    });
});

describe("stdout logger of a process", () => {
    it("writes a line within the flush delay, writes what is pending at exit, and lets the process end", function () {
        this.timeout(60_000);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "docs-log-"));
        const probe = path.join(dir, "probe.js");
        const log = path.resolve(__dirname, "..", "src", "log.ts");
        // Line 1 waits for the timer, line 2 is pending when the process ends on its own (the
        // timer must not keep it alive), line 3 after exit was asked for.
        fs.writeFileSync(
            probe,
            `const { createLogger, LOG_FLUSH_MS } = require(${JSON.stringify(log)});
            const fs = require("node:fs");
            const logger = createLogger();
            logger.info("first", { n: 1 });
            setTimeout(() => {
                // stdout is a file here: its size says whether line 1 was written by now.
                fs.writeSync(2, fs.fstatSync(1).size > 0 ? "flushed" : "pending");
                logger.info("second", { n: 2 });
                if (process.argv[2] === "exit") { logger.info("third", { n: 3 }); process.exit(0); }
            }, LOG_FLUSH_MS * 5);`,
        );
        try {
            for (const mode of ["ends", "exit"]) {
                const t0 = Date.now();
                const out = path.join(dir, `${mode}.log`);
                const fd = fs.openSync(out, "w");
                const r = spawnSync(process.execPath, ["-r", "tsx/cjs", probe, mode], {
                    encoding: "utf8",
                    cwd: path.resolve(__dirname, "..", ".."),
                    stdio: ["ignore", fd, "pipe"],
                    timeout: 30_000,
                });
                fs.closeSync(fd);
                assert.equal(r.status, 0, r.stderr);
                assert.equal(r.stderr, "flushed", "line 1 written within 5 flush delays");
                const events = fs
                    .readFileSync(out, "utf8")
                    .trim()
                    .split("\n")
                    .map((l) => (JSON.parse(l) as { event: string }).event);
                assert.deepEqual(
                    events,
                    mode === "exit" ? ["first", "second", "third"] : ["first", "second"],
                );
                assert.ok(
                    Date.now() - t0 < 20_000,
                    "the flush timer does not keep the process alive",
                );
            }
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("logger", () => {
    const capture = (level?: "debug" | "info" | "warn" | "error") => {
        const lines: string[] = [];
        const log = createLogger({ name: "docs-app", write: (l) => lines.push(l), level });
        return {
            log,
            lines,
            parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
        };
    };

    it("writes one JSON object per line: base keys first, then the fields as given", () => {
        const { log, lines, parsed } = capture();
        const before = Date.now();
        log.info("request", { path: '/a"b\\c\n', status: 200, nested: { x: [1, null] } });
        log.warn("bare");
        log.error("empty", {});
        log.info("undefined-only", { skipped: undefined });
        assert.ok(lines.every((l) => l.endsWith("\n") && !l.slice(0, -1).includes("\n")));
        const [a, b, c, d] = parsed();
        assert.deepEqual(Object.keys(a!), [
            "ts",
            "level",
            "severity",
            "logger",
            "event",
            "path",
            "status",
            "nested",
        ]);
        assert.deepEqual(a, {
            ts: a!.ts,
            level: "info",
            severity: "INFO",
            logger: "docs-app",
            event: "request",
            path: '/a"b\\c\n',
            status: 200,
            nested: { x: [1, null] },
        });
        const ts = Date.parse(a.ts as string);
        assert.match(a.ts as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        assert.ok(ts >= before && ts <= Date.now(), "the timestamp is now");
        assert.deepEqual(b, {
            ts: b!.ts,
            level: "warn",
            severity: "WARNING",
            logger: "docs-app",
            event: "bare",
        });
        assert.equal(c!.event, "empty");
        assert.equal(Object.keys(c!).length, 5);
        assert.equal(Object.keys(d!).length, 5, "undefined fields are left out");
    });

    it("lets a field replace a base key (one key, no duplicate) and survives unserialisable fields", () => {
        const { log, lines, parsed } = capture();
        log.info("first", { event: "second", logger: "custom" });
        const cyclic: Record<string, unknown> = {};
        cyclic.self = cyclic;
        log.error("broken", { cyclic });
        log.error("bigint", { n: 1n });
        const [a, b, c] = parsed();
        assert.equal(lines[0]!.match(/"event":/g)?.length, 1);
        assert.equal(a!.event, "second");
        assert.equal(a!.logger, "custom");
        assert.equal(a!.severity, "INFO");
        assert.equal(b!.event, "broken");
        assert.equal(b!.fields, "[unserialisable]");
        assert.equal(c!.fields, "[unserialisable]");
    });

    it("drops lines under its level", () => {
        const { log, lines } = capture("warn");
        log.info("hidden");
        log.debug("hidden");
        log.warn("shown");
        assert.equal(lines.length, 1);
        assert.equal(log.enabled("info"), false);
        assert.equal(log.enabled("error"), true);
    });

    it("writes members given as JSON text after the same base keys, at its level", () => {
        const { log, lines, parsed } = capture("info");
        log.members("debug", "hidden", '"a":1');
        log.members("warn", "request", `"path":${JSON.stringify('/a"b')},"status":200`);
        assert.equal(lines.length, 1);
        const [a] = parsed();
        assert.deepEqual(a, {
            ts: a!.ts,
            level: "warn",
            severity: "WARNING",
            logger: "docs-app",
            event: "request",
            path: '/a"b',
            status: 200,
        });
    });
});

describe("request log line (text reused between requests that share it)", () => {
    type Call = Parameters<RequestLog["write"]>;
    /** What the line must hold, built from the call without the reuse. */
    const expected = (c: Call): Record<string, unknown> => {
        const [id, method, url, route, site, status, seconds, aborted, fwd, addr, ua] = c;
        const remote = fwd !== undefined ? fwd.split(",")[0]!.trim() : addr;
        return {
            request_id: id,
            method: method.slice(0, 16),
            path: url.slice(0, 512),
            route,
            ...(site !== undefined ? { site } : {}),
            status,
            duration_ms: Math.round(seconds * 1e5) / 100,
            ...(aborted ? { aborted: true } : {}),
            ...(remote !== undefined ? { remote } : {}),
            user_agent: (ua ?? "").slice(0, 200),
        };
    };

    const levelOf = (status: number) =>
        status >= 500
            ? { level: "warn", severity: "WARNING" }
            : { level: "info", severity: "INFO" };

    it("gives each request its own values, whichever of them changed since the last line", () => {
        const base: Call = [
            "id-1",
            "GET",
            "/",
            "index",
            undefined,
            200,
            0.0001234,
            false,
            undefined,
            "127.0.0.1",
            "wrk",
        ];
        const calls: Call[] = [base, [...base], [...base]];
        calls[1]![0] = "id-2";
        calls[2]![6] = 0.25;
        // Then one input at a time differs from the line before it, and changes back.
        const variants: [number, Call[number]][] = [
            [1, "HEAD"],
            [2, '/?q="quoted"\\\n\u2028ü'],
            [3, "site"],
            [4, "model"],
            [4, undefined],
            [5, 404],
            [7, true],
            [9, undefined],
            [9, "::1"],
            [8, "203.0.113.9, 10.0.0.1"],
            [8, " 198.51.100.2 "],
            [10, 'agent "x"\u0000'],
            [10, undefined],
            [2, "/" + "a".repeat(600)],
            [1, "G".repeat(40)],
        ];
        let previous = base;
        for (const [index, value] of variants) {
            const call = [...previous] as Call;
            (call as unknown[])[index] = value;
            call[0] = `id-${calls.length + 1}`;
            calls.push(call, [...previous] as Call);
            previous = call;
        }
        const written: string[] = [];
        const requests = new RequestLog(
            createLogger({ level: "debug", write: (l) => written.push(l) }),
        );
        for (const call of calls) {
            written.length = 0;
            requests.write(...call);
            assert.equal(written.length, 1);
            const line = JSON.parse(written[0]!) as Record<string, unknown>;
            const { ts, level, severity, logger, event, ...members } = line;
            assert.equal(typeof ts, "string");
            assert.deepEqual(
                { level, severity, logger, event },
                { ...levelOf(call[5]), logger: "docs-app", event: "request" },
            );
            assert.deepEqual(members, expected(call), written[0]);
            // The key order is fixed (log readers and tests rely on it).
            assert.deepEqual(Object.keys(members), Object.keys(expected(call)));
        }
    });

    it("logs a 5xx as a warning, health checks and scrapes at debug, each only at its level", () => {
        const at = (min: LogLevel, route: RouteLabel, status: number): string[] => {
            const written: string[] = [];
            const requests = new RequestLog(
                createLogger({ level: min, write: (l) => written.push(l) }),
            );
            requests.write(
                "id",
                "GET",
                "/",
                route,
                undefined,
                status,
                0.001,
                false,
                undefined,
                "::1",
                "",
            );
            return written.map((l) => (JSON.parse(l) as { level: string }).level);
        };
        assert.deepEqual(at("debug", "healthz", 200), ["debug"]);
        assert.deepEqual(at("debug", "metrics", 200), ["debug"]);
        assert.deepEqual(at("info", "healthz", 200), []);
        assert.deepEqual(at("info", "index", 200), ["info"]);
        assert.deepEqual(at("info", "site", 404), ["info"]);
        assert.deepEqual(at("warn", "site", 200), []);
        assert.deepEqual(at("warn", "site", 500), ["warn"]);
        assert.deepEqual(at("warn", "healthz", 503), ["warn"]);
        assert.deepEqual(at("error", "site", 503), []);
    });
});

describe("request metrics (counted in plain numbers, exposed by prom-client's registry)", () => {
    it("exposes counts and a cumulative duration histogram by route, across scrapes", async () => {
        const m = new Metrics();
        m.recordRequest("site", "GET", 200, 0.003);
        m.recordRequest("site", "GET", 200, 0.02);
        m.recordRequest("index", "HEAD", 304, 20);
        m.recordRequest("rejected", "PROPFIND", 400, 0.0005);
        const first = await m.registry.metrics();
        const has = (text: string, line: string): void =>
            assert.ok(text.split("\n").includes(line), `missing ${line} in\n${text}`);
        has(first, "# TYPE docs_http_request_duration_seconds histogram");
        has(first, 'docs_http_requests_total{route="site",method="GET",status="200"} 2');
        has(first, 'docs_http_requests_total{route="index",method="HEAD",status="304"} 1');
        has(first, 'docs_http_requests_total{route="rejected",method="other",status="400"} 1');
        has(first, 'docs_http_request_duration_seconds_bucket{le="0.001",route="site"} 0');
        has(first, 'docs_http_request_duration_seconds_bucket{le="0.005",route="site"} 1');
        has(first, 'docs_http_request_duration_seconds_bucket{le="0.01",route="site"} 1');
        has(first, 'docs_http_request_duration_seconds_bucket{le="0.025",route="site"} 2');
        has(first, 'docs_http_request_duration_seconds_bucket{le="10",route="site"} 2');
        has(first, 'docs_http_request_duration_seconds_bucket{le="+Inf",route="site"} 2');
        has(first, `docs_http_request_duration_seconds_sum{route="site"} ${0.003 + 0.02}`);
        has(first, 'docs_http_request_duration_seconds_count{route="site"} 2');
        has(first, 'docs_http_request_duration_seconds_bucket{le="10",route="index"} 0');
        has(first, 'docs_http_request_duration_seconds_bucket{le="+Inf",route="index"} 1');
        has(first, 'docs_http_request_duration_seconds_bucket{le="0.001",route="rejected"} 1');
        assert.doesNotMatch(first, /route="healthz"/, "no series for a route never answered");
        // Totals keep growing across scrapes (the pending counts are added, not set).
        m.recordRequest("site", "GET", 200, 0.5);
        const second = await m.registry.metrics();
        has(second, 'docs_http_requests_total{route="site",method="GET",status="200"} 3');
        has(second, 'docs_http_requests_total{route="index",method="HEAD",status="304"} 1');
        has(second, 'docs_http_request_duration_seconds_bucket{le="0.5",route="site"} 3');
        has(second, 'docs_http_request_duration_seconds_count{route="site"} 3');
        m.inFlightCount = 4;
        has(await m.registry.metrics(), "docs_http_requests_in_flight 4");
    });
});

describe("stat cache", () => {
    const info = (key: string, etag = "e1"): ObjectInfo => ({
        key,
        size: 1,
        updated: new Date(0),
        etag,
    });

    it("reuses a stat until its TTL ends, then asks again", () => {
        let now = 1000;
        const stats = new StatCache(500, 10, () => now);
        stats.set("dbt/index.html", info("dbt/index.html"));
        now += 499;
        assert.equal(stats.get("dbt/index.html")?.etag, "e1");
        now += 1;
        assert.equal(stats.get("dbt/index.html"), undefined, "expired at the TTL");
        assert.equal(stats.size, 0, "an expired entry is dropped when seen");
    });

    it("is bounded by entry count, dropping the oldest, and forgets on demand", () => {
        const stats = new StatCache(60_000, 3, () => 0);
        for (const k of ["a", "b", "c", "d"]) stats.set(k, info(k));
        assert.equal(stats.size, 3);
        assert.equal(stats.get("a"), undefined, "the oldest went");
        stats.set("b", info("b", "e2")); // re-stored: now the newest
        stats.set("e", info("e"));
        assert.equal(stats.get("c"), undefined);
        assert.equal(stats.get("b")?.etag, "e2");
        stats.forget("b");
        assert.equal(stats.get("b"), undefined);
        const off = new StatCache(0);
        off.set("a", info("a"));
        assert.equal(off.get("a"), undefined, "TTL 0 keeps nothing");
        assert.equal(off.enabled, false);
    });
});

describe("catalog fast path (freshSites)", () => {
    it("answers synchronously only while the list and every summary are loaded and fresh", async () => {
        let now = 0;
        let lists = 0;
        const storage: Storage = {
            backend: "file",
            uri: "file:///x",
            listSites: () => {
                lists++;
                return Promise.resolve(["dbt", "model"]);
            },
            // eslint-disable-next-line @typescript-eslint/require-await
            listObjects: async function* (site: string) {
                yield { key: `${site}/index.html`, size: 10, updated: new Date(0), etag: "e" };
            },
            stat: () => Promise.resolve(undefined),
            read: () => Promise.reject(new Error("not used")),
        };
        const catalog = new Catalog(storage, { ttlSeconds: 30, now: () => now });
        assert.equal(catalog.freshSites(), undefined, "nothing loaded yet");
        const loaded = await catalog.sites();
        const fresh = catalog.freshSites();
        assert.deepEqual(
            fresh?.map((s) => s.name),
            ["dbt", "model"],
        );
        assert.ok(
            fresh?.every((s, i) => s === loaded[i]),
            "the same summary objects",
        );
        assert.equal(lists, 1, "no storage call for the fast path");
        now += 30_000;
        assert.equal(catalog.freshSites(), undefined, "stale after the TTL");
        await catalog.sites();
        assert.equal(lists, 2);
    });
});

describe("storage backends are loaded on demand", () => {
    it("loads the GCS client only for a gs:// root (memory of file:// runs)", function () {
        this.timeout(60_000);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "docs-lazy-"));
        const probe = path.join(dir, "probe.js");
        const main = path.resolve(__dirname, "..", "src", "main.ts");
        fs.writeFileSync(
            probe,
            `const { openStorage } = require(${JSON.stringify(main)});
            const location = process.argv[2] === "gcs"
                ? { kind: "gcs", bucket: "acme-docs", prefix: "", uri: "gs://acme-docs" }
                : { kind: "file", root: ${JSON.stringify(dir)}, uri: "file://x" };
            openStorage(location).then((s) => {
                const gcs = Object.keys(require.cache).some((k) => k.includes("@google-cloud/storage"));
                console.log(JSON.stringify({ backend: s.backend, gcs }));
            });`,
        );
        try {
            const run = (kind: string) => {
                const r = spawnSync(process.execPath, ["-r", "tsx/cjs", probe, kind], {
                    encoding: "utf8",
                    cwd: path.resolve(__dirname, "..", ".."),
                });
                assert.equal(r.status, 0, r.stderr);
                return JSON.parse(r.stdout.trim().split("\n").pop()!) as unknown;
            };
            assert.deepEqual(run("file"), { backend: "file", gcs: false });
            assert.deepEqual(run("gcs"), { backend: "gcs", gcs: true });
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
