// The part of autocannon 9's programmatic API that bench/load.ts uses (the package ships no types).
declare module "autocannon" {
    interface Percentiles {
        average: number;
        mean: number;
        min: number;
        max: number;
        p50: number;
        p90: number;
        p99: number;
        total: number;
    }
    interface Options {
        url: string;
        connections?: number;
        duration?: number;
        pipelining?: number;
        method?: string;
        headers?: Record<string, string>;
        timeout?: number;
    }
    interface Result {
        errors: number;
        timeouts: number;
        non2xx: number;
        resets: number;
        statusCodeStats: Record<string, { count: number }>;
        latency: Percentiles;
        requests: Percentiles & { sent: number };
        throughput: Percentiles;
        duration: number;
    }
    function autocannon(options: Options): Promise<Result>;
    export = autocannon;
}
