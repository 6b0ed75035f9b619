/**
 * Found objects' stats (size, ETag, time, resolved version), reused for a short time so a hot
 * object is not stat-ed on every request: on GCS each stat is a metadata request over the
 * network. (On the file backend a stat is a `realpath` and a `stat` through libuv's thread pool,
 * cheap enough that the app leaves this off there by default: `STAT_CACHE_MS`.)
 *
 * What it changes: a republished object is served within `ttlMs` (1 s by default on GCS)
 * instead of on the next request. Within that window the old version is served
 * whole and consistently (its body is in the body cache under the old ETag, or read pinned to
 * the stat-ed version: a GCS generation, a file's size); a read that finds the object gone or
 * changed drops the entry ({@link forget}), so the next request stats again. Only found objects
 * are kept (a miss is always asked again), and at most `maxEntries` (oldest dropped first), so
 * requests for many distinct paths cannot grow it.
 */
import type { ObjectInfo } from "./storage";

interface Entry {
    info: ObjectInfo;
    expires: number;
}

export class StatCache {
    private readonly entries = new Map<string, Entry>();

    constructor(
        readonly ttlMs: number,
        readonly maxEntries = 4096,
        private readonly now: () => number = () => performance.now(),
    ) {}

    get enabled(): boolean {
        return this.ttlMs > 0 && this.maxEntries > 0;
    }

    get size(): number {
        return this.entries.size;
    }

    /** The stat of `key` if it was stored less than `ttlMs` ago. */
    get(key: string): ObjectInfo | undefined {
        const entry = this.entries.get(key);
        if (entry === undefined) return undefined;
        if (entry.expires <= this.now()) {
            this.entries.delete(key);
            return undefined;
        }
        return entry.info;
    }

    set(key: string, info: ObjectInfo): void {
        if (!this.enabled) return;
        this.entries.delete(key); // re-inserted as the newest
        this.entries.set(key, { info, expires: this.now() + this.ttlMs });
        if (this.entries.size > this.maxEntries) {
            // Maps iterate in insertion order: the first key is the oldest.
            this.entries.delete(this.entries.keys().next().value!);
        }
    }

    forget(key: string): void {
        this.entries.delete(key);
    }
}
