/**
 * Which DAG a new object starts: routing by key prefix.
 *
 * Each dataset of `dags/datasets.yaml` owns one key prefix in the landing bucket,
 * `<landing_prefix><file_prefix>` (`trip data/yellow_tripdata_`, `trip data/green_tripdata_`),
 * and one batch DAG (`batch`, `batch_green`). The stack passes the table to the function as
 * JSON in `AIRFLOW_DAG_ROUTES`; a key is routed to the one route whose prefix it starts with.
 * No prefix may start another one, so a key can never match two routes.
 */

export interface DagRoute {
    /** Decoded key prefix (spaces as spaces): `trip data/yellow_tripdata_`. "" matches every key. */
    prefix: string;
    /** DAG started for keys under the prefix. */
    dagId: string;
}

/** Airflow's DAG id rule: letters, digits, `_`, `-`, `.`; at most 250 characters. */
const DAG_ID = /^[A-Za-z0-9_.-]{1,250}$/;

/** Problems with a route table (empty when it is usable): each names the route and the fix. */
export function routeProblems(routes: DagRoute[]): string[] {
    const problems: string[] = [];
    if (routes.length === 0) problems.push("no routes: give at least one {prefix, dag_id}");
    routes.forEach((r, i) => {
        if (!DAG_ID.test(r.dagId))
            problems.push(
                `route ${i}: dag_id ${JSON.stringify(r.dagId)} is not an Airflow DAG id (letters, digits, _ - ., at most 250)`,
            );
        if (r.prefix.startsWith("/"))
            problems.push(
                `route ${i}: prefix ${JSON.stringify(r.prefix)} starts with "/" (S3 keys have no leading slash)`,
            );
    });
    for (const [i, a] of routes.entries())
        for (const [j, b] of routes.entries())
            if (i < j && (a.prefix.startsWith(b.prefix) || b.prefix.startsWith(a.prefix)))
                problems.push(
                    `routes ${i} and ${j} overlap (${JSON.stringify(a.prefix)}, ${JSON.stringify(b.prefix)}): a key would match both; make the prefixes distinct`,
                );
    return problems;
}

/**
 * Parse `AIRFLOW_DAG_ROUTES`: `[{"prefix": "trip data/yellow_tripdata_", "dag_id": "batch"}, …]`.
 * Returns the routes, or throws an Error whose message says what is wrong.
 */
export function parseRoutes(raw: string): DagRoute[] {
    let parsed: unknown;
    try {
        parsed = JSON.parse(raw);
    } catch {
        throw new Error(
            'is not JSON; expected [{"prefix": "trip data/yellow_tripdata_", "dag_id": "batch"}, …]',
        );
    }
    if (!Array.isArray(parsed))
        throw new Error('is not a JSON array of {"prefix", "dag_id"} objects');
    const routes = parsed.map((item: unknown, i): DagRoute => {
        const o = (typeof item === "object" && item !== null ? item : {}) as Record<
            string,
            unknown
        >;
        if (typeof o.prefix !== "string" || typeof o.dag_id !== "string")
            throw new Error(`route ${i} needs string fields "prefix" and "dag_id"`);
        return { prefix: o.prefix, dagId: o.dag_id };
    });
    const problems = routeProblems(routes);
    if (problems.length > 0) throw new Error(problems.join("; "));
    return routes;
}

/** The JSON the stack puts in `AIRFLOW_DAG_ROUTES` (the inverse of `parseRoutes`). */
export function formatRoutes(routes: DagRoute[]): string {
    return JSON.stringify(routes.map((r) => ({ prefix: r.prefix, dag_id: r.dagId })));
}

/** The route of a decoded key, or why it starts no run. */
export function routeKey(
    key: string,
    routes: DagRoute[],
    suffix: string,
): { route: DagRoute } | { reason: string } {
    if (!key.endsWith(suffix)) return { reason: `key does not end with ${JSON.stringify(suffix)}` };
    const route = routes.find((r) => key.startsWith(r.prefix));
    if (route === undefined)
        return {
            reason: `key starts with none of the dataset prefixes ${routes.map((r) => JSON.stringify(r.prefix)).join(", ")}`,
        };
    return { route };
}
