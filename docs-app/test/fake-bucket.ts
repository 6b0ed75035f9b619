/**
 * An in-memory stand-in with the shape of `@google-cloud/storage`'s `Bucket` (the part
 * `storage-gcs.ts` uses): prefix/delimiter listing with page tokens, metadata, generation-pinned
 * reads, and injectable failures using the client's own `ApiError`. No network.
 */
import { ApiError } from "@google-cloud/storage";
import type { CreateReadStreamOptions, FileMetadata, GetFilesOptions } from "@google-cloud/storage";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";

import type { GcsBucketLike, GcsFileLike, ListedItem } from "../src/storage-gcs";

export function apiError(code: number, message: string): ApiError {
    const err = new ApiError(message);
    err.code = code;
    return err;
}

export function netError(code: string): Error {
    return Object.assign(new Error(`connect ${code}`), { code });
}

interface Stored {
    data: Buffer;
    metadata: FileMetadata;
}

export class FakeBucket implements GcsBucketLike {
    readonly name = "acme-docs";
    readonly objects = new Map<string, Stored>();
    readonly listCalls: GetFilesOptions[] = [];
    readonly reads: {
        name: string;
        generation?: string | number;
        options?: CreateReadStreamOptions;
    }[] = [];
    /** Failures to inject, per operation. */
    failList: Error | undefined;
    failStat: Error | undefined;
    failRead: Error | undefined;
    private generation = 1000;

    constructor(private readonly pageSize = 2) {}

    put(
        name: string,
        data: Buffer | string,
        options: { updated?: Date; contentType?: string; contentEncoding?: string } = {},
    ): void {
        const bytes = typeof data === "string" ? Buffer.from(data) : data;
        this.generation += 1;
        this.objects.set(name, {
            data: bytes,
            metadata: {
                name,
                bucket: this.name,
                size: String(bytes.length),
                updated: (options.updated ?? new Date("2024-01-01T00:00:00Z")).toISOString(),
                md5Hash: createHash("md5").update(bytes).digest("base64"),
                generation: String(this.generation),
                ...(options.contentType ? { contentType: options.contentType } : {}),
                ...(options.contentEncoding ? { contentEncoding: options.contentEncoding } : {}),
            },
        });
    }

    getFiles(query: GetFilesOptions = {}): Promise<[ListedItem[], object | null, unknown]> {
        this.listCalls.push(query);
        if (this.failList) return Promise.reject(this.failList);
        const prefix = query.prefix ?? "";
        const names = [...this.objects.keys()].filter((n) => n.startsWith(prefix)).sort();
        const items: string[] = [];
        const prefixes = new Set<string>();
        for (const name of names) {
            const rest = name.slice(prefix.length);
            const cut = query.delimiter ? rest.indexOf(query.delimiter) : -1;
            if (cut >= 0) prefixes.add(prefix + rest.slice(0, cut + 1));
            else items.push(name);
        }
        // Page over items and prefixes together, like the API.
        const all = [
            ...items.map((n) => ({ item: n })),
            ...[...prefixes].map((p) => ({ prefix: p })),
        ];
        const start = Number(query.pageToken ?? 0);
        const page = all.slice(start, start + this.pageSize);
        const next =
            start + this.pageSize < all.length
                ? { ...query, pageToken: String(start + this.pageSize) }
                : null;
        // Like the client: with a `fields` projection the items are the raw JSON objects of the
        // page (only the requested fields), otherwise `File` objects.
        const files = page.flatMap((e): ListedItem[] => {
            if (!("item" in e)) return [];
            return query.fields ? [this.objects.get(e.item)!.metadata] : [this.file(e.item)];
        });
        const pagePrefixes = page.flatMap((e) => ("prefix" in e ? [e.prefix] : []));
        return Promise.resolve([files, next, { prefixes: pagePrefixes, items: [] }]);
    }

    file(name: string, options: { generation?: number | string } = {}): GcsFileLike {
        const stored = this.objects.get(name);
        const fail = (): Error =>
            this.failStat ?? apiError(404, `No such object: ${this.name}/${name}`);
        return {
            name,
            metadata: stored?.metadata ?? { name },
            getMetadata: () =>
                stored && !this.failStat
                    ? Promise.resolve([stored.metadata, {}] as [FileMetadata, unknown])
                    : Promise.reject(fail()),
            createReadStream: (opts?: CreateReadStreamOptions) => {
                this.reads.push({
                    name,
                    ...(options.generation !== undefined ? { generation: options.generation } : {}),
                    ...(opts ? { options: opts } : {}),
                });
                const current = this.objects.get(name);
                const failure =
                    this.failRead ??
                    (current === undefined ||
                    (options.generation !== undefined &&
                        String(options.generation) !== String(current.metadata.generation))
                        ? apiError(404, "No such object")
                        : undefined);
                let sent = false;
                // Like the client: nothing happens until the stream is read.
                return new Readable({
                    read() {
                        if (failure) {
                            this.destroy(failure);
                        } else if (!sent) {
                            sent = true;
                            this.push(current!.data);
                            this.push(null);
                        }
                    },
                });
            },
        };
    }
}
