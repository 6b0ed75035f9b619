/**
 * Tests of the monitoring content: the Grafana dashboards, the statsd-exporter mapping and the
 * metric catalog they are checked against. The linters below are test logic; each is also run
 * against a bad snippet so that a check that cannot fail would show up here.
 */
import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import {
    DASHBOARD_TAG,
    DASHBOARDS_DIR,
    GRAFANA_SCHEMA_VERSION,
    PROMETHEUS_DATASOURCE_UID,
    STATSD_MAPPING_FILE,
    loadDashboards,
} from "./content";
import {
    type MetricInfo,
    METRIC_SOURCES,
    SPARK_JMX_METRICS,
    SPARK_JMX_RULES_FILE,
    SPARK_SOURCE_METRICS,
    STATSD_METRICS,
    type StatsdMapping,
    type StatsdMappingConfig,
    type StatsdMetricType,
    jmxExportedMetrics,
    loadJmxExporterConfig,
    loadStatsdMapping,
    metricCatalog,
    parseJmxExporterConfig,
    parseStatsdMapping,
    statsdMetrics,
} from "./metric-catalog";
import { balanceProblems, inCatalog, promqlMetricNames } from "./promql";

/* ------------------------------------------------------------------------------------------ */
/* Dashboard linter                                                                            */
/* ------------------------------------------------------------------------------------------ */

type Json = any;

const PANEL_TYPES = new Set([
    "timeseries",
    "stat",
    "gauge",
    "bargauge",
    "table",
    "barchart",
    "piechart",
]);

function variableQuery(v: Json): string | undefined {
    if (typeof v.query === "string") return v.query;
    if (v.query && typeof v.query.query === "string") return v.query.query;
    return undefined;
}

/** PromQL inside a Grafana variable query (`label_values(<selector>, label)` or plain PromQL). */
function variablePromql(query: string): string | undefined {
    const lv = /^\s*label_values\((.*)\)\s*$/s.exec(query);
    if (lv) {
        // label_values(<selector>, <label>) or label_values(<label>): the label comes last.
        const args = lv[1] ?? "";
        const comma = args.lastIndexOf(",");
        return comma < 0 ? undefined : args.slice(0, comma);
    }
    const qr = /^\s*query_result\((.*)\)\s*$/s.exec(query);
    return qr ? qr[1] : query;
}

function checkDatasource(ds: Json, where: string, datasourceVars: Set<string>): string[] {
    if (!ds || ds.type !== "prometheus") {
        return [
            `${where}: datasource must be {type: "prometheus", uid: ...}, got ${JSON.stringify(ds)}`,
        ];
    }
    const uid = String(ds.uid);
    const variable = /^\$\{?(\w+)\}?$/.exec(uid)?.[1];
    if (variable !== undefined) {
        return datasourceVars.has(variable)
            ? []
            : [
                  `${where}: datasource uses \${${variable}} but no datasource variable of that name exists`,
              ];
    }
    return uid === PROMETHEUS_DATASOURCE_UID
        ? []
        : [
              `${where}: datasource uid '${uid}' is neither '${PROMETHEUS_DATASOURCE_UID}' nor a datasource variable`,
          ];
}

function checkPromql(
    expr: unknown,
    where: string,
    catalog: ReadonlyMap<string, MetricInfo>,
): string[] {
    if (typeof expr !== "string" || expr.trim() === "") return [`${where}: empty or missing expr`];
    const { names, problems } = promqlMetricNames(expr);
    const out = problems.map((p) => `${where}: ${p} in: ${expr}`);
    if (problems.length === 0 && names.length === 0)
        out.push(`${where}: selects no metric: ${expr}`);
    for (const name of names) {
        if (!inCatalog(name, catalog)) {
            out.push(
                `${where}: metric '${name}' is not in the metric catalog (components/monitoring/metric-catalog.ts); ` +
                    "fix the name or add the metric to its source's list",
            );
        }
    }
    return out;
}

/** Every problem of one dashboard model, each naming the panel/target/variable concerned. */
function lintDashboard(
    model: Json,
    file: string,
    catalog: ReadonlyMap<string, MetricInfo>,
): string[] {
    const problems: string[] = [];
    const at = (s: string) => `${file}: ${s}`;
    if (typeof model !== "object" || model === null) return [at("not a JSON object")];
    if (typeof model.uid !== "string" || !/^[a-zA-Z0-9_-]{1,40}$/.test(model.uid)) {
        problems.push(at("uid must be 1-40 characters of letters, digits, '-' or '_'"));
    }
    if (typeof model.title !== "string" || model.title.trim() === "")
        problems.push(at("missing title"));
    if (model.schemaVersion !== GRAFANA_SCHEMA_VERSION) {
        problems.push(
            at(
                `schemaVersion must be ${GRAFANA_SCHEMA_VERSION} (Grafana 12), got ${model.schemaVersion}`,
            ),
        );
    }
    if (!Array.isArray(model.tags) || !model.tags.includes(DASHBOARD_TAG)) {
        problems.push(at(`tags must include '${DASHBOARD_TAG}'`));
    }
    if (model.id !== undefined && model.id !== null)
        problems.push(at("remove 'id': provisioning assigns it"));

    const variables: Json[] = model.templating?.list ?? [];
    const datasourceVars = new Set<string>(
        variables
            .filter((v) => v.type === "datasource" && v.query === "prometheus")
            .map((v) => String(v.name)),
    );
    for (const v of variables) {
        const where = `variable '${v.name}'`;
        if (v.type !== "query") continue;
        problems.push(...checkDatasource(v.datasource, at(where), datasourceVars));
        const query = variableQuery(v);
        if (query === undefined) {
            problems.push(at(`${where}: missing query`));
            continue;
        }
        const promql = variablePromql(query);
        if (promql !== undefined) problems.push(...checkPromql(promql, at(where), catalog));
    }

    if (!Array.isArray(model.panels) || model.panels.length === 0)
        return [...problems, at("no panels")];
    const ids = new Set<number>();
    for (const panel of model.panels as Json[]) {
        const where = `panel ${panel.id} '${panel.title}'`;
        if (typeof panel.id !== "number" || ids.has(panel.id))
            problems.push(at(`${where}: id missing or repeated`));
        ids.add(panel.id);
        if (!PANEL_TYPES.has(panel.type))
            problems.push(at(`${where}: unexpected panel type '${panel.type}'`));
        if (typeof panel.title !== "string" || panel.title.trim() === "")
            problems.push(at(`${where}: missing title`));
        const g = panel.gridPos;
        if (!g || g.x < 0 || g.w < 1 || g.x + g.w > 24 || g.h < 1) {
            problems.push(at(`${where}: gridPos must fit the 24-column grid`));
        }
        problems.push(...checkDatasource(panel.datasource, at(where), datasourceVars));
        if (!Array.isArray(panel.targets) || panel.targets.length === 0) {
            problems.push(at(`${where}: no targets`));
            continue;
        }
        const refIds = new Set<string>();
        for (const target of panel.targets as Json[]) {
            const tw = `${where} target ${target.refId}`;
            if (typeof target.refId !== "string" || refIds.has(target.refId)) {
                problems.push(at(`${tw}: refId missing or repeated`));
            }
            refIds.add(target.refId);
            if (target.datasource !== undefined) {
                problems.push(...checkDatasource(target.datasource, at(tw), datasourceVars));
            }
            problems.push(...checkPromql(target.expr, at(tw), catalog));
        }
    }
    return problems;
}

/** Every metric name a dashboard's targets and variables select. */
function dashboardMetricNames(model: Json): Set<string> {
    const exprs: string[] = [];
    for (const p of model.panels ?? []) for (const t of p.targets ?? []) exprs.push(t.expr);
    for (const v of model.templating?.list ?? []) {
        const q = v.type === "query" ? variableQuery(v) : undefined;
        const promql = q === undefined ? undefined : variablePromql(q);
        if (promql !== undefined) exprs.push(promql);
    }
    return new Set(exprs.flatMap((e) => promqlMetricNames(e).names));
}

/* ------------------------------------------------------------------------------------------ */
/* statsd mapping: glob matcher and linter                                                     */
/* ------------------------------------------------------------------------------------------ */

/** statsd-exporter's glob grammar: dot-separated components, each `*` or a literal name. */
const GLOB_LINE = /^(\*\.|[a-zA-Z_](-?[a-zA-Z0-9_])*\.)+(\*|[a-zA-Z_](-?[a-zA-Z0-9_])*)$/;
const PROM_METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const PROM_LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Captures of `metric` against a statsd glob (`*` = one whole dot-separated component). */
function globMatch(glob: string, metric: string): string[] | null {
    const want = glob.split(".");
    const got = metric.split(".");
    if (want.length !== got.length) return null;
    const captures: string[] = [];
    for (let i = 0; i < want.length; i++) {
        const w = want[i] ?? "";
        const g = got[i] ?? "";
        if (w === "*") {
            if (g === "") return null;
            captures.push(g);
        } else if (w !== g) {
            return null;
        }
    }
    return captures;
}

function expand(template: string, captures: readonly string[]): string {
    return template.replace(/\$\{?(\d+)\}?/g, (_all, n: string) => captures[Number(n) - 1] ?? "");
}

interface Resolution {
    readonly rule: StatsdMapping;
    readonly name: string;
    readonly labels: Record<string, string>;
}

/** The rule statsd-exporter applies to `metric`: glob rules first in order, then regex rules. */
function resolveStatsd(
    config: StatsdMappingConfig,
    metric: string,
    type: StatsdMetricType,
): Resolution | null {
    const typeOk = (m: StatsdMapping) =>
        m.matchMetricType === undefined || m.matchMetricType === type;
    const apply = (rule: StatsdMapping, captures: readonly string[]): Resolution => ({
        rule,
        name: expand(rule.name, captures),
        labels: Object.fromEntries(
            Object.entries(rule.labels).map(([k, v]) => [k, expand(v, captures)]),
        ),
    });
    for (const rule of config.mappings) {
        if (rule.matchType !== "glob" || !typeOk(rule)) continue;
        const captures = globMatch(rule.match, metric);
        if (captures) return apply(rule, captures);
    }
    for (const rule of config.mappings) {
        if (rule.matchType !== "regex" || !typeOk(rule)) continue;
        const found = new RegExp(rule.match).exec(metric);
        if (found)
            return apply(
                rule,
                found.slice(1).map((c) => c ?? ""),
            );
    }
    return null;
}

/** Problems of a parsed mapping: names, labels, glob syntax, capture references, conflicts. */
function lintStatsdMapping(config: StatsdMappingConfig): string[] {
    const problems: string[] = [];
    const seen = new Map<
        string,
        { labels: string; type: string | undefined; rule: StatsdMapping }
    >();
    for (const rule of config.mappings) {
        const where = `mapping #${rule.index} (match '${rule.match}')`;
        let captureCount: number;
        if (rule.matchType === "glob") {
            if (!GLOB_LINE.test(rule.match)) {
                problems.push(
                    `${where}: not a valid statsd-exporter glob (components are '*' or names)`,
                );
            }
            captureCount = rule.match.split(".").filter((c) => c === "*").length;
        } else {
            try {
                captureCount = new RegExp(`${rule.match}|`).exec("")?.length ?? 1;
                captureCount -= 1;
            } catch (err) {
                problems.push(`${where}: invalid regex: ${(err as Error).message}`);
                continue;
            }
        }
        if (rule.action === "drop") continue;
        if (!PROM_METRIC_NAME.test(rule.name)) {
            problems.push(`${where}: name '${rule.name}' is not a valid Prometheus metric name`);
        }
        for (const [label, value] of Object.entries(rule.labels)) {
            if (!PROM_LABEL_NAME.test(label) || label.startsWith("__")) {
                problems.push(`${where}: label '${label}' is not a valid Prometheus label name`);
            }
            for (const ref of value.matchAll(/\$\{?(\d+)\}?/g)) {
                if (Number(ref[1]) < 1 || Number(ref[1]) > captureCount) {
                    problems.push(
                        `${where}: label '${label}' uses $${ref[1]} but the match has ${captureCount} capture(s)`,
                    );
                }
            }
        }
        const type = rule.matchMetricType;
        if ((type === "counter") !== rule.name.endsWith("_total")) {
            problems.push(`${where}: '${rule.name}': counters, and only counters, end in _total`);
        }
        if (type === "observer" && !rule.name.endsWith("_seconds")) {
            problems.push(
                `${where}: '${rule.name}': Airflow timers are observed in seconds; end the name in _seconds`,
            );
        }
        const labels = Object.keys(rule.labels).sort().join(",");
        const prior = seen.get(rule.name);
        if (!prior) {
            seen.set(rule.name, { labels, type, rule });
        } else if (prior.labels !== labels || prior.type !== type) {
            problems.push(
                `${where}: '${rule.name}' is also produced by mapping #${prior.rule.index} with ` +
                    `labels [${prior.labels}] and type ${prior.type}; here [${labels}] and ${type}: ` +
                    "statsd-exporter needs one label set and type per name",
            );
        }
    }
    return problems;
}

/* ------------------------------------------------------------------------------------------ */
/* Tests                                                                                       */
/* ------------------------------------------------------------------------------------------ */

const catalog = metricCatalog();
const dashboards = loadDashboards();
const models = new Map(dashboards.map((d) => [d.uid, JSON.parse(d.json)]));

function model(uid: string): Json {
    const m = models.get(uid);
    assert.ok(m, `dashboard ${uid} not found`);
    return m;
}

describe("components/monitoring: metric catalog", () => {
    it("merges every source without name or type clashes", () => {
        const total = Object.values(METRIC_SOURCES).reduce((n, list) => n + list.length, 0);
        assert.equal(catalog.size, total, "a metric name appears in two sources");
        assert.throws(
            () =>
                metricCatalog({
                    a: [{ name: "x_total", type: "counter" }],
                    b: [{ name: "x_total", type: "gauge" }],
                }),
            /'x_total' is both counter and gauge/,
        );
        assert.throws(
            () => metricCatalog({ a: [{ name: "bad-name", type: "gauge" }] }),
            /not a valid Prometheus metric name/,
        );
    });

    it("derives STATSD_METRICS from the mapping file's map rules", () => {
        const config = loadStatsdMapping();
        const mapNames = [
            ...new Set(config.mappings.filter((m) => m.action === "map").map((m) => m.name)),
        ];
        assert.deepEqual(STATSD_METRICS.map((m) => m.name).sort(), mapNames.sort());
        assert.ok(!STATSD_METRICS.some((m) => m.name === "dropped"), "drop rules are not metrics");
        assert.deepEqual(
            STATSD_METRICS.find((m) => m.name === "airflow_dagrun_duration_seconds"),
            { name: "airflow_dagrun_duration_seconds", type: "histogram" },
        );
        // A rule added to the YAML shows up in the derived list, with its type.
        const doc: any = parseYaml(readFileSync(STATSD_MAPPING_FILE, "utf8"));
        doc.mappings.unshift({
            match: "airflow.example",
            match_metric_type: "gauge",
            name: "airflow_example",
        });
        assert.deepEqual(
            statsdMetrics(parseStatsdMapping(doc)).find((m) => m.name === "airflow_example"),
            { name: "airflow_example", type: "gauge" },
        );
    });

    it("rejects mapping rules without match, name or metric type, naming the rule", () => {
        assert.throws(
            () => parseStatsdMapping({ mappings: [{ match: "a.b" }] }, "m.yaml"),
            /m\.yaml: mapping #1 \(match 'a\.b'\): 'name'/,
        );
        assert.throws(
            () => parseStatsdMapping({ mappings: [{ name: "a_b" }] }, "m.yaml"),
            /mapping #1: 'match'/,
        );
        assert.throws(
            () => parseStatsdMapping({ mappings: [{ match: "a.b", name: "a_b" }] }, "m.yaml"),
            /set match_metric_type/,
        );
        assert.throws(() => parseStatsdMapping({ rules: [] }, "m.yaml"), /'mappings:' list/);
    });

    it("derives SPARK_JMX_METRICS by running the rules of spark/conf/jmx-exporter.yaml", () => {
        const names = new Set(SPARK_JMX_METRICS.map((m) => m.name));
        for (const expected of [
            "spark_driver_jvm_heap_used",
            "spark_driver_dagscheduler_job_activejobs",
            "spark_driver_livelistenerbus_numeventsposted_total",
            "spark_driver_dagscheduler_messageprocessingtime_mean",
            "spark_executor_executor_shuffletotalbytesread_total",
            "spark_executor_executor_threadpool_activetasks",
        ]) {
            assert.ok(names.has(expected), `${expected} missing from SPARK_JMX_METRICS`);
        }
        // Timers export only Count and Mean under the current rules.
        assert.ok(!names.has("spark_driver_dagscheduler_messageprocessingtime_max"));
        // Change a rule's name template and the derived names follow.
        const doc: any = parseYaml(readFileSync(SPARK_JMX_RULES_FILE, "utf8"));
        doc.rules[0].name = "spark_drv_$2_$3";
        const changed = jmxExportedMetrics(parseJmxExporterConfig(doc), SPARK_SOURCE_METRICS).map(
            (m) => m.name,
        );
        assert.ok(changed.includes("spark_drv_jvm_heap_used"));
        assert.ok(!changed.includes("spark_driver_jvm_heap_used"));
        assert.equal(loadJmxExporterConfig().lowercaseOutputName, true);
    });
});

describe("components/monitoring: PromQL checks", () => {
    it("extracts metric names, ignoring functions, label names, keywords and variables", () => {
        const { names, problems } = promqlMetricNames(
            'histogram_quantile(0.95, sum by (le, dag_id) (rate(a_bucket{dag_id=~"$dag_id", x="y}"}[$__rate_interval]))) / on (dag_id) group_left () b offset 5m > bool 1e3',
        );
        assert.deepEqual(problems, []);
        assert.deepEqual(names, ["a_bucket", "b"]);
        assert.deepEqual(promqlMetricNames("sum(x) without (pod) or vector(0)").names, ["x"]);
        assert.deepEqual(promqlMetricNames("max without (pod) (y) + count by(a)(z)").names, [
            "y",
            "z",
        ]);
    });

    it("reports unbalanced brackets, unterminated strings and unknown functions", () => {
        assert.match(balanceProblems("sum(rate(x[5m])").join(), /missing '\)'/);
        assert.match(balanceProblems("sum(x]").join(), /does not close '\)'/);
        assert.match(balanceProblems('x{a="b}').join(), /unterminated string/);
        assert.deepEqual(balanceProblems('sum(rate(x{a="(["}[5m]))'), []);
        assert.match(promqlMetricNames("summ(x)").problems.join(), /unknown function 'summ'/);
    });

    it("accepts histogram/summary suffixes only on histograms/summaries", () => {
        const c = metricCatalog({
            t: [
                { name: "h_seconds", type: "histogram" },
                { name: "s_seconds", type: "summary" },
                { name: "g", type: "gauge" },
            ],
        });
        assert.ok(
            inCatalog("h_seconds_bucket", c) &&
                inCatalog("s_seconds_count", c) &&
                inCatalog("g", c),
        );
        assert.ok(
            !inCatalog("s_seconds_bucket", c) && !inCatalog("g_count", c) && !inCatalog("nope", c),
        );
    });
});

describe("components/monitoring: dashboards", () => {
    it("has the five dashboards with stable uids and unique titles", () => {
        assert.deepEqual(
            dashboards.map((d) => `${d.file}=${d.uid}`),
            [
                "airflow.json=taxi-airflow",
                "cluster.json=taxi-cluster",
                "fare-api.json=taxi-fare-api",
                "postgres.json=taxi-postgres",
                "spark.json=taxi-spark",
            ],
        );
        assert.equal(new Set(dashboards.map((d) => d.title)).size, dashboards.length);
        for (const d of dashboards) {
            assert.equal(
                d.json,
                readFileSync(path.join(DASHBOARDS_DIR, d.file), "utf8"),
                "json is the file text",
            );
        }
    });

    for (const file of [
        "airflow.json",
        "spark.json",
        "postgres.json",
        "cluster.json",
        "fare-api.json",
    ]) {
        it(`${file}: Prometheus datasource everywhere, balanced PromQL, catalog metrics only`, () => {
            const d = dashboards.find((x) => x.file === file);
            assert.ok(d, `${file} not loaded`);
            assert.deepEqual(lintDashboard(JSON.parse(d.json), file, catalog), []);
        });
    }

    it("the linter catches a bad dashboard", () => {
        const bad = structuredClone(model("taxi-postgres"));
        bad.schemaVersion = 39;
        bad.id = 7;
        bad.tags = [];
        bad.panels[0].datasource = { type: "loki", uid: "logs" };
        bad.panels[1].targets[0].expr = "sum(pg_stat_database_numbackendz";
        bad.panels[2].targets[0].expr = "sum(rate(pg_no_such_metric_total[5m]))";
        bad.panels[3].targets.push({ refId: bad.panels[3].targets[0].refId, expr: "pg_up" });
        bad.panels[4].datasource = { type: "prometheus", uid: "${missing}" };
        bad.panels[5].gridPos = { x: 20, y: 0, w: 8, h: 4 };
        bad.templating.list[1].definition = "label_values(pg_nope, datname)";
        bad.templating.list[1].query.query = "label_values(pg_nope, datname)";
        const problems = lintDashboard(bad, "bad.json", catalog).join("\n");
        for (const expected of [
            /schemaVersion must be 41/,
            /remove 'id'/,
            /tags must include 'taxi-platform'/,
            /panel 1 .*datasource must be \{type: "prometheus"/,
            /panel 2 .*missing '\)'/,
            /panel 3 .*'pg_no_such_metric_total' is not in the metric catalog/,
            /panel 4 .*refId missing or repeated/,
            /panel 5 .*no datasource variable of that name/,
            /panel 6 .*gridPos/,
            /variable 'datname'.*'pg_nope' is not in the metric catalog/,
        ]) {
            assert.match(problems, expected);
        }
    });

    it("each dashboard covers the signals it is for", () => {
        const required: Record<string, string[]> = {
            "taxi-airflow": [
                "airflow_scheduler_heartbeat_total",
                "airflow_dagrun_duration_seconds_count",
                "airflow_dagrun_duration_seconds_bucket",
                "airflow_ti_finish_total",
                "airflow_pool_open_slots",
                "airflow_executor_open_slots",
                "airflow_dag_processing_import_errors",
                "airflow_dag_processing_total_parse_time_seconds",
            ],
            "taxi-spark": [
                "spark_driver_jvm_heap_used",
                "spark_driver_jvm_g1_young_generation_time",
                "spark_driver_dagscheduler_job_activejobs",
                "spark_driver_dagscheduler_stage_runningstages",
                "spark_executor_executor_shuffletotalbytesread_total",
                "spark_application_running_count",
                "spark_application_failure_count",
                "spark_executor_running_count",
            ],
            "taxi-postgres": [
                "pg_up",
                "pg_stat_database_numbackends",
                "pg_settings_max_connections",
                "pg_stat_database_xact_commit",
                "pg_stat_database_blks_hit",
                "pg_database_size_bytes",
                "pg_stat_database_deadlocks",
            ],
            "taxi-cluster": [
                "kube_pod_status_phase",
                "kube_pod_container_status_restarts_total",
                "kube_deployment_status_replicas_available",
                "kube_deployment_spec_replicas",
                "kube_job_status_succeeded",
                "kube_job_status_failed",
                "kube_node_info",
                "kube_node_status_allocatable",
                "kube_persistentvolumeclaim_status_phase",
            ],
        };
        for (const [uid, metrics] of Object.entries(required)) {
            const used = dashboardMetricNames(model(uid));
            const missing = metrics.filter((m) => !used.has(m));
            assert.deepEqual(missing, [], `${uid} does not chart ${missing.join(", ")}`);
        }
        const jobs = model("taxi-cluster").templating.list.find(
            (v: Json) => v.name === "jobs_namespace",
        );
        assert.equal(
            jobs?.current?.value,
            "jobs",
            "pipeline Jobs run in the 'jobs' namespace by default",
        );
    });

    it("loadDashboards fails on a broken or duplicate file, naming it", () => {
        const dir = mkdtempSync(path.join(tmpdir(), "dashboards-"));
        try {
            writeFileSync(path.join(dir, "a.json"), JSON.stringify({ uid: "u", title: "A" }));
            writeFileSync(path.join(dir, "b.json"), JSON.stringify({ uid: "u", title: "B" }));
            assert.throws(() => loadDashboards(dir), /b\.json: uid 'u' is already used by a\.json/);
            writeFileSync(path.join(dir, "b.json"), "{ not json");
            assert.throws(() => loadDashboards(dir), /b\.json: not valid JSON/);
            writeFileSync(path.join(dir, "b.json"), JSON.stringify({ title: "B" }));
            assert.throws(() => loadDashboards(dir), /b\.json: a dashboard needs a string 'uid'/);
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("components/monitoring: statsd mapping", () => {
    const config = loadStatsdMapping();

    it("every rule has match and name; names, labels, globs and types are valid and consistent", () => {
        const raw: any = parseYaml(readFileSync(STATSD_MAPPING_FILE, "utf8"));
        for (const [i, rule] of (raw.mappings as any[]).entries()) {
            assert.equal(typeof rule.match, "string", `mapping #${i + 1} has no match`);
            assert.equal(typeof rule.name, "string", `mapping #${i + 1} has no name`);
        }
        assert.deepEqual(lintStatsdMapping(config), []);
    });

    it("the linter catches conflicting, misnamed and malformed rules", () => {
        const bad = parseStatsdMapping({
            mappings: [
                {
                    match: "airflow.a.*",
                    match_metric_type: "gauge",
                    name: "airflow_a",
                    labels: { pool: "$1" },
                },
                {
                    match: "airflow.b.*.*",
                    match_metric_type: "gauge",
                    name: "airflow_a",
                    labels: { pool: "$1", x: "$2" },
                },
                { match: "airflow.c", match_metric_type: "counter", name: "airflow_c" },
                { match: "airflow.d", match_metric_type: "observer", name: "airflow-d_seconds" },
                { match: "airflow..e", match_metric_type: "observer", name: "airflow_e" },
                {
                    match: "airflow.f.*",
                    match_metric_type: "gauge",
                    name: "airflow_f",
                    labels: { "bad-label": "$2" },
                },
                {
                    match: "^airflow\\.(g$",
                    match_type: "regex",
                    match_metric_type: "gauge",
                    name: "airflow_g",
                },
            ],
        });
        const problems = lintStatsdMapping(bad).join("\n");
        for (const expected of [
            /mapping #2 .*'airflow_a' is also produced by mapping #1/,
            /mapping #3 .*counters, and only counters, end in _total/,
            /mapping #4 .*'airflow-d_seconds' is not a valid Prometheus metric name/,
            /mapping #5 .*not a valid statsd-exporter glob/,
            /mapping #5 .*end the name in _seconds/,
            /mapping #6 .*label 'bad-label' is not a valid Prometheus label name/,
            /mapping #6 .*uses \$2 but the match has 1 capture/,
            /mapping #7 .*invalid regex/,
        ]) {
            assert.match(problems, expected);
        }
    });

    it("the glob matcher matches whole dot-separated components", () => {
        assert.deepEqual(
            globMatch("airflow.pool.open_slots.*", "airflow.pool.open_slots.default_pool"),
            ["default_pool"],
        );
        assert.equal(globMatch("airflow.pool.open_slots.*", "airflow.pool.open_slots"), null);
        assert.equal(globMatch("airflow.pool.open_slots.*", "airflow.pool.open_slots.a.b"), null);
        assert.equal(globMatch("airflow.pool.*", "airflow.pools.x"), null);
    });

    // Real Airflow 3 metric names (statsd_prefix airflow), with the statsd type Airflow sends.
    const cases: [string, StatsdMetricType, string | null, Record<string, string>][] = [
        ["airflow.scheduler_heartbeat", "counter", "airflow_scheduler_heartbeat_total", {}],
        ["airflow.triggerer_heartbeat", "counter", "airflow_triggerer_heartbeat_total", {}],
        ["airflow.dag_processor_heartbeat", "counter", "airflow_dag_processor_heartbeat_total", {}],
        ["airflow.scheduler.dagruns.running", "gauge", "airflow_scheduler_dagruns_running", {}],
        [
            "airflow.dagrun.duration.success.batch",
            "observer",
            "airflow_dagrun_duration_seconds",
            { state: "success", dag_id: "batch" },
        ],
        [
            "airflow.dagrun.duration.failed.full_refresh",
            "observer",
            "airflow_dagrun_duration_seconds",
            { state: "failed", dag_id: "full_refresh" },
        ],
        [
            "airflow.dagrun.schedule_delay.batch",
            "observer",
            "airflow_dagrun_schedule_delay_seconds",
            { dag_id: "batch" },
        ],
        [
            "airflow.dagrun.batch.first_task_scheduling_delay",
            "observer",
            "airflow_dagrun_first_task_scheduling_delay_seconds",
            { dag_id: "batch" },
        ],
        [
            "airflow.dagrun.dependency-check.batch",
            "observer",
            "airflow_dagrun_dependency_check_seconds",
            { dag_id: "batch" },
        ],
        [
            "airflow.dag.batch.load_trips.duration",
            "observer",
            "airflow_task_duration_seconds",
            { dag_id: "batch", task_id: "load_trips" },
        ],
        [
            "airflow.dag.batch.load_trips.queued_duration",
            "observer",
            "airflow_task_queued_duration_seconds",
            { dag_id: "batch", task_id: "load_trips" },
        ],
        [
            "airflow.ti.start.batch.validate",
            "counter",
            "airflow_ti_start_total",
            { dag_id: "batch", task_id: "validate" },
        ],
        [
            "airflow.ti.finish.batch.validate.failed",
            "counter",
            "airflow_ti_finish_total",
            { dag_id: "batch", task_id: "validate", state: "failed" },
        ],
        [
            "airflow.ti.running.default.batch.validate",
            "gauge",
            "airflow_ti_running",
            { queue: "default", dag_id: "batch", task_id: "validate" },
        ],
        ["airflow.ti_failures", "counter", "airflow_ti_failures_total", {}],
        [
            "airflow.dag_processing.import_errors",
            "gauge",
            "airflow_dag_processing_import_errors",
            {},
        ],
        [
            "airflow.dag_processing.total_parse_time",
            "gauge",
            "airflow_dag_processing_total_parse_time_seconds",
            {},
        ],
        [
            "airflow.dag_processing.last_duration.batch",
            "observer",
            "airflow_dag_processing_last_duration_seconds",
            { file: "batch" },
        ],
        [
            "airflow.dag_processing.last_run.seconds_ago.batch",
            "gauge",
            "airflow_dag_processing_last_run_seconds_ago",
            { file: "batch" },
        ],
        ["airflow.dagbag_size", "gauge", "airflow_dagbag_size", {}],
        [
            "airflow.pool.open_slots.default_pool",
            "gauge",
            "airflow_pool_open_slots",
            { pool: "default_pool" },
        ],
        [
            "airflow.pool.running_slots.default_pool",
            "gauge",
            "airflow_pool_running_slots",
            { pool: "default_pool" },
        ],
        [
            "airflow.pool.queued_slots.default_pool",
            "gauge",
            "airflow_pool_queued_slots",
            { pool: "default_pool" },
        ],
        [
            "airflow.pool.deferred_slots.default_pool",
            "gauge",
            "airflow_pool_deferred_slots",
            { pool: "default_pool" },
        ],
        [
            "airflow.pool.starving_tasks.default_pool",
            "gauge",
            "airflow_pool_starving_tasks",
            { pool: "default_pool" },
        ],
        ["airflow.executor.open_slots", "gauge", "airflow_executor_open_slots", {}],
        ["airflow.executor.running_tasks", "gauge", "airflow_executor_running_tasks", {}],
        ["airflow.executor.queued_tasks", "gauge", "airflow_executor_queued_tasks", {}],
        ["airflow.scheduler.tasks.executable", "gauge", "airflow_scheduler_tasks_executable", {}],
        [
            "airflow.scheduler.critical_section_duration",
            "observer",
            "airflow_scheduler_critical_section_duration_seconds",
            {},
        ],
        [
            "airflow.scheduler.tasks.killed_externally",
            "counter",
            "airflow_scheduler_tasks_killed_externally_total",
            {},
        ],
        [
            "airflow.task_instances_without_heartbeats_killed",
            "counter",
            "airflow_task_instances_without_heartbeats_killed_total",
            {},
        ],
        [
            "airflow.scheduler.scheduler_loop_duration",
            "observer",
            "airflow_scheduler_loop_duration_seconds",
            {},
        ],
        ["airflow.scheduler.tasks.starving", "gauge", "airflow_scheduler_tasks_starving", {}],
        // Bare duplicates of labelled metrics: dropped.
        ["airflow.dagrun.duration.success", "observer", null, {}],
        ["airflow.ti.finish", "counter", null, {}],
        ["airflow.pool.open_slots", "gauge", null, {}],
        ["airflow.task.duration", "observer", null, {}],
        ["airflow.executor.open_slots.LocalExecutor", "gauge", null, {}],
    ];

    for (const [metric, type, name, labels] of cases) {
        it(`${metric} (${type}) -> ${name ?? "dropped"}`, () => {
            assert.ok(
                config.mappings.some((m) => m.matchType === "glob" && globMatch(m.match, metric)),
                `no glob rule matches ${metric}`,
            );
            const r = resolveStatsd(config, metric, type);
            assert.ok(r, `${metric}: no rule applies`);
            if (name === null) {
                assert.equal(
                    r.rule.action,
                    "drop",
                    `${metric} should be dropped, rule #${r.rule.index} maps it`,
                );
            } else {
                assert.equal(r.rule.action, "map", `${metric} dropped by rule #${r.rule.index}`);
                assert.deepEqual({ name: r.name, labels: r.labels }, { name, labels });
            }
        });
    }

    it("task ids with dots (task groups) and operator names reach the regex fallbacks", () => {
        const task = resolveStatsd(
            config,
            "airflow.dag.batch.load.spark_load.duration",
            "observer",
        );
        assert.deepEqual(
            { name: task?.name, labels: task?.labels, type: task?.rule.matchType },
            {
                name: "airflow_task_duration_seconds",
                labels: { dag_id: "batch", task_id: "load.spark_load" },
                type: "regex",
            },
        );
        const ti = resolveStatsd(
            config,
            "airflow.ti.finish.batch.load.spark_load.success",
            "counter",
        );
        assert.deepEqual(ti?.labels, {
            dag_id: "batch",
            task_id: "load.spark_load",
            state: "success",
        });
        const op = resolveStatsd(
            config,
            "airflow.operator_failures_KubernetesPodOperator",
            "counter",
        );
        assert.deepEqual(
            [op?.name, op?.labels],
            ["airflow_operator_failures_total", { operator: "KubernetesPodOperator" }],
        );
        const custom = resolveStatsd(config, "airflow.my_team.custom_metric", "counter");
        assert.equal(custom?.rule.action, "drop", "unmapped metrics are dropped by the last rule");
    });

    it("every Airflow metric a dashboard charts has a real Airflow name above that maps to it", () => {
        const reached = new Set(
            cases.map(([metric, type]) => resolveStatsd(config, metric, type)?.name),
        );
        const charted = new Set([...models.values()].flatMap((m) => [...dashboardMetricNames(m)]));
        const unreached = STATSD_METRICS.filter((m) =>
            [m.name, `${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`].some((n) =>
                charted.has(n),
            ),
        )
            .map((m) => m.name)
            .filter((n) => !reached.has(n));
        assert.deepEqual(
            unreached,
            [],
            "add an example Airflow metric name for these to the cases list",
        );
    });
});
