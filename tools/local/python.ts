/**
 * The Python side of `npm start`: the pipeline folders' virtual environments (created or
 * refreshed by `tools/python-suites.ts`, cached by a hash of their requirements), the PostgreSQL
 * driver Airflow needs for a PostgreSQL metadata DB, and running a module in a folder's venv.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import { ensureVenv } from "../python-suites";
import { REPO_ROOT } from "./options";
import { withQuickExit } from "./quick-exit";

/** The folders whose environments the local pipeline uses. */
export const PIPELINE_FOLDERS = ["spark", "dags", "dbt", "ml"] as const;
export type PipelineFolder = (typeof PIPELINE_FOLDERS)[number];

export function venvBin(folder: PipelineFolder, name: string): string {
    return path.join(REPO_ROOT, folder, ".venv", "bin", name);
}

/** Create or refresh each folder's venv (pip output is shown the first time). */
export function prepareVenvs(folders: readonly PipelineFolder[] = PIPELINE_FOLDERS): void {
    for (const folder of folders) ensureVenv(folder);
}

export interface PythonResult {
    code: number;
    stdout: string;
    stderr: string;
}

/**
 * `<folder>/.venv/bin/python <args>` with cwd `<folder>` and `PYTHONPATH=src:../libs/python` (as the local
 * runner does), output captured.
 */
export function runPython(
    folder: PipelineFolder,
    args: string[],
    env: NodeJS.ProcessEnv = {},
    timeoutMs = 600_000,
): Promise<PythonResult> {
    const cwd = path.join(REPO_ROOT, folder);
    return new Promise((resolve, reject) => {
        const child = spawn(venvBin(folder, "python"), args, {
            cwd,
            env: withQuickExit({
                ...process.env,
                PYTHONPATH: `src${path.delimiter}../libs/python`,
                PYTHONUNBUFFERED: "1",
                ...env,
            }),
            stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        child.once("error", (err) => {
            clearTimeout(timer);
            reject(err);
        });
        child.once("close", (code, signal) => {
            clearTimeout(timer);
            resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
        });
    });
}

/** The last stdout line of a job parsed as JSON (the jobs' summary convention). */
export function lastJsonLine(stdout: string): unknown {
    const lines = stdout.trimEnd().split("\n");
    for (let i = lines.length - 1; i >= 0; i--) {
        const line = lines[i]!.trim();
        if (!line) continue;
        return JSON.parse(line) as unknown;
    }
    throw new Error("no output");
}
