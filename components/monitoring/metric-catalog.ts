/**
 * The metric catalog: every Prometheus metric name the Grafana dashboards in `dashboards/` may
 * query, grouped by the source that exposes it. Only the tests use it (`content.test.ts` checks
 * every dashboard query against it); the deployment reads `content.ts`.
 *
 * Two lists are derived from files rather than written twice:
 * - `STATSD_METRICS` from the `name`s of `statsd-mapping.yaml` (the statsd-exporter config);
 * - `SPARK_JMX_METRICS` by running the rules of `spark/conf/jmx-exporter.yaml` (the JMX agent
 *   config baked into the Spark image) over the MBeans Spark's JmxSink registers.
 * The other lists are facts from the exporters' documentation and source: postgres-exporter,
 * kube-state-metrics, the Kubeflow spark-operator and Prometheus itself.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { STATSD_MAPPING_FILE, isRecord } from "./content";

/** Prometheus metric types; histograms and summaries add `_sum`/`_count` (and `_bucket`). */
export type MetricType = "counter" | "gauge" | "histogram" | "summary";

export interface MetricInfo {
    /** Exposed metric name (for histograms and summaries: the base name, without suffixes). */
    readonly name: string;
    readonly type: MetricType;
}

export const SPARK_JMX_RULES_FILE = path.join(
    __dirname,
    "..",
    "..",
    "spark",
    "conf",
    "jmx-exporter.yaml",
);

const PROM_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

function readYaml(file: string): unknown {
    try {
        return parseYaml(readFileSync(file, "utf8")) as unknown;
    } catch (err) {
        throw new Error(`${file}: cannot read or parse YAML: ${(err as Error).message}`, {
            cause: err,
        });
    }
}

/* ------------------------------------------------------------------------------------------ */
/* statsd-exporter mapping                                                                     */
/* ------------------------------------------------------------------------------------------ */

export type StatsdMetricType = "counter" | "gauge" | "observer";

export interface StatsdMapping {
    /** 1-based position in the file, for error messages. */
    readonly index: number;
    readonly match: string;
    readonly matchType: "glob" | "regex";
    readonly action: "map" | "drop";
    readonly name: string;
    readonly labels: Readonly<Record<string, string>>;
    /** Required on `map` rules of this project: the catalog needs the type. */
    readonly matchMetricType: StatsdMetricType | undefined;
    /** `histogram` or `summary`, for observers (rule value, else the file's default). */
    readonly observerType: "histogram" | "summary";
}

export interface StatsdMappingConfig {
    readonly file: string;
    readonly mappings: readonly StatsdMapping[];
}

/**
 * Parse and structurally validate a statsd-exporter mapping document (already YAML-decoded).
 * Throws one error listing every problem, each naming the rule and what to change.
 */
export function parseStatsdMapping(doc: unknown, file = STATSD_MAPPING_FILE): StatsdMappingConfig {
    const problems: string[] = [];
    if (!isRecord(doc) || !Array.isArray(doc.mappings)) {
        throw new Error(`${file}: expected a YAML mapping with a 'mappings:' list`);
    }
    const defaults = isRecord(doc.defaults) ? doc.defaults : {};
    const defaultMatchType = defaults.match_type ?? "glob";
    const defaultObserver = defaults.observer_type ?? defaults.timer_type ?? "summary";
    const mappings: StatsdMapping[] = [];
    doc.mappings.forEach((raw: unknown, i: number) => {
        const where = `${file}: mapping #${i + 1}`;
        if (!isRecord(raw)) {
            problems.push(`${where}: expected a mapping with 'match' and 'name'`);
            return;
        }
        const { match, name } = raw;
        if (typeof match !== "string" || match === "") {
            problems.push(`${where}: 'match' must be a non-empty string`);
            return;
        }
        const label = `${where} (match '${match}')`;
        if (typeof name !== "string" || name === "") {
            problems.push(`${label}: 'name' must be a non-empty string`);
            return;
        }
        const matchType = raw.match_type ?? defaultMatchType;
        if (matchType !== "glob" && matchType !== "regex") {
            problems.push(`${label}: match_type must be 'glob' or 'regex'`);
            return;
        }
        const action = raw.action ?? "map";
        if (action !== "map" && action !== "drop") {
            problems.push(`${label}: action must be 'map' or 'drop'`);
            return;
        }
        const labels: Record<string, string> = {};
        if (raw.labels !== undefined) {
            if (!isRecord(raw.labels)) {
                problems.push(`${label}: 'labels' must be a mapping of label name to value`);
                return;
            }
            for (const [k, v] of Object.entries(raw.labels)) {
                if (typeof v !== "string") {
                    problems.push(`${label}: label '${k}' must have a string value (quote it)`);
                } else {
                    labels[k] = v;
                }
            }
        }
        const mmt = raw.match_metric_type;
        if (mmt !== undefined && mmt !== "counter" && mmt !== "gauge" && mmt !== "observer") {
            problems.push(`${label}: match_metric_type must be counter, gauge or observer`);
            return;
        }
        if (action === "map" && mmt === undefined) {
            problems.push(
                `${label}: set match_metric_type (counter, gauge or observer) so the metric ` +
                    `catalog knows the type of '${name}'`,
            );
            return;
        }
        const observerType = raw.observer_type ?? raw.timer_type ?? defaultObserver;
        if (observerType !== "histogram" && observerType !== "summary") {
            problems.push(`${label}: observer_type must be 'histogram' or 'summary'`);
            return;
        }
        mappings.push({
            index: i + 1,
            match,
            matchType,
            action,
            name,
            labels,
            matchMetricType: mmt,
            observerType,
        });
    });
    if (problems.length > 0) throw new Error(problems.join("\n"));
    return { file, mappings };
}

export function loadStatsdMapping(file = STATSD_MAPPING_FILE): StatsdMappingConfig {
    return parseStatsdMapping(readYaml(file), file);
}

/** The metrics the `map` rules produce, one entry per name (first rule wins for the type). */
export function statsdMetrics(config: StatsdMappingConfig): MetricInfo[] {
    const byName = new Map<string, MetricInfo>();
    for (const m of config.mappings) {
        if (m.action !== "map" || byName.has(m.name)) continue;
        const type: MetricType =
            m.matchMetricType === "observer" ? m.observerType : (m.matchMetricType ?? "gauge");
        byName.set(m.name, { name: m.name, type });
    }
    return [...byName.values()];
}

/* ------------------------------------------------------------------------------------------ */
/* Spark: Prometheus JMX exporter rules applied to Spark's MBeans                              */
/* ------------------------------------------------------------------------------------------ */

export interface JmxRule {
    readonly pattern: RegExp;
    readonly name: string;
    readonly type: "GAUGE" | "COUNTER" | "UNTYPED";
}

export interface JmxExporterConfig {
    readonly file: string;
    readonly lowercaseOutputName: boolean;
    readonly rules: readonly JmxRule[];
}

/** Parse the rules of a Prometheus JMX exporter config; only named rules are kept. */
export function parseJmxExporterConfig(
    doc: unknown,
    file = SPARK_JMX_RULES_FILE,
): JmxExporterConfig {
    if (!isRecord(doc) || !Array.isArray(doc.rules)) {
        throw new Error(`${file}: expected a YAML mapping with a 'rules:' list`);
    }
    const rules: JmxRule[] = [];
    doc.rules.forEach((raw: unknown, i: number) => {
        if (!isRecord(raw) || typeof raw.pattern !== "string") {
            throw new Error(`${file}: rule #${i + 1} needs a string 'pattern'`);
        }
        if (typeof raw.name !== "string") return; // name-less rules export under default names
        const type = raw.type ?? "UNTYPED";
        if (type !== "GAUGE" && type !== "COUNTER" && type !== "UNTYPED") {
            throw new Error(
                `${file}: rule #${i + 1} has type ${JSON.stringify(type)}; the catalog knows GAUGE, COUNTER, UNTYPED`,
            );
        }
        let pattern: RegExp;
        try {
            // The exporter compiles `^.*(?:<pattern>).*$`, so patterns are unanchored.
            pattern = new RegExp(`^.*(?:${raw.pattern}).*$`);
        } catch (err) {
            throw new Error(
                `${file}: rule #${i + 1} pattern is not a valid regex: ${(err as Error).message}`,
                { cause: err },
            );
        }
        rules.push({ pattern, name: raw.name, type });
    });
    return { file, lowercaseOutputName: doc.lowercaseOutputName === true, rules };
}

export function loadJmxExporterConfig(file = SPARK_JMX_RULES_FILE): JmxExporterConfig {
    return parseJmxExporterConfig(readYaml(file), file);
}

/** Dropwizard metric kinds as Spark's JmxSink names them in the MBean `type` property. */
export type DropwizardKind = "gauges" | "counters" | "timers" | "histograms";

/** One Dropwizard metric of a Spark instance: `<namespace>.<instance>.<source>.<metric>`. */
export interface SparkSourceMetric {
    readonly instance: "driver" | "executor";
    readonly source: string;
    readonly metric: string;
    readonly kind: DropwizardKind;
}

function sparkMetrics(
    instance: "driver" | "executor",
    source: string,
    kind: DropwizardKind,
    metrics: readonly string[],
): SparkSourceMetric[] {
    return metrics.map((metric) => ({ instance, source, metric, kind }));
}

const JVM_SOURCE = [
    // JvmSource (enabled in spark/conf/metrics.properties): Dropwizard memory and G1 GC sets.
    "heap.used",
    "heap.committed",
    "heap.max",
    "non-heap.used",
    "non-heap.committed",
    "total.used",
    "G1-Young-Generation.count",
    "G1-Young-Generation.time",
    "G1-Old-Generation.count",
    "G1-Old-Generation.time",
];

const EXECUTOR_METRICS = [
    "JVMHeapMemory",
    "JVMOffHeapMemory",
    "OnHeapExecutionMemory",
    "OnHeapStorageMemory",
    "MinorGCCount",
    "MinorGCTime",
    "MajorGCCount",
    "MajorGCTime",
];

/**
 * The Spark 4 metrics the dashboards may use, from Spark's monitoring guide ("List of available
 * metrics providers"): component instance, source namespace, metric and Dropwizard kind.
 */
export const SPARK_SOURCE_METRICS: readonly SparkSourceMetric[] = [
    ...sparkMetrics("driver", "BlockManager", "gauges", [
        "memory.maxMem_MB",
        "memory.memUsed_MB",
        "memory.remainingMem_MB",
        "disk.diskSpaceUsed_MB",
    ]),
    ...sparkMetrics("driver", "DAGScheduler", "gauges", [
        "job.activeJobs",
        "job.allJobs",
        "stage.failedStages",
        "stage.runningStages",
        "stage.waitingStages",
    ]),
    ...sparkMetrics("driver", "DAGScheduler", "timers", ["messageProcessingTime"]),
    ...sparkMetrics("driver", "LiveListenerBus", "counters", [
        "numEventsPosted",
        "queue.appStatus.numDroppedEvents",
        "queue.eventLog.numDroppedEvents",
    ]),
    ...sparkMetrics("driver", "LiveListenerBus", "gauges", ["queue.appStatus.size"]),
    ...sparkMetrics("driver", "jvm", "gauges", JVM_SOURCE),
    ...sparkMetrics("driver", "ExecutorMetrics", "gauges", EXECUTOR_METRICS),
    ...sparkMetrics("executor", "executor", "counters", [
        "bytesRead",
        "bytesWritten",
        "cpuTime",
        "runTime",
        "jvmGCTime",
        "succeededTasks",
        "recordsRead",
        "recordsWritten",
        "memoryBytesSpilled",
        "diskBytesSpilled",
        "shuffleBytesWritten",
        "shuffleRecordsWritten",
        "shuffleWriteTime",
        "shuffleFetchWaitTime",
        "shuffleLocalBytesRead",
        "shuffleRemoteBytesRead",
        "shuffleRemoteBytesReadToDisk",
        "shuffleTotalBytesRead",
        "shuffleRecordsRead",
    ]),
    ...sparkMetrics("executor", "executor", "gauges", [
        "threadpool.activeTasks",
        "threadpool.completeTasks",
        "threadpool.currentPool_size",
        "threadpool.maxPool_size",
        "threadpool.startedTasks",
    ]),
    ...sparkMetrics("executor", "jvm", "gauges", JVM_SOURCE),
    ...sparkMetrics("executor", "ExecutorMetrics", "gauges", EXECUTOR_METRICS),
];

/** MBean attributes Dropwizard's JmxReporter exposes per kind (timers also have rates). */
const DROPWIZARD_ATTRIBUTES: Record<DropwizardKind, readonly string[]> = {
    gauges: ["Value"],
    counters: ["Count"],
    histograms: [
        "Count",
        "Min",
        "Max",
        "Mean",
        "StdDev",
        "50thPercentile",
        "75thPercentile",
        "95thPercentile",
        "98thPercentile",
        "99thPercentile",
        "999thPercentile",
    ],
    timers: [
        "Count",
        "Min",
        "Max",
        "Mean",
        "StdDev",
        "50thPercentile",
        "75thPercentile",
        "95thPercentile",
        "98thPercentile",
        "99thPercentile",
        "999thPercentile",
        "MeanRate",
        "OneMinuteRate",
        "FiveMinuteRate",
        "FifteenMinuteRate",
    ],
};

/** The JMX exporter's name sanitising: illegal characters become `_`, runs of `_` collapse. */
export function jmxSafeName(name: string): string {
    let out = /^[0-9]/.test(name) ? "_" : "";
    let prevUnderscore = false;
    for (const ch of name) {
        if (/[a-zA-Z0-9:]/.test(ch)) {
            out += ch;
            prevUnderscore = false;
        } else if (!prevUnderscore) {
            out += "_";
            prevUnderscore = true;
        }
    }
    return out;
}

/**
 * The metric names the JMX exporter produces for `metrics` under `config`: each MBean attribute
 * is written as the exporter matches it (`metrics<name=…, type=…><>Attribute`), the first rule
 * whose pattern matches names it (`$n` replaced by capture groups), then the name is lower-cased
 * (when configured) and sanitised. Attributes no rule matches are not exported.
 */
export function jmxExportedMetrics(
    config: JmxExporterConfig,
    metrics: readonly SparkSourceMetric[],
    namespace = "taxi-batch",
    executorId = "1",
): MetricInfo[] {
    const byName = new Map<string, MetricInfo>();
    for (const m of metrics) {
        const instance = m.instance === "driver" ? "driver" : executorId;
        const bean = `${namespace}.${instance}.${m.source}.${m.metric}`;
        for (const attribute of DROPWIZARD_ATTRIBUTES[m.kind]) {
            const input = `metrics<name=${bean}, type=${m.kind}><>${attribute}`;
            for (const rule of config.rules) {
                const found = rule.pattern.exec(input);
                if (!found) continue;
                let name = rule.name.replace(
                    /\$(\d+)/g,
                    (_all, n: string) => found[Number(n)] ?? "",
                );
                if (config.lowercaseOutputName) name = name.toLowerCase();
                name = jmxSafeName(name);
                if (!byName.has(name)) {
                    byName.set(name, { name, type: rule.type === "COUNTER" ? "counter" : "gauge" });
                }
                break;
            }
        }
    }
    return [...byName.values()];
}

/** JVM and agent metrics the JMX exporter java agent 1.x exports without rules (client_java 1.x). */
export const JMX_AGENT_DEFAULT_METRICS: readonly MetricInfo[] = [
    { name: "jvm_memory_used_bytes", type: "gauge" },
    { name: "jvm_memory_committed_bytes", type: "gauge" },
    { name: "jvm_memory_max_bytes", type: "gauge" },
    { name: "jvm_memory_pool_used_bytes", type: "gauge" },
    { name: "jvm_gc_collection_seconds", type: "summary" },
    { name: "jvm_threads_current", type: "gauge" },
    { name: "jvm_threads_peak", type: "gauge" },
    { name: "jvm_threads_daemon", type: "gauge" },
    { name: "process_cpu_seconds_total", type: "counter" },
    { name: "process_start_time_seconds", type: "gauge" },
    { name: "jmx_scrape_duration_seconds", type: "gauge" },
    { name: "jmx_scrape_error", type: "gauge" },
];

/* ------------------------------------------------------------------------------------------ */
/* The catalog                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/** Airflow 3 metrics as statsd-exporter exposes them: derived from statsd-mapping.yaml. */
export const STATSD_METRICS: readonly MetricInfo[] = statsdMetrics(loadStatsdMapping());

/** Spark driver and executor metrics: derived from spark/conf/jmx-exporter.yaml, plus JVM defaults. */
export const SPARK_JMX_METRICS: readonly MetricInfo[] = [
    ...jmxExportedMetrics(loadJmxExporterConfig(), SPARK_SOURCE_METRICS),
    ...JMX_AGENT_DEFAULT_METRICS,
];

/**
 * postgres-exporter (default collectors: database, stat_database, locks, postmaster, and the
 * built-in pg_settings / pg_stat_activity queries). `pg_up` is the exporter's own.
 */
export const POSTGRES_EXPORTER_METRICS: readonly MetricInfo[] = [
    { name: "pg_up", type: "gauge" },
    { name: "pg_postmaster_start_time_seconds", type: "gauge" },
    { name: "pg_settings_max_connections", type: "gauge" },
    { name: "pg_database_size_bytes", type: "gauge" },
    { name: "pg_stat_database_numbackends", type: "gauge" },
    { name: "pg_stat_database_xact_commit", type: "counter" },
    { name: "pg_stat_database_xact_rollback", type: "counter" },
    { name: "pg_stat_database_blks_read", type: "counter" },
    { name: "pg_stat_database_blks_hit", type: "counter" },
    { name: "pg_stat_database_tup_returned", type: "counter" },
    { name: "pg_stat_database_tup_fetched", type: "counter" },
    { name: "pg_stat_database_tup_inserted", type: "counter" },
    { name: "pg_stat_database_tup_updated", type: "counter" },
    { name: "pg_stat_database_tup_deleted", type: "counter" },
    { name: "pg_stat_database_conflicts", type: "counter" },
    { name: "pg_stat_database_temp_files", type: "counter" },
    { name: "pg_stat_database_temp_bytes", type: "counter" },
    { name: "pg_stat_database_deadlocks", type: "counter" },
    { name: "pg_stat_database_blk_read_time", type: "counter" },
    { name: "pg_stat_database_blk_write_time", type: "counter" },
    { name: "pg_stat_activity_count", type: "gauge" },
    { name: "pg_stat_activity_max_tx_duration", type: "gauge" },
    { name: "pg_locks_count", type: "gauge" },
];

/** kube-state-metrics v2 (the resources of `KSM_RESOURCES`, cronjobs included). */
export const KUBE_STATE_METRICS: readonly MetricInfo[] = [
    { name: "kube_node_info", type: "gauge" },
    { name: "kube_node_status_allocatable", type: "gauge" },
    { name: "kube_node_status_capacity", type: "gauge" },
    { name: "kube_node_status_condition", type: "gauge" },
    { name: "kube_node_spec_unschedulable", type: "gauge" },
    { name: "kube_namespace_status_phase", type: "gauge" },
    { name: "kube_pod_info", type: "gauge" },
    { name: "kube_pod_status_phase", type: "gauge" },
    { name: "kube_pod_status_ready", type: "gauge" },
    { name: "kube_pod_container_status_restarts_total", type: "counter" },
    { name: "kube_pod_container_status_waiting_reason", type: "gauge" },
    { name: "kube_pod_container_status_last_terminated_reason", type: "gauge" },
    { name: "kube_pod_container_resource_requests", type: "gauge" },
    { name: "kube_pod_container_resource_limits", type: "gauge" },
    { name: "kube_deployment_spec_replicas", type: "gauge" },
    { name: "kube_deployment_status_replicas", type: "gauge" },
    { name: "kube_deployment_status_replicas_available", type: "gauge" },
    { name: "kube_deployment_status_replicas_unavailable", type: "gauge" },
    { name: "kube_job_info", type: "gauge" },
    { name: "kube_job_status_active", type: "gauge" },
    { name: "kube_job_status_succeeded", type: "gauge" },
    { name: "kube_job_status_failed", type: "gauge" },
    { name: "kube_job_complete", type: "gauge" },
    { name: "kube_job_failed", type: "gauge" },
    { name: "kube_persistentvolumeclaim_info", type: "gauge" },
    { name: "kube_persistentvolumeclaim_status_phase", type: "gauge" },
    { name: "kube_persistentvolumeclaim_resource_requests_storage_bytes", type: "gauge" },
    { name: "kube_persistentvolume_status_phase", type: "gauge" },
    { name: "kube_cronjob_info", type: "gauge" },
    { name: "kube_cronjob_status_last_successful_time", type: "gauge" },
    { name: "kube_cronjob_status_last_schedule_time", type: "gauge" },
    { name: "kube_cronjob_status_active", type: "gauge" },
];

/**
 * The kubelets' volume statistics (`/metrics` of each node's kubelet, read through the
 * `nodes/metrics` subresource): used, capacity and free bytes of every mounted PVC, labelled
 * `namespace` and `persistentvolumeclaim`.
 */
export const KUBELET_METRICS: readonly MetricInfo[] = [
    { name: "kubelet_volume_stats_used_bytes", type: "gauge" },
    { name: "kubelet_volume_stats_capacity_bytes", type: "gauge" },
    { name: "kubelet_volume_stats_available_bytes", type: "gauge" },
];

/**
 * Kubeflow spark-operator 2.x controller metrics (empty metrics prefix, the chart default).
 * The Go client's summaries have no quantiles by default: use `_sum`/`_count`, or the histogram.
 */
export const SPARK_OPERATOR_METRICS: readonly MetricInfo[] = [
    { name: "spark_application_count", type: "counter" },
    { name: "spark_application_submit_count", type: "counter" },
    { name: "spark_application_failed_submission_count", type: "counter" },
    { name: "spark_application_running_count", type: "gauge" },
    { name: "spark_application_success_count", type: "counter" },
    { name: "spark_application_failure_count", type: "counter" },
    { name: "spark_application_success_execution_time_seconds", type: "summary" },
    { name: "spark_application_failure_execution_time_seconds", type: "summary" },
    { name: "spark_application_start_latency_seconds", type: "summary" },
    { name: "spark_application_start_latency_seconds_histogram", type: "histogram" },
    { name: "spark_executor_running_count", type: "gauge" },
    { name: "spark_executor_success_count", type: "counter" },
    { name: "spark_executor_failure_count", type: "counter" },
];

/** Prometheus itself: `up` and `scrape_*` are synthesised per target; the rest is /metrics. */
export const PROMETHEUS_SELF_METRICS: readonly MetricInfo[] = [
    { name: "up", type: "gauge" },
    { name: "scrape_duration_seconds", type: "gauge" },
    { name: "scrape_samples_scraped", type: "gauge" },
    { name: "prometheus_build_info", type: "gauge" },
    { name: "prometheus_config_last_reload_successful", type: "gauge" },
    { name: "prometheus_tsdb_head_series", type: "gauge" },
    { name: "prometheus_tsdb_storage_blocks_bytes", type: "gauge" },
    { name: "prometheus_target_scrape_pool_targets", type: "gauge" },
    { name: "prometheus_rule_evaluation_failures_total", type: "counter" },
];

/** The fare API (ml/src/taxi_ml/serve.py, `Metrics`; ml/tests/test_serve.py reads them back). */
export const FARE_API_METRICS: readonly MetricInfo[] = [
    { name: "fare_api_requests_total", type: "counter" },
    { name: "fare_api_request_duration_seconds", type: "histogram" },
    { name: "fare_api_predictions_total", type: "counter" },
    { name: "fare_api_batch_trips", type: "histogram" },
    { name: "fare_api_model_version", type: "gauge" },
    { name: "fare_api_model_reloads_total", type: "counter" },
    { name: "fare_api_rejected_requests_total", type: "counter" },
];

/** Every list above, keyed by source, for messages that say where a name comes from. */
export const METRIC_SOURCES: Readonly<Record<string, readonly MetricInfo[]>> = {
    "statsd-exporter (Airflow)": STATSD_METRICS,
    "JMX exporter (Spark)": SPARK_JMX_METRICS,
    "spark-operator": SPARK_OPERATOR_METRICS,
    "postgres-exporter": POSTGRES_EXPORTER_METRICS,
    "kube-state-metrics": KUBE_STATE_METRICS,
    kubelet: KUBELET_METRICS,
    prometheus: PROMETHEUS_SELF_METRICS,
    "fare API": FARE_API_METRICS,
};

/** All catalog metrics by name; throws if two sources claim one name with different types. */
export function metricCatalog(
    sources: Readonly<Record<string, readonly MetricInfo[]>> = METRIC_SOURCES,
): ReadonlyMap<string, MetricInfo> {
    const all = new Map<string, MetricInfo>();
    for (const [source, metrics] of Object.entries(sources)) {
        for (const m of metrics) {
            if (!PROM_NAME.test(m.name)) {
                throw new Error(
                    `metric catalog (${source}): '${m.name}' is not a valid Prometheus metric name`,
                );
            }
            const seen = all.get(m.name);
            if (seen && seen.type !== m.type) {
                throw new Error(
                    `metric catalog (${source}): '${m.name}' is both ${seen.type} and ${m.type}`,
                );
            }
            all.set(m.name, m);
        }
    }
    return all;
}
