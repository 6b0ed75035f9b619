/**
 * Unit tests of the `npm start` pieces that need no services: options, months, the landing
 * folder's new-object detection (on real files), task summaries, log excerpts, state layout and
 * the local pipeline-env. The whole command runs end to end in `e2e.test.ts` (its own step of
 * `npm test`).
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PIPELINE_ENV_KEYS } from "../../components/airflow/pipeline-env";
import { startLocalAirflow } from "../local-airflow";
import { LOCAL_AIRFLOW_SETTINGS, localPipelineEnv } from "../start";
import { logLine, renderLogText } from "./airflow-api";
import { NewObjectDetector, scanLanding } from "./landing";
import { databaseName, temporaryDatabase } from "./metadata-db";
import { REPORT_POLL_MS, reportFor } from "./mail";
import { venvBin } from "./python";
import { DEFAULTS, monthList, OptionsError, parseOptions, REPO_ROOT } from "./options";
import { duration } from "./progress";
import { copyFileAtomic, createState, removeState, STATE_MARKER, stateLayout } from "./state";
import { describeTask, promotion } from "./summaries";
import { parseDuration, parseStartOutput } from "./bench-start";

describe("npm start: options", () => {
    it("defaults to three months of 20,000 rows in .local/", () => {
        const o = parseOptions([]);
        assert.equal(o.once, false);
        assert.equal(o.months, 3);
        assert.equal(o.rows, 20_000);
        assert.equal(o.stateDir, path.join(REPO_ROOT, ".local"));
        assert.equal(o.metadataDb, "auto");
        assert.equal(o.sparkConnect, true);
    });

    it("reads every flag, in both --flag value and --flag=value form", () => {
        const o = parseOptions(
            [
                "--once",
                "--months",
                "2",
                "--rows=3000",
                "--state-dir",
                "st",
                "--port-base=28510",
                "--metadata-db",
                "sqlite",
                "--first-month",
                "2023-11",
                "--bad-fraction",
                "0.001",
                "--fail-fast",
                "--storage",
                "emulated",
                "--no-spark-connect",
                "--no-warm-workers",
                "--source",
                "https://mirror.example/tlc/trip-data/",
            ],
            "/tmp/x",
        );
        assert.deepEqual(
            { ...o },
            {
                ...DEFAULTS,
                once: true,
                months: 2,
                rows: 3000,
                stateDir: "/tmp/x/st",
                portBase: 28510,
                metadataDb: "sqlite",
                firstMonth: "2023-11",
                badFraction: 0.001,
                failFast: true,
                reset: false,
                storage: "emulated",
                sparkConnect: false,
                warmWorkers: false,
                source: "https://mirror.example/tlc/trip-data",
            },
        );
    });

    const bad: [string[], RegExp][] = [
        [["--nope"], /unknown option "--nope"/],
        [["--months"], /--months needs a whole number between 1 and 24, got ""/],
        [["--months", "0"], /--months 0 is out of range: expected 1-24/],
        [["--rows", "12x"], /--rows needs a whole number/],
        [["--rows", "10"], /--rows 10 is out of range: expected 1000-5000000/],
        [["--first-month", "2023-13"], /--first-month needs a month YYYY-MM/],
        [["--metadata-db", "mysql"], /--metadata-db must be auto, postgres or sqlite, got "mysql"/],
        [["--bad-fraction", "0.9"], /--bad-fraction needs a number between 0 and 0.5/],
        [["--state-dir", ""], /--state-dir needs a folder path/],
        [["--storage", "gcs"], /--storage must be local or emulated, got "gcs"/],
        [["--source"], /--source needs the base URL of the monthly files/],
        [["--source", "mirror/trip-data"], /--source needs the base URL/],
        [
            ["--source", "ftp://mirror/trip-data"],
            /--source must be an http:\/\/ or https:\/\/ URL, got ftp:/,
        ],
        [["--source", "https://u:hunter2@mirror/t"], /--source must not carry credentials/],
        [["--source", "https://mirror/t?sig=1"], /--source is a base URL/],
    ];

    for (const [argv, message] of bad) {
        it(`rejects ${argv.join(" ")} naming the flag`, () => {
            assert.throws(
                () => parseOptions(argv),
                (err: Error) => {
                    assert.ok(err instanceof OptionsError);
                    assert.match(err.message, message);
                    assert.doesNotMatch(err.message, /hunter2/, "a password is never echoed");
                    assert.match(err.message, /npm start -- --help/);
                    return true;
                },
            );
        });
    }

    it("lists consecutive months across a year end", () => {
        assert.deepEqual(monthList("2022-11", 4), ["2022-11", "2022-12", "2023-01", "2023-02"]);
        assert.deepEqual(monthList("2024-05", 1), ["2024-05"]);
    });
});

describe("npm start: landing folder", () => {
    let dir: string;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "taxi-landing-"));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    const write = (rel: string, text: string, mtime?: Date) => {
        const file = path.join(dir, rel);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, text);
        if (mtime) fs.utimesSync(file, mtime, mtime);
    };

    it("keys files by their relative path and skips in-flight dot files", () => {
        write("trip data/yellow_tripdata_2024-01.parquet", "a");
        write("trip data/.yellow_tripdata_2024-02.parquet.123.tmp", "b");
        write(".hidden/x.parquet", "c");
        assert.deepEqual(
            [...scanLanding(dir).keys()],
            ["trip data/yellow_tripdata_2024-01.parquet"],
        );
    });

    it("delivers a new file once it is stable, a rewrite again, and nothing for files there at start", () => {
        write("old.parquet", "old");
        const d = new NewObjectDetector();
        d.baseline(scanLanding(dir));
        assert.deepEqual(d.observe(scanLanding(dir)), []);

        write("trip data/a.parquet", "1", new Date(1_700_000_000_000));
        assert.deepEqual(d.observe(scanLanding(dir)), [], "seen once: may still be growing");
        assert.deepEqual(d.observe(scanLanding(dir)), ["trip data/a.parquet"]);
        assert.deepEqual(d.observe(scanLanding(dir)), [], "delivered once");

        // The same content written again (a new PUT) is a new object creation.
        write("trip data/a.parquet", "1", new Date(1_700_000_100_000));
        d.observe(scanLanding(dir));
        assert.deepEqual(d.observe(scanLanding(dir)), ["trip data/a.parquet"]);
    });

    it("never shows a half-copied file under its final name", () => {
        const src = path.join(dir, "src.bin");
        fs.writeFileSync(src, Buffer.alloc(1 << 20, 7));
        const dest = path.join(dir, "landing", "trip data", "f.parquet");
        copyFileAtomic(src, dest);
        assert.equal(fs.statSync(dest).size, 1 << 20);
        assert.deepEqual(fs.readdirSync(path.dirname(dest)), ["f.parquet"]);
    });
});

describe("npm start: task summaries", () => {
    // Shapes as the jobs print them (last stdout line → XCom), trimmed to the fields used.
    it("load: rows loaded and quarantined by reason", () => {
        const line = describeTask("load", {
            rows_read: 5000,
            rows_loaded: 4990,
            rows_quarantined: 10,
            quarantine_by_reason: { negative_amount: 3, zero_distance: 3, outside_file_month: 0 },
            trips_partitions: 31,
        });
        assert.equal(
            line,
            "5,000 rows read → 4,990 loaded, 10 quarantined (negative_amount 3, zero_distance 3) · 31 date partitions overwritten",
        );
    });

    it("validate, dbt_build, copy, publish_docs", () => {
        assert.equal(
            describeTask("validate", {
                rows: 3000,
                success_percent: 69.23,
                threshold_pct: 90,
                failed_expectations: [{}, {}],
            }),
            "3,000 rows · 69.23% of expectations met (threshold 90%), 2 failed",
        );
        assert.equal(
            describeTask("dbt_build", {
                models: { success: 4 },
                tests: { pass: 56, fail: 1 },
                unit_tests: { pass: 5 },
                seeds: { success: 3 },
            }),
            "models: 4 success · tests: 56 pass, 1 fail · unit tests: 5 pass · seeds: 3 success",
        );
        assert.equal(
            describeTask("copy_to_staging", { copied: 0, skipped: 1 }),
            "staged copy already identical (skipped)",
        );
        assert.match(
            describeTask("publish_docs", {
                dbt_docs: { bytes: 2_654_419, uri: "file:///d/dbt/index.html" },
            }),
            /^dbt docs 2\.5 MiB → file:\/\/\/d\/dbt\/index\.html$/,
        );
    });

    it("retrain: first champion, promotion, kept", () => {
        const first = {
            decision: "promoted",
            model_version: "1",
            previous_champion_version: null,
            challenger_rmse: 2.272009,
            metrics: { baseline_rmse: 12.921326 },
        };
        assert.equal(
            describeTask("retrain", first),
            "RMSE 2.272 (baseline 12.921) → promoted: v1 is the first champion",
        );
        assert.equal(promotion(first), "v1 (first champion)");
        const promoted = {
            ...first,
            model_version: "2",
            previous_champion_version: "1",
            champion_rmse: 7.9928,
        };
        assert.equal(
            describeTask("retrain", promoted),
            "challenger RMSE 2.272 (baseline 12.921) vs champion v1 7.993 → promoted: champion v1 → v2",
        );
        assert.equal(promotion(promoted), "v1 → v2");
        const kept = { ...promoted, decision: "kept", model_version: "3", champion_version: "2" };
        assert.match(
            describeTask("retrain", kept),
            /challenger v3 .* vs champion v2 7\.993 → champion kept$/,
        );
        assert.equal(promotion(kept), undefined);
        const unchanged = { decision: "unchanged", model_version: "1", champion_version: "2" };
        assert.equal(
            describeTask("retrain", unchanged),
            "same rows, hyperparameters and seed as v1: nothing trained or registered; champion v2 kept",
        );
        assert.equal(promotion(unchanged), undefined);
    });

    it("ingest: plan, and a download uploaded, replacing, or unchanged", () => {
        assert.equal(
            describeTask("plan", { source_url: "http://x/a.parquet", landing_uri: "s3://b/k" }),
            "http://x/a.parquet → s3://b/k",
        );
        const got = { bytes: 109131, rows: 3000, sha256: "0123456789abcdef" };
        assert.equal(
            describeTask("download", { ...got, action: "uploaded", replaced: false }),
            "106.6 KiB, 3,000 rows, sha256 0123456789ab… → uploaded",
        );
        assert.match(
            describeTask("download", { ...got, action: "uploaded", replaced: true }),
            /→ uploaded \(replaces a different earlier file: a new version\)$/,
        );
        assert.match(
            describeTask("download", { ...got, action: "unchanged", replaced: false }),
            /the landing object has the same sha256, nothing uploaded \(no S3 event, no batch run\)$/,
        );
    });

    it("falls back to compact JSON for tasks it does not know", () => {
        assert.equal(describeTask("something_new", { a: 1 }), '{"a":1}');
        assert.equal(describeTask("load", undefined), "");
    });
});

describe("npm start: log excerpts", () => {
    it("renders Airflow's JSON log lines, relayed job lines and exceptions; drops bookkeeping", () => {
        const text = [
            JSON.stringify({
                timestamp: "2026-01-01T12:00:01.000Z",
                level: "info",
                event: "::group::Pre Execute",
            }),
            JSON.stringify({
                timestamp: "2026-01-01T12:00:02.000Z",
                level: "info",
                event: JSON.stringify({
                    ts: "x",
                    level: "error",
                    logger: "l",
                    event: "validation_failed",
                    rows: 3,
                }),
            }),
            JSON.stringify({
                timestamp: "2026-01-01T12:00:03.000Z",
                level: "error",
                event: "Task failed with exception",
                error_detail: [
                    {
                        exc_type: "RuntimeError",
                        exc_value: "job validate exited with code 1. Last log lines:\nmore",
                    },
                ],
            }),
            "plain text line",
        ].join("\n");
        assert.deepEqual(renderLogText(text), [
            "12:00:02 error validation_failed rows=3",
            "12:00:03 error Task failed with exception (RuntimeError: job validate exited with code 1.)",
            "plain text line",
        ]);
        assert.ok(logLine({ event: "x".repeat(1000) }).length <= 400);
    });

    it("formats durations", () => {
        assert.equal(duration(3.24), "3.2 s");
        assert.equal(duration(42.4), "42 s");
        assert.equal(duration(119.7), "2 min 0 s");
        assert.equal(duration(85), "1 min 25 s");
    });
});

describe("npm start: the local Airflow's settings, read by the real Airflow (dags/.venv)", () => {
    it("names only options Airflow knows, and Airflow reads each value as given", function () {
        this.timeout(120_000);
        const python = venvBin("dags", "python");
        if (!fs.existsSync(python)) this.skip(); // npm test prepares dags/.venv before mocha
        const home = fs.mkdtempSync(path.join(os.tmpdir(), "taxi-airflow-settings-"));
        try {
            const code = [
                "import json, os",
                "from airflow.configuration import conf",
                "out = {}",
                "for key in json.loads(os.environ['SETTINGS']):",
                "    _, section, option = key.split('__', 2)",
                "    section, option = section.lower(), option.lower()",
                "    known = option in conf.configuration_description.get(section, {}).get('options', {})",
                "    out[key] = conf.get(section, option) if known else None",
                "print(json.dumps(out))",
            ].join("\n");
            const check = (settings: Record<string, string>) => {
                const r = spawnSync(python, ["-c", code], {
                    env: {
                        PATH: process.env.PATH,
                        AIRFLOW_HOME: home,
                        SETTINGS: JSON.stringify(settings),
                        ...settings,
                    },
                    encoding: "utf8",
                    timeout: 90_000,
                });
                assert.equal(r.status, 0, r.stderr);
                return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Record<
                    string,
                    string | null
                >;
            };
            assert.deepEqual(check(LOCAL_AIRFLOW_SETTINGS), LOCAL_AIRFLOW_SETTINGS);
            // A misspelt name would be ignored by Airflow; the check reports it.
            assert.deepEqual(check({ AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIMES: "0.5" }), {
                AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIMES: null,
            });
        } finally {
            fs.rmSync(home, { recursive: true, force: true });
        }
    });
});

describe("npm start: state and environment", () => {
    it("keeps everything under the state folder", () => {
        const s = stateLayout("/srv/st");
        assert.equal(s.root, "/srv/st");
        for (const [k, v] of Object.entries(s)) {
            if (k !== "root") assert.ok(v.startsWith("/srv/st/"), `${k}: ${v}`);
        }
        assert.equal(s.landingPrefix, "/srv/st/landing/trip data/");
    });

    it("creates a state folder only where it cannot clobber something else, and resets only its own", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taxi-state-"));
        try {
            const fresh = stateLayout(path.join(dir, "new"));
            createState(fresh);
            assert.ok(fs.existsSync(path.join(fresh.root, STATE_MARKER)));
            assert.ok(fs.statSync(fresh.landingPrefix).isDirectory());
            createState(fresh); // again: fine
            assert.equal(removeState(fresh), true);
            assert.equal(fs.existsSync(fresh.root), false);

            const other = stateLayout(path.join(dir, "other"));
            fs.mkdirSync(other.root);
            fs.writeFileSync(path.join(other.root, "precious.txt"), "keep me");
            assert.throws(() => createState(other), /is not empty and is not a state folder/);
            assert.throws(() => removeState(other), /not deleting it/);
            assert.equal(fs.readFileSync(path.join(other.root, "precious.txt"), "utf8"), "keep me");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("gives each state folder its own PostgreSQL database", () => {
        const a = databaseName("/tmp/a");
        assert.match(a, /^taxi_local_airflow_[0-9a-f]{10}$/);
        assert.notEqual(a, databaseName("/tmp/b"));
        assert.equal(a, databaseName("/tmp/x/../a"), "the same folder, however it is spelled");
    });

    it("sets every pipeline-env key the local runtime reads, spelled as the contract spells them", () => {
        const env = localPipelineEnv(stateLayout("/srv/st"), "http://127.0.0.1:28501");
        const needed = [
            "PLATFORM_ENV",
            "PLATFORM_RUNTIME",
            "STAGING_URI",
            "DOCS_URI",
            "WAREHOUSE",
            "WAREHOUSE_PATH",
            "BQ_DATASET_RAW",
            "BQ_DATASET_MARTS",
            "MLFLOW_TRACKING_URI",
            "S3_LANDING_BUCKET",
        ];
        for (const key of needed) {
            assert.ok(
                (PIPELINE_ENV_KEYS as readonly string[]).includes(key),
                `${key} is a pipeline-env key`,
            );
            assert.ok(env[key], `${key} is set`);
        }
        assert.equal(env.PLATFORM_RUNTIME, "local");
        assert.equal(env.WAREHOUSE, "duckdb");
        assert.equal(env.STAGING_URI, "file:///srv/st/staging");
        assert.equal(env.WAREHOUSE_PATH, "/srv/st/warehouse/warehouse.duckdb");
        assert.equal(env.DBT_TARGET_PATH, "/srv/st/dbt/target");
    });
});

describe("tools/local-airflow: users", () => {
    let dir: string;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "taxi-fake-airflow-"));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    /**
     * Stand-ins for `airflow` and the environment's `python` that record their arguments and
     * stdin; preparing the DB (`python …/airflow_prepare.py --migrate`) fails.
     */
    function fakeAirflow(): { bin: string; calls: () => { argv: string[]; stdin: string }[] } {
        const bin = path.join(dir, "airflow");
        const record = path.join(dir, "calls.jsonl");
        const script = `#!/usr/bin/env node
const fs = require("fs");
let stdin = "";
try { stdin = fs.readFileSync(0, "utf8"); } catch {}
fs.appendFileSync(${JSON.stringify(record)}, JSON.stringify({ argv: process.argv.slice(2), stdin }) + "\\n");
process.exit(String(process.argv[2]).endsWith("airflow_prepare.py") ? 2 : 0);
`;
        fs.writeFileSync(bin, script, { mode: 0o755 });
        fs.writeFileSync(path.join(dir, "python"), script, { mode: 0o755 });
        return {
            bin,
            calls: () =>
                fs
                    .readFileSync(record, "utf8")
                    .trim()
                    .split("\n")
                    .map((l) => JSON.parse(l) as { argv: string[]; stdin: string }),
        };
    }

    it("passes passwords on stdin, never on a command line or in an error", async () => {
        const fake = fakeAirflow();
        const password = "-starts-with-a-dash";
        const admin = 'quote"and\\backslash';
        await assert.rejects(
            startLocalAirflow({
                airflowBin: fake.bin,
                home: path.join(dir, "home"),
                databaseUrl: `sqlite:///${path.join(dir, "never-opened.db")}`,
                port: 28529,
                user: { username: "u", password },
                extraUsers: [{ username: "admin", password: admin, role: "Admin" }],
                log: () => undefined,
            }),
            (err: Error) => {
                assert.match(
                    err.message,
                    /airflow db migrate and the local users \(u, admin\) with tools\/local\/airflow_prepare\.py exited with 2/,
                );
                assert.ok(!err.message.includes(password), "the password is not in the message");
                assert.ok(!err.message.includes(admin), "nor the admin's");
                return true;
            },
        );
        const calls = fake.calls();
        assert.equal(calls.length, 1, "one process migrates and creates the users");
        const create = calls[0]!;
        assert.ok(String(create.argv[0]).endsWith("tools/local/airflow_prepare.py"));
        assert.deepEqual(
            create.argv.slice(1),
            ["--migrate"],
            `no password on the command line: ${JSON.stringify(create.argv)}`,
        );
        const users = create.stdin
            .trim()
            .split("\n")
            .map((l) => JSON.parse(l) as Record<string, unknown>);
        assert.deepEqual(users, [
            { username: "u", password, role: "User", reset: true },
            { username: "admin", password: admin, role: "Admin", reset: true },
        ]);
        const stored = JSON.parse(fs.readFileSync(path.join(dir, "home", "api-user.json"), "utf8"));
        assert.deepEqual(stored, { username: "u", password });
        assert.equal(fs.statSync(path.join(dir, "home", "api-user.json")).mode & 0o777, 0o600);
    });
});

describe("tools/local-airflow: users against the real Airflow (dags/.venv, local PostgreSQL)", () => {
    const PREPARE = path.join(REPO_ROOT, "tools", "local", "airflow_prepare.py");
    let dir: string;
    let db: Awaited<ReturnType<typeof temporaryDatabase>> | undefined;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "taxi-airflow-users-"));
    });
    afterEach(() => {
        db?.drop();
        db = undefined;
        fs.rmSync(dir, { recursive: true, force: true });
    });

    async function token(base: string, username: string, password: string): Promise<number> {
        const r = await fetch(`${base}/auth/token`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ username, password }),
        });
        await r.arrayBuffer();
        return r.status;
    }

    it("refuses a bad users line before touching the database, naming the line", () => {
        // No AIRFLOW_HOME or database here: a line that is refused must stop it before migrating.
        const run = (input: string) =>
            spawnSync(venvBin("dags", "python"), [PREPARE, "--migrate"], {
                input,
                encoding: "utf8",
                timeout: 60_000,
                env: { PATH: process.env.PATH, AIRFLOW_HOME: path.join(dir, "never-created") },
            });
        const missing = run('{"username":"u"}\n');
        assert.equal(missing.status, 1);
        assert.match(missing.stderr, /stdin line 1: missing password, role/);
        const bad = run('{"username":"u","password":"p","role":"User"}\nnot json\n');
        assert.equal(bad.status, 1);
        assert.match(bad.stderr, /stdin line 2: not JSON/);
        assert.ok(!fs.existsSync(path.join(dir, "never-created")), "Airflow was never started");
    });

    it("creates the users on a new DB, stores a changed password on a kept one, leaves the others", async function () {
        this.timeout(240_000);
        db = await temporaryDatabase();
        const home = path.join(dir, "home");
        const start = (admin: string) =>
            startLocalAirflow({
                home,
                port: 28534,
                databaseUrl: db!.url,
                env: db!.env,
                extraUsers: [{ username: "admin", password: admin, role: "Admin" }],
                log: () => undefined,
            });
        const first = await start("first-password-1");
        try {
            assert.equal(await token(first.baseUrl, "admin", "first-password-1"), 201);
            assert.equal(await token(first.baseUrl, first.username, first.password), 201);
        } finally {
            await first.stop();
        }
        const second = await start("second-password-2");
        try {
            assert.equal(await token(second.baseUrl, "admin", "second-password-2"), 201);
            assert.equal(await token(second.baseUrl, "admin", "first-password-1"), 401);
            // The API user's password was read back from its credentials file: still valid.
            assert.equal(second.password, first.password);
            assert.equal(await token(second.baseUrl, second.username, second.password), 201);
        } finally {
            await second.stop();
        }
        const log = fs.readFileSync(path.join(home, "logs", "prepare.log"), "utf8");
        assert.match(log, /User "admin" created with role "Admin"/);
        assert.match(log, /User "admin" already exists; password stored/);
        assert.match(log, /User "trigger-fn" already exists\n/);
        assert.ok(!log.includes("first-password-1") && !log.includes("second-password-2"));
    });
});

describe("npm start: waiting for a run's report mail", () => {
    it("finds the run's report among others once it lands, and gives up at the deadline", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taxi-mail-"));
        // As the SMTP sink saves one: a temporary name, then renamed.
        const save = (name: string, runId: string) => {
            const tmp = path.join(dir, `.${name}.tmp`);
            fs.writeFileSync(
                tmp,
                `Subject: run ${runId}\r\nX-Taxi-Run-Id: ${runId}\r\n\r\nbody\r\n`,
            );
            fs.renameSync(tmp, path.join(dir, name));
        };
        try {
            save("20261207T000001Z-0001.eml", "run-a");
            save("20261207T000002Z-0002.eml", "run-b");
            const t0 = Date.now();
            const later = setTimeout(() => save("20261207T000003Z-0003.eml", "run-c"), 400);
            const found = await reportFor(dir, "run-c", 5_000);
            clearTimeout(later);
            assert.equal(found, path.join(dir, "20261207T000003Z-0003.eml"));
            assert.ok(Date.now() - t0 < 400 + 2 * REPORT_POLL_MS + 200, `${Date.now() - t0} ms`);
            assert.equal(
                await reportFor(dir, "run-a", 1_000),
                path.join(dir, "20261207T000001Z-0001.eml"),
            );
            const t1 = Date.now();
            assert.equal(await reportFor(dir, "run-none", 600), undefined);
            assert.ok(Date.now() - t1 >= 600);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("bench-start: reading npm start's output", () => {
    it("reads durations as npm start prints them", () => {
        assert.equal(parseDuration("8.1 s"), 8.1);
        assert.equal(parseDuration("44 s"), 44);
        assert.equal(parseDuration("1 min 28 s"), 88);
        assert.equal(parseDuration("soon"), undefined);
    });

    it("finds the services start, when every month's first run had succeeded, and each month's first batch task times (no ingest, no re-load)", () => {
        const out = [
            "[01:44] ✓ services (1 min 37 s)",
            "[03:46] ✓ 2022-12 · validate (1 min 28 s)  100,000 rows",
            "[04:31] ✓ 2022-12 · load (44 s)  100,000 rows read",
            "[05:02] ✓ month 2022-12 (39 s)  downloaded: run s3__landing__c691 succeeded",
            "[08:29] ✓ 2023-01 · validate (50 s)",
            "[08:29] ✗ 2023-01 · load (3.0 s)",
            "[08:40] ✓ 2023-01 ingest · download (1.5 s)  110.0 KiB",
            "[09:10] ✓ 2022-12 · validate (30 s)  the re-load of the republished month",
            "[09:12] ✓ month 2023-01 (22 s)  downloaded: run s3__landing__b70b succeeded",
            "[09:40] ✓ month 2022-12 (30 s)  re-loaded: run s3__landing__2005 succeeded",
            "All runs succeeded.",
        ].join("\n");
        assert.deepEqual(parseStartOutput(out, 12), {
            ok: true,
            wall: 12,
            services: 97,
            monthsLoaded: 9 * 60 + 12,
            tasks: { validate: { "2022-12": 88, "2023-01": 50 }, load: { "2022-12": 44 } },
        });
    });
});
