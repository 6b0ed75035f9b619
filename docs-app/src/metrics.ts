/**
 * Prometheus metrics on a registry of the server's own (not prom-client's global one), so tests
 * can run several servers in one process. Label values are bounded: routes are a fixed set, site
 * names come from storage (the pipeline's prefixes), never from request paths.
 */
import type { Metric } from "prom-client";
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";

export type RouteLabel = "index" | "site" | "healthz" | "metrics" | "rejected";

const ROUTES: readonly RouteLabel[] = ["index", "site", "healthz", "metrics", "rejected"];
const ROUTE_INDEX: Record<RouteLabel, number> = {
    index: 0,
    site: 1,
    healthz: 2,
    metrics: 3,
    rejected: 4,
};
const METHODS = ["GET", "HEAD", "other"] as const;

/** The request-duration buckets, in seconds. */
export const DURATION_BUCKETS: readonly number[] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

interface HistogramValue {
    labels: Record<string, string | number>;
    value: number;
    metricName: string;
}

interface Series {
    /** Observations per bucket (not cumulative); the last one is +Inf. */
    buckets: Float64Array;
    sum: number;
    count: number;
}

/**
 * A histogram by route, counted in plain arrays on the request path: prom-client's own hashes
 * and validates its labels on every observation (measured: about 1.5 % of a small response's
 * CPU). The registry reads it like any metric, through `get()`, in the shape prom-client's
 * histograms return (cumulative `_bucket` series with `le`, then `_sum` and `_count`).
 */
export class RouteHistogram {
    readonly type = "histogram";
    readonly aggregator = "sum";
    private readonly series = new Map<RouteLabel, Series>();

    constructor(
        readonly name: string,
        readonly help: string,
        readonly upperBounds: readonly number[],
    ) {}

    observe(route: RouteLabel, seconds: number): void {
        let s = this.series.get(route);
        if (s === undefined) {
            s = { buckets: new Float64Array(this.upperBounds.length + 1), sum: 0, count: 0 };
            this.series.set(route, s);
        }
        let i = 0;
        while (i < this.upperBounds.length && seconds > this.upperBounds[i]!) i++;
        s.buckets[i]!++;
        s.sum += seconds;
        s.count++;
    }

    get(): Promise<{
        name: string;
        help: string;
        type: string;
        aggregator: string;
        values: HistogramValue[];
    }> {
        const values: HistogramValue[] = [];
        for (const route of ROUTES) {
            const s = this.series.get(route);
            if (s === undefined) continue;
            let cumulative = 0;
            this.upperBounds.forEach((le, i) => {
                cumulative += s.buckets[i]!;
                values.push({
                    labels: { le, route },
                    value: cumulative,
                    metricName: `${this.name}_bucket`,
                });
            });
            values.push({
                labels: { le: "+Inf", route },
                value: s.count,
                metricName: `${this.name}_bucket`,
            });
            values.push({ labels: { route }, value: s.sum, metricName: `${this.name}_sum` });
            values.push({ labels: { route }, value: s.count, metricName: `${this.name}_count` });
        }
        return Promise.resolve({
            name: this.name,
            help: this.help,
            type: this.type,
            aggregator: this.aggregator,
            values,
        });
    }

    reset(): void {
        this.series.clear();
    }
}

export class Metrics {
    readonly registry = new Registry();
    readonly requests: Counter<"route" | "method" | "status">;
    readonly duration: RouteHistogram;
    readonly inFlight: Gauge;
    readonly storageErrors: Counter<"backend" | "kind">;
    readonly siteUpdated: Gauge<"site">;
    readonly siteObjects: Gauge<"site">;
    readonly cacheLookups: Counter<"variant" | "result">;
    /**
     * Requests being served, a plain number the server counts; the gauge reads it when scraped
     * (a gauge's inc/dec hashes its labels on every call).
     */
    inFlightCount = 0;
    /**
     * Requests answered since the last scrape, by route × method × status (a number key), added
     * to `requests` when it is read.
     */
    private readonly pendingRequests = new Map<number, number>();

    constructor(options: { defaultMetrics?: boolean } = {}) {
        const registers = [this.registry];
        this.requests = new Counter({
            name: "docs_http_requests_total",
            help: "HTTP requests by route, method and status code.",
            labelNames: ["route", "method", "status"] as const,
            registers,
            collect: () => this.flushRequests(),
        });
        this.duration = new RouteHistogram(
            "docs_http_request_duration_seconds",
            "Time from request to the end of the response, by route.",
            DURATION_BUCKETS,
        );
        // Read by the registry through get(), like prom-client's own histograms.
        this.registry.registerMetric(this.duration as unknown as Metric);
        this.inFlight = new Gauge({
            name: "docs_http_requests_in_flight",
            help: "Requests being served.",
            registers,
            collect: () => this.inFlight.set(this.inFlightCount),
        });
        this.storageErrors = new Counter({
            name: "docs_storage_errors_total",
            help: "Storage failures by backend and kind (unavailable → 503, failed → 502).",
            labelNames: ["backend", "kind"] as const,
            registers,
        });
        this.siteUpdated = new Gauge({
            name: "docs_site_last_updated_timestamp_seconds",
            help: "Newest object time of each published site (alert when a site goes stale).",
            labelNames: ["site"] as const,
            registers,
        });
        this.siteObjects = new Gauge({
            name: "docs_site_objects",
            help: "Number of objects in each published site.",
            labelNames: ["site"] as const,
            registers,
        });
        this.cacheLookups = new Counter({
            name: "docs_cache_lookups_total",
            help: "Lookups in the in-memory cache of hot object bodies, by variant (raw, gzip) and result.",
            labelNames: ["variant", "result"] as const,
            registers,
        });
        if (options.defaultMetrics ?? false) {
            collectDefaultMetrics({ register: this.registry, prefix: "docs_" });
        }
    }

    /**
     * Count one answered request and, when given, its duration: plain numbers, no labels object,
     * no hashing (this runs once per request; prom-client's counters and histograms do that work
     * per call). `method` is reduced to `GET`, `HEAD` or `other`, so arbitrary method tokens
     * cannot grow the label set.
     */
    recordRequest(
        route: RouteLabel,
        method: string | undefined,
        status: number,
        seconds?: number,
    ): void {
        const m = method === "GET" ? 0 : method === "HEAD" ? 1 : 2;
        const key = (ROUTE_INDEX[route] * 3 + m) * 1000 + (status % 1000);
        this.pendingRequests.set(key, (this.pendingRequests.get(key) ?? 0) + 1);
        if (seconds !== undefined) this.duration.observe(route, seconds);
    }

    private flushRequests(): void {
        for (const [key, n] of this.pendingRequests) {
            const status = key % 1000;
            const rest = (key - status) / 1000;
            this.requests.inc(
                { route: ROUTES[Math.floor(rest / 3)]!, method: METHODS[rest % 3]!, status },
                n,
            );
        }
        this.pendingRequests.clear();
    }
}
