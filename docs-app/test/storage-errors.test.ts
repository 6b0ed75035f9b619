/**
 * The real server over the GCS backend with a fake bucket: storage failures become 502/503 with
 * the cause in the log and nothing of it in the response; objects stored gzip-encoded are passed
 * through to clients that accept gzip and inflated for those that do not.
 */
import * as assert from "node:assert/strict";
import * as zlib from "node:zlib";

import type { Storage } from "../src/storage";
import { GcsStorage } from "../src/storage-gcs";
import { FakeBucket, apiError, netError } from "./fake-bucket";
import type { RunningServer } from "./fixtures";
import { request, startServer } from "./fixtures";

describe("docs-app server over GCS (fake bucket)", () => {
    let bucket: FakeBucket;
    let srv: RunningServer;
    const page = "<!doctype html><title>dbt</title>" + "<p>lineage</p>".repeat(200);

    beforeEach(async () => {
        bucket = new FakeBucket();
        bucket.put("docs/dbt/index.html", page, { contentType: "text/html" });
        bucket.put("docs/model/report.html", zlib.gzipSync(page), {
            contentType: "text/html",
            contentEncoding: "gzip",
        });
        srv = await startServer(new GcsStorage(bucket, "docs"), { catalogTtlSeconds: 0 });
    });
    afterEach(() => srv.close());

    /** The response must not reveal the cause; the log must carry it. */
    function assertHidden(body: Buffer, secret: string): void {
        const text = body.toString();
        assert.ok(!text.includes(secret), "cause leaked to the client");
        assert.doesNotMatch(
            text,
            /at .*\.ts:\d+|Error:|stack/i,
            "stack trace leaked to the client",
        );
    }

    it("serves objects and the index from the bucket", async () => {
        const r = await request(srv.port, "/dbt/");
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), page);
        const index = await request(srv.port, "/");
        assert.match(index.body.toString(), /href="\/dbt\/"/);
        assert.match(index.body.toString(), /href="\/model\/"/);
    });

    it("reads a hot object once per generation, revalidating its ETag on every request", async () => {
        const reads: string[] = [];
        const original = bucket.file.bind(bucket);
        bucket.file = (name, options) => {
            if (options?.generation !== undefined) reads.push(name);
            return original(name, options);
        };
        for (let i = 0; i < 3; i++) {
            assert.equal((await request(srv.port, "/dbt/index.html")).body.toString(), page);
        }
        assert.deepEqual(reads, ["docs/dbt/index.html"]);
        bucket.put("docs/dbt/index.html", "<p>republished</p>", { contentType: "text/html" });
        const fresh = await request(srv.port, "/dbt/index.html");
        assert.equal(fresh.body.toString(), "<p>republished</p>");
        assert.equal(reads.length, 2);
    });

    it("with the stat cache (on by default for gs://), asks GCS for metadata once per TTL", async () => {
        const local = await startServer(new GcsStorage(bucket, "docs"), {
            catalogTtlSeconds: 0,
            statCacheMs: 300,
        });
        try {
            const stats: string[] = [];
            const reads: string[] = [];
            const original = bucket.file.bind(bucket);
            bucket.file = (name, options) => {
                (options?.generation !== undefined ? reads : stats).push(name);
                return original(name, options);
            };
            const first = await request(local.port, "/dbt/index.html");
            for (let i = 0; i < 4; i++) await request(local.port, "/dbt/index.html");
            assert.deepEqual(stats, ["docs/dbt/index.html"], "one metadata request for five views");
            assert.deepEqual(reads, ["docs/dbt/index.html"]);
            bucket.put("docs/dbt/index.html", "<p>republished</p>", { contentType: "text/html" });
            const within = await request(local.port, "/dbt/index.html");
            assert.equal(within.body.toString(), page, "the stat-ed generation, whole");
            assert.equal(within.headers.etag, first.headers.etag);
            await new Promise((resolve) => setTimeout(resolve, 350));
            const after = await request(local.port, "/dbt/index.html");
            assert.equal(after.body.toString(), "<p>republished</p>");
            assert.notEqual(after.headers.etag, first.headers.etag, "the new MD5");
            assert.equal(stats.length, 2);
        } finally {
            await local.close();
        }
    });

    it("answers 503 with Retry-After when GCS is throttling or down", async () => {
        bucket.failStat = apiError(503, "Backend Error: internal detail 42");
        const r = await request(srv.port, "/dbt/index.html");
        assert.equal(r.status, 503);
        assert.equal(r.headers["retry-after"], "5");
        assertHidden(r.body, "internal detail 42");
        const logged = srv.logs.find((l) => l.event === "storage_error");
        assert.ok(logged, "storage_error logged");
        assert.equal(logged.status, 503);
        assert.equal(logged.request_id, r.headers["x-request-id"]);
        assert.match(JSON.stringify(logged.cause), /internal detail 42/);
        assert.match(r.body.toString(), new RegExp(String(r.headers["x-request-id"])));
    });

    it("answers 502 when GCS refuses (permissions) and logs the fix", async () => {
        bucket.failList = apiError(
            403,
            "docs-app@acme.iam.gserviceaccount.com lacks storage.objects.list",
        );
        const r = await request(srv.port, "/");
        assert.equal(r.status, 502);
        assertHidden(r.body, "lacks storage.objects.list");
        const logged = srv.logs.find((l) => l.event === "storage_error");
        assert.match(String(logged?.error), /roles\/storage\.objectViewer/);
        const metrics = await request(srv.port, "/metrics");
        assert.match(
            metrics.body.toString(),
            /docs_storage_errors_total\{backend="gcs",kind="failed"\} 1/,
        );
    });

    it("answers 503 when the read fails before any byte is sent", async () => {
        bucket.failRead = netError("ECONNRESET");
        const r = await request(srv.port, "/dbt/index.html");
        assert.equal(r.status, 503);
        assertHidden(r.body, "ECONNRESET");
    });

    it("answers 404 when the object is replaced between stat and read", async () => {
        const original = bucket.file.bind(bucket);
        bucket.file = (name, options) => {
            // Another publish lands between the stat and the generation-pinned read.
            if (options?.generation !== undefined) bucket.put(name, "new version");
            return original(name, options);
        };
        const r = await request(srv.port, "/dbt/index.html");
        assert.equal(r.status, 404);
    });

    it("passes stored gzip through to gzip clients and inflates it for others", async () => {
        const gz = await request(srv.port, "/model/report.html", {
            headers: { "accept-encoding": "gzip" },
        });
        assert.equal(gz.status, 200);
        assert.equal(gz.headers["content-encoding"], "gzip");
        assert.equal(
            Number(gz.headers["content-length"]),
            bucket.objects.get("docs/model/report.html")!.data.length,
        );
        assert.equal(zlib.gunzipSync(gz.body).toString(), page);
        const plain = await request(srv.port, "/model/report.html");
        assert.equal(plain.headers["content-encoding"], undefined);
        assert.equal(plain.body.toString(), page);
        assert.equal(plain.headers.vary, "Accept-Encoding");
    });

    it("serves /healthz even when every storage call throws", async () => {
        const boom = (): never => {
            throw new Error("storage must not be called");
        };
        const throwing: Storage = {
            backend: "test",
            uri: "test://",
            listSites: boom,
            listObjects: boom,
            stat: boom,
            read: boom,
        };
        const local = await startServer(throwing);
        try {
            const r = await request(local.port, "/healthz");
            assert.equal(r.status, 200);
            const index = await request(local.port, "/");
            assert.equal(index.status, 500, "an unexpected error is a 500 without details");
            assertHidden(index.body, "storage must not be called");
        } finally {
            await local.close();
        }
    });
});
