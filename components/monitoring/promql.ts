/**
 * PromQL helpers of the monitoring tests (dashboards and alert rules): bracket balance, the
 * metric names an expression selects, and whether a name is in the metric catalog. Test logic
 * only; the deployment never imports it.
 */
import type { MetricInfo } from "./metric-catalog";

const PROMQL_FUNCTIONS = new Set([
    // aggregation operators
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    // functions
    "abs",
    "absent",
    "absent_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "count_over_time",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "deg",
    "delta",
    "deriv",
    "double_exponential_smoothing",
    "exp",
    "floor",
    "histogram_avg",
    "histogram_count",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_stddev",
    "histogram_stdvar",
    "histogram_sum",
    "holt_winters",
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_join",
    "label_replace",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "mad_over_time",
    "max_over_time",
    "min_over_time",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_by_label",
    "sort_by_label_desc",
    "sort_desc",
    "sqrt",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "tan",
    "tanh",
    "time",
    "timestamp",
    "vector",
    "year",
]);
/** Keywords followed by a parenthesised list of label names. */
const LABEL_LIST_KEYWORDS = new Set([
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
]);
const KEYWORDS = new Set([
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "atan2",
    "inf",
    "nan",
    "start",
    "end",
]);

const CLOSERS: Record<string, string> = { "(": ")", "[": "]", "{": "}" };

/** Unbalanced brackets or unterminated strings in `expr`, as messages (empty when fine). */
export function balanceProblems(expr: string): string[] {
    const stack: string[] = [];
    for (let i = 0; i < expr.length; i++) {
        const ch = expr.charAt(i);
        if (ch === '"' || ch === "'" || ch === "`") {
            const end = skipString(expr, i);
            if (end < 0) return [`unterminated string starting at column ${i + 1}`];
            i = end;
        } else if (ch in CLOSERS) {
            stack.push(CLOSERS[ch] ?? "");
        } else if (ch === ")" || ch === "]" || ch === "}") {
            const want = stack.pop();
            if (want !== ch) {
                return [
                    `'${ch}' at column ${i + 1} does not close ${want ? `'${want}'` : "anything"}`,
                ];
            }
        }
    }
    return stack.length > 0
        ? [
              `missing ${stack
                  .reverse()
                  .map((c) => `'${c}'`)
                  .join(", ")}`,
          ]
        : [];
}

/** Index of the closing quote of the string starting at `start`, or -1. */
function skipString(expr: string, start: number): number {
    const quote = expr.charAt(start);
    for (let i = start + 1; i < expr.length; i++) {
        const ch = expr.charAt(i);
        if (ch === "\\" && quote !== "`") i++;
        else if (ch === quote) return i;
    }
    return -1;
}

/** Index just past the bracket matching the one at `start` (strings skipped). */
function skipGroup(expr: string, start: number): number {
    let depth = 0;
    for (let i = start; i < expr.length; i++) {
        const ch = expr.charAt(i);
        if (ch === '"' || ch === "'" || ch === "`") i = skipString(expr, i);
        else if (ch in CLOSERS) depth++;
        else if (ch === ")" || ch === "]" || ch === "}") {
            depth--;
            if (depth === 0) return i + 1;
        }
    }
    return expr.length;
}

/**
 * The metric names a PromQL expression selects: identifiers that are not functions, keywords,
 * label names (inside `{…}` or after by/without/on/ignoring/group_*), durations or Grafana
 * variables. An identifier followed by `(` must be a known function.
 */
export function promqlMetricNames(expr: string): { names: string[]; problems: string[] } {
    const problems = balanceProblems(expr);
    if (problems.length > 0) return { names: [], problems };
    const names: string[] = [];
    let i = 0;
    while (i < expr.length) {
        const ch = expr.charAt(i);
        const rest = expr.slice(i);
        if (ch === '"' || ch === "'" || ch === "`") {
            i = skipString(expr, i) + 1;
        } else if (ch === "{" || ch === "[") {
            i = skipGroup(expr, i); // label matchers, ranges and subqueries
        } else if (ch === "$") {
            i += /^\$\{?\w+\}?/.exec(rest)?.[0].length ?? 1; // Grafana variable
        } else if (/[0-9.]/.test(ch)) {
            i += /^[0-9.][0-9a-zA-Z_.]*/.exec(rest)?.[0].length ?? 1; // number or duration
        } else if (/[a-zA-Z_:]/.test(ch)) {
            const ident = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(rest)?.[0] ?? ch;
            i += ident.length;
            const next = /^\s*\(/.exec(expr.slice(i));
            const grouping = /^\s*(by|without)\s*\(/.test(expr.slice(i)); // sum by (…) (…)
            if (LABEL_LIST_KEYWORDS.has(ident)) {
                if (next) i = skipGroup(expr, i + next[0].length - 1);
            } else if (next || (grouping && PROMQL_FUNCTIONS.has(ident))) {
                if (!PROMQL_FUNCTIONS.has(ident)) problems.push(`unknown function '${ident}'`);
            } else if (!KEYWORDS.has(ident)) {
                names.push(ident);
            }
        } else {
            i++;
        }
    }
    return { names, problems };
}

/** Is `name` in the catalog, directly or as a suffix series of a histogram/summary? */
export function inCatalog(name: string, catalog: ReadonlyMap<string, MetricInfo>): boolean {
    if (catalog.has(name)) return true;
    const suffixes: [string, readonly string[]][] = [
        ["_bucket", ["histogram"]],
        ["_sum", ["histogram", "summary"]],
        ["_count", ["histogram", "summary"]],
    ];
    return suffixes.some(([suffix, types]) => {
        if (!name.endsWith(suffix)) return false;
        const base = catalog.get(name.slice(0, -suffix.length));
        return base !== undefined && types.includes(base.type);
    });
}
