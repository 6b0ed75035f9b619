/**
 * The state folder of `npm start` (default `.local/` in the repository, git-ignored): everything
 * a run creates and a second run reuses. Nothing outside it is written, except the Python
 * environments (`<folder>/.venv`) and, with PostgreSQL, one database.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { REPO_ROOT } from "./options";

export interface StateLayout {
    root: string;
    /** Generated monthly files (the "publisher" side), with `manifest.json`. */
    generated: string;
    /** The landing folder: the local stand-in for the S3 landing bucket. */
    landing: string;
    /** Where the monthly files land (the TLC layout: `trip data/`). */
    landingPrefix: string;
    staging: string;
    docs: string;
    warehouseDir: string;
    warehouse: string;
    mlflow: string;
    airflowHome: string;
    dbtTarget: string;
    dbtLogs: string;
    logs: string;
    /** Summary of the last run (written at the end, with its status). */
    lastRun: string;
    /**
     * The processes of the running `npm start` (markers, pids and start times): removed once
     * everything is stopped; left behind by a killed run, whose leftovers the next start stops.
     */
    processes: string;
}

export const LANDING_KEY_PREFIX = "trip data/";

export function stateLayout(root: string): StateLayout {
    const landing = path.join(root, "landing");
    return {
        root,
        generated: path.join(root, "generated"),
        landing,
        landingPrefix: path.join(landing, LANDING_KEY_PREFIX),
        staging: path.join(root, "staging"),
        docs: path.join(root, "docs"),
        warehouseDir: path.join(root, "warehouse"),
        warehouse: path.join(root, "warehouse", "warehouse.duckdb"),
        mlflow: path.join(root, "mlflow"),
        airflowHome: path.join(root, "airflow"),
        dbtTarget: path.join(root, "dbt", "target"),
        dbtLogs: path.join(root, "dbt", "logs"),
        logs: path.join(root, "logs"),
        lastRun: path.join(root, "last-run.json"),
        processes: path.join(root, "processes.json"),
    };
}

/** Written into every state folder: `--reset` deletes only folders that carry it. */
export const STATE_MARKER = ".taxi-platform-state";

/** The default `.local/` of the repository, or a folder that carries the marker file. */
function isStateFolder(root: string): boolean {
    return (
        path.resolve(root) === path.join(REPO_ROOT, ".local") ||
        fs.existsSync(path.join(root, STATE_MARKER))
    );
}

/**
 * Create the state folder and its subfolders. An existing non-empty folder must be one this
 * command created (it carries the marker file), so `--state-dir ~` cannot scatter folders into a
 * home directory or have `--reset` delete it.
 */
export function createState(s: StateLayout): void {
    const marker = path.join(s.root, STATE_MARKER);
    if (fs.existsSync(s.root) && !isStateFolder(s.root) && fs.readdirSync(s.root).length > 0) {
        throw new Error(
            `${s.root} is not empty and is not a state folder of npm start (no ${STATE_MARKER} in it); pass an empty or new folder to --state-dir`,
        );
    }
    fs.mkdirSync(s.root, { recursive: true });
    fs.writeFileSync(marker, "state folder of `npm start` (tools/start.ts); safe to delete\n");
    for (const dir of [
        s.generated,
        s.landingPrefix,
        s.staging,
        s.docs,
        s.warehouseDir,
        s.mlflow,
        s.airflowHome,
        s.dbtTarget,
        s.dbtLogs,
        s.logs,
    ]) {
        fs.mkdirSync(dir, { recursive: true });
    }
}

/** Delete a state folder (only one that carries the marker file). */
export function removeState(s: StateLayout): boolean {
    if (!fs.existsSync(s.root)) return false;
    if (!isStateFolder(s.root)) {
        throw new Error(
            `--reset: ${s.root} has no ${STATE_MARKER}, so it was not created by npm start; not deleting it`,
        );
    }
    fs.rmSync(s.root, { recursive: true, force: true });
    return true;
}

/** Write a file through a temporary name and a rename, so a reader never sees half of it. */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): void {
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
    fs.writeFileSync(tmp, data, { mode });
    fs.renameSync(tmp, file);
}

/** Copy through a temporary name in the destination folder and a rename (atomic delivery). */
export function copyFileAtomic(src: string, dest: string): void {
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    const tmp = path.join(path.dirname(dest), `.${path.basename(dest)}.${process.pid}.tmp`);
    fs.copyFileSync(src, tmp);
    fs.renameSync(tmp, dest);
}

/** A path relative to the current directory when that is shorter (for messages). */
export function shown(p: string): string {
    const rel = path.relative(process.cwd(), p);
    return rel !== "" && !rel.startsWith("..") && rel.length < p.length ? rel : p;
}
