/**
 * `npm start -- --storage emulated`: the local pipeline with the cluster's storage URIs, on
 * emulators (tools/local/emulators.ts) instead of folders:
 *
 * - landing: `s3://taxi-landing/trip data/…` on moto's S3. Each month's file is uploaded with
 *   the AWS SDK (PutObject); the watcher lists the bucket (ListObjectsV2, paged) instead of a
 *   folder and hands each new object's event, with the ETag S3 gave it, to the trigger function;
 *   the DAG's copy task reads it with pyarrow's S3 client (`AWS_ENDPOINT_URL_S3`).
 * - docs: `gs://taxi-docs` on fake-gcs-server: dbt docs, the model report and the GX data docs
 *   are published there by the jobs' GCS clients (`STORAGE_EMULATOR_HOST`), and the docs app
 *   serves the bucket (`GCS_API_ENDPOINT`).
 * - MLflow artifacts: `gs://taxi-mlflow/artifacts` (`--artifacts-destination`, as in the
 *   cluster); the fare API reads the champion from there.
 * - the lake (staging) stays a folder: Spark local mode has no GCS connector here (the
 *   connector jar ships only in the Spark image), so `gs://` staging cannot be read by Spark.
 *
 * fake-gcs-server keeps its objects in `<state>/gcs` (filesystem backend) so a second run sees
 * the first's docs and models; moto keeps S3 in memory (the landing bucket is refilled by the
 * deliveries of each run).
 */
import { ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import * as fs from "node:fs";
import * as path from "node:path";

import { ensureEmulatorVenv } from "../python-suites";
import type { ProcessRegistry } from "./processes";
import {
    awsClientEnv,
    createGcsBucket,
    startAwsEmulator,
    startGcsEmulator,
    type Emulator,
} from "./emulators";

export const LANDING_BUCKET = "taxi-landing";
export const DOCS_BUCKET = "taxi-docs";
export const MLFLOW_BUCKET = "taxi-mlflow";
const REGION = "us-east-1";

export interface EmulatedStorage {
    gcs: Emulator;
    aws: Emulator;
    landingUri: string;
    docsUri: string;
    mlflowArtifacts: string;
    /** For every Python job and service: the clients' standard endpoint variables. */
    clientEnv: Record<string, string>;
    /** `pipeline-env` values that differ from the folder layout. */
    pipelineEnv: Record<string, string>;
    /** The docs app's storage settings. */
    docsAppEnv: Record<string, string>;
    /** Upload one landing object (a PUT, as the TLC transfer or a producer does). */
    putLanding(key: string, file: string): Promise<void>;
    /** Lines for the summary: each URI and where it really lives. */
    describe(): string[];
}

export async function startEmulatedStorage(
    registry: ProcessRegistry,
    o: { stateDir: string; logDir: string },
): Promise<EmulatedStorage> {
    ensureEmulatorVenv(); // testing/emulators/.venv: created once, refreshed when pins change
    const dataDir = path.join(o.stateDir, "gcs");
    fs.mkdirSync(dataDir, { recursive: true });
    const [gcs, aws] = await Promise.all([
        startGcsEmulator({ registry, logDir: o.logDir, dataDir }),
        startAwsEmulator({ registry, logDir: o.logDir }),
    ]);
    await createGcsBucket(gcs, DOCS_BUCKET);
    await createGcsBucket(gcs, MLFLOW_BUCKET);
    const awsEnv = awsClientEnv(aws, REGION);
    const s3 = new S3Client({
        region: REGION,
        endpoint: aws.endpoint,
        forcePathStyle: true,
        credentials: { accessKeyId: "emulator", secretAccessKey: "emulator" },
    });
    const created = await fetch(`${aws.endpoint}/${LANDING_BUCKET}`, { method: "PUT" });
    await created.arrayBuffer();
    if (!created.ok) {
        throw new Error(`creating s3://${LANDING_BUCKET} on moto: HTTP ${created.status}`);
    }
    const clientEnv = {
        ...awsEnv,
        AWS_ENDPOINT_URL_S3: aws.endpoint,
        STORAGE_EMULATOR_HOST: gcs.endpoint,
    };
    const landingUri = `s3://${LANDING_BUCKET}`;
    const docsUri = `gs://${DOCS_BUCKET}`;
    const mlflowArtifacts = `gs://${MLFLOW_BUCKET}/artifacts`;
    return {
        gcs,
        aws,
        landingUri,
        docsUri,
        mlflowArtifacts,
        clientEnv,
        pipelineEnv: { ...clientEnv, S3_LANDING_BUCKET: landingUri, DOCS_URI: docsUri },
        docsAppEnv: { DOCS_URI: docsUri, GCS_API_ENDPOINT: gcs.endpoint },
        putLanding: async (key, file) => {
            await s3.send(
                new PutObjectCommand({
                    Bucket: LANDING_BUCKET,
                    Key: key,
                    Body: fs.readFileSync(file),
                    ContentType: "application/vnd.apache.parquet",
                }),
            );
        },
        describe: () => [
            `landing ${landingUri} (S3 on ${aws.version}, ${aws.endpoint})`,
            `docs ${docsUri} (GCS on ${gcs.version}, ${gcs.endpoint}, objects in ${dataDir})`,
            `MLflow artifacts ${mlflowArtifacts} (same GCS emulator)`,
        ],
    };
}

/** One page-walk of the landing bucket: key → size, last-modified time and ETag. */
export async function listLanding(
    s3: S3Client,
    bucket: string,
): Promise<Map<string, { size: number; mtimeMs: number; eTag: string }>> {
    const out = new Map<string, { size: number; mtimeMs: number; eTag: string }>();
    let token: string | undefined;
    do {
        const page = await s3.send(
            new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) {
            if (o.Key === undefined) continue;
            out.set(o.Key, {
                size: o.Size ?? 0,
                mtimeMs: o.LastModified?.getTime() ?? 0,
                eTag: (o.ETag ?? "").replace(/"/g, ""),
            });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
}
