/**
 * The catalog of published sites, discovered from storage: each top-level prefix is a site. Its
 * summary (object count, newest object time, entry pages) is computed by listing the prefix and
 * cached for a short TTL, with concurrent callers sharing one listing.
 */
import type { Storage } from "./storage";

/** A page tree one level below the site root (`<site>/<name>/index.html`). */
export interface SiteEntry {
    name: string;
    updated: Date;
}

export interface SiteSummary {
    name: string;
    title: string;
    description: string;
    objects: number;
    bytes: number;
    /** Newest object time; undefined when the site has no objects. */
    updated: Date | undefined;
    /** Whether `<site>/index.html` exists. */
    hasIndex: boolean;
    /** Entry pages one level down, sorted by name. */
    entries: SiteEntry[];
}

/** Titles and descriptions of the sites the pipeline publishes; others use their prefix. */
export const KNOWN_SITES: Record<string, { title: string; description: string }> = {
    dbt: {
        title: "dbt docs",
        description: "Warehouse models, sources, tests and lineage.",
    },
    "data-docs": {
        title: "Data docs",
        description: "Great Expectations validation results, one report per validated file.",
    },
    elementary: {
        title: "Elementary report",
        description: "Data observability: dbt test results, anomalies and freshness.",
    },
    model: {
        title: "Model reports",
        description: "Fare model training and retraining reports.",
    },
    reports: {
        title: "Run reports",
        description:
            "One report per batch run: rows read, loaded and quarantined, expectations, dbt, the model decision, task durations (reports/<dataset>/<month>/).",
    },
};

export function siteTitle(name: string): { title: string; description: string } {
    return KNOWN_SITES[name] ?? { title: name, description: "" };
}

interface Slot<T> {
    at: number;
    value?: T;
    pending?: Promise<T>;
}

/** TTL cache where concurrent misses share one load and failures are not cached. */
class TtlCache<T> {
    private readonly slots = new Map<string, Slot<T>>();
    constructor(
        private readonly ttlMs: number,
        private readonly now: () => number,
    ) {}

    get(key: string, load: () => Promise<T>): Promise<T> {
        const slot = this.slots.get(key);
        if (slot?.pending) return slot.pending;
        if (slot && "value" in slot && this.now() - slot.at < this.ttlMs) {
            return Promise.resolve(slot.value as T);
        }
        const pending = load().then(
            (value) => {
                this.slots.set(key, { at: this.now(), value });
                return value;
            },
            (err: unknown) => {
                if (slot && "value" in slot) this.slots.set(key, slot);
                else this.slots.delete(key);
                throw err;
            },
        );
        this.slots.set(key, { ...(slot ?? { at: 0 }), pending });
        return pending;
    }

    /** The value of `key` if it is loaded and fresh, without starting a load. */
    peek(key: string): T | undefined {
        const slot = this.slots.get(key);
        if (slot === undefined || slot.pending !== undefined || !("value" in slot))
            return undefined;
        return this.now() - slot.at < this.ttlMs ? slot.value : undefined;
    }

    retainOnly(keys: Set<string>): void {
        for (const key of this.slots.keys()) if (!keys.has(key)) this.slots.delete(key);
    }
}

export interface CatalogOptions {
    ttlSeconds: number;
    now?: () => number;
    /** Called with every fresh summary (metrics). */
    onSummary?: (summary: SiteSummary) => void;
    /** Called with every fresh site list (metrics). */
    onSites?: (names: string[]) => void;
}

export class Catalog {
    private readonly names: TtlCache<string[]>;
    private readonly summaries: TtlCache<SiteSummary>;

    constructor(
        private readonly storage: Storage,
        private readonly options: CatalogOptions,
    ) {
        const now = options.now ?? Date.now;
        this.names = new TtlCache(options.ttlSeconds * 1000, now);
        this.summaries = new TtlCache(options.ttlSeconds * 1000, now);
    }

    /** Names of the published sites (top-level prefixes). */
    siteNames(): Promise<string[]> {
        return this.names.get("", async () => {
            const names = await this.storage.listSites();
            this.summaries.retainOnly(new Set(names));
            this.options.onSites?.(names);
            return names;
        });
    }

    /**
     * Every site's summary when the list and all summaries are loaded and fresh, synchronously
     * (the index page's fast path: no storage call, no promise per site); else undefined, and
     * {@link sites} loads what is missing.
     */
    freshSites(): SiteSummary[] | undefined {
        const names = this.names.peek("");
        if (names === undefined) return undefined;
        const out: SiteSummary[] = [];
        for (const name of names) {
            const summary = this.summaries.peek(name);
            if (summary === undefined) return undefined;
            out.push(summary);
        }
        return out;
    }

    /** Every published site with its summary, in name order. */
    async sites(): Promise<SiteSummary[]> {
        const names = await this.siteNames();
        return Promise.all(names.map((name) => this.summary(name)));
    }

    /**
     * The summary of `name`, or undefined when storage has no such prefix. Only names storage
     * listed are summarised, so request paths cannot make the app list arbitrary prefixes.
     */
    async site(name: string): Promise<SiteSummary | undefined> {
        const names = await this.siteNames();
        return names.includes(name) ? this.summary(name) : undefined;
    }

    private summary(name: string): Promise<SiteSummary> {
        return this.summaries.get(name, async () => {
            const { title, description } = siteTitle(name);
            let objects = 0;
            let bytes = 0;
            let newest = 0;
            let hasIndex = false;
            const entries = new Map<string, number>();
            const entryHasIndex = new Set<string>();
            for await (const info of this.storage.listObjects(name)) {
                objects += 1;
                bytes += info.size;
                const t = info.updated.getTime();
                newest = Math.max(newest, t);
                const rest = info.key.slice(name.length + 1).split("/");
                if (rest.length === 1 && rest[0] === "index.html") hasIndex = true;
                if (rest.length >= 2) {
                    const entry = rest[0]!;
                    entries.set(entry, Math.max(entries.get(entry) ?? 0, t));
                    if (rest.length === 2 && rest[1] === "index.html") entryHasIndex.add(entry);
                }
            }
            const summary: SiteSummary = {
                name,
                title,
                description,
                objects,
                bytes,
                updated: objects > 0 ? new Date(newest) : undefined,
                hasIndex,
                entries: [...entries]
                    .filter(([entry]) => entryHasIndex.has(entry))
                    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
                    .map(([entry, t]) => ({ name: entry, updated: new Date(t) })),
            };
            this.options.onSummary?.(summary);
            return summary;
        });
    }
}
