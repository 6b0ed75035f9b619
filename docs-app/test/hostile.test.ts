/**
 * Hostile input against the real server and the file backend: a deterministic fuzz of generated
 * paths (traversal in every encoding, separators, control bytes, over-long and malformed
 * targets) plus unknown methods. Invariants: every request gets a response below 500, nothing
 * outside the docs root is ever read or returned, every key that reaches storage is safe, and a
 * redirect never leaves the origin.
 */
import * as assert from "node:assert/strict";
import * as path from "node:path";

import { GENERATED_CSP } from "../src/server";
import type { ObjectInfo, Storage } from "../src/storage";
import { FileStorage } from "../src/storage-file";
import type { DocsTree, Reply, RunningServer } from "./fixtures";
import { SENTINEL, makeDocsTree, rawRequest, startServer } from "./fixtures";

/** mulberry32: a small seeded PRNG so a failure reproduces. */
function prng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

const PREFIXES = [
    "/",
    "/dbt/",
    "/model/",
    "/data-docs/yellow_tripdata_2024-01/",
    "/outside-site/",
    "//",
    "/\\",
    "http://127.0.0.1/",
    "",
    "*",
    "/%2f",
    "/dbt/static/",
];
const TOKENS = [
    "..",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "%2e.",
    "%252e%252e",
    "%25252e%25252e",
    "..%2f",
    "..%5c",
    "..%00",
    "%c0%ae%c0%ae",
    "%c0%af",
    "%e0%80%ae",
    "%uff0e%uff0e",
    "%ef%bc%8e%ef%bc%8e",
    "...",
    "....",
    "..;",
    ".",
    "%2e",
    "%00",
    "%0a",
    "%0d%0a",
    "%ff",
    "%",
    "%zz",
    "%e2%80%ae",
    "etc",
    "passwd",
    "secret.txt",
    "outside",
    "docs-evil",
    "leak.txt",
    "leakdir",
    ".env",
    "%2eenv",
    "index.html",
    "index.html%00.png",
    "dbt",
    "model",
    "~",
    "~root",
    "C:",
    "file:",
    "%5c",
    "%2f",
    "%2F",
    ";",
    "?",
    "#",
    "%23",
    "%3f",
    "%20",
    "+",
    "é",
    "\u0000",
    " ",
    "\t",
    "a".repeat(300),
    "%41".repeat(90),
];
const SEPARATORS = ["/", "/", "/", "\\", "%2f", "%5c", "//", "/./"];

function generate(count: number, seed: number): string[] {
    const rand = prng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const out = new Set<string>();
    while (out.size < count) {
        const n = 1 + Math.floor(rand() * 6);
        let target = pick(PREFIXES);
        for (let i = 0; i < n; i++) target += (i > 0 ? pick(SEPARATORS) : "") + pick(TOKENS);
        if (rand() < 0.15) target += "/";
        if (rand() < 0.1) target += "?" + pick(TOKENS);
        out.add(target);
    }
    return [...out];
}

const CLASSICS = [
    "/../../../../etc/passwd",
    "/dbt/../../secret.txt",
    "/dbt/%2e%2e/%2e%2e/secret.txt",
    "/dbt/..%2f..%2fsecret.txt",
    "/dbt/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/dbt/..\\..\\secret.txt",
    "/dbt/%5c..%5c..%5csecret.txt",
    "/dbt/%252e%252e/%252e%252e/secret.txt",
    "/dbt/leak.txt",
    "/dbt/leakdir/secret.txt",
    "/outside-site/secret.txt",
    "/../docs-evil/dbt/index.html",
    "/dbt/.env",
    "/dbt/%2eenv",
    "/etc/passwd",
    "//etc/passwd",
    "/%2fetc%2fpasswd",
    "/dbt/%00",
    "/dbt/index.html%00.png",
    "/dbt/index.html\u0000",
    "/dbt/%c0%ae%c0%ae/%c0%ae%c0%ae/secret.txt",
    "/dbt/" + "a/".repeat(40) + "x",
    "/dbt/" + "x".repeat(3000),
    "/dbt/" + "y".repeat(30000),
    "//evil.example.com/",
    "/\\evil.example.com/",
    "/%2f%2fevil.example.com",
    "/dbt/%0d%0aSet-Cookie:%20x=1",
    "/dbt/\r\nSet-Cookie: x=1",
    "http://evil.example.com/dbt/",
    "*",
];

describe("docs-app hostile input (file backend, loopback)", () => {
    let tree: DocsTree;
    let srv: RunningServer;
    const keysSeen: string[] = [];

    before(async () => {
        tree = makeDocsTree();
        const inner = new FileStorage(tree.root);
        // Record every key that reaches storage, to check none could leave the root.
        const recording: Storage = {
            backend: inner.backend,
            uri: inner.uri,
            listSites: () => inner.listSites(),
            listObjects: (site: string) => {
                keysSeen.push(site);
                return inner.listObjects(site);
            },
            stat: (key: string) => {
                keysSeen.push(key);
                return inner.stat(key);
            },
            read: (info: ObjectInfo) => {
                keysSeen.push(info.key);
                return inner.read(info);
            },
        };
        srv = await startServer(recording, { logLevel: "warn" });
    });
    after(async () => {
        await srv.close();
        tree.cleanup();
    });

    function checkInvariants(target: string, r: Reply): void {
        const label = JSON.stringify(target.slice(0, 120));
        assert.ok(r.status >= 200 && r.status < 500, `${label} → ${r.status}`);
        assert.ok(!r.body.includes(SENTINEL), `${label} leaked a file from outside the root`);
        if (r.status === 200) {
            const isFile = [...tree.files.values()].some((f) => f.equals(r.body));
            const generated = r.headers["content-security-policy"] === GENERATED_CSP;
            assert.ok(isFile || generated, `${label} returned bytes that are not a published file`);
        }
        if (r.status >= 300 && r.status < 400) {
            const location = String(r.headers.location);
            assert.match(location, /^\/[^/\\]/, `${label} redirects off-origin to ${location}`);
        }
        assert.equal(r.headers["set-cookie"], undefined, `${label} injected a header`);
    }

    it("survives 600 generated hostile paths and the classic payloads", async function () {
        this.timeout(120_000);
        const targets = [...CLASSICS, ...generate(600, 20240305)];
        assert.ok(targets.length >= 600);
        const statuses = new Map<number, number>();
        for (let i = 0; i < targets.length; i += 25) {
            const batch = targets.slice(i, i + 25);
            const replies = await Promise.all(batch.map((t) => rawRequest(srv.port, t)));
            batch.forEach((t, j) => {
                const r = replies[j]!;
                checkInvariants(t, r);
                statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
            });
        }
        // The fuzz must exercise the server's own rejections, not only the parser's.
        for (const status of [400, 404, 414]) {
            assert.ok(
                (statuses.get(status) ?? 0) > 0,
                `no ${status} in ${JSON.stringify([...statuses])}`,
            );
        }
        const root = path.resolve(tree.root);
        for (const key of keysSeen) {
            const resolved = path.resolve(root, key);
            assert.ok(
                resolved.startsWith(root + path.sep),
                `storage was asked for ${JSON.stringify(key)}`,
            );
            assert.ok(!key.split("/").some((s) => s === ".." || s === "." || s === ""), key);
        }
        const alive = await rawRequest(srv.port, "/healthz");
        assert.equal(alive.status, 200);
    });

    it("rejects the classic payloads with the expected status", async () => {
        const expected: [string, number][] = [
            ["/dbt/%2e%2e/%2e%2e/secret.txt", 400],
            ["/dbt/..%2f..%2fsecret.txt", 400],
            ["/dbt/%5c..%5c..%5csecret.txt", 400],
            ["/dbt/%00", 400],
            ["/dbt/%c0%ae%c0%ae/x", 400],
            ["//etc/passwd", 400],
            ["http://evil.example.com/dbt/", 400],
            ["/dbt/leak.txt", 404],
            ["/dbt/leakdir/secret.txt", 404],
            ["/outside-site/secret.txt", 404],
            ["/dbt/.env", 404],
            ["/dbt/" + "x".repeat(3000), 414],
            ["/dbt/" + "a/".repeat(40) + "x", 414],
            ["/dbt/" + "y".repeat(30000), 431],
        ];
        for (const [target, status] of expected) {
            const r = await rawRequest(srv.port, target);
            assert.equal(r.status, status, target.slice(0, 80));
        }
        // What Node's parser refused (the 431) is counted too, as a rejected request.
        const metrics = (await rawRequest(srv.port, "/metrics")).body.toString();
        assert.match(
            metrics,
            /^docs_http_requests_total\{route="rejected",method="other",status="431"\} [1-9]/m,
        );
    });

    it("answers unknown and unsupported methods with 4xx", async () => {
        for (const method of [
            "POST",
            "PUT",
            "DELETE",
            "PATCH",
            "PROPFIND",
            "MKCOL",
            "M-SEARCH",
            "PURGE",
        ]) {
            const r = await rawRequest(srv.port, "/dbt/index.html", method);
            assert.equal(r.status, 405, method);
        }
        for (const method of ["FOO", "get", "G\u0000T", "GET\tX"]) {
            const r = await rawRequest(srv.port, "/dbt/index.html", method);
            assert.ok(r.status >= 400 && r.status < 500, `${method} → ${r.status}`);
        }
    });
});

describe("docs-app request log lines under hostile input", () => {
    let tree: DocsTree;
    let srv: RunningServer;
    const REQUEST_KEYS = new Set([
        "ts",
        "level",
        "severity",
        "logger",
        "event",
        "request_id",
        "method",
        "path",
        "route",
        "site",
        "status",
        "duration_ms",
        "aborted",
        "remote",
        "user_agent",
    ]);

    before(async () => {
        tree = makeDocsTree();
        srv = await startServer(new FileStorage(tree.root), { logLevel: "info" });
    });
    after(async () => {
        await srv.close();
        tree.cleanup();
    });

    it("writes one valid JSON line per request, client values as data, never as keys", async function () {
        this.timeout(120_000);
        // Header values a client controls: quotes, backslashes, JSON fragments, tabs, latin1.
        const agents = [
            'probe"}, "status": 200, "injected": "yes',
            "back\\slash\\",
            "tab\there",
            "\u00ff\u00fe latin1 \u00e9",
            '{"level":"error"}',
            "",
        ];
        const forwarded = ['"10.0.0.1", 10.0.0.2', '1.2.3.4\\", "remote": "x'];
        const sent: { target: string; agent: string; forwarded: string }[] = [];
        const targets = generate(300, 7);
        for (let i = 0; i < targets.length; i += 25) {
            const batch = targets.slice(i, i + 25).map((target, j) => ({
                target,
                agent: agents[(i + j) % agents.length]!,
                forwarded: forwarded[(i + j) % forwarded.length]!,
            }));
            sent.push(...batch);
            await Promise.all(
                batch.map((b) =>
                    rawRequest(
                        srv.port,
                        b.target,
                        "GET",
                        `User-Agent: ${b.agent}\r\nX-Forwarded-For: ${b.forwarded}\r\n`,
                    ),
                ),
            );
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.deepEqual(srv.unparsable, []);
        const lines = srv.logs.filter((l) => l.event === "request");
        // The parser rejects some targets before the server sees them (no request, no line).
        assert.ok(lines.length >= sent.length / 2, `${lines.length} request lines`);
        const ids = new Set<unknown>();
        for (const line of lines) {
            for (const key of Object.keys(line)) {
                assert.ok(
                    REQUEST_KEYS.has(key),
                    `unexpected key ${key} in ${JSON.stringify(line)}`,
                );
            }
            assert.equal(line.level === "info" || line.level === "warn", true);
            assert.equal(typeof line.status, "number");
            assert.ok(agents.includes(String(line.user_agent)), String(line.user_agent));
            // The first X-Forwarded-For entry, as sent (it is logged, not trusted).
            const firsts = forwarded.map((f) => f.split(",")[0]!.trim());
            assert.ok(firsts.includes(String(line.remote)), String(line.remote));
            ids.add(line.request_id);
        }
        assert.equal(ids.size, lines.length, "request ids are unique");
        // A second server (another process, another pod) draws its own ids.
        const other = await startServer(new FileStorage(tree.root), { logLevel: "info" });
        try {
            await rawRequest(other.port, "/");
            await new Promise((resolve) => setTimeout(resolve, 50));
            const otherIds = other.logs
                .filter((l) => l.event === "request")
                .map((l) => l.request_id);
            assert.equal(otherIds.length, 1);
            assert.ok(!ids.has(otherIds[0]), "ids differ between servers");
        } finally {
            await other.close();
        }
    });
});
