/**
 * One line per finished task of the `batch` DAG, from the JSON summary the task returned (its
 * XCom: each job prints it as its last stdout line): rows loaded and quarantined, expectations
 * met, dbt tests passed, model metric and champion change, docs published. Unknown tasks or
 * shapes fall back to compact JSON, so a new field never breaks the progress output.
 */
import { bytes, count } from "./progress";

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === "number" ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

function byReason(o: unknown): string {
    if (!isObj(o)) return "";
    const parts = Object.entries(o)
        .filter(([, v]) => typeof v === "number" && v > 0)
        .map(([k, v]) => `${k} ${count(v as number)}`);
    return parts.length ? ` (${parts.join(", ")})` : "";
}

function counts(o: unknown, noun: string): string | undefined {
    if (!isObj(o)) return undefined;
    const parts = Object.entries(o)
        .filter(([, v]) => typeof v === "number")
        .map(([k, v]) => `${count(v as number)} ${k}`);
    return parts.length ? `${noun} ${parts.join(", ")}` : undefined;
}

function compact(v: unknown): string {
    const text = JSON.stringify(v) ?? "";
    return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}

/** What a task's summary says, on one line ("" when there is nothing to say). */
export function describeTask(taskId: string, summary: unknown): string {
    if (summary === undefined || summary === null) return "";
    if (!isObj(summary)) return compact(summary);
    const s = summary;
    switch (taskId) {
        case "plan":
            return `${str(s.source_url) ?? "?"} → ${str(s.landing_uri) ?? "?"}`;
        case "download": {
            const got = `${bytes(num(s.bytes) ?? 0)}, ${count(num(s.rows) ?? 0)} rows, sha256 ${(str(s.sha256) ?? "?").slice(0, 12)}…`;
            if (s.action === "unchanged") {
                return `${got}: the landing object has the same sha256, nothing uploaded (no S3 event, no batch run)`;
            }
            if (s.action === "uploaded") {
                return `${got} → uploaded${s.replaced ? " (replaces a different earlier file: a new version)" : ""}`;
            }
            return compact(s);
        }
        case "check_conf":
            return `month ${str(s.month) ?? "?"} · ${str(s.file_name) ?? ""}`;
        case "copy_to_staging": {
            const copied = num(s.copied) ?? 0;
            const skipped = num(s.skipped) ?? 0;
            return copied > 0
                ? `staged ${bytes(num(s.bytes) ?? 0)}`
                : skipped > 0
                  ? "staged copy already identical (skipped)"
                  : compact(s);
        }
        case "validate": {
            const failed = Array.isArray(s.failed_expectations) ? s.failed_expectations.length : 0;
            return (
                `${count(num(s.rows) ?? 0)} rows · ${num(s.success_percent) ?? "?"}% of expectations met ` +
                `(threshold ${num(s.threshold_pct) ?? "?"}%)${failed ? `, ${failed} failed` : ""}`
            );
        }
        case "load":
        case "initial_load":
            return (
                `${count(num(s.rows_read) ?? 0)} rows read → ${count(num(s.rows_loaded) ?? 0)} loaded, ` +
                `${count(num(s.rows_quarantined) ?? 0)} quarantined${byReason(s.quarantine_by_reason)}` +
                ` · ${count(num(s.trips_partitions) ?? 0)} date partitions overwritten`
            );
        case "dbt_build": {
            const parts = [
                counts(s.models, "models:"),
                counts(s.tests, "tests:"),
                counts(s.unit_tests, "unit tests:"),
                counts(s.seeds, "seeds:"),
            ].filter((p): p is string => p !== undefined);
            return parts.join(" · ") || compact(s);
        }
        case "retrain":
        case "train":
            return describeModel(s);
        case "publish_docs": {
            const dbt = isObj(s.dbt_docs) ? s.dbt_docs : {};
            const el = isObj(s.elementary) ? s.elementary : {};
            const elText =
                str(el.status) === "skipped" ? "elementary skipped (package not installed)" : "";
            return [`dbt docs ${bytes(num(dbt.bytes) ?? 0)} → ${str(dbt.uri) ?? "?"}`, elText]
                .filter(Boolean)
                .join(" · ");
        }
        default:
            return compact(s);
    }
}

function rmse(v: unknown): string {
    return typeof v === "number" ? v.toFixed(3) : "?";
}

/** `challenger RMSE 5.334 vs champion v1 7.993 → promoted: champion v1 → v2`. */
export function describeModel(s: Obj): string {
    const metrics = isObj(s.metrics) ? s.metrics : {};
    const decision = str(s.decision) ?? "?";
    const version = str(s.model_version);
    const previous = str(s.previous_champion_version);
    const champion = str(s.champion_version);
    const challenger = `RMSE ${rmse(s.challenger_rmse ?? metrics.holdout_rmse)} (baseline ${rmse(metrics.baseline_rmse)})`;
    if (decision === "promoted") {
        return previous
            ? `challenger ${challenger} vs champion v${previous} ${rmse(s.champion_rmse)} → promoted: champion v${previous} → v${version}`
            : `${challenger} → promoted: v${version} is the first champion`;
    }
    if (decision === "unchanged") {
        return `same rows, hyperparameters and seed as v${version}: nothing trained or registered; champion v${champion} kept`;
    }
    if (decision === "kept") {
        return `challenger v${version} ${challenger} vs champion v${champion} ${rmse(s.champion_rmse)} → champion kept`;
    }
    return `${challenger} → ${decision}: ${str(s.decision_reason) ?? ""}`;
}

/** How a retrain/train summary moved the champion alias (`v1 → v2`, `v1 (first)`), if it did. */
export function promotion(s: unknown): string | undefined {
    if (!isObj(s) || s.decision !== "promoted") return undefined;
    const previous = str(s.previous_champion_version);
    const version = str(s.model_version) ?? "?";
    return previous ? `v${previous} → v${version}` : `v${version} (first champion)`;
}
