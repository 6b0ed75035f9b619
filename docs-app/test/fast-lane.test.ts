/**
 * The fast lane (src/fast-lane.ts): which requests it takes, and that every exchange, taken or
 * handed over, gives the client the bytes `node:http` alone gives (one server with the lane,
 * one without, same tree, same raw requests; only Date and request ids differ).
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";

import { parseSimpleRequest } from "../src/fast-lane";
import { FileStorage } from "../src/storage-file";
import type { DocsTree, RunningServer } from "./fixtures";
import { keepAliveGet, makeDocsTree, request, startServer } from "./fixtures";

const req = (text: string): Buffer => Buffer.from(text, "latin1");

describe("docs-app fast lane: what it takes", () => {
    it("takes one whole plain GET or HEAD and reads the headers its answer depends on", () => {
        const r = parseSimpleRequest(
            req(
                "GET /?a=1&b=%20 HTTP/1.1\r\nHost: docs.example\r\nUser-Agent: wrk\r\n" +
                    "accept-encoding: gzip, br\r\nX-Forwarded-Proto: https\r\n" +
                    "X-Forwarded-For: 203.0.113.9, 10.0.0.1\r\nConnection: Keep-Alive\r\n\r\n",
            ),
        );
        assert.deepEqual(r, {
            method: "GET",
            url: "/?a=1&b=%20",
            acceptEncoding: "gzip, br",
            forwardedProto: "https",
            forwardedFor: "203.0.113.9, 10.0.0.1",
            userAgent: "wrk",
        });
        assert.equal(parseSimpleRequest(req("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"))?.method, "HEAD");
        // Names of Object's own members are plain headers, read or not.
        assert.equal(
            parseSimpleRequest(
                req("GET / HTTP/1.1\r\nconstructor: a\r\n__proto__: b\r\nHost: x\r\n\r\n"),
            )?.url,
            "/",
        );
    });

    const refused: [string, string][] = [
        ["a partial request", "GET / HTTP/1.1\r\nHost: x\r\n"],
        [
            "two pipelined requests",
            "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        ],
        ["a body after the head", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"],
        ["Content-Length", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"],
        ["Transfer-Encoding", "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"],
        ["Expect", "GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n"],
        ["Upgrade", "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n"],
        ["If-None-Match", 'GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: "a"\r\n\r\n'],
        ["Range", "GET / HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n"],
        ["Connection: close", "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"],
        [
            "Connection: upgrade",
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\n\r\n",
        ],
        ["no Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"],
        ["two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"],
        ["two User-Agents", "GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: a\r\nUser-Agent: b\r\n\r\n"],
        [
            "two X-Forwarded-For",
            "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n\r\n",
        ],
        ["HTTP/1.0", "GET / HTTP/1.0\r\nHost: x\r\n\r\n"],
        ["POST", "POST / HTTP/1.1\r\nHost: x\r\n\r\n"],
        ["a lower-case method", "get / HTTP/1.1\r\nHost: x\r\n\r\n"],
        ["absolute-form", "GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n"],
        ["asterisk-form", "GET * HTTP/1.1\r\nHost: x\r\n\r\n"],
        ["a quote in the target", 'GET /"x HTTP/1.1\r\nHost: x\r\n\r\n'],
        ["a non-ASCII target", "GET /\xe9 HTTP/1.1\r\nHost: x\r\n\r\n"],
        ["two spaces", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n"],
        ["bare LF line ends", "GET / HTTP/1.1\nHost: x\n\n\r\n\r\n"],
        ["a bare LF inside a header", "GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n"],
        ["a bare CR inside a header", "GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n"],
        ["obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n"],
        ["a space before the colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n"],
        ["an empty header name", "GET / HTTP/1.1\r\nHost: x\r\n: y\r\n\r\n"],
        ["a line without a colon", "GET / HTTP/1.1\r\nHost: x\r\nbogus\r\n\r\n"],
        ["a NUL in a value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n"],
        ["a non-ASCII value", "GET / HTTP/1.1\r\nHost: x\r\nX: caf\xe9\r\n\r\n"],
        ["a DEL in a value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\x7fb\r\n\r\n"],
        ["more than 8 KiB", `GET / HTTP/1.1\r\nHost: x\r\nX: ${"a".repeat(8200)}\r\n\r\n`],
    ];
    for (const [what, text] of refused) {
        it(`hands over ${what}`, () => assert.equal(parseSimpleRequest(req(text)), undefined));
    }
});

/** Everything a server sends on one connection: `parts` written one by one, each after the
 * server's answer to the one before went quiet; then the client half-closes and reads to the end. */
function exchange(port: number, parts: Buffer[]): Promise<string> {
    return new Promise((resolve, reject) => {
        const socket = net.connect(port, "127.0.0.1");
        const chunks: Buffer[] = [];
        let quiet: NodeJS.Timeout | undefined;
        let next = 0;
        const send = (): void => {
            if (next === parts.length) {
                socket.end();
                return;
            }
            socket.write(parts[next++]!);
            arm();
        };
        const arm = (): void => {
            clearTimeout(quiet);
            quiet = setTimeout(send, 150);
        };
        socket.setTimeout(10_000, () => socket.destroy(new Error("no end within 10 s")));
        socket.on("connect", send);
        socket.on("data", (c: Buffer) => {
            chunks.push(c);
            if (next <= parts.length) arm();
        });
        socket.on("error", (err: NodeJS.ErrnoException) => {
            // A server may reset after its answer to a bad request: what it sent still counts.
            if (err.code === "ECONNRESET") resolve(Buffer.concat(chunks).toString("latin1"));
            else reject(err);
        });
        socket.on("close", () => {
            clearTimeout(quiet);
            resolve(Buffer.concat(chunks).toString("latin1"));
        });
    });
}

/** The file backend of `root`, whose site listing takes 400 ms while `slow()` says so. */
function slowListing(root: string, slow: () => boolean): FileStorage {
    const files = new FileStorage(root);
    return Object.assign(Object.create(files) as FileStorage, {
        listSites: async () => {
            if (slow()) await new Promise((r) => setTimeout(r, 400));
            return files.listSites();
        },
    });
}

/** `docs_http_requests_total` of successful GETs of the index. */
async function indexGets(port: number): Promise<number> {
    const metrics = (await request(port, "/metrics")).body.toString();
    const m = /^docs_http_requests_total\{route="index",method="GET",status="200"\} (\d+)$/m.exec(
        metrics,
    );
    return m ? Number(m[1]) : 0;
}

/** The parts that differ between two correct servers: dates and request ids. */
function normalise(raw: string): string {
    return raw
        .replace(/^Date: .*$/gim, "Date: <date>")
        .replace(/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/g, "<id>");
}

describe("docs-app fast lane: the same exchanges as node:http alone", () => {
    let tree: DocsTree;
    let fast: RunningServer;
    let plain: RunningServer;

    before(async () => {
        tree = makeDocsTree();
        fast = await startServer(new FileStorage(tree.root));
        plain = await startServer(new FileStorage(tree.root), { fastLane: false });
        assert.ok(fast.docs.fastLane !== undefined);
        assert.equal(plain.docs.fastLane, undefined);
        // The catalog loaded on both, and each page variant prepared once by node:http.
        for (const srv of [fast, plain]) {
            for (const headers of [{}, { "accept-encoding": "gzip" }]) {
                assert.equal((await request(srv.port, "/", { headers })).status, 200);
            }
        }
    });
    after(async () => {
        await fast.close();
        await plain.close();
        tree.cleanup();
    });

    const H = "Host: docs.test\r\n";
    const cases: [string, string[], boolean][] = [
        // [what, requests written one after the other on one connection, any taken by the lane]
        ["a plain GET of the index", [`GET / HTTP/1.1\r\n${H}\r\n`], true],
        ["HEAD of the index", [`HEAD / HTTP/1.1\r\n${H}\r\n`], true],
        ["the gzip variant", [`GET / HTTP/1.1\r\n${H}Accept-Encoding: gzip\r\n\r\n`], true],
        [
            "HTTPS behind the load balancer, a query",
            [
                `GET /?x=1 HTTP/1.1\r\n${H}X-Forwarded-Proto: https\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n`,
            ],
            true,
        ],
        [
            "three requests on one connection: lane, handed over, then node:http",
            [
                `GET / HTTP/1.1\r\n${H}\r\n`,
                `GET /dbt/index.html HTTP/1.1\r\n${H}\r\n`,
                `GET / HTTP/1.1\r\n${H}\r\n`,
            ],
            true,
        ],
        ["a site object", [`GET /model/metrics.csv HTTP/1.1\r\n${H}\r\n`], false],
        [
            "pipelined requests",
            [`GET / HTTP/1.1\r\n${H}\r\nGET /healthz HTTP/1.1\r\n${H}\r\n`],
            false,
        ],
        ["a request split over two writes", [`GET / HTTP/1.1\r\n`, `${H}\r\n`], false],
        [
            "a smuggling attempt with Content-Length",
            [
                `GET / HTTP/1.1\r\n${H}Content-Length: 33\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n`,
            ],
            false,
        ],
        [
            "Transfer-Encoding and Content-Length together",
            [
                `GET / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n`,
            ],
            false,
        ],
        ["no Host", [`GET / HTTP/1.1\r\nAccept: */*\r\n\r\n`], false],
        ["HTTP/1.0", [`GET / HTTP/1.0\r\n${H}\r\n`], false],
        ["Connection: close", [`GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`], false],
        ["obs-fold", [`GET / HTTP/1.1\r\n${H}X-A: a\r\n  b\r\n\r\n`], false],
        ["bare LF", [`GET / HTTP/1.1\n${H.replace("\r", "")}\n`], false],
        ["a revalidation", [`GET / HTTP/1.1\r\n${H}If-None-Match: *\r\n\r\n`], false],
        ["a method node:http knows", [`DELETE / HTTP/1.1\r\n${H}\r\n`], false],
        ["garbage", ["\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n"], false],
    ];
    for (const [what, parts, taken] of cases) {
        it(`${what}: ${taken ? "answered in the lane" : "handed over"}, same bytes`, async () => {
            const lane = fast.docs.fastLane!;
            const before = lane.answered;
            const payload = parts.map((p) => Buffer.from(p, "latin1"));
            const viaLane = await exchange(fast.port, payload);
            const viaHttp = await exchange(plain.port, payload);
            assert.ok(viaHttp.startsWith("HTTP/1.1 "), viaHttp.slice(0, 200));
            assert.equal(normalise(viaLane), normalise(viaHttp));
            assert.equal(lane.answered > before, taken, `answered ${lane.answered - before}`);
        });
    }

    it("answers an index larger than what it copies behind the head (many sites): same bytes", async () => {
        const big = makeDocsTree();
        for (let i = 0; i < 300; i++) {
            const site = path.join(big.root, `monthly-report-${String(i).padStart(4, "0")}`);
            fs.mkdirSync(site);
            fs.writeFileSync(path.join(site, "index.html"), "<p>report</p>");
        }
        const withLane = await startServer(new FileStorage(big.root));
        const without = await startServer(new FileStorage(big.root), { fastLane: false });
        try {
            for (const srv of [withLane, without]) {
                const page = await request(srv.port, "/", {
                    headers: { "accept-encoding": "identity" },
                });
                assert.ok(page.body.length > 16 * 1024, `index is ${page.body.length} B`);
            }
            const lane = withLane.docs.fastLane!;
            for (const text of [`GET / HTTP/1.1\r\n${H}\r\n`, `HEAD / HTTP/1.1\r\n${H}\r\n`]) {
                const before = lane.answered;
                const payload = [Buffer.from(text, "latin1")];
                const viaLane = await exchange(withLane.port, payload);
                const viaHttp = await exchange(without.port, payload);
                assert.equal(normalise(viaLane), normalise(viaHttp));
                assert.equal(lane.answered, before + 1);
            }
        } finally {
            await withLane.close();
            await without.close();
            big.cleanup();
        }
    });

    it("logs and counts a request it answers like any other", async () => {
        const lane = fast.docs.fastLane!;
        const before = lane.answered;
        const servedBefore = await indexGets(fast.port);
        fast.logs.length = 0;
        await exchange(fast.port, [
            Buffer.from(
                `GET /?from=lane HTTP/1.1\r\n${H}User-Agent: probe/1\r\nX-Forwarded-For: 198.51.100.4, 10.1.1.1\r\n\r\n`,
                "latin1",
            ),
        ]);
        assert.equal(lane.answered, before + 1);
        const line = fast.logs.find((l) => l.event === "request" && l.path === "/?from=lane");
        assert.ok(line, JSON.stringify(fast.logs));
        assert.equal(line.route, "index");
        assert.equal(line.status, 200);
        assert.equal(line.method, "GET");
        assert.equal(line.remote, "198.51.100.4");
        assert.equal(line.user_agent, "probe/1");
        assert.match(String(line.request_id), /^[0-9a-f-]{36}$/);
        assert.equal(await indexGets(fast.port), servedBefore + 1);
    });

    it("keeps a connection in the lane across a catalog refresh, and shows a new site", async () => {
        const local = await startServer(new FileStorage(tree.root), { catalogTtlSeconds: 1 });
        const socket = net.connect(local.port, "127.0.0.1");
        const replies: string[] = [];
        let pending: ((text: string) => void) | undefined;
        let buffered = "";
        socket.on("data", (c: Buffer) => {
            buffered += c.toString("latin1");
            const end = buffered.indexOf("\r\n\r\n");
            const length = /content-length: (\d+)/i.exec(buffered);
            if (end >= 0 && length && buffered.length >= end + 4 + Number(length[1])) {
                const reply = buffered.slice(0, end + 4 + Number(length[1]));
                buffered = buffered.slice(reply.length);
                pending?.(reply);
            }
        });
        const ask = (): Promise<string> =>
            new Promise((resolve) => {
                pending = resolve;
                socket.write(`GET / HTTP/1.1\r\n${H}\r\n`);
            });
        try {
            await new Promise((r) => socket.on("connect", r));
            const lane = local.docs.fastLane!;
            const handedOver = lane.handedOver;
            replies.push(await ask()); // the catalog is listed for this one
            replies.push(await ask()); // fresh: answered at once
            fs.mkdirSync(path.join(tree.root, "lane-site"));
            fs.writeFileSync(path.join(tree.root, "lane-site", "index.html"), "<p>new</p>");
            await new Promise((r) => setTimeout(r, 1100));
            replies.push(await ask()); // stale: listed again, still in the lane
            assert.equal(lane.handedOver, handedOver, "no connection was handed over");
            for (const reply of replies) assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
            assert.ok(!replies[1]!.includes("lane-site"));
            assert.ok(replies[2]!.includes("lane-site"), "the new site is listed after the TTL");
        } finally {
            socket.destroy();
            fs.rmSync(path.join(tree.root, "lane-site"), { recursive: true, force: true });
            await local.close();
        }
    });

    it("answers a client that half-closed while the lane waited for the catalog, then ends", async () => {
        const storage = slowListing(tree.root, () => true);
        const local = await startServer(storage, { catalogTtlSeconds: 1 });
        try {
            const lane = local.docs.fastLane!;
            // exchange() half-closes 150 ms after the request, while the listing takes 400 ms.
            const raw = await exchange(local.port, [Buffer.from(`GET / HTTP/1.1\r\n${H}\r\n`)]);
            assert.match(raw, /^HTTP\/1\.1 200 OK\r\n/);
            assert.equal(lane.answered, 1);
        } finally {
            await local.close();
        }
    });

    it("answers a request it was waiting on when the drain began (node:http, Connection: close)", async () => {
        let slow = false;
        const storage = slowListing(tree.root, () => slow);
        const local = await startServer(storage, { catalogTtlSeconds: 1 });
        try {
            await request(local.port, "/");
            await new Promise((r) => setTimeout(r, 1100)); // the catalog is stale now
            slow = true;
            const reply = exchange(local.port, [Buffer.from(`GET / HTTP/1.1\r\n${H}\r\n`)]);
            await new Promise((r) => setTimeout(r, 100)); // the lane is waiting for the listing
            const done = local.docs.shutdown({ delayMs: 0, timeoutMs: 3000 });
            const raw = await reply;
            assert.match(raw, /^HTTP\/1\.1 200 OK\r\n/, JSON.stringify(local.logs.slice(-6)));
            assert.match(raw, /\r\nConnection: close\r\n/);
            await done;
            assert.ok(
                local.logs.some((l) => l.event === "shutdown_complete" && l.forced === false),
            );
        } finally {
            await local.close();
        }
    });

    it("closes its idle keep-alive connections on shutdown, and node:http drains the rest", async () => {
        const local = await startServer(new FileStorage(tree.root));
        await request(local.port, "/");
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        const get = (target: string) => keepAliveGet(local.port, target, agent);
        try {
            const lane = local.docs.fastLane!;
            const before = lane.answered;
            assert.equal((await get("/")).connection, "keep-alive");
            assert.equal(lane.answered, before + 1);
            const idle = net.connect(local.port, "127.0.0.1");
            await new Promise((r) => idle.on("connect", r));
            const idleClosed = new Promise((r) => idle.on("close", r));
            const done = local.docs.shutdown({ delayMs: 300, timeoutMs: 2000 });
            // While draining, the lane hands over: node:http answers and closes.
            const draining = await get("/");
            assert.equal(draining.status, 200);
            assert.equal(draining.connection, "close");
            assert.equal(lane.answered, before + 1);
            await done;
            await idleClosed;
            assert.equal(local.docs.server.listening, false);
            assert.ok(
                local.logs.some((l) => l.event === "shutdown_complete" && l.forced === false),
            );
        } finally {
            agent.destroy();
        }
    });
});
