/**
 * Bodies of hot objects kept in memory, so a popular file is read from storage (and gzip-compressed)
 * once per version instead of once per request. One LRU bounded by total bytes holds both
 * variants of an object:
 *
 *   `raw`   the stored bytes, sent as they are (identity, or stored gzip passed through)
 *   `gzip`  the gzip-compressed body (compressed here, or a pre-compressed `.gz` sibling)
 *
 * Entries are keyed by object key + ETag + variant, and the server stats the object on every
 * request before it looks here (a file's size and mtime, a GCS object's MD5): the cache saves the
 * read, never the revalidation, so a republished object is served fresh at once. Storing a new
 * version of a key drops every entry of its older versions. Bodies larger than the per-entry
 * limit are not kept (they are streamed).
 */
export type BodyVariant = "raw" | "gzip";

interface Entry {
    key: string;
    etag: string;
    body: Buffer;
}

export class BodyCache {
    private readonly entries = new Map<string, Entry>();
    /** Entry ids per object key, to drop older versions without scanning the whole cache. */
    private readonly byKey = new Map<string, Set<string>>();
    private bytes = 0;
    /** Largest body kept. */
    readonly maxEntryBytes: number;

    constructor(readonly maxBytes: number) {
        this.maxEntryBytes = Math.min(8 * 1024 * 1024, Math.floor(maxBytes / 4));
    }

    get enabled(): boolean {
        return this.maxBytes > 0;
    }

    /** Bytes held. */
    get size(): number {
        return this.bytes;
    }

    /** Whether a body of `bytes` would be kept. */
    fits(bytes: number): boolean {
        return this.enabled && bytes <= this.maxEntryBytes;
    }

    get(key: string, etag: string, variant: BodyVariant = "gzip"): Buffer | undefined {
        const id = entryId(key, etag, variant);
        const hit = this.entries.get(id);
        if (hit !== undefined) {
            // Refresh recency.
            this.entries.delete(id);
            this.entries.set(id, hit);
        }
        return hit?.body;
    }

    set(key: string, etag: string, body: Buffer, variant: BodyVariant = "gzip"): void {
        if (!this.fits(body.length)) return;
        const id = entryId(key, etag, variant);
        // Older versions of the same key are dead weight once a new ETag is seen.
        for (const other of this.byKey.get(key) ?? []) {
            const entry = this.entries.get(other);
            if (other === id || (entry !== undefined && entry.etag !== etag)) this.delete(other);
        }
        this.entries.set(id, { key, etag, body });
        let ids = this.byKey.get(key);
        if (ids === undefined) this.byKey.set(key, (ids = new Set()));
        ids.add(id);
        this.bytes += body.length;
        for (const oldest of this.entries.keys()) {
            if (this.bytes <= this.maxBytes) break;
            this.delete(oldest);
        }
    }

    private delete(id: string): void {
        const entry = this.entries.get(id);
        if (entry === undefined) return;
        this.entries.delete(id);
        this.bytes -= entry.body.length;
        const ids = this.byKey.get(entry.key);
        ids?.delete(id);
        if (ids?.size === 0) this.byKey.delete(entry.key);
    }
}

function entryId(key: string, etag: string, variant: BodyVariant): string {
    return `${variant}\u0000${etag}\u0000${key}`;
}
