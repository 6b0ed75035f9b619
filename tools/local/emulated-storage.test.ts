/**
 * `--storage emulated`'s storage: both emulators under one registry, the buckets the pipeline
 * uses, a landing upload seen by the watcher's listing with S3's ETag, and a clean stop.
 */
import * as assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { S3Client } from "@aws-sdk/client-s3";

import { LANDING_BUCKET, listLanding, startEmulatedStorage } from "./emulated-storage";
import { ProcessRegistry } from "./processes";
import { procInfo } from "./proctree";

describe("npm start --storage emulated: storage on emulators", function () {
    this.timeout(120_000);

    it("creates the buckets, lists a landing upload with its ETag, and stops with nothing left", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taxi-emulated-"));
        const registry = new ProcessRegistry({ snapshotMs: 0 });
        try {
            const storage = await startEmulatedStorage(registry, { stateDir: dir, logDir: dir });
            assert.equal(storage.pipelineEnv.S3_LANDING_BUCKET, "s3://taxi-landing");
            assert.equal(storage.pipelineEnv.DOCS_URI, "gs://taxi-docs");
            assert.equal(storage.pipelineEnv.STORAGE_EMULATOR_HOST, storage.gcs.endpoint);
            assert.equal(storage.docsAppEnv.GCS_API_ENDPOINT, storage.gcs.endpoint);
            assert.match(storage.describe().join("\n"), /s3:\/\/taxi-landing.*moto 5\.2\.5/);
            assert.match(
                storage.describe().join("\n"),
                /gs:\/\/taxi-docs.*fake-gcs-server v1\.54\.0/,
            );
            const buckets = (await (
                await fetch(`${storage.gcs.endpoint}/storage/v1/b`)
            ).json()) as { items: { name: string }[] };
            assert.deepEqual(buckets.items.map((b) => b.name).sort(), ["taxi-docs", "taxi-mlflow"]);

            const file = path.join(dir, "m.parquet");
            fs.writeFileSync(file, Buffer.alloc(70_000, 7));
            const key = "trip data/yellow_tripdata_2024-01.parquet";
            await storage.putLanding(key, file);
            const s3 = new S3Client({
                region: "us-east-1",
                endpoint: storage.aws.endpoint,
                forcePathStyle: true,
                credentials: { accessKeyId: "emulator", secretAccessKey: "emulator" },
            });
            const listed = await listLanding(s3, LANDING_BUCKET);
            s3.destroy();
            assert.deepEqual([...listed.keys()], [key]);
            assert.equal(listed.get(key)!.size, 70_000);
            assert.equal(
                listed.get(key)!.eTag,
                createHash("md5").update(fs.readFileSync(file)).digest("hex"),
                "a single-part PUT's ETag is the MD5, as the trigger's run id expects",
            );
        } finally {
            const pids = registry.tracker.members().map((p) => p.pid);
            await registry.stopAll();
            for (const pid of pids) assert.equal(procInfo(pid), undefined);
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
