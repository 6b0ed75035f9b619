/**
 * Follow one DAG run through the REST API until it ends, printing each task as it starts and
 * ends, with what its JSON summary (XCom) reports; a failed try prints the end of its log. Between
 * polls it checks that every process `npm start` started is still alive, so a crashed scheduler
 * is reported (with its log) instead of waited for.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { AirflowApi, renderLogText, TERMINAL_RUN_STATES, type TaskInstance } from "./airflow-api";
import { duration, type Progress } from "./progress";
import { describeTask } from "./summaries";

export interface TaskResult {
    taskId: string;
    state: string | null;
    tryNumber: number;
    seconds: number | null;
    summary: unknown;
}

export interface RunFailure {
    taskId: string;
    tryNumber: number;
    logFile: string;
    tail: string[];
}

export interface RunResult {
    dagId: string;
    runId: string;
    state: string;
    seconds: number;
    tasks: TaskResult[];
    failure?: RunFailure;
}

export interface FollowOptions {
    api: AirflowApi;
    dagId: string;
    runId: string;
    /** Label in front of each task line, e.g. the month. */
    label: string;
    progress: Progress;
    /** AIRFLOW_HOME: task logs are read from `<home>/logs/dag_id=…/run_id=…/task_id=…/attempt=N.log`. */
    airflowHome: string;
    /** A failed try fails its task for good (no waiting for Airflow's retries). */
    failFast?: boolean;
    /** Throws when a process we depend on has died (checked every poll). */
    checkAlive?: () => void;
    pollMs?: number;
    /** Give up after this long (default 2 h). */
    timeoutMs?: number;
    tailLines?: number;
}

const FAILED_STATES = ["failed", "up_for_retry"];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function taskLogFile(
    home: string,
    dagId: string,
    runId: string,
    taskId: string,
    attempt: number,
): string {
    return path.join(
        home,
        "logs",
        `dag_id=${dagId}`,
        `run_id=${runId}`,
        `task_id=${taskId}`,
        `attempt=${attempt}.log`,
    );
}

/** The last `lines` entries of a try's log: the file when it is there, else the API. */
export async function taskLogTail(
    o: Pick<FollowOptions, "api" | "dagId" | "runId" | "airflowHome">,
    taskId: string,
    tryNumber: number,
    lines = 15,
): Promise<{ file: string; tail: string[] }> {
    const file = taskLogFile(o.airflowHome, o.dagId, o.runId, taskId, tryNumber);
    let rendered: string[];
    try {
        rendered = renderLogText(fs.readFileSync(file, "utf8"));
    } catch {
        try {
            rendered = renderLogText(await o.api.taskLog(o.dagId, o.runId, taskId, tryNumber));
        } catch (err) {
            rendered = [`(no log: ${String(err)})`];
        }
    }
    return { file, tail: rendered.slice(-lines) };
}

export async function followRun(o: FollowOptions): Promise<RunResult> {
    const started = Date.now();
    const deadline = started + (o.timeoutMs ?? 2 * 3600_000);
    const printedStart = new Set<string>();
    const printedEnd = new Set<string>();
    const summaries = new Map<string, unknown>();
    let failure: RunFailure | undefined;
    const name = (taskId: string) => `${o.label} · ${taskId}`;

    const report = async (ti: TaskInstance) => {
        const tryKey = `${ti.task_id}#${ti.try_number}`;
        const state = ti.state ?? "";
        if (
            (state === "running" || state === "success" || FAILED_STATES.includes(state)) &&
            !printedStart.has(tryKey)
        ) {
            printedStart.add(tryKey);
            o.progress.start(name(ti.task_id), ti.try_number > 1 ? `try ${ti.try_number}` : "");
        }
        if (printedEnd.has(tryKey)) return;
        const took = ti.duration === null ? "?" : duration(ti.duration);
        if (state === "success") {
            printedEnd.add(tryKey);
            const summary = await o.api.xcom(o.dagId, o.runId, ti.task_id);
            summaries.set(ti.task_id, summary);
            o.progress.doneIn(name(ti.task_id), took, describeTask(ti.task_id, summary));
        } else if (FAILED_STATES.includes(state)) {
            printedEnd.add(tryKey);
            const { file, tail } = await taskLogTail(o, ti.task_id, ti.try_number, o.tailLines);
            const retrying = state === "up_for_retry" && !o.failFast;
            o.progress.failed(
                name(ti.task_id),
                undefined,
                `failed on try ${ti.try_number} of ${ti.max_tries + 1} after ${took}` +
                    (retrying
                        ? "; Airflow retries it (--fail-fast to stop at the first failure)"
                        : ""),
            );
            o.progress.info(`end of its log (${file}):`);
            o.progress.info(tail.map((l) => `  ${l}`).join("\n"));
            failure = { taskId: ti.task_id, tryNumber: ti.try_number, logFile: file, tail };
            if (state === "up_for_retry" && o.failFast) {
                await o.api.setTaskState(o.dagId, o.runId, ti.task_id, "failed");
            }
        } else if (state === "upstream_failed" || state === "skipped") {
            printedEnd.add(tryKey);
            notRun.push(`${ti.task_id} (${state})`);
        }
    };
    const notRun: string[] = [];

    for (;;) {
        o.checkAlive?.();
        const run = await o.api.getRun(o.dagId, o.runId);
        const tis = await o.api.taskInstances(o.dagId, o.runId);
        const order = (ti: TaskInstance) => ti.start_date ?? ti.end_date ?? "9999";
        for (const ti of [...tis].sort((a, b) => order(a).localeCompare(order(b))))
            await report(ti);
        if (TERMINAL_RUN_STATES.includes(run.state)) {
            if (notRun.length > 0) o.progress.info(`${o.label} · not run: ${notRun.join(", ")}`);
            const tasks = tis.map((ti) => ({
                taskId: ti.task_id,
                state: ti.state,
                tryNumber: ti.try_number,
                seconds: ti.duration,
                summary: summaries.get(ti.task_id),
            }));
            const failedTask = tis.find((ti) => ti.state === "failed");
            if (run.state === "failed" && failedTask && failure?.taskId !== failedTask.task_id) {
                const { file, tail } = await taskLogTail(
                    o,
                    failedTask.task_id,
                    failedTask.try_number,
                    o.tailLines,
                );
                failure = {
                    taskId: failedTask.task_id,
                    tryNumber: failedTask.try_number,
                    logFile: file,
                    tail,
                };
            }
            return {
                dagId: o.dagId,
                runId: o.runId,
                state: run.state,
                seconds: (Date.now() - started) / 1000,
                tasks,
                failure: run.state === "failed" ? failure : undefined,
            };
        }
        if (Date.now() > deadline) {
            throw new Error(
                `run ${o.runId} of ${o.dagId} did not finish in ${Math.round((o.timeoutMs ?? 7_200_000) / 60_000)} min (state ${run.state}); see the Airflow UI`,
            );
        }
        await sleep(o.pollMs ?? 2000);
    }
}
