/**
 * End to end: `npm start -- --once` with small data (2 months × 3,000 rows) in a temporary state
 * folder on loopback ports 28520-28526 (another base: E2E_PORT_BASE), then checks what it left,
 * reading each store directly (not the command's own summary):
 *   - the months came from the publisher through the ingest DAG: the loopback TLC stand-in
 *     answered 403 for the last month first (the download waited, asked again, then
 *     downloaded), the first month was republished corrected and re-loaded, the other found
 *     unchanged; the landing files are the publisher's last content, with the source URL and
 *     sha256 in their metadata sidecars;
 *   - it exited 0 and, once it has returned, no process it started is still running: ports
 *     closed; none of the processes seen descending from it during the run (polled every second
 *     through /proc, whatever session they moved to), none carrying one of the markers its
 *     process record listed, none with the state folder in its command line or environment; and
 *     the record was removed (a clean stop);
 *   - three batch runs succeeded (both months, then the corrected first month), with the run ids
 *     the trigger function derives from bucket, key and ETag (Airflow's metadata DB: PostgreSQL
 *     when the command used it, else SQLite);
 *   - per month, warehouse rows = published rows − quarantined rows, and the quarantined rows are
 *     the ones the generator injected (none in the corrected month) (DuckDB, read with dbt/.venv);
 *   - the marts exist with both months;
 *   - a champion model is registered (MLflow's store);
 *   - the fare API was started and printed with a curl example; started again on the state
 *     folder's store, it answers a prediction with the registry's champion version;
 *   - the docs app, started on the published folder, lists the dbt and validation sites;
 *   - one run report per month reached the SMTP sink (PORT_BASE + 6): the last `.eml` of each
 *     month has the warehouse's loaded, quarantined and by-reason figures, and its path is printed.
 *
 * Not part of the mocha step (`.mocharc.cjs` ignores it): `npm test` runs it as its own
 * "end-to-end" step, `tools/test-all.ts`. About 4-5 minutes on 2 cores.
 *   mocha --no-config --require tsx/cjs --extension ts --timeout 900000 tools/local/e2e.test.ts
 */
import { strict as assert } from "node:assert";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { dagRunId } from "../../functions/airflow-trigger/src/events";
import { curlExample, fareApiEnv, predict } from "./fare-api";
import { emlHeaders, emlText, reportFigures } from "./mail";
import { databaseName, DROP_DB, libpqEnv } from "./metadata-db";
import { REPO_ROOT } from "./options";
import { portInUse, ProcessRegistry, waitForHttp } from "./processes";
import {
    describe as describeProc,
    listProcs,
    MARKER_ENV,
    procEnv,
    procInfo,
    type ProcInfo,
} from "./proctree";
import { venvBin } from "./python";
import { stateLayout } from "./state";

const PORT_BASE = Number(process.env.E2E_PORT_BASE ?? 28520);
const DOCS_PORT = PORT_BASE + 3;
const FARE_API_PORT = PORT_BASE + 4;
const MONTHS = ["2022-12", "2023-01"];
const ROWS = 3000;
const OUTPUT = path.join(REPO_ROOT, "test-output", "e2e", "npm-start-once.log");

/** Run Python in a pipeline venv; returns the parsed JSON it prints. */
function py(
    folder: "dbt" | "dags",
    code: string,
    args: string[],
    env: NodeJS.ProcessEnv = {},
): any {
    const r = spawnSync(venvBin(folder, "python"), ["-c", code, ...args], {
        encoding: "utf8",
        env: { ...process.env, ...env },
    });
    assert.equal(r.status, 0, `python in ${folder}/.venv failed:\n${r.stderr}`);
    return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
}

/**
 * Everything a process tree has been seen to contain: polled while it runs, so processes that
 * left their session or process group are known by pid and start time after their parent exits.
 */
class TreeWatch {
    readonly seen = new Map<number, number>();
    readonly markers = new Set<string>();
    private readonly timer: NodeJS.Timeout;

    constructor(
        root: number,
        private readonly recordFile: string,
    ) {
        this.seen.set(root, procInfo(root)?.start ?? -1);
        this.timer = setInterval(() => this.poll(), 1000);
        this.poll();
    }

    poll(): void {
        const procs = listProcs();
        const byPid = new Map(procs.map((p) => [p.pid, p]));
        const ours = (p: ProcInfo, depth = 0): boolean => {
            const s = this.seen.get(p.pid);
            if (s !== undefined && (s === -1 || s === p.start)) return true;
            const parent = byPid.get(p.ppid);
            return parent !== undefined && depth < 64 && ours(parent, depth + 1);
        };
        for (const p of procs) if (ours(p)) this.seen.set(p.pid, p.start);
        try {
            const rec = JSON.parse(fs.readFileSync(this.recordFile, "utf8")) as {
                markers: string[];
            };
            for (const m of rec.markers) this.markers.add(m);
        } catch {
            // not written yet, or already removed
        }
    }

    stop(): void {
        clearInterval(this.timer);
    }

    /** Live processes that were seen in the tree, carry a seen marker, or name `text`. */
    alive(text: string): string[] {
        return this.aliveProcs(text).map(describeProc);
    }

    /** SIGKILL what `alive` lists (cleanup after a failed check). */
    kill(text: string): void {
        for (const p of this.aliveProcs(text)) {
            try {
                process.kill(p.pid, "SIGKILL");
            } catch {
                // gone
            }
        }
    }

    private aliveProcs(text: string): ProcInfo[] {
        return listProcs().filter((p) => {
            if (p.pid === process.pid) return false;
            if (this.seen.get(p.pid) === p.start) return true;
            const marker = procEnv(p.pid, MARKER_ENV);
            if (marker !== undefined && this.markers.has(marker)) return true;
            try {
                const cmd = fs.readFileSync(`/proc/${p.pid}/cmdline`, "utf8");
                const env = fs.readFileSync(`/proc/${p.pid}/environ`, "utf8");
                return cmd.includes(text) || env.includes(text);
            } catch {
                return false; // exited meanwhile, or not ours to read
            }
        });
    }
}

/** What the publisher served last for each month: the corrected first month, the others as generated. */
function published(state: ReturnType<typeof stateLayout>): {
    month: string;
    path: string;
    injected: Record<string, number>;
}[] {
    type M = { files: { month: string; path: string; injected: Record<string, number> }[] };
    const read = (f: string) => JSON.parse(fs.readFileSync(f, "utf8")) as M;
    const original = read(path.join(state.generated, "manifest.json")).files;
    const corrected = read(path.join(state.generated, "corrected", "manifest.json")).files;
    return original.map((f) => corrected.find((c) => c.month === f.month) ?? f);
}

const md5 = (file: string) => createHash("md5").update(fs.readFileSync(file)).digest("hex");
const sha256 = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

const RUNS_SQL = "select run_id, state from dag_run where dag_id = 'batch' order by run_id";

describe("npm start -- --once: the pipeline end to end on this machine", function () {
    this.timeout(20 * 60_000);
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "taxi-e2e-"));
    const state = stateLayout(stateDir);
    let output = "";
    let exitCode: number | null = null;
    let seconds = 0;
    let tree: TreeWatch | undefined;

    before(async () => {
        for (let p = PORT_BASE; p <= PORT_BASE + 6; p++) {
            assert.equal(await portInUse(p), false, `127.0.0.1:${p} must be free for this test`);
        }
        const started = Date.now();
        const child = spawn(
            process.execPath,
            [
                "--require",
                require.resolve("tsx/cjs"),
                path.join(REPO_ROOT, "tools", "start.ts"),
                "--once",
                "--months",
                String(MONTHS.length),
                "--first-month",
                MONTHS[0]!,
                "--rows",
                String(ROWS),
                "--state-dir",
                stateDir,
                "--port-base",
                String(PORT_BASE),
            ],
            { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
        );
        tree = new TreeWatch(child.pid!, state.processes);
        child.stdout.on("data", (d: Buffer) => (output += d.toString()));
        child.stderr.on("data", (d: Buffer) => (output += d.toString()));
        exitCode = await new Promise<number | null>((resolve) => child.once("close", resolve));
        tree.stop();
        seconds = (Date.now() - started) / 1000;
        fs.mkdirSync(path.dirname(OUTPUT), { recursive: true });
        fs.writeFileSync(OUTPUT, `${output}\n(exit ${exitCode}, ${seconds.toFixed(0)} s)\n`);
    });

    after(() => {
        tree?.kill(stateDir);
        if (!fs.existsSync(path.join(state.airflowHome, "airflow.db"))) {
            spawnSync(venvBin("dags", "python"), ["-c", DROP_DB, databaseName(stateDir)], {
                env: { ...process.env, ...libpqEnv() },
            });
        }
        fs.rmSync(stateDir, { recursive: true, force: true });
    });

    it("exits 0, prints the URLs and the warehouse path, and stops every process it started", async () => {
        assert.equal(
            exitCode,
            0,
            `npm start -- --once failed (output in ${OUTPUT}):\n${output.slice(-6000)}`,
        );
        assert.match(output, /All runs succeeded\./);
        assert.match(output, new RegExp(`Airflow UI +http://127\\.0\\.0\\.1:${PORT_BASE}`));
        assert.match(output, new RegExp(`MLflow UI +http://127\\.0\\.0\\.1:${PORT_BASE + 1}`));
        assert.match(output, new RegExp(`docs app +http://127\\.0\\.0\\.1:${PORT_BASE + 2}`));
        assert.ok(output.includes(state.warehouse), "the warehouse path is printed");
        for (const task of ["validate", "load", "dbt_build", "retrain", "publish_docs"]) {
            assert.match(output, new RegExp(`✓ ${MONTHS[1]} · ${task} \\(`), `${task} reported`);
        }
        // `npm start` has returned (its process closed), so its stop has finished: from here on
        // nothing it started may be alive, whatever session it moved to.
        assert.match(output, /✓ stopped/);
        assert.match(
            output,
            new RegExp(`Spark Connect sc://localhost:${PORT_BASE + 4} `),
            "the Spark Connect server was started",
        );
        // Airflow, MLflow, the docs app, the fare API (PORT_BASE + 3), Spark Connect (+ 4), the
        // TLC stand-in (+ 5), the SMTP sink (+ 6).
        for (let p = PORT_BASE; p <= PORT_BASE + 6; p++) {
            assert.equal(await portInUse(p), false, `something still listens on ${p}`);
        }
        assert.ok(tree!.seen.size > 10, `the process tree was watched (${tree!.seen.size} seen)`);
        assert.ok(tree!.markers.size >= 2, "the process record listed the run's markers");
        assert.deepEqual(tree!.alive(stateDir), [], "processes still running after the stop");
        assert.equal(fs.existsSync(state.processes), false, "the process record was removed");
    });

    it("fetched the months from the publisher: waited for one, re-loaded a correction, skipped the unchanged", () => {
        const [first, last] = [MONTHS[0]!, MONTHS.at(-1)!];
        assert.match(output, /ingest +publisher http:\/\/127\.0\.0\.1:\d+\/trip-data/);
        assert.match(output, new RegExp(`downloaded ${MONTHS.join(", ")};`));
        assert.match(output, new RegExp(`waited for ${last} \\([1-9]\\d* × HTTP 403`));
        assert.match(output, new RegExp(`${last} · download: not published yet \\(HTTP 403`));
        assert.match(output, new RegExp(`re-loaded ${first} \\(new content`));
        assert.match(output, new RegExp(`skipped as unchanged ${last} \\(same sha256`));
        // The landing folder holds what the publisher served last, with its metadata sidecar.
        for (const f of published(state)) {
            const name = path.basename(f.path);
            const landed = path.join(state.landingPrefix, name);
            assert.equal(sha256(landed), sha256(f.path), `${name}: the publisher's last content`);
            const meta = JSON.parse(
                fs.readFileSync(path.join(state.landingPrefix, `.${name}.meta.json`), "utf8"),
            ) as Record<string, string>;
            assert.equal(meta["sha256"], sha256(f.path), `${name}: sha256 in its metadata`);
            assert.match(meta["source-url"] ?? "", new RegExp(`/trip-data/${name}$`));
        }
    });

    it("ran one successful batch run per new object, with the trigger function's run ids", () => {
        const generated = path.join(state.generated, "trip data");
        const keyOf = (m: string) => `trip data/yellow_tripdata_${m}.parquet`;
        const run = (m: string, file: string) => ({
            run_id: dagRunId({ bucket: "landing", key: keyOf(m), eTag: md5(file) }),
            state: "success",
        });
        const expected = [
            ...MONTHS.map((m) => run(m, path.join(generated, path.basename(keyOf(m))))),
            // The corrected first month: a new object version, one more run.
            run(MONTHS[0]!, published(state)[0]!.path),
        ].sort((a, b) => a.run_id.localeCompare(b.run_id));
        const sqlite = path.join(state.airflowHome, "airflow.db");
        const runs = fs.existsSync(sqlite)
            ? py(
                  "dbt",
                  `import json, sqlite3, sys
con = sqlite3.connect(sys.argv[1])
print(json.dumps([{"run_id": r, "state": s} for r, s in con.execute(sys.argv[2])]))`,
                  [sqlite, RUNS_SQL],
              )
            : py(
                  "dags",
                  `import json, sys, psycopg2
con = psycopg2.connect(dbname=sys.argv[1])
cur = con.cursor(); cur.execute(sys.argv[2])
print(json.dumps([{"run_id": r, "state": s} for r, s in cur.fetchall()]))`,
                  [databaseName(stateDir), RUNS_SQL],
                  libpqEnv(),
              );
        assert.deepEqual(runs, expected);
    });

    it("ran the Spark tasks as clients of the Spark Connect server (no JVM of their own)", () => {
        const logs: string[] = [];
        const walk = (dir: string): void => {
            for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
                const p = path.join(dir, e.name);
                if (e.isDirectory()) walk(p);
                else if (/task_id=(validate|load)\b/.test(p)) logs.push(p);
            }
        };
        walk(path.join(state.airflowHome, "logs"));
        for (const task of ["validate", "load"]) {
            const mine = logs.filter((p) => p.includes(`task_id=${task}`));
            assert.ok(mine.length >= MONTHS.length, `${task}: a log per run (${mine.join(", ")})`);
            for (const p of mine) {
                const text = fs.readFileSync(p, "utf8");
                assert.match(text, /spark_session_ready[^\n]*mode\\?": ?\\?"connect/, p);
                assert.doesNotMatch(text, /spark-submit/, `${p}: ran through spark-submit`);
            }
        }
    });

    it("loaded generated − quarantined rows per month, quarantining exactly the injected defects", () => {
        const manifest = { files: published(state) };
        const counts = py(
            "dbt",
            `import json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
def by_month(sql):
    return {m: n for m, n in con.execute(sql).fetchall()}
out = {
    "generated": {m: con.execute("select count(*) from read_parquet(?)", [p]).fetchone()[0]
                  for m, p in json.loads(sys.argv[2]).items()},
    "loaded": by_month("select strftime(source_month, '%Y-%m'), count(*) from raw.trips group by 1"),
    "quarantined": by_month(
        "select strftime(source_month, '%Y-%m'), count(*) from raw.trips_quarantine group by 1"),
}
print(json.dumps(out))`,
            [
                state.warehouse,
                JSON.stringify(Object.fromEntries(manifest.files.map((f) => [f.month, f.path]))),
            ],
        );
        assert.deepEqual(Object.keys(counts.loaded).sort(), MONTHS);
        for (const f of manifest.files) {
            const injected = Object.values(f.injected).reduce((a, b) => a + b, 0);
            assert.equal(counts.generated[f.month], ROWS, `${f.month}: generated rows`);
            const corrected = f.path.includes(`${path.sep}corrected${path.sep}`);
            assert.equal(corrected, f.month === MONTHS[0], `${f.month}: the corrected file`);
            assert.ok(corrected ? injected === 0 : injected > 0, `${f.month}: injected bad rows`);
            assert.equal(
                counts.quarantined[f.month] ?? 0,
                injected,
                `${f.month}: quarantined = injected`,
            );
            assert.equal(
                counts.loaded[f.month],
                counts.generated[f.month] - (counts.quarantined[f.month] ?? 0),
                `${f.month}: loaded = generated − quarantined`,
            );
        }
    });

    it("mailed one run report per month to the SMTP sink, whose figures equal the warehouse's", () => {
        const mailDir = path.join(stateDir, "mail");
        const files = fs
            .readdirSync(mailDir)
            .filter((f) => f.endsWith(".eml"))
            .sort();
        const wh = py(
            "dbt",
            `import json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
out = {}
for m, n in con.execute("select strftime(source_month, '%Y-%m'), count(*) from raw.trips group by 1").fetchall():
    out.setdefault(m, {"reasons": {}})["loaded"] = n
for m, r, n in con.execute(
    "select strftime(source_month, '%Y-%m'), reason, count(*) from raw.trips_quarantine group by 1, 2"
).fetchall():
    out.setdefault(m, {"reasons": {}})["reasons"][r] = n
print(json.dumps(out))`,
            [state.warehouse],
        );
        for (const month of MONTHS) {
            // The last report of the month (a re-run mails again).
            const file = [...files]
                .reverse()
                .map((f) => path.join(mailDir, f))
                .find((f) => emlHeaders(f)["x-taxi-month"] === month);
            assert.ok(file, `${month}: no report .eml in ${mailDir} (${files.join(", ")})`);
            assert.match(
                emlHeaders(file)["subject"] ?? "",
                new RegExp(`yellow ${month}: batch run succeeded`),
            );
            assert.ok(
                output.includes(`run report of ${month} mailed`),
                `${month}: the .eml path is printed`,
            );
            const text = emlText(file);
            const fig = reportFigures(text);
            const expected = wh[month] as { loaded: number; reasons: Record<string, number> };
            const quarantined = Object.values(expected.reasons).reduce((a, b) => a + b, 0);
            assert.equal(fig.loaded, expected.loaded, `${month}: loaded in the mail = warehouse`);
            assert.equal(
                fig.quarantined,
                quarantined,
                `${month}: quarantined in the mail = warehouse`,
            );
            assert.equal(
                fig.read,
                expected.loaded + quarantined,
                `${month}: read = loaded + quarantined`,
            );
            assert.deepEqual(fig.byReason, expected.reasons, `${month}: quarantined by reason`);
            assert.match(text, /decision: (promoted|kept|unchanged)/);
        }
        assert.match(output, /run reports +\d+ mail\(s\) in /);
    });

    it("built the marts for both months", () => {
        const marts = py(
            "dbt",
            `import json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
q = lambda sql: [list(r) for r in con.execute(sql).fetchall()]
print(json.dumps({
    "features": q("select strftime(pickup_month, '%Y-%m'), count(*) from marts.fare_features group by 1 order by 1"),
    "report": q("select distinct strftime(pickup_month, '%Y-%m') from marts.borough_monthly_report order by 1"),
}))`,
            [state.warehouse],
        );
        assert.deepEqual(
            marts.features.map((r: [string, number]) => r[0]),
            MONTHS,
        );
        for (const [month, n] of marts.features)
            assert.ok(n > ROWS * 0.9, `${month}: ${n} feature rows`);
        assert.deepEqual(
            marts.report.map((r: [string]) => r[0]),
            MONTHS,
        );
    });

    it("registered a champion model in MLflow", () => {
        const registry = py(
            "dbt",
            `import json, sqlite3, sys
con = sqlite3.connect(sys.argv[1])
print(json.dumps({
    "champion": con.execute("select version from registered_model_aliases where name = 'fare-model' and alias = 'champion'").fetchall(),
    "versions": con.execute("select count(*) from model_versions where name = 'fare-model'").fetchone()[0],
}))`,
            [path.join(state.mlflow, "mlflow.db")],
        );
        assert.equal(registry.champion.length, 1, "one champion alias");
        // One per retraining: both months, then the corrected first month.
        assert.equal(registry.versions, MONTHS.length + 1, "one version per retraining");
    });

    it("served the champion on the fare API, and the champion answers a prediction", async () => {
        const fareUrl = `http://127.0.0.1:${PORT_BASE + 3}`;
        assert.match(output, new RegExp(`fare API ${fareUrl} serves champion v\\d+`));
        assert.ok(output.includes(`try it: ${curlExample(fareUrl)}`), "curl example printed");
        assert.match(output, /→ \d+\.\d+ USD from model version \d+/);
        const champion = py(
            "dbt",
            `import json, sqlite3, sys
con = sqlite3.connect(sys.argv[1])
print(json.dumps(con.execute("select version from registered_model_aliases where name = 'fare-model' and alias = 'champion'").fetchone()[0]))`,
            [path.join(state.mlflow, "mlflow.db")],
        ) as number;
        assert.match(output, new RegExp(`fare API +${fareUrl} +\\(champion v${champion}\\)`));
        // Again, on what the run left: the registry in the state folder and the model files
        // in the MLflow server's artifact folder (read directly, as in the cluster).
        const services = new ProcessRegistry();
        const url = `http://127.0.0.1:${FARE_API_PORT}`;
        const app = services.start(
            "fare API",
            venvBin("ml", "python"),
            ["-m", "taxi_ml.serve", "--host", "127.0.0.1", "--port", String(FARE_API_PORT)],
            path.join(stateDir, "logs", "fare-api-check.log"),
            {
                cwd: path.join(REPO_ROOT, "ml"),
                env: {
                    ...process.env,
                    ...fareApiEnv(
                        `sqlite:///${path.join(state.mlflow, "mlflow.db")}`,
                        path.join(state.mlflow, "artifacts"),
                    ),
                },
            },
        );
        try {
            await waitForHttp(app, `${url}/health`, 180_000);
            const p = await predict(url);
            assert.equal(p.status, 200);
            assert.equal(p.version, String(champion), "the registry's champion answers");
            assert.equal(p.fares.length, 1);
            assert.ok(p.fares[0]! > 2.5 && p.fares[0]! < 100, `a taxi fare: ${p.fares[0]}`);
        } finally {
            await services.stopAll();
        }
    });

    it("publishes docs the docs app lists: dbt docs and the validation (data docs) site", async () => {
        const services = new ProcessRegistry();
        const log = path.join(stateDir, "logs", "docs-app-check.log");
        const app = services.start(
            "docs app",
            process.execPath,
            [
                "--require",
                require.resolve("tsx/cjs"),
                path.join(REPO_ROOT, "docs-app", "src", "main.ts"),
            ],
            log,
            {
                cwd: REPO_ROOT,
                env: {
                    ...process.env,
                    DOCS_URI: `file://${state.docs}`,
                    HOST: "127.0.0.1",
                    PORT: String(DOCS_PORT),
                },
            },
        );
        try {
            const base = `http://127.0.0.1:${DOCS_PORT}`;
            await waitForHttp(app, `${base}/healthz`, 60_000);
            const index = await (await fetch(`${base}/`)).text();
            for (const site of ["dbt", "data-docs"]) {
                assert.match(
                    index,
                    new RegExp(`<tr data-site="${site}"><td><a href="/${site}/">`),
                    `${site} listed as published`,
                );
            }
            const dataDocs = await (await fetch(`${base}/data-docs/`)).text();
            for (const m of MONTHS)
                assert.ok(dataDocs.includes(`yellow_tripdata_${m}`), `data docs of ${m}`);
            const dbt = await fetch(`${base}/dbt/`);
            assert.equal(dbt.status, 200);
            assert.match(await dbt.text(), /<title>dbt Docs<\/title>/i);
        } finally {
            await services.stopAll();
        }
    });
});
