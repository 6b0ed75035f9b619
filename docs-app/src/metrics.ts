/**
 * Prometheus metrics on a registry of the server's own (not prom-client's global one), so tests
 * can run several servers in one process. Label values are bounded: routes are a fixed set, site
 * names come from storage (the pipeline's prefixes), never from request paths.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export type RouteLabel = "index" | "site" | "healthz" | "metrics" | "rejected";

export class Metrics {
    readonly registry = new Registry();
    readonly requests: Counter<"route" | "method" | "status">;
    readonly duration: Histogram<"route">;
    readonly inFlight: Gauge;
    readonly storageErrors: Counter<"backend" | "kind">;
    readonly siteUpdated: Gauge<"site">;
    readonly siteObjects: Gauge<"site">;
    readonly cacheLookups: Counter<"variant" | "result">;

    constructor(options: { defaultMetrics?: boolean } = {}) {
        const registers = [this.registry];
        this.requests = new Counter({
            name: "docs_http_requests_total",
            help: "HTTP requests by route, method and status code.",
            labelNames: ["route", "method", "status"] as const,
            registers,
        });
        this.duration = new Histogram({
            name: "docs_http_request_duration_seconds",
            help: "Time from request to the end of the response, by route.",
            labelNames: ["route"] as const,
            buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
            registers,
        });
        this.inFlight = new Gauge({
            name: "docs_http_requests_in_flight",
            help: "Requests being served.",
            registers,
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
}

/** `GET`, `HEAD` or `other`, so arbitrary method tokens cannot grow the label set. */
export function methodLabel(method: string | undefined): string {
    return method === "GET" || method === "HEAD" ? method : "other";
}
