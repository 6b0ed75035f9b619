/**
 * The one storage interface both backends implement (`storage-file.ts`, `storage-gcs.ts`).
 *
 * Keys are `/`-separated object names relative to the docs root (`dbt/index.html`). Callers pass
 * keys built from validated path segments (`paths.ts`); each backend re-checks them anyway and
 * refuses anything that could leave the root.
 */
import type { Readable } from "node:stream";

/** What a top-level prefix must look like to be listed as a site. */
export const SITE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export interface ObjectInfo {
    /** Key relative to the docs root. */
    key: string;
    /** Stored size in bytes. */
    size: number;
    /** Last write time. */
    updated: Date;
    /** Strong validator of the stored bytes, without quotes. */
    etag: string;
    /** Content type recorded in storage, when the backend keeps one. */
    contentType?: string;
    /** `gzip` when the stored bytes are gzip-compressed (GCS `Content-Encoding: gzip`). */
    contentEncoding?: string;
    /** Backend-specific version (GCS generation) so a read returns exactly this object. */
    version?: string;
}

export interface Storage {
    /** `gcs` or `file`, for logs and metrics. */
    readonly backend: string;
    /** The docs root as a URI, for logs. */
    readonly uri: string;
    /** Names of the top-level prefixes (one per site), sorted. */
    listSites(): Promise<string[]>;
    /** Every object under `<site>/`, recursively (order unspecified). */
    listObjects(site: string): AsyncIterable<ObjectInfo>;
    /** The object at `key`, or `undefined` when there is none. */
    stat(key: string): Promise<ObjectInfo | undefined>;
    /**
     * The stored bytes of `info` (as returned by `stat`). Resolves once the backend has started
     * answering, so a failure to open rejects with a {@link StorageError} before any response
     * header is written; a later failure is an `error` event on the stream.
     */
    read(info: ObjectInfo): Promise<Readable>;
}

/**
 * `unavailable`: transient (throttled, timed out, backend 5xx) → HTTP 503.
 * `failed`: the backend refused or answered wrongly (permissions, missing bucket) → HTTP 502.
 * `not_found`: the object vanished between stat and read → HTTP 404.
 */
export type StorageErrorKind = "unavailable" | "failed" | "not_found";

export class StorageError extends Error {
    override name = "StorageError";
    constructor(
        readonly kind: StorageErrorKind,
        message: string,
        options?: { cause?: unknown },
    ) {
        super(message, options);
    }
}

export function isStorageError(err: unknown): err is StorageError {
    return err instanceof StorageError;
}

/** Segment rules every backend enforces on keys: no traversal, no separators, no control bytes. */
export function assertSafeKey(key: string): string[] {
    const segments = key.split("/");
    for (const s of segments) {
        // eslint-disable-next-line no-control-regex
        if (s === "" || s === "." || s === ".." || /[\\\u0000-\u001f\u007f]/.test(s)) {
            throw new StorageError("failed", `refusing unsafe object key ${JSON.stringify(key)}`);
        }
    }
    return segments;
}

export function assertSiteName(site: string): void {
    if (!SITE_NAME_RE.test(site)) {
        throw new StorageError("failed", `refusing unsafe site name ${JSON.stringify(site)}`);
    }
}

/**
 * Wait until `stream` has data (or has ended) without consuming it, so a backend can turn an
 * open failure into a rejected promise before the caller writes response headers.
 */
export function primeStream<T extends Readable>(stream: T): Promise<T> {
    return new Promise((resolve, reject) => {
        const settle = (err?: unknown): void => {
            stream.off("readable", onReadable);
            stream.off("error", onError);
            if (err === undefined) resolve(stream);
            else reject(err instanceof Error ? err : new Error("stream failed", { cause: err }));
        };
        const onReadable = (): void => settle();
        const onError = (err: unknown): void => settle(err);
        stream.on("readable", onReadable);
        stream.on("error", onError);
    });
}
