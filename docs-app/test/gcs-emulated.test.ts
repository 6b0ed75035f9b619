/**
 * The docs app's `gs://` backend against fake-gcs-server on loopback (tools/local/emulators.ts):
 * the production `openGcsStorage()` (the real `@google-cloud/storage` client, its retry settings
 * and the `fields` projections), only the endpoint differs (`GCS_API_ENDPOINT`). The objects are
 * written with the same client, as the pipeline's publishers write them.
 *
 * This test found a real bug: with a `fields` projection the client returns the raw JSON items
 * of a page, not `File` objects, and the backend read `file.metadata` (undefined) — every site
 * listing on real GCS failed. The in-memory fake (`fake-bucket.ts`) now behaves like the client.
 */
import * as assert from "node:assert/strict";
import { Storage as GcsClient } from "@google-cloud/storage";

import {
    createGcsBucket,
    deleteGcsBucket,
    startGcsEmulator,
    type Emulator,
} from "../../tools/local/emulators";
import { loadConfig } from "../src/config";
import { openStorage } from "../src/main";
import type { ObjectInfo, Storage } from "../src/storage";
import type { RunningServer } from "./fixtures";
import { request, startServer } from "./fixtures";

const BUCKET = "acme-docs-emulated";
const PREFIX = "docs";
const MANY = 1_203;
const UNICODE_KEY = "model/a b/Prüfbericht 2024 — 漢字 ñ.html";

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>) {
    let next = 0;
    await Promise.all(
        Array.from({ length: limit }, async () => {
            while (next < items.length) await fn(items[next++]!);
        }),
    );
}

async function collect(it: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    for await (const o of it) out.push(o);
    return out;
}

describe("docs-app gs:// backend against fake-gcs-server", function () {
    this.timeout(180_000);
    let gcs: Emulator;
    let client: GcsClient;
    let storage: Storage;
    let srv: RunningServer;
    const page = (n: number) => `<!doctype html><title>page ${n}</title>` + "<p>x</p>".repeat(n);
    const put = (name: string, body: string | Buffer, contentType = "text/html") =>
        client
            .bucket(BUCKET)
            .file(`${PREFIX}/${name}`)
            .save(body, { contentType, resumable: false });

    before(async () => {
        gcs = await startGcsEmulator();
        await createGcsBucket(gcs, BUCKET);
        client = new GcsClient({ apiEndpoint: gcs.endpoint, projectId: "emulated" });
        // The app's own configuration path: DOCS_URI and GCS_API_ENDPOINT → openStorage().
        const config = loadConfig({
            DOCS_URI: `gs://${BUCKET}/${PREFIX}`,
            GCS_API_ENDPOINT: gcs.endpoint,
        });
        assert.equal(config.gcsApiEndpoint, gcs.endpoint);
        storage = await openStorage(config.docs, config.gcsApiEndpoint);
        const started = Date.now();
        const names = Array.from(
            { length: MANY },
            (_, i) => `big/p${String(i).padStart(5, "0")}.html`,
        );
        await mapLimit(names, 16, (n) => put(n, page(1)));
        await put("big/index.html", page(2));
        await put("dbt/index.html", page(300));
        await put(UNICODE_KEY, page(3));
        console.log(`      (uploaded ${MANY + 3} objects in ${Date.now() - started} ms)`);
        srv = await startServer(storage, { catalogTtlSeconds: 0 });
    });
    after(async () => {
        await srv?.close();
        await gcs?.stop();
    });

    it(`lists a site of ${MANY + 1} objects across pages (pagination with the fields projection)`, async () => {
        assert.deepEqual(await storage.listSites(), ["big", "dbt", "model"]);
        const objects = await collect(storage.listObjects("big"));
        assert.equal(objects.length, MANY + 1);
        assert.equal(new Set(objects.map((o) => o.key)).size, MANY + 1, "no object twice");
        const one = objects.find((o) => o.key === "big/p01202.html")!;
        assert.equal(one.size, Buffer.byteLength(page(1)));
        assert.equal(one.contentType, "text/html");
        assert.match(one.etag, /^[0-9a-f]{32}$/, "the MD5 as hex");
        assert.match(one.version ?? "", /^\d+$/, "the generation");
        // Through the app: the index counts every object of the site.
        const index = await request(srv.port, "/");
        assert.equal(index.status, 200);
        assert.match(index.body.toString(), /href="\/big\/"/);
        assert.match(index.body.toString(), new RegExp(`${MANY + 1}\\s*(objects|files)`));
    });

    it("serves object names with spaces and non-ASCII characters", async () => {
        const keys = (await collect(storage.listObjects("model"))).map((o) => o.key);
        assert.deepEqual(keys, [UNICODE_KEY]);
        const target = "/" + UNICODE_KEY.split("/").map(encodeURIComponent).join("/");
        const r = await request(srv.port, target);
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), page(3));
        assert.equal(r.headers["content-type"], "text/html; charset=utf-8");
    });

    it("answers conditional requests from the object's ETag and serves a new generation once it changes", async () => {
        const first = await request(srv.port, "/dbt/index.html");
        assert.equal(first.status, 200);
        const etag = String(first.headers.etag);
        assert.match(etag, /^"[0-9a-f]{32}"$/);
        const again = await request(srv.port, "/dbt/index.html", {
            headers: { "if-none-match": etag },
        });
        assert.equal(again.status, 304);
        assert.equal(again.body.length, 0);
        // A Range request gets the whole page: the app does not serve ranges (Accept-Ranges: none).
        const ranged = await request(srv.port, "/dbt/index.html", {
            headers: { range: "bytes=0-9" },
        });
        assert.equal(ranged.status, 200);
        assert.equal(ranged.headers["accept-ranges"], "none");
        assert.equal(ranged.body.toString(), page(300));

        const before = (await storage.stat("dbt/index.html"))!;
        await put("dbt/index.html", page(301));
        const after = (await storage.stat("dbt/index.html"))!;
        assert.notEqual(after.version, before.version, "a new generation");
        const changed = await request(srv.port, "/dbt/index.html", {
            headers: { "if-none-match": etag },
        });
        assert.equal(changed.status, 200);
        assert.equal(changed.body.toString(), page(301));
        assert.notEqual(changed.headers.etag, etag);
        // A read pinned to the replaced generation does not return the new bytes.
        await assert.rejects(storage.read(before), { name: "StorageError", kind: "not_found" });
        const current = await storage.read(after);
        const chunks: Buffer[] = [];
        for await (const c of current) chunks.push(c as Buffer);
        assert.equal(Buffer.concat(chunks).toString(), page(301));
    });

    it("answers 502 when the bucket disappears and 503 (Retry-After) when GCS does not answer", async () => {
        await deleteGcsBucket(gcs, BUCKET);
        const gone = await request(srv.port, "/");
        assert.equal(gone.status, 502, "a missing bucket is a configuration fault");
        assert.doesNotMatch(gone.body.toString(), new RegExp(BUCKET));
        assert.ok(
            srv.logs.some((l) =>
                /listing sites on gs:\/\/acme-docs-emulated\/docs failed \(HTTP 404\)/.test(
                    JSON.stringify(l),
                ),
            ),
            "the cause is in the log",
        );
        await gcs.stop();
        const down = await request(srv.port, "/");
        assert.equal(down.status, 503);
        assert.equal(down.headers["retry-after"], "5");
        const object = await request(srv.port, "/dbt/index.html");
        assert.equal(object.status, 503);
    });
});
