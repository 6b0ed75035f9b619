/**
 * Benchmark (issue 26): `npm start -- --once` end to end, the current tree against a baseline in
 * the same run, and where each month's time goes, task by task.
 *
 *   tsx tools/local/bench-start.ts [--baseline REV | --baseline no-warm-workers[,no-spark-connect]]
 *       [--rounds 1]
 *       [--port-base 28950] [-- <npm start options, default: --months 2 --rows 100000>]
 *
 * Each round runs every variant once, alternating which goes first, each on a fresh state folder
 * (`--reset`, so both pay the same services start and a first retraining): the current tree, and
 * either the revision REV (`git archive` into a temporary folder that borrows this tree's
 * node_modules and Python environments) or this tree with `npm start`'s `--no-…` switches
 * (`no-warm-workers`: a fresh interpreter per task; `no-spark-connect`: a JVM per Spark task;
 * both, comma-separated: the pipeline as it was before issue 26). It reads what `npm start` prints (`✓ services (…)`, `✓ <month> · <task> (…)`) and
 * prints, per variant, medians of: wall time, the time until every month's first batch run had
 * succeeded (the command's scope when issue 26 set its target), services start, each task's
 * time summed over the months, and task time per month. A script that prints figures, not a test.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO_ROOT } from "./options";

const TASKS = ["copy_to_staging", "validate", "load", "dbt_build", "retrain", "publish_docs"];

export interface StartFigures {
    ok: boolean;
    wall: number;
    services: number | undefined;
    /**
     * Seconds from the start until every month's first batch run had succeeded (its `✓ month`
     * line of the first pass, "downloaded"): what the command did when issue 26 set its target,
     * before the ingest DAG's scenario (a withheld month, a republished one re-loaded) was added.
     */
    monthsLoaded: number | undefined;
    /** task -> month -> seconds */
    tasks: Record<string, Record<string, number>>;
}

/** Seconds of a duration as `npm start` prints it: `8.1 s`, `44 s`, `1 min 28 s`. */
export function parseDuration(text: string): number | undefined {
    const m = /^(?:(\d+) min )?(\d+(?:\.\d+)?) s$/.exec(text.trim());
    return m ? Number(m[1] ?? 0) * 60 + Number(m[2]) : undefined;
}

/** The figures of one `npm start` output. */
export function parseStartOutput(output: string, wall: number): StartFigures {
    const tasks: Record<string, Record<string, number>> = {};
    let services: number | undefined;
    let monthsLoaded: number | undefined;
    for (const line of output.split("\n")) {
        const m = /^\[(\d+):(\d{2})\] ✓ month \d{4}-\d{2} \([^)]*\)\s+downloaded/.exec(line);
        if (m) monthsLoaded = Math.max(monthsLoaded ?? 0, Number(m[1]) * 60 + Number(m[2]));
        const s = /✓ services \(([^)]+)\)/.exec(line);
        if (s) services = parseDuration(s[1]!);
        // `<month> · <task>` lines of the batch runs (not `<month> ingest · <task>`); a month's
        // first run only: the re-load of the republished month is extra work of today's command.
        const t = /✓ (\d{4}-\d{2}) · (\w+) \(([^)]+)\)/.exec(line);
        if (t) (tasks[t[2]!] ??= {})[t[1]!] ??= parseDuration(t[3]!) ?? NaN;
    }
    return { ok: /All runs succeeded\./.test(output), wall, services, monthsLoaded, tasks };
}

function median(xs: number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(s.length / 2);
    return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function baselineTree(rev: string, tmp: string): string {
    const dir = path.join(tmp, "baseline");
    fs.mkdirSync(dir);
    const archive = spawnSync("git", ["-C", REPO_ROOT, "archive", rev], {
        maxBuffer: 1 << 30,
    });
    if (archive.status !== 0) throw new Error(`git archive ${rev}: ${archive.stderr.toString()}`);
    const tar = spawnSync("tar", ["-x", "-C", dir], { input: archive.stdout });
    if (tar.status !== 0) throw new Error(`tar: ${tar.stderr.toString()}`);
    fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(dir, "node_modules"));
    for (const f of ["spark", "dags", "dbt", "ml"]) {
        fs.symlinkSync(path.join(REPO_ROOT, f, ".venv"), path.join(dir, f, ".venv"));
    }
    return dir;
}

function runStart(root: string, args: string[], log: string): Promise<StartFigures> {
    const started = Date.now();
    return new Promise((resolve) => {
        const child = spawn(
            process.execPath,
            [
                "--require",
                require.resolve("tsx/cjs"),
                path.join(root, "tools", "start.ts"),
                ...args,
            ],
            { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
        );
        let output = "";
        const take = (b: Buffer) => {
            output += b.toString();
            fs.appendFileSync(log, b);
        };
        child.stdout.on("data", take);
        child.stderr.on("data", take);
        child.on("close", () => resolve(parseStartOutput(output, (Date.now() - started) / 1000)));
    });
}

async function main(argv: string[]): Promise<void> {
    const dash = argv.indexOf("--");
    const own = dash < 0 ? argv : argv.slice(0, dash);
    const startArgs = dash < 0 ? ["--months", "2", "--rows", "100000"] : argv.slice(dash + 1);
    const opt = (name: string, dflt: string) => {
        const i = own.indexOf(name);
        return i >= 0 && own[i + 1] !== undefined ? own[i + 1]! : dflt;
    };
    const baseline = opt("--baseline", "no-warm-workers");
    // `no-x[,no-y]`: this tree with npm start's --no-x --no-y switches; anything else a revision.
    const switches = /^no-[a-z-]+(,no-[a-z-]+)*$/.test(baseline)
        ? baseline.split(",").map((s) => `--${s}`)
        : undefined;
    const rounds = Number(opt("--rounds", "1"));
    const portBase = opt("--port-base", "28950");
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-start-"));
    const variants: Record<string, { root: string; extra: string[] }> = {
        current: { root: REPO_ROOT, extra: [] },
        [switches ? switches.join(" ") : `@${baseline}`]: switches
            ? { root: REPO_ROOT, extra: switches }
            : { root: baselineTree(baseline, tmp), extra: [] },
    };
    const results: Record<string, StartFigures[]> = {};
    const names = Object.keys(variants);
    for (let r = 0; r < rounds; r++) {
        const order = [...names.slice(r % names.length), ...names.slice(0, r % names.length)];
        for (const name of order) {
            const v = variants[name]!;
            const state = path.join(tmp, `state-${name.replace(/\W/g, "")}`);
            const log = path.join(tmp, `${name.replace(/\W/g, "")}-${r}.log`);
            console.error(`round ${r + 1}/${rounds}: ${name} (output in ${log})`);
            const args = [
                "--once",
                "--reset",
                "--state-dir",
                state,
                "--port-base",
                portBase,
                ...startArgs,
                ...v.extra,
            ];
            (results[name] ??= []).push(await runStart(v.root, args, log));
        }
    }
    console.log(
        `npm start -- --once ${startArgs.join(" ")}; ${os.cpus().length} cpus, load average ` +
            `${os
                .loadavg()
                .map((x) => x.toFixed(1))
                .join(" ")} at the end; ${rounds} round(s), medians`,
    );
    const header = [
        "variant",
        "ok",
        "wall s",
        "months loaded s",
        "services s",
        ...TASKS,
        "task s/month",
    ];
    console.log(header.join("\t"));
    for (const [name, runs] of Object.entries(results)) {
        const months = Object.keys(runs[0]?.tasks.validate ?? {}).length || 1;
        const perTask = TASKS.map((t) =>
            median(runs.map((x) => Object.values(x.tasks[t] ?? {}).reduce((a, b) => a + b, 0))),
        );
        const taskTotal = perTask.reduce((a, b) => a + b, 0);
        console.log(
            [
                name,
                runs.every((x) => x.ok) ? "yes" : "NO",
                median(runs.map((x) => x.wall)).toFixed(1),
                median(runs.map((x) => x.monthsLoaded ?? NaN)).toFixed(0),
                median(runs.map((x) => x.services ?? NaN)).toFixed(1),
                ...perTask.map((x) => x.toFixed(1)),
                (taskTotal / months).toFixed(1),
            ].join("\t"),
        );
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).catch((err: unknown) => {
        console.error(err instanceof Error ? err.message : String(err));
        process.exit(1);
    });
}
