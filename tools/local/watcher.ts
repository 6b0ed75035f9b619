/**
 * The landing watcher: the local stand-in for S3 event notifications + Lambda. Started by
 * `npm start` as its own process, with the trigger function's configuration in its environment
 * (AIRFLOW_API_URL, AIRFLOW_DAG_ID, AIRFLOW_CREDENTIALS_FILE, S3_KEY_PREFIX, LANDING_URI_BASE…),
 * exactly as Lambda passes it, so loading `functions/airflow-trigger/src/handler.ts` is a cold
 * start of the real handler.
 *
 * Every `WATCH_INTERVAL_MS` it scans `WATCH_LANDING_DIR`; each new complete file becomes an
 * S3-shaped `ObjectCreated:Put` event (bucket = the landing folder's name, key = the file's
 * relative path, eTag = its MD5, as S3 sets it for a single-part upload) handed to the handler,
 * which starts the DAG run with its deterministic run id. Transient failures are retried twice
 * (as Lambda's async retries would).
 *
 * With `WATCH_S3_BUCKET` (`npm start -- --storage emulated`) it lists that bucket instead
 * (ListObjectsV2, every page, through the AWS SDK configured by `AWS_ENDPOINT_URL`…): the event
 * carries the bucket's name and the ETag S3 gave the object, and no `LANDING_URI_BASE` is set, so
 * the run's `conf.uri` is the object's `s3://` URI, as in the cluster. Results go to the parent over IPC; the handler's own JSON log
 * lines go to stdout (the parent points it at `<state>/logs/trigger.log`).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { objectCreatedEvent } from "../../functions/airflow-trigger/src/events";
import type { TriggerHandler } from "../../functions/airflow-trigger/src/trigger";
import { S3Client } from "@aws-sdk/client-s3";
import { listLanding } from "./emulated-storage";
import {
    NewObjectDetector,
    scanLanding,
    WATCH_INTERVAL_MS,
    type FileSig,
    type WatcherMessage,
} from "./landing";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function md5(file: string): string {
    return createHash("md5").update(fs.readFileSync(file)).digest("hex");
}

function send(message: WatcherMessage): void {
    if (process.send) process.send(message);
}

/** A landing source: a folder (default) or an S3 bucket (`WATCH_S3_BUCKET`). */
interface Source {
    bucket: string;
    scan(): Promise<Map<string, FileSig & { eTag?: string }>>;
    /** The object's ETag and size, as S3 reports them. */
    object(key: string, scanned?: { eTag?: string; size: number }): { eTag: string; size: number };
}

function folderSource(root: string): Source {
    return {
        bucket: path.basename(root),
        scan: () => Promise.resolve(scanLanding(root)),
        object: (key) => {
            const file = path.join(root, ...key.split("/"));
            return { eTag: md5(file), size: fs.statSync(file).size };
        },
    };
}

function s3Source(bucket: string): Source {
    // Region, endpoint and keys from the environment, as the SDK reads them anywhere.
    const s3 = new S3Client({ forcePathStyle: true });
    return {
        bucket,
        scan: () => listLanding(s3, bucket),
        object: (key, scanned) => {
            if (scanned?.eTag === undefined) throw new Error(`no ETag listed for ${key}`);
            return { eTag: scanned.eTag, size: scanned.size };
        },
    };
}

async function deliver(
    handler: TriggerHandler,
    source: Source,
    key: string,
    n: number,
    scanned?: { eTag?: string; size: number },
) {
    let eTag: string;
    let size: number;
    try {
        ({ eTag, size } = source.object(key, scanned));
    } catch (err) {
        send({
            type: "trigger_failed",
            key,
            error: `cannot read ${key} in ${source.bucket}: ${String(err)}`,
            attempts: 0,
        });
        return;
    }
    const bucket = source.bucket;
    const event = objectCreatedEvent([{ bucket, key, eTag, size }]);
    for (let attempt = 1; attempt <= 3; attempt++) {
        try {
            const summary = await handler(event, { awsRequestId: `local-${n}-${attempt}` });
            send({ type: "triggered", key, eTag, runs: summary.runs, ignored: summary.ignored });
            return;
        } catch (err) {
            const e = err as Error & { retryable?: boolean };
            if (e.retryable === false || attempt === 3) {
                send({ type: "trigger_failed", key, error: e.message, attempts: attempt });
                return;
            }
            await sleep(2000 * attempt);
        }
    }
}

async function main(): Promise<void> {
    const root = process.env.WATCH_LANDING_DIR;
    const bucket = process.env.WATCH_S3_BUCKET;
    if (!root && !bucket) {
        throw new Error(
            "neither WATCH_LANDING_DIR (the landing folder) nor WATCH_S3_BUCKET (the landing bucket) is set",
        );
    }
    const source = bucket ? s3Source(bucket) : folderSource(root!);
    const interval = Number(process.env.WATCH_INTERVAL_MS ?? WATCH_INTERVAL_MS);
    // Cold start: the handler module reads and validates its configuration from the environment.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { handler } = require("../../functions/airflow-trigger/src/handler") as {
        handler: TriggerHandler;
    };
    process.on("disconnect", () => process.exit(0));

    const detector = new NewObjectDetector();
    const initial = await source.scan();
    detector.baseline(initial);
    send({ type: "ready", existing: initial.size });
    let n = 0;
    for (;;) {
        await sleep(interval);
        let scan: Awaited<ReturnType<Source["scan"]>>;
        try {
            scan = await source.scan();
        } catch (err) {
            console.error(`listing ${source.bucket} failed: ${String(err)}; trying again`);
            continue;
        }
        for (const key of detector.observe(scan)) {
            await deliver(handler, source, key, ++n, scan.get(key));
        }
    }
}

main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
});
