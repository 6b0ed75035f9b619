/**
 * The storage interface contract, run against the file backend and against the GCS backend over
 * a fake `Bucket`; then the GCS backend's own mapping: prefixes, pagination, placeholders,
 * generation-pinned reads and error classification.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Readable } from "node:stream";

import type { Storage } from "../src/storage";
import { StorageError } from "../src/storage";
import { FileStorage } from "../src/storage-file";
import { GcsStorage, classifyGcsError } from "../src/storage-gcs";
import { FakeBucket, apiError, netError } from "./fake-bucket";
import type { DocsTree } from "./fixtures";
import { T_DBT, makeDocsTree } from "./fixtures";

async function readAll(stream: Readable): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
}

async function collect(it: AsyncIterable<{ key: string }>): Promise<string[]> {
    const keys: string[] = [];
    for await (const info of it) keys.push(info.key);
    return keys.sort();
}

/** The same expectations for every backend, over the fixture tree's files. */
function contract(
    name: string,
    make: () => { storage: Storage; files: Map<string, Buffer> },
): void {
    describe(`storage contract: ${name}`, () => {
        let storage: Storage;
        let files: Map<string, Buffer>;
        before(() => ({ storage, files } = make()));

        it("lists the top-level prefixes as sites, sorted", async () => {
            assert.deepEqual(await storage.listSites(), ["data-docs", "dbt", "model"]);
        });

        it("lists every object of a site recursively, without hidden entries", async () => {
            const expected = [...files.keys()].filter((k) => k.startsWith("data-docs/")).sort();
            assert.deepEqual(await collect(storage.listObjects("data-docs")), expected);
            assert.deepEqual(await collect(storage.listObjects("nosuchsite")), []);
        });

        it("stats an object with size, time and a stable ETag", async () => {
            const info = await storage.stat("dbt/index.html");
            assert.ok(info);
            assert.equal(info.key, "dbt/index.html");
            assert.equal(info.size, files.get("dbt/index.html")!.length);
            assert.equal(info.updated.getTime(), T_DBT.getTime());
            assert.match(info.etag, /^[0-9a-zA-Z-]+$/);
            assert.equal((await storage.stat("dbt/index.html"))!.etag, info.etag);
            const other = await storage.stat("dbt/catalog.json");
            assert.notEqual(other!.etag, info.etag);
        });

        it("returns undefined for missing objects and for folders", async () => {
            assert.equal(await storage.stat("dbt/missing.html"), undefined);
            assert.equal(await storage.stat("dbt/static"), undefined);
            assert.equal(await storage.stat("nosuchsite/index.html"), undefined);
        });

        it("reads exactly the stored bytes, streamed", async () => {
            for (const key of ["model/large.txt", "model/chart.png", "model/empty.txt"]) {
                const info = await storage.stat(key);
                assert.ok(info, key);
                assert.ok((await readAll(await storage.read(info))).equals(files.get(key)!), key);
            }
        });

        it("refuses keys that could leave the root", async () => {
            for (const key of [
                "dbt/../secret.txt",
                "../secret.txt",
                "dbt//index.html",
                "dbt/./x",
                "dbt/a\\..\\b",
                "dbt/\u0000",
            ]) {
                await assert.rejects(storage.stat(key), StorageError, key);
            }
            await assert.rejects(collect(storage.listObjects("../x")), StorageError);
        });
    });
}

describe("storage backends", () => {
    let tree: DocsTree;
    before(() => (tree = makeDocsTree()));
    after(() => tree.cleanup());

    contract("file", () => ({ storage: new FileStorage(tree.root), files: tree.files }));
    contract("gcs (fake bucket, prefix env/docs)", () => {
        const bucket = new FakeBucket(3);
        for (const [key, data] of tree.files) {
            const updated = fs.statSync(path.join(tree.root, key)).mtime;
            bucket.put(`env/docs/${key}`, data, { updated });
        }
        // Noise the backend must ignore: a folder placeholder, a hidden file, a sibling prefix.
        bucket.put("env/docs/dbt/static/", "");
        bucket.put("env/docs/dbt/.env", "secret");
        bucket.put("env/docs-evil/dbt/index.html", "evil");
        bucket.put("elsewhere/index.html", "x");
        return { storage: new GcsStorage(bucket, "env/docs/"), files: tree.files };
    });

    describe("file backend specifics", () => {
        it("never follows symlinks out of the root", async () => {
            const storage = new FileStorage(tree.root);
            assert.equal(await storage.stat("dbt/leak.txt"), undefined);
            assert.equal(await storage.stat("dbt/leakdir/secret.txt"), undefined);
            assert.equal(await storage.stat("outside-site/secret.txt"), undefined);
            assert.ok(!(await storage.listSites()).includes("outside-site"));
        });

        it("treats a missing root as nothing published", async () => {
            const storage = new FileStorage(path.join(tree.dir, "not-there"));
            assert.deepEqual(await storage.listSites(), []);
            assert.equal(await storage.stat("dbt/index.html"), undefined);
        });

        it("reports a vanished file as not_found", async () => {
            const storage = new FileStorage(tree.root);
            const file = path.join(tree.root, "model", "gone.txt");
            fs.writeFileSync(file, "soon gone");
            const info = await storage.stat("model/gone.txt");
            fs.rmSync(file);
            await assert.rejects(
                storage.read(info!),
                (err: StorageError) => err.kind === "not_found",
            );
        });
    });

    describe("gcs backend specifics", () => {
        it("lists with the prefix and delimiter and follows every page", async () => {
            const bucket = new FakeBucket(1);
            for (const site of ["a", "b", "c"]) bucket.put(`p/${site}/index.html`, site);
            const storage = new GcsStorage(bucket, "/p/");
            assert.equal(storage.uri, "gs://acme-docs/p");
            assert.deepEqual(await storage.listSites(), ["a", "b", "c"]);
            assert.equal(bucket.listCalls.length, 3);
            assert.deepEqual(
                bucket.listCalls.map((q) => [q.prefix, q.delimiter, q.pageToken]),
                [
                    ["p/", "/", undefined],
                    ["p/", "/", "1"],
                    ["p/", "/", "2"],
                ],
            );
        });

        it("works at the bucket root (no prefix)", async () => {
            const bucket = new FakeBucket();
            bucket.put("dbt/index.html", "<p>dbt</p>");
            const storage = new GcsStorage(bucket, "");
            assert.equal(storage.uri, "gs://acme-docs");
            assert.deepEqual(await storage.listSites(), ["dbt"]);
            assert.equal((await storage.stat("dbt/index.html"))!.key, "dbt/index.html");
        });

        it("maps metadata: size, updated, md5 ETag, type, encoding, generation", async () => {
            const bucket = new FakeBucket();
            bucket.put("dbt/index.html", "hello", {
                updated: new Date("2024-05-06T07:08:09Z"),
                contentType: "text/html",
                contentEncoding: "gzip",
            });
            const info = await new GcsStorage(bucket, "").stat("dbt/index.html");
            assert.deepEqual(info, {
                key: "dbt/index.html",
                size: 5,
                updated: new Date("2024-05-06T07:08:09Z"),
                etag: "5d41402abc4b2a76b9719d911017c592",
                contentType: "text/html",
                contentEncoding: "gzip",
                version: "1001",
            });
        });

        it("reads the generation it stat-ed, with the stored bytes (no decompression)", async () => {
            const bucket = new FakeBucket();
            bucket.put("p/dbt/index.html", "v1");
            const storage = new GcsStorage(bucket, "p");
            const info = await storage.stat("dbt/index.html");
            assert.equal((await readAll(await storage.read(info!))).toString(), "v1");
            assert.deepEqual(bucket.reads.at(-1), {
                name: "p/dbt/index.html",
                generation: info!.version,
                options: { decompress: false },
            });
            // Replaced between stat and read: the pinned generation is gone → not_found.
            bucket.put("p/dbt/index.html", "v2");
            await assert.rejects(
                storage.read(info!),
                (err: StorageError) => err.kind === "not_found",
            );
        });

        it("classifies client errors: 404, throttling, outages, permissions, network", () => {
            assert.equal(classifyGcsError(apiError(404, "No such object")), "not_found");
            for (const code of [408, 429, 500, 502, 503, 504]) {
                assert.equal(classifyGcsError(apiError(code, "x")), "unavailable", String(code));
            }
            for (const code of [400, 401, 403, 412]) {
                assert.equal(classifyGcsError(apiError(code, "x")), "failed", String(code));
            }
            for (const code of ["ECONNRESET", "ETIMEDOUT", "EAI_AGAIN", "ENOTFOUND"]) {
                assert.equal(classifyGcsError(netError(code)), "unavailable", code);
            }
            assert.equal(
                classifyGcsError(new Error("Could not load the default credentials")),
                "failed",
            );
        });

        it("wraps failures in StorageError with the cause and a hint, and a missing bucket is a fault", async () => {
            const bucket = new FakeBucket();
            bucket.put("dbt/index.html", "x");
            const storage = new GcsStorage(bucket, "");
            bucket.failList = apiError(
                403,
                "docs-app@p.iam does not have storage.objects.list access",
            );
            await assert.rejects(storage.listSites(), (err: StorageError) => {
                assert.equal(err.kind, "failed");
                assert.match(err.message, /HTTP 403.*roles\/storage\.objectViewer/);
                assert.equal((err.cause as Error).message, bucket.failList!.message);
                return true;
            });
            bucket.failList = apiError(404, "The specified bucket does not exist.");
            await assert.rejects(storage.listSites(), (err: StorageError) => err.kind === "failed");
            bucket.failStat = apiError(503, "Service Unavailable");
            await assert.rejects(
                storage.stat("dbt/index.html"),
                (err: StorageError) => err.kind === "unavailable",
            );
            bucket.failStat = undefined;
            const info = await storage.stat("dbt/index.html");
            bucket.failRead = netError("ECONNRESET");
            await assert.rejects(
                storage.read(info!),
                (err: StorageError) => err.kind === "unavailable",
            );
        });
    });
});
