/**
 * The dataset registry (`dags/datasets.yaml`) as the stack reads it: the same file, the same rules
 * and the same DAG ids as `dags/common/datasets.py`, so adding a dataset is ONE entry there for
 * both sides. The stack derives from the enabled entries:
 *
 * - the trigger's routes: key prefix `<landing_prefix><file_prefix>` → the dataset's batch DAG
 *   (`batch` for the primary dataset, `batch_<name>` for the others);
 * - one S3 → GCS transfer job per dataset, copying its files to `<staging>/<name>/`, the folder
 *   its full-refresh DAG reads.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";

/** `dags/datasets.yaml`, from the project root (the Pulumi program's working directory). */
export const DATASET_REGISTRY = path.resolve(__dirname, "..", "..", "dags", "datasets.yaml");

export interface Dataset {
    name: string;
    filePrefix: string;
    landingPrefix: string;
    description: string;
    primary: boolean;
    enabled: boolean;
}

const NAME = /^[a-z][a-z0-9]{0,30}$/;
const FIELDS = new Set([
    "name",
    "file_prefix",
    "landing_prefix",
    "primary",
    "enabled",
    "description",
    // The ingest DAG's fields: validated by dags/common/datasets.py (the stack does not use them).
    "source_url",
    "ingest_from",
]);

/** The batch DAG of a dataset (dags/common/datasets.py `batch_dag_id`). */
export const batchDagId = (d: Dataset): string => (d.primary ? "batch" : `batch_${d.name}`);

/** The full-refresh DAG of a dataset (dags/common/datasets.py `full_refresh_dag_id`). */
export const fullRefreshDagId = (d: Dataset): string =>
    d.primary ? "full_refresh" : `full_refresh_${d.name}`;

/** Where a dataset's monthly files land in S3: `trip data/yellow_tripdata_`. */
export const landingKeyPrefix = (d: Dataset): string => `${d.landingPrefix}${d.filePrefix}`;

/** Parse and validate registry text; every problem names the entry and the field. */
export function parseDatasets(text: string, source = "dags/datasets.yaml"): Dataset[] {
    let doc: unknown;
    try {
        doc = YAML.parse(text);
    } catch (err) {
        throw new Error(`${source} is not valid YAML: ${(err as Error).message}`, {
            cause: err,
        });
    }
    const list = (doc as { datasets?: unknown } | null)?.datasets;
    if (!Array.isArray(list))
        throw new Error(`${source} must be a mapping with a 'datasets' list.`);
    const out = list.map((raw: unknown, i): Dataset => {
        let where = `${source}: datasets[${i}]`;
        if (typeof raw !== "object" || raw === null || Array.isArray(raw))
            throw new Error(`${where} must be a mapping with name, file_prefix, landing_prefix.`);
        const r = raw as Record<string, unknown>;
        const unknown = Object.keys(r).filter((k) => !FIELDS.has(k));
        if (unknown.length > 0)
            throw new Error(
                `${where} has unknown field(s) ${unknown.sort().join(", ")}; allowed: ${[...FIELDS].sort().join(", ")}.`,
            );
        if (typeof r.name !== "string" || !NAME.test(r.name))
            throw new Error(
                `${where}.name=${JSON.stringify(r.name)} must be lower-case letters and digits, starting with a letter.`,
            );
        where = `${source}: dataset '${r.name}'`;
        for (const f of ["file_prefix", "landing_prefix", "description"])
            if (typeof r[f] !== "string" || r[f].trim() === "")
                throw new Error(`${where}: ${f} must be a non-empty string.`);
        for (const f of ["primary", "enabled"])
            if (f in r && typeof r[f] !== "boolean")
                throw new Error(
                    `${where}: ${f} must be true or false, not ${JSON.stringify(r[f])}.`,
                );
        const filePrefix = r.file_prefix as string;
        const landingPrefix = r.landing_prefix as string;
        if (filePrefix.includes("/"))
            throw new Error(`${where}: file_prefix is a file-name prefix and cannot contain '/'.`);
        if (!landingPrefix.endsWith("/"))
            throw new Error(`${where}: landing_prefix is a folder and must end with '/'.`);
        return {
            name: r.name,
            filePrefix,
            landingPrefix,
            description: (r.description as string).trim(),
            primary: r.primary === true,
            enabled: r.enabled !== false,
        };
    });
    const names = out.map((d) => d.name);
    const dupes = [...new Set(names.filter((n, i) => names.indexOf(n) !== i))].sort();
    if (dupes.length > 0)
        throw new Error(`${source}: dataset name(s) ${dupes.join(", ")} appear more than once.`);
    const primaries = out.filter((d) => d.primary).map((d) => d.name);
    if (primaries.length > 1)
        throw new Error(
            `${source}: only one dataset may be primary (it owns the DAG ids batch and full_refresh); found ${primaries.join(", ")}.`,
        );
    return out;
}

/** The enabled datasets of the registry file: the ones with DAGs, routes and transfer jobs. */
export function enabledDatasets(file = DATASET_REGISTRY): Dataset[] {
    const rel = path.relative(process.cwd(), file) || file;
    return parseDatasets(fs.readFileSync(file, "utf8"), rel).filter((d) => d.enabled);
}
