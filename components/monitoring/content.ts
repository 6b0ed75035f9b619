/**
 * What the monitoring deployment reads from this folder: the Grafana dashboards of `dashboards/`
 * (`loadDashboards()`, for the ConfigMap) and the statsd-exporter mapping. The catalog of metric
 * names the dashboards may query, which only the tests use, is `metric-catalog.ts`.
 */
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";

/** Dashboard JSON `schemaVersion` written by Grafana 12.0 and understood by every 12.x. */
export const GRAFANA_SCHEMA_VERSION = 41;
/** Tag carried by every dashboard of the platform (dashboard links use it). */
export const DASHBOARD_TAG = "taxi-platform";
/** Datasource uid the dashboards fall back to when no `datasource` variable is selected. */
export const PROMETHEUS_DATASOURCE_UID = "prometheus";

export const MONITORING_DIR = __dirname;
export const DASHBOARDS_DIR = path.join(__dirname, "dashboards");
export const STATSD_MAPPING_FILE = path.join(__dirname, "statsd-mapping.yaml");

export function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

export interface DashboardFile {
    /** File name inside `dashboards/` (also the ConfigMap key). */
    readonly file: string;
    readonly uid: string;
    readonly title: string;
    /** The file's exact text, for the ConfigMap. */
    readonly json: string;
}

/**
 * Read every `*.json` file of `dir` (sorted by name). Fails, naming the file, when one is not
 * valid JSON, has no string `uid`/`title`, or repeats another file's uid or title.
 */
export function loadDashboards(dir = DASHBOARDS_DIR): DashboardFile[] {
    const files = readdirSync(dir)
        .filter((f) => f.endsWith(".json"))
        .sort();
    if (files.length === 0) throw new Error(`${dir}: no dashboard (*.json) files found`);
    const uids = new Map<string, string>();
    const titles = new Map<string, string>();
    return files.map((file) => {
        const where = path.join(dir, file);
        const json = readFileSync(where, "utf8");
        let model: unknown;
        try {
            model = JSON.parse(json) as unknown;
        } catch (err) {
            throw new Error(`${where}: not valid JSON: ${(err as Error).message}`, { cause: err });
        }
        if (!isRecord(model) || typeof model.uid !== "string" || typeof model.title !== "string") {
            throw new Error(
                `${where}: a dashboard needs a string 'uid' and 'title' at the top level`,
            );
        }
        const { uid, title } = model;
        const uidOwner = uids.get(uid);
        if (uidOwner !== undefined)
            throw new Error(`${where}: uid '${uid}' is already used by ${uidOwner}`);
        const titleOwner = titles.get(title);
        if (titleOwner !== undefined) {
            throw new Error(`${where}: title '${title}' is already used by ${titleOwner}`);
        }
        uids.set(uid, file);
        titles.set(title, file);
        return { file, uid, title, json };
    });
}
