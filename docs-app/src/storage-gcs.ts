/**
 * GCS backend: the docs root is `gs://bucket[/prefix]`. Credentials are Application Default
 * Credentials (Workload Identity on GKE); the docs-app service account needs
 * `roles/storage.objectViewer` on the bucket (objects.get and objects.list only; the app never
 * reads bucket metadata).
 *
 * The backend talks to a {@link GcsBucketLike}: the real `Bucket` satisfies it, and tests pass a
 * fake with the same shape, so the prefix handling and error mapping are tested without network.
 */
import { Storage as GcsClient } from "@google-cloud/storage";
import type {
    Bucket,
    CreateReadStreamOptions,
    FileMetadata,
    GetFilesOptions,
} from "@google-cloud/storage";
import type { Readable } from "node:stream";

import type { ObjectInfo, Storage, StorageErrorKind } from "./storage";
import { SITE_NAME_RE, StorageError, assertSafeKey, assertSiteName, primeStream } from "./storage";

/** The part of `@google-cloud/storage`'s `File` this backend uses. */
export interface GcsFileLike {
    readonly name: string;
    readonly metadata: FileMetadata;
    getMetadata(): Promise<[FileMetadata, ...unknown[]]>;
    createReadStream(options?: CreateReadStreamOptions): Readable;
}

/**
 * The part of `@google-cloud/storage`'s `Bucket` this backend uses. With a `fields` projection
 * (which the listing uses, to fetch only the fields it needs), `getFiles` returns the raw JSON
 * items of the page, not `File` objects, although the client's type says `File[]`: hence
 * {@link ListedItem} and {@link listedMetadata}.
 */
export interface GcsBucketLike {
    readonly name: string;
    getFiles(query?: GetFilesOptions): Promise<[ListedItem[], object | null | undefined, unknown]>;
    file(name: string, options?: { generation?: number | string }): GcsFileLike;
}

/** A listed object: a `File` (no `fields`), or the JSON item itself (with `fields`). */
export type ListedItem = GcsFileLike | FileMetadata;

/** The metadata of a listed object, whichever shape the client returned. */
export function listedMetadata(item: ListedItem): FileMetadata {
    const file = item as Partial<GcsFileLike>;
    return typeof file.getMetadata === "function" && file.metadata !== undefined
        ? file.metadata
        : (item as FileMetadata);
}

// Compile-time proof that the real client fits the shape the backend is tested with.
const asBucketLike = (bucket: Bucket): GcsBucketLike => bucket;

const PAGE_SIZE = 1000;
const LIST_FIELDS =
    "items(name,size,updated,md5Hash,generation,contentType,contentEncoding),prefixes,nextPageToken";
const TRANSIENT_HTTP = new Set([408, 429, 500, 502, 503, 504]);
const TRANSIENT_NET = new Set([
    "ECONNRESET",
    "ECONNREFUSED",
    "ETIMEDOUT",
    "ESOCKETTIMEDOUT",
    "EPIPE",
    "EAI_AGAIN",
    "ENOTFOUND",
    "ENETUNREACH",
    "EHOSTUNREACH",
]);

/** HTTP status of a client error (`ApiError.code`, or a gaxios `status`), if any. */
function httpStatus(err: unknown): number | undefined {
    const e = err as { code?: unknown; status?: unknown; response?: { status?: unknown } };
    for (const v of [e.code, e.status, e.response?.status]) {
        if (typeof v === "number") return v;
    }
    return undefined;
}

/** Classify a client error; `undefined` for "not found". */
export function classifyGcsError(err: unknown): StorageErrorKind {
    const status = httpStatus(err);
    if (status === 404) return "not_found";
    if (status !== undefined) return TRANSIENT_HTTP.has(status) ? "unavailable" : "failed";
    const code = (err as { code?: unknown }).code;
    if (typeof code === "string" && TRANSIENT_NET.has(code)) return "unavailable";
    return "failed";
}

function hint(err: unknown): string {
    const status = httpStatus(err);
    if (status === 401 || status === 403) {
        return "; check that the docs-app service account has roles/storage.objectViewer on the bucket";
    }
    return "";
}

export class GcsStorage implements Storage {
    readonly backend = "gcs";
    readonly uri: string;
    /** `""` or `prefix/`. */
    private readonly base: string;

    constructor(
        private readonly bucket: GcsBucketLike,
        prefix: string,
    ) {
        const clean = prefix.replace(/^\/+|\/+$/g, "");
        this.base = clean === "" ? "" : `${clean}/`;
        this.uri = `gs://${bucket.name}${clean === "" ? "" : `/${clean}`}`;
    }

    private wrap(err: unknown, what: string): StorageError {
        const kind = classifyGcsError(err);
        // A 404 while listing means the bucket itself is missing: a configuration fault.
        const effective = kind === "not_found" ? "failed" : kind;
        const status = httpStatus(err);
        return new StorageError(
            effective,
            `${what} on ${this.uri} failed${status !== undefined ? ` (HTTP ${status})` : ""}${hint(err)}`,
            { cause: err },
        );
    }

    async listSites(): Promise<string[]> {
        const sites: string[] = [];
        let query: GetFilesOptions | undefined = {
            prefix: this.base,
            delimiter: "/",
            autoPaginate: false,
            maxResults: PAGE_SIZE,
            fields: "prefixes,nextPageToken",
        };
        while (query) {
            let page: [ListedItem[], object | null | undefined, unknown];
            try {
                page = await this.bucket.getFiles(query);
            } catch (err) {
                throw this.wrap(err, "listing sites");
            }
            const prefixes = (page[2] as { prefixes?: unknown } | undefined)?.prefixes;
            if (Array.isArray(prefixes)) {
                for (const p of prefixes) {
                    if (typeof p !== "string" || !p.startsWith(this.base)) continue;
                    const name = p.slice(this.base.length).replace(/\/$/, "");
                    if (SITE_NAME_RE.test(name)) sites.push(name);
                }
            }
            query = nextQuery(page[1], query);
        }
        return [...new Set(sites)].sort();
    }

    async *listObjects(site: string): AsyncIterable<ObjectInfo> {
        assertSiteName(site);
        let query: GetFilesOptions | undefined = {
            prefix: `${this.base}${site}/`,
            autoPaginate: false,
            maxResults: PAGE_SIZE,
            fields: LIST_FIELDS,
        };
        while (query) {
            let page: [ListedItem[], object | null | undefined, unknown];
            try {
                page = await this.bucket.getFiles(query);
            } catch (err) {
                throw this.wrap(err, `listing ${site}/`);
            }
            for (const item of page[0]) {
                const metadata = listedMetadata(item);
                if (typeof metadata.name !== "string") continue;
                const info = this.toInfo(metadata, metadata.name);
                // Skip "folder" placeholders and hidden entries, like the file backend does.
                if (info === undefined) continue;
                if (info.key.split("/").some((s) => s === "" || s.startsWith("."))) continue;
                yield info;
            }
            query = nextQuery(page[1], query);
        }
    }

    async stat(key: string): Promise<ObjectInfo | undefined> {
        assertSafeKey(key);
        let metadata: FileMetadata;
        try {
            [metadata] = await this.bucket.file(this.base + key).getMetadata();
        } catch (err) {
            if (classifyGcsError(err) === "not_found") return undefined;
            throw this.wrap(err, `reading metadata of ${key}`);
        }
        return this.toInfo(metadata, this.base + key);
    }

    async read(info: ObjectInfo): Promise<Readable> {
        assertSafeKey(info.key);
        const file = this.bucket.file(
            this.base + info.key,
            info.version !== undefined ? { generation: info.version } : {},
        );
        // decompress: false → the stored bytes as they are; the server decides whether the
        // client gets them gzip-encoded or inflated.
        const stream = file.createReadStream({ decompress: false });
        try {
            return await primeStream(stream);
        } catch (err) {
            stream.destroy();
            const kind = classifyGcsError(err);
            if (kind === "not_found") {
                throw new StorageError("not_found", `${info.key} vanished before it was read`, {
                    cause: err,
                });
            }
            throw this.wrap(err, `reading ${info.key}`);
        }
    }

    private toInfo(metadata: FileMetadata, fullName: string): ObjectInfo | undefined {
        const name = metadata.name ?? fullName;
        if (!name.startsWith(this.base) || name.endsWith("/")) return undefined;
        const size = Number(metadata.size ?? 0);
        const updated = new Date(metadata.updated ?? metadata.timeCreated ?? 0);
        const generation =
            metadata.generation !== undefined ? String(metadata.generation) : undefined;
        const etag =
            metadata.md5Hash !== undefined
                ? Buffer.from(metadata.md5Hash, "base64").toString("hex")
                : `g${generation ?? "0"}`;
        return {
            key: name.slice(this.base.length),
            size: Number.isFinite(size) ? size : 0,
            updated: Number.isNaN(updated.getTime()) ? new Date(0) : updated,
            etag,
            ...(metadata.contentType ? { contentType: metadata.contentType } : {}),
            ...(metadata.contentEncoding ? { contentEncoding: metadata.contentEncoding } : {}),
            ...(generation !== undefined ? { version: generation } : {}),
        };
    }
}

function nextQuery(
    next: object | null | undefined,
    previous: GetFilesOptions,
): GetFilesOptions | undefined {
    const token = (next as { pageToken?: unknown } | null | undefined)?.pageToken;
    return typeof token === "string" && token !== ""
        ? { ...previous, pageToken: token }
        : undefined;
}

/**
 * The real backend: `@google-cloud/storage` with Application Default Credentials.
 * `apiEndpoint` (config `GCS_API_ENDPOINT`) replaces `https://storage.googleapis.com`: a GCS
 * emulator in tests and `npm start -- --storage emulated`, unauthenticated; unset in the cluster.
 */
export function openGcsStorage(
    bucketName: string,
    prefix: string,
    apiEndpoint?: string,
): GcsStorage {
    const client = new GcsClient({
        // Idempotent reads only; keep retries short so a request fails fast with 503.
        retryOptions: { autoRetry: true, maxRetries: 2, totalTimeout: 15, maxRetryDelay: 4 },
        userAgent: "taxi-platform-docs-app",
        ...(apiEndpoint !== undefined ? { apiEndpoint } : {}),
    });
    return new GcsStorage(asBucketLike(client.bucket(bucketName)), prefix);
}
