/**
 * `npm start`'s delivery through the `ingest` DAG (issue 22): a loopback server plays the TLC
 * website (tlc-server.ts); the ingest DAG, scheduled for exactly this run's months
 * (`INGEST_MONTHS`), downloads each month into the landing folder; the landing watcher, the
 * trigger function and the `batch` DAG go on from there as for any new object.
 *
 * The scenario a platform left running meets, on one machine:
 *   1. every month but the last is published; the last answers 403 ("not published yet") until
 *      the ingest DAG has asked for it, so its download waits (deferred), asks again and finds it;
 *   2. once every month is loaded, the first month is republished with a corrected file (no
 *      defective rows) and every month is checked again (its ingest run cleared, as an operator
 *      does after a publisher's correction): the corrected month is uploaded again (a new object
 *      version: one new batch run), the others are unchanged (same sha256: no upload, no S3
 *      event, no batch run).
 */
import type { AirflowApi, DagRun } from "./airflow-api";
import { followRun, type RunResult } from "./follow";
import type { Progress } from "./progress";
import type { TlcServer } from "./tlc-server";

export const INGEST_DAG_ID = "ingest";
/**
 * Seconds between two "not published yet" checks locally (the cluster: hours). The stand-in
 * publishes the withheld month once it was asked for, so the second ask, 10 s later, finds it
 * while the first month's batch run still runs, and its own run starts as soon as that one
 * ends. The wait is a deferral (dags/common/ingest.py): a reschedule this short was sometimes
 * failed by the scheduler as killed externally, which is why this was 30 s before.
 */
export const LOCAL_POKE_SECONDS = 10;

export type IngestPass = "first" | "re-check";

export interface IngestOutcome {
    month: string;
    pass: IngestPass;
    runId: string;
    state: string;
    /** `uploaded` | `unchanged` (the download job's summary), when the run succeeded. */
    action?: string;
    /** An earlier, different file was replaced in the landing folder. */
    replaced?: boolean;
    /** Rows of the downloaded file. */
    rows?: number;
    /** 403 answers the publisher gave for the month during this pass (not published yet). */
    notYet: number;
    result: RunResult;
}

/** The pipeline-env values of the local ingest: the loopback publisher, these months only. */
export function ingestEnv(
    baseUrl: string,
    months: string[],
    o: { smallFiles: boolean },
): Record<string, string> {
    return {
        INGEST_SOURCE_URL: baseUrl,
        INGEST_MONTHS: `${months[0]}..${months.at(-1)}`,
        INGEST_POKE_SECONDS: String(LOCAL_POKE_SECONDS),
        // The generated months are small (a few thousand rows); the real files are tens of MB.
        ...(o.smallFiles ? { INGEST_MIN_BYTES: "1024" } : {}),
    };
}

/** `YYYY-MM` of an ingest run (its data interval starts on the 1st of its month). */
export function monthOfRun(run: Pick<DagRun, "data_interval_start">): string | undefined {
    const start = run.data_interval_start;
    return start && /^\d{4}-\d{2}/.test(start) ? start.slice(0, 7) : undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class IngestFlow {
    readonly outcomes: IngestOutcome[] = [];
    /** Months whose first ingest run this command created or cleared. */
    private readonly runIds = new Map<string, string>();
    /** 403 answers per file name when the current pass began. */
    private readonly passStart = new Map<string, number>();
    private readonly watchers: Promise<void>[] = [];
    private closed = false;

    constructor(
        private readonly o: {
            api: AirflowApi;
            /** The loopback stand-in; undefined with `--source` (a real publisher). */
            site: TlcServer | undefined;
            progress: Progress;
            airflowHome: string;
            failFast: boolean;
            checkAlive: () => void;
        },
    ) {}

    /**
     * Before unpausing: runs an earlier `npm start` left for these months are cleared (checked
     * again); runs it left unfinished are marked failed first. Returns how many were cleared.
     */
    async prepare(months: string[]): Promise<number> {
        const { api } = this.o;
        let cleared = 0;
        for (const run of await api.listRuns(INGEST_DAG_ID)) {
            const month = monthOfRun(run);
            if (month === undefined || !months.includes(month)) continue;
            if (!["success", "failed"].includes(run.state)) {
                await api.setRunState(INGEST_DAG_ID, run.dag_run_id, "failed");
            }
            await api.clearRun(INGEST_DAG_ID, run.dag_run_id);
            this.runIds.set(month, run.dag_run_id);
            cleared++;
        }
        await api.unpause(INGEST_DAG_ID);
        return cleared;
    }

    /** The ingest run of `month`: cleared by prepare(), or created by the scheduler's catchup. */
    private async runOf(month: string, timeoutMs = 180_000): Promise<string> {
        const known = this.runIds.get(month);
        if (known) return known;
        const deadline = Date.now() + timeoutMs;
        for (;;) {
            this.o.checkAlive();
            const run = (await this.o.api.listRuns(INGEST_DAG_ID)).find(
                (r) => monthOfRun(r) === month,
            );
            if (run) {
                this.runIds.set(month, run.dag_run_id);
                return run.dag_run_id;
            }
            if (Date.now() > deadline) {
                throw new Error(
                    `the scheduler created no ${INGEST_DAG_ID} run for ${month} within ${timeoutMs / 60_000} min ` +
                        `(INGEST_MONTHS bounds its catchup; a state folder whose Airflow already ran later months ` +
                        `does not go back: run with --reset)`,
                );
            }
            await sleep(2000);
        }
    }

    /**
     * The publisher holds `name` back (403) until the ingest DAG has asked for it once, then
     * publishes `file`: the download waits (deferred), asks again and finds it. Runs in the
     * background.
     */
    withholdUntilAsked(month: string, name: string, file: string): void {
        const site = this.o.site;
        if (!site) return;
        site.withhold(name);
        const before = site.answered(name, 403);
        this.watchers.push(
            (async () => {
                while (!this.closed && site.answered(name, 403) === before) await sleep(500);
                if (this.closed) return;
                this.o.progress.info(
                    `${month} · download: not published yet (HTTP 403 from ${site.baseUrl}) → waits, asks again every ${LOCAL_POKE_SECONDS} s; the publisher now publishes it`,
                );
                site.publish(name, file);
            })(),
        );
    }

    /** Stop the background publishers. */
    async close(): Promise<void> {
        this.closed = true;
        await Promise.all(this.watchers);
    }

    private answered(name: string): number {
        return this.o.site?.answered(name, 403) ?? 0;
    }

    /** Follow the month's ingest run to its end. */
    async follow(month: string, name: string, pass: IngestPass): Promise<IngestOutcome> {
        const runId = await this.runOf(month);
        const result = await followRun({
            api: this.o.api,
            dagId: INGEST_DAG_ID,
            runId,
            label: `${month} ingest`,
            progress: this.o.progress,
            airflowHome: this.o.airflowHome,
            failFast: this.o.failFast,
            checkAlive: this.o.checkAlive,
            timeoutMs: 30 * 60_000,
        });
        const summary = result.tasks.find((t) => t.taskId === "download")?.summary as
            { action?: string; replaced?: boolean; rows?: number } | undefined;
        const outcome: IngestOutcome = {
            month,
            pass,
            runId: result.runId,
            state: result.state,
            action: summary?.action,
            replaced: summary?.replaced,
            rows: summary?.rows,
            notYet: this.answered(name) - (this.passStart.get(name) ?? 0),
            result,
        };
        this.outcomes.push(outcome);
        return outcome;
    }

    /** Clear the months' ingest runs so they download again (after a republication). */
    async recheck(files: { month: string; name: string }[]): Promise<void> {
        for (const f of files) {
            this.passStart.set(f.name, this.answered(f.name));
            await this.o.api.clearRun(INGEST_DAG_ID, await this.runOf(f.month));
        }
    }

    /** The summary line's parts. */
    describe(baseUrl: string, what: string): string[] {
        const of = (pass: IngestPass, pred: (o: IngestOutcome) => boolean) =>
            this.outcomes.filter((o) => o.pass === pass && pred(o)).map((o) => o.month);
        const uploaded = (o: IngestOutcome) => o.state === "success" && o.action === "uploaded";
        const unchanged = (o: IngestOutcome) => o.state === "success" && o.action === "unchanged";
        const failed = this.outcomes.filter((o) => o.state !== "success");
        const waited = this.outcomes.filter((o) => o.notYet > 0);
        const list = (ms: string[]) => (ms.length ? ms.join(", ") : "none");
        const lines = [
            `publisher ${baseUrl} (${what})`,
            `downloaded ${list(of("first", uploaded))}; unchanged, not uploaded ${list(of("first", unchanged))}`,
            `waited for ${waited.length ? waited.map((o) => `${o.month} (${o.notYet} × HTTP 403: not published yet, asked again)`).join(", ") : "none"}`,
        ];
        if (this.outcomes.some((o) => o.pass === "re-check")) {
            lines.push(
                `re-check after a republication: re-loaded ${list(of("re-check", uploaded))} (new content → new object → new batch run); ` +
                    `skipped as unchanged ${list(of("re-check", unchanged))} (same sha256: no upload, no S3 event, no batch run)`,
            );
        }
        if (failed.length) {
            lines.push(`failed ${failed.map((o) => `${o.month} (run ${o.runId})`).join(", ")}`);
        }
        return lines;
    }
}
