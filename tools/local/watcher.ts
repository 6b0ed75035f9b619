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
 * (as Lambda's async retries would). Results go to the parent over IPC; the handler's own JSON log
 * lines go to stdout (the parent points it at `<state>/logs/trigger.log`).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { objectCreatedEvent } from "../../functions/airflow-trigger/src/events";
import type { TriggerHandler } from "../../functions/airflow-trigger/src/trigger";
import { NewObjectDetector, scanLanding, type WatcherMessage } from "./landing";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function md5(file: string): string {
    return createHash("md5").update(fs.readFileSync(file)).digest("hex");
}

function send(message: WatcherMessage): void {
    if (process.send) process.send(message);
}

async function deliver(handler: TriggerHandler, root: string, key: string, n: number) {
    const file = path.join(root, ...key.split("/"));
    let eTag: string;
    let size: number;
    try {
        eTag = md5(file);
        size = fs.statSync(file).size;
    } catch (err) {
        send({
            type: "trigger_failed",
            key,
            error: `cannot read ${file}: ${String(err)}`,
            attempts: 0,
        });
        return;
    }
    const bucket = path.basename(root);
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
    if (!root) throw new Error("WATCH_LANDING_DIR is not set: the landing folder to watch");
    const interval = Number(process.env.WATCH_INTERVAL_MS ?? 1000);
    // Cold start: the handler module reads and validates its configuration from the environment.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { handler } = require("../../functions/airflow-trigger/src/handler") as {
        handler: TriggerHandler;
    };
    process.on("disconnect", () => process.exit(0));

    const detector = new NewObjectDetector();
    const initial = scanLanding(root);
    detector.baseline(initial);
    send({ type: "ready", existing: initial.size });
    let n = 0;
    for (;;) {
        await sleep(interval);
        for (const key of detector.observe(scanLanding(root))) {
            await deliver(handler, root, key, ++n);
        }
    }
}

main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
});
