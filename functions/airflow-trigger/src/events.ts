/**
 * S3 event notifications: parsing, key decoding, filtering and the deterministic run id.
 *
 * S3 delivers notifications at least once, so the same object can arrive in several events. The
 * DAG run id is derived from what identifies the object version (bucket, key, version id or, in
 * an unversioned bucket, the ETag), so every delivery asks Airflow for the same run and only the
 * first one creates it.
 */

/**
 * `node:crypto`, loaded on the first run id rather than when the bundle is required: loading it
 * is most of a cold `require` of this function (about 9 ms of CPU here, against about 1 ms for
 * all our code), and an invocation that starts no run (an `s3:TestEvent`, ignored keys) never
 * needs it. `process.getBuiltinModule` (Node 22.3+) is synchronous and is not rewritten by the
 * bundler.
 */
let crypto: typeof import("node:crypto") | undefined;
function sha256Hex(text: string): string {
    crypto ??= process.getBuiltinModule("node:crypto");
    return crypto.createHash("sha256").update(text).digest("hex");
}

/** One new object, with its key already URL-decoded. */
export interface S3ObjectRef {
    bucket: string;
    key: string;
    versionId: string | undefined;
    eTag: string | undefined;
    size: number | undefined;
    eventName: string;
    eventTime: string | undefined;
}

export type ParsedEvent =
    /** `s3:TestEvent`, sent once when a notification configuration is saved. */
    | { kind: "test"; bucket: string | undefined }
    | {
          kind: "records";
          objects: S3ObjectRef[];
          /** Records that are not object creations (e.g. `ObjectRemoved:*`). */
          otherEvents: { eventName: string; bucket: string; key: string }[];
          /** Malformed records (their index in `Records` and what is wrong); the others are kept. */
          invalid: InvalidRecord[];
      };

export interface InvalidRecord {
    index: number;
    reason: string;
}

export class InvalidEventError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "InvalidEventError";
    }
}

/**
 * Keys in S3 notifications are URL-encoded form values: `+` is a space, `%2B` is a plus.
 * `trip+data/yellow_tripdata_2024-01.parquet` → `trip data/yellow_tripdata_2024-01.parquet`.
 */
export function decodeS3Key(raw: string): string {
    try {
        return decodeURIComponent(raw.replace(/\+/g, " "));
    } catch {
        throw new InvalidEventError(`object key ${JSON.stringify(raw)} is not valid URL encoding`);
    }
}

function str(v: unknown): string | undefined {
    return typeof v === "string" && v !== "" ? v : undefined;
}

function obj(v: unknown): Record<string, unknown> {
    return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : {};
}

export function parseS3Event(event: unknown): ParsedEvent {
    const e = obj(event);
    if (e.Event === "s3:TestEvent") return { kind: "test", bucket: str(e.Bucket) };
    if (!Array.isArray(e.Records)) {
        throw new InvalidEventError(
            "not an S3 event notification: expected a Records array (this function is invoked by the landing bucket's notification only)",
        );
    }
    const objects: S3ObjectRef[] = [];
    const otherEvents: { eventName: string; bucket: string; key: string }[] = [];
    const invalid: InvalidRecord[] = [];
    // Each record on its own: a malformed one is reported and the others are still parsed.
    e.Records.forEach((record: unknown, i) => {
        try {
            const parsed = parseRecord(record, i);
            if ("object" in parsed) objects.push(parsed.object);
            else otherEvents.push(parsed.other);
        } catch (err) {
            if (!(err instanceof InvalidEventError)) throw err;
            invalid.push({ index: i, reason: err.message });
        }
    });
    return { kind: "records", objects, otherEvents, invalid };
}

function parseRecord(
    record: unknown,
    i: number,
): { object: S3ObjectRef } | { other: { eventName: string; bucket: string; key: string } } {
    const r = obj(record);
    const s3 = obj(r.s3);
    const bucket = str(obj(s3.bucket).name);
    const o = obj(s3.object);
    const rawKey = str(o.key);
    const eventName = str(r.eventName);
    if (bucket === undefined || rawKey === undefined || eventName === undefined) {
        throw new InvalidEventError(
            `record ${i} lacks eventName, s3.bucket.name or s3.object.key: not an S3 notification record`,
        );
    }
    let key: string;
    try {
        key = decodeS3Key(rawKey);
    } catch (err) {
        throw new InvalidEventError(`record ${i} (bucket ${bucket}): ${(err as Error).message}`);
    }
    if (!eventName.startsWith("ObjectCreated:")) return { other: { eventName, bucket, key } };
    const eTag = str(o.eTag)?.replace(/^"|"$/g, "");
    const versionId = str(o.versionId);
    if (versionId === undefined && eTag === undefined) {
        throw new InvalidEventError(
            `record ${i} (s3://${bucket}/${key}) has neither versionId nor eTag: cannot derive a run id`,
        );
    }
    return {
        object: {
            bucket,
            key,
            versionId,
            eTag,
            size: typeof o.size === "number" ? o.size : undefined,
            eventName,
            eventTime: str(r.eventTime),
        },
    };
}

/**
 * `s3__<bucket>__<first 32 hex of sha256(bucket/key/versionId-or-ETag)>`: readable, stable for
 * every delivery of the same object version, different for a new version of the same key, and
 * within Airflow's run id alphabet (bucket names use only `a-z0-9.-`). At most 101 characters.
 */
export function dagRunId(o: {
    bucket: string;
    key: string;
    versionId?: string | undefined;
    eTag?: string | undefined;
}): string {
    const version = o.versionId ?? o.eTag;
    if (version === undefined) {
        throw new InvalidEventError(`s3://${o.bucket}/${o.key}: need a versionId or an eTag`);
    }
    const digest = sha256Hex(`${o.bucket}/${o.key}/${version}`).slice(0, 32);
    return `s3__${o.bucket}__${digest}`;
}

/** The URI handed to the DAG: `s3://bucket/key`, or `<landingUriBase>/<key>` for local runs. */
export function objectUri(o: Pick<S3ObjectRef, "bucket" | "key">, landingUriBase?: string): string {
    return landingUriBase === undefined
        ? `s3://${o.bucket}/${o.key}`
        : `${landingUriBase}/${o.key}`;
}

/** Encode a key the way S3 puts it in a notification (form encoding: space → `+`). */
export function encodeS3Key(key: string): string {
    return encodeURIComponent(key).replace(/%20/g, "+").replace(/%2F/g, "/");
}

/**
 * An S3-shaped `ObjectCreated:Put` notification for these objects, as S3 would send it (keys
 * form-encoded). Used by tests and by local runs that feed files from a landing folder.
 */
export function objectCreatedEvent(
    objects: { bucket: string; key: string; eTag: string; versionId?: string; size?: number }[],
    eventTime = new Date().toISOString(),
): { Records: Record<string, unknown>[] } {
    return {
        Records: objects.map((o) => ({
            eventVersion: "2.1",
            eventSource: "aws:s3",
            awsRegion: "us-east-1",
            eventTime,
            eventName: "ObjectCreated:Put",
            userIdentity: { principalId: "local" },
            requestParameters: { sourceIPAddress: "127.0.0.1" },
            responseElements: { "x-amz-request-id": "local", "x-amz-id-2": "local" },
            s3: {
                s3SchemaVersion: "1.0",
                configurationId: "new-parquet",
                bucket: {
                    name: o.bucket,
                    ownerIdentity: { principalId: "local" },
                    arn: `arn:aws:s3:::${o.bucket}`,
                },
                object: {
                    key: encodeS3Key(o.key),
                    size: o.size ?? 0,
                    eTag: o.eTag,
                    ...(o.versionId === undefined ? {} : { versionId: o.versionId }),
                    sequencer: "0000000000000000",
                },
            },
        })),
    };
}
