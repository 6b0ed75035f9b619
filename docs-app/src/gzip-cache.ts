/**
 * Compressed bodies kept in memory so a popular page is gzip-compressed once, not per request.
 * Keyed by object key + ETag (a fresh stat on every request decides which entry is valid), LRU,
 * bounded by total bytes. Entries are filled while a response streams through gzip, so the
 * source object is never buffered whole; a body whose compressed size exceeds the per-entry
 * limit is simply not kept.
 */
export class GzipCache {
    private readonly entries = new Map<string, Buffer>();
    private bytes = 0;
    /** Largest compressed body kept. */
    readonly maxEntryBytes: number;

    constructor(readonly maxBytes: number) {
        this.maxEntryBytes = Math.min(8 * 1024 * 1024, Math.floor(maxBytes / 4));
    }

    get enabled(): boolean {
        return this.maxBytes > 0;
    }

    get size(): number {
        return this.bytes;
    }

    get(key: string, etag: string): Buffer | undefined {
        const id = `${key}\u0000${etag}`;
        const hit = this.entries.get(id);
        if (hit !== undefined) {
            // Refresh recency.
            this.entries.delete(id);
            this.entries.set(id, hit);
        }
        return hit;
    }

    set(key: string, etag: string, body: Buffer): void {
        if (!this.enabled || body.length > this.maxEntryBytes) return;
        const id = `${key}\u0000${etag}`;
        // Older versions of the same key are dead weight once a new ETag is seen.
        for (const [other, buf] of this.entries) {
            if (other.startsWith(`${key}\u0000`)) {
                this.entries.delete(other);
                this.bytes -= buf.length;
            }
        }
        this.entries.set(id, body);
        this.bytes += body.length;
        for (const [oldest, buf] of this.entries) {
            if (this.bytes <= this.maxBytes) break;
            this.entries.delete(oldest);
            this.bytes -= buf.length;
        }
    }
}
