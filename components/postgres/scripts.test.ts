/**
 * The Postgres reconcile, backup and restore scripts against a real PostgreSQL server (a private
 * cluster of the machine's PostgreSQL with password authentication; see testing/private-postgres).
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { HOSTILE_DATABASE_ENTRIES } from "../../testing/hostile-inputs";
import { startPrivatePostgres, type PrivatePostgres } from "../../testing/private-postgres";
import { databaseNameProblem } from "./names";

const SCRIPTS = path.join(__dirname, "scripts");

describe("postgres scripts (real PostgreSQL)", function () {
    this.timeout(120_000);
    let pg: PrivatePostgres;
    const passwords = {
        DB_PASSWORD_AIRFLOW: "airflow-pw-1",
        DB_PASSWORD_MLFLOW: "mlflow 'pw' with quotes; and $dollars",
        DB_PASSWORD_GRAFANA: "grafana-pw-1",
        MONITORING_PASSWORD: "monitoring-pw",
    };

    before(() => {
        // TAXI_PG_TEST_PORT: run beside another copy of this suite on the same machine.
        pg = startPrivatePostgres(Number(process.env.TAXI_PG_TEST_PORT ?? 28410));
    });
    after(() => pg?.stop());

    function script(
        name: string,
        env: Record<string, string>,
        args: string[] = [],
        cwd: string = process.cwd(),
    ) {
        const r = spawnSync("bash", [path.join(SCRIPTS, name), ...args], {
            env: { ...pg.env, ...env },
            encoding: "utf8",
            cwd,
        });
        return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    }
    function reconcile(databases: string, extra: Record<string, string> = {}) {
        return script("reconcile.sh", {
            DATABASES: databases,
            MONITORING_USER: "monitoring",
            ...passwords,
            ...extra,
        });
    }
    /** psql as `user` with `password` into `db`; returns status and output. */
    function psql(user: string, password: string, db: string, sql: string) {
        const r = spawnSync(
            "psql",
            [
                "-X",
                "-q",
                "-t",
                "-A",
                "-w",
                "-v",
                "ON_ERROR_STOP=1",
                "-U",
                user,
                "-d",
                db,
                "-c",
                sql,
            ],
            { env: { ...pg.env, PGPASSWORD: password }, encoding: "utf8" },
        );
        return { status: r.status, out: r.stdout.trim(), err: r.stderr };
    }

    it("creates the roles and databases from empty", () => {
        const r = reconcile("airflow:airflow mlflow:mlflow");
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.stdout.trim().split("\n"), [
            "role monitoring: created",
            "database airflow: created (owner airflow; role created)",
            "database mlflow: created (owner mlflow; role created)",
        ]);
        assert.equal(
            psql("airflow", passwords.DB_PASSWORD_AIRFLOW, "airflow", "select 1").out,
            "1",
        );
        assert.equal(
            psql("mlflow", passwords.DB_PASSWORD_MLFLOW, "mlflow", "select current_user").out,
            "mlflow",
        );
        const owner = psql(
            "postgres",
            pg.password,
            "postgres",
            "select r.rolname from pg_database d join pg_roles r on r.oid = d.datdba where datname = 'airflow'",
        );
        assert.equal(owner.out, "airflow");
        const attrs = psql(
            "postgres",
            pg.password,
            "postgres",
            "select rolsuper::text || rolcreatedb::text || rolcreaterole::text from pg_roles where rolname = 'airflow'",
        );
        assert.equal(attrs.out, "falsefalsefalse");
    });

    it("changes nothing when re-run", () => {
        const r = reconcile("airflow:airflow mlflow:mlflow");
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.stdout.trim().split("\n"), [
            "role monitoring: unchanged",
            "database airflow: unchanged (owner airflow)",
            "database mlflow: unchanged (owner mlflow)",
        ]);
    });

    it("creates a database added to the list later, with its own owner name", () => {
        const r = reconcile("airflow:airflow mlflow:mlflow grafana:grafana_app");
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /database grafana: created \(owner grafana_app; role created\)/);
        assert.match(r.stdout, /database airflow: unchanged/);
        assert.equal(
            psql("grafana_app", passwords.DB_PASSWORD_GRAFANA, "grafana", "select 1").out,
            "1",
        );
    });

    it("rejects a wrong password", () => {
        const r = psql("airflow", "not-the-password", "airflow", "select 1");
        assert.notEqual(r.status, 0);
        assert.match(r.err, /password authentication failed for user "airflow"/);
    });

    it("does not let a role connect to another app's database", () => {
        const r = psql("airflow", passwords.DB_PASSWORD_AIRFLOW, "mlflow", "select 1");
        assert.notEqual(r.status, 0);
        assert.match(r.err, /permission denied for database "mlflow"/);
        const m = psql("mlflow", passwords.DB_PASSWORD_MLFLOW, "airflow", "select 1");
        assert.notEqual(m.status, 0);
    });

    it("lets the monitoring role read statistics of every database and nothing else", () => {
        for (const db of ["airflow", "mlflow", "grafana"]) {
            const r = psql(
                "monitoring",
                passwords.MONITORING_PASSWORD,
                db,
                "select count(*) >= 0 from pg_stat_activity",
            );
            assert.equal(r.status, 0, r.err);
        }
        psql(
            "airflow",
            passwords.DB_PASSWORD_AIRFLOW,
            "airflow",
            "create table if not exists secret_t (x int)",
        );
        const read = psql(
            "monitoring",
            passwords.MONITORING_PASSWORD,
            "airflow",
            "select * from secret_t",
        );
        assert.notEqual(read.status, 0);
        assert.match(read.err, /permission denied/);
    });

    it("updates a role whose password changed, and only that one", () => {
        const r = reconcile("airflow:airflow mlflow:mlflow grafana:grafana_app", {
            DB_PASSWORD_AIRFLOW: "airflow-pw-2",
        });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /database airflow: updated \(owner airflow; role updated\)/);
        assert.match(r.stdout, /database mlflow: unchanged/);
        assert.equal(psql("airflow", "airflow-pw-2", "airflow", "select 1").out, "1");
        assert.notEqual(
            psql("airflow", passwords.DB_PASSWORD_AIRFLOW, "airflow", "select 1").status,
            0,
        );
        // back to the original password for the tests below
        assert.equal(reconcile("airflow:airflow mlflow:mlflow grafana:grafana_app").status, 0);
    });

    it("fails before changing anything when a password or a name is wrong", () => {
        const missing = script("reconcile.sh", {
            DATABASES: "airflow:airflow reports:reports",
            ...passwords,
        });
        assert.equal(missing.status, 1);
        assert.match(
            missing.stderr,
            /DB_PASSWORD_REPORTS is not set: it must hold the password of role 'reports'/,
        );
        const bad = script("reconcile.sh", { DATABASES: "airflow:airflow Bad-Name", ...passwords });
        assert.equal(bad.status, 1);
        assert.match(bad.stderr, /invalid name: database Bad-Name in DATABASES entry Bad-Name/);
        const none = psql(
            "postgres",
            pg.password,
            "postgres",
            "select count(*) from pg_roles where rolname = 'reports'",
        );
        assert.equal(none.out, "0");
    });

    it("backs up every database and restores one after data loss", () => {
        const owner = { user: "airflow", pw: passwords.DB_PASSWORD_AIRFLOW };
        const q = (sql: string) => psql(owner.user, owner.pw, "airflow", sql);
        assert.equal(
            q("drop table if exists trips; create table trips (id int primary key, fare numeric)")
                .status,
            0,
        );
        assert.equal(
            q("insert into trips select g, g * 1.5 from generate_series(1, 500) g").status,
            0,
        );

        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taxi-backup-"));
        try {
            const b = script("backup.sh", {
                DATABASES: "airflow:airflow mlflow:mlflow grafana:grafana_app",
                BACKUP_DIR: dir,
                BACKUP_STAMP: "20261121T020000Z",
            });
            assert.equal(b.status, 0, b.stderr);
            const files = ["airflow", "mlflow", "grafana"].map((db) =>
                path.join(dir, db, `${db}-20261121T020000Z.dump`),
            );
            for (const f of files) assert.ok(fs.statSync(f).size > 0, f);
            assert.equal(
                b.stdout
                    .trim()
                    .split("\n")
                    .map((l) => JSON.parse(l).event)
                    .join(","),
                "dumped,dumped,dumped",
            );
            assert.deepEqual(fs.readdirSync(path.join(dir, "airflow")), [
                "airflow-20261121T020000Z.dump",
            ]);

            // data loss
            assert.equal(q("delete from trips where id > 10; update trips set fare = 0").status, 0);
            // restore as the owner (what the README tells an operator to do)
            const r = spawnSync("bash", [path.join(SCRIPTS, "restore.sh"), files[0]!, "airflow"], {
                env: { ...pg.env, PGUSER: owner.user, PGPASSWORD: owner.pw },
                encoding: "utf8",
            });
            assert.equal(r.status, 0, r.stderr);
            assert.equal(q("select count(*), sum(fare) from trips").out, "500|187875.0");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("refuses to restore from a file that is not a dump", () => {
        const f = path.join(os.tmpdir(), `not-a-dump-${process.pid}`);
        fs.writeFileSync(f, "hello");
        try {
            const r = script("restore.sh", {}, [f, "airflow"]);
            assert.equal(r.status, 2);
            assert.match(r.stderr, /not a pg_dump custom-format archive/);
        } finally {
            fs.rmSync(f);
        }
    });

    describe("hostile input: refused before any change, superuser and passwords intact", () => {
        // As on the platform, every role named after a platform database owns one (the suite
        // above gave grafana to grafana_app, so role grafana owns grafana_cfg here).
        const BASE = "airflow:airflow mlflow:mlflow grafana:grafana_app grafana_cfg:grafana";
        const HOSTILE_PW = "hostile-pw'; alter role postgres nosuperuser; --";
        // Passwords for every variable a hostile entry could name, so a refusal is the name
        // check's doing and never a missing password.
        const hostileEnv = Object.fromEntries(
            [
                "REPORTS",
                "POSTGRES",
                "TEMPLATE0",
                "TEMPLATE1",
                "MONITORING",
                "PG_MONITOR",
                "GRAFANA_CFG",
                "TMPL_REPORTS",
            ].map((v) => [`DB_PASSWORD_${v}`, HOSTILE_PW]),
        );
        let baseline = "";

        /** Every role's attributes and password hash, every database's owner and ACL. */
        function snapshot(): string {
            const r = psql(
                "postgres",
                pg.password,
                "postgres",
                `select (select string_agg(format('%s|%s|%s|%s|%s|%s|%s', rolname, rolsuper,
                        rolcanlogin, rolcreaterole, rolcreatedb, rolreplication,
                        coalesce(rolpassword, '')), E'\\n' order by rolname) from pg_authid)
                 || E'\\n--\\n' ||
                 (select string_agg(format('%s|%s|%s|%s', datname, pg_get_userbyid(datdba),
                        datistemplate, coalesce(datacl::text, '')), E'\\n' order by datname)
                  from pg_database)
                 || E'\\n--\\n' ||
                 (select coalesce(string_agg(format('%s>%s', roleid::regrole, member::regrole),
                        ',' order by 1), '') from pg_auth_members)`,
            );
            assert.equal(r.status, 0, r.err);
            return r.out;
        }

        /** The server is exactly as before, its superuser works, every app role logs in. */
        function assertIntact(what: string) {
            assert.equal(snapshot(), baseline, `${what}: roles, passwords or databases changed`);
            const su = psql(
                "postgres",
                pg.password,
                "postgres",
                "select rolsuper from pg_roles where rolname = current_user",
            );
            assert.equal(su.out, "t", `${what}: postgres is still a superuser with its password`);
            for (const [user, pw, db] of [
                ["airflow", passwords.DB_PASSWORD_AIRFLOW, "airflow"],
                ["mlflow", passwords.DB_PASSWORD_MLFLOW, "mlflow"],
                ["grafana_app", passwords.DB_PASSWORD_GRAFANA, "grafana"],
                ["monitoring", passwords.MONITORING_PASSWORD, "postgres"],
            ] as const) {
                assert.equal(psql(user, pw, db, "select 1").out, "1", `${what}: ${user} logs in`);
            }
        }

        function expectRefused(
            r: { status: number | null; stdout: string; stderr: string },
            what: string,
            status = 1,
        ) {
            assert.equal(r.status, status, `${what} was not refused:\n${r.stdout}${r.stderr}`);
            assert.match(r.stderr, /refused: /, what);
            assert.doesNotMatch(r.stdout, /created|updated/, what);
            assertIntact(what);
        }

        before(() => {
            // A superuser made by hand, a template database: things only the server knows.
            for (const sql of [
                "create role ops_admin login superuser password 'ops-admin-pw'",
                "create database tmpl_reports is_template true",
            ]) {
                const r = psql("postgres", pg.password, "postgres", sql);
                assert.equal(r.status, 0, r.err);
            }
            const setup = reconcile(BASE, hostileEnv);
            assert.equal(setup.status, 0, setup.stderr);
            baseline = snapshot();
            assert.match(baseline, /^postgres\|t\|t\|/m, "postgres is a superuser before");
        });

        let counted = 0;
        for (const [cls, cases] of Object.entries(HOSTILE_DATABASE_ENTRIES)) {
            const runnable = cases.filter(([entry]) => entry !== "");
            it(`reconcile.sh refuses every ${cls} entry (${runnable.length})`, () => {
                for (const [entry] of runnable) {
                    expectRefused(
                        reconcile(`${BASE} ${entry}`, hostileEnv),
                        `DATABASES ... ${JSON.stringify(entry)}`,
                    );
                    counted++;
                }
            });
        }

        it("reconcile.sh refuses the superuser-demotion entry alone, as the issue ran it", () => {
            const r = reconcile("reports:postgres", hostileEnv);
            expectRefused(r, "reports:postgres");
            assert.match(
                r.stderr,
                /owner postgres in DATABASES entry reports:postgres is the superuser: making it a database owner would take SUPERUSER away/,
            );
            const none = psql(
                "postgres",
                pg.password,
                "postgres",
                "select count(*) from pg_database where datname = 'reports'",
            );
            assert.equal(none.out, "0");
        });

        it("reconcile.sh refuses what only the server knows: an administrative role, an owner of another database, a template", () => {
            const cases: [string, RegExp][] = [
                [
                    "reports:ops_admin",
                    /role ops_admin is an administrative role on the server \(superuser\)/,
                ],
                [
                    "reports:airflow",
                    /role airflow already owns database airflow; give database reports its own owner/,
                ],
                ["reports:mlflow", /role mlflow already owns database mlflow/],
                [
                    "tmpl_reports:reports",
                    /database tmpl_reports is a template or does not accept connections/,
                ],
            ];
            for (const [dbs, why] of cases) {
                const r = reconcile(dbs, hostileEnv);
                expectRefused(r, dbs);
                assert.match(r.stderr, why, dbs);
                counted++;
            }
        });

        it("reconcile.sh refuses a hostile or administrative MONITORING_USER and DATABASES split tricks", () => {
            const cases: [Record<string, string>, RegExp][] = [
                [{ MONITORING_USER: "postgres" }, /MONITORING_USER postgres .*superuser/],
                [{ MONITORING_USER: "pg_monitor" }, /MONITORING_USER pg_monitor/],
                [
                    { MONITORING_USER: "mon'itor" },
                    /MONITORING_USER mon\\'itor contains a character/,
                ],
                [
                    { MONITORING_USER: "ops_admin" },
                    /MONITORING_USER ops_admin is an administrative role/,
                ],
                [
                    { MONITORING_USER: "airflow" },
                    /owner airflow in DATABASES entry airflow:airflow is the monitoring role/,
                ],
                [
                    { DATABASES: `${BASE}\nreports:postgres` },
                    /\$'grafana_cfg:grafana\\nreports:postgres' has more than one ':'/,
                ],
                [{ DATABASES: "airflow:airflow airflow:other" }, /lists database airflow twice/],
                [{ DATABASES: "  " }, /DATABASES lists no database/],
                [{ PASSWORD_ENV_PREFIX: "X;rm" }, /invalid PASSWORD_ENV_PREFIX/],
            ];
            for (const [env, why] of cases) {
                const r = script("reconcile.sh", {
                    DATABASES: BASE,
                    MONITORING_USER: "monitoring",
                    ...passwords,
                    ...hostileEnv,
                    ...env,
                });
                if (env.PASSWORD_ENV_PREFIX) {
                    assert.equal(r.status, 1, JSON.stringify(env));
                    assert.match(r.stderr, why);
                    assertIntact(JSON.stringify(env));
                } else {
                    expectRefused(r, JSON.stringify(env));
                    assert.match(r.stderr, why, JSON.stringify(env));
                }
                counted++;
            }
        });

        it("backup.sh refuses every hostile database name before dumping anything, writing nothing anywhere", () => {
            const dbEntries = Object.values(HOSTILE_DATABASE_ENTRIES)
                .flat()
                .map(([entry]) => entry)
                .filter((e) => e !== "" && databaseNameProblem(e.split(":")[0]!) !== undefined);
            assert.ok(dbEntries.length >= 20, `${dbEntries.length} hostile database names`);
            const root = fs.mkdtempSync(path.join(os.tmpdir(), "taxi-hostile-backup-"));
            try {
                const dir = path.join(root, "backups");
                fs.mkdirSync(dir);
                for (const entry of [...dbEntries, "postgres:postgres", "template1:x"]) {
                    const r = script(
                        "backup.sh",
                        {
                            DATABASES: `airflow:airflow ${entry}`,
                            BACKUP_DIR: dir,
                            BACKUP_STAMP: "20261121T020000Z",
                        },
                        [],
                        root,
                    );
                    expectRefused(r, `backup ${JSON.stringify(entry)}`);
                    assert.match(r.stderr, /nothing was dumped/);
                    // Not even the valid airflow entry before it: all names are checked first.
                    assert.deepEqual(fs.readdirSync(root), ["backups"], entry);
                    assert.deepEqual(fs.readdirSync(dir), [], entry);
                    counted++;
                }
                const stamp = script(
                    "backup.sh",
                    { DATABASES: "airflow:airflow", BACKUP_DIR: dir, BACKUP_STAMP: "../../x" },
                    [],
                    root,
                );
                expectRefused(stamp, "BACKUP_STAMP ../../x");
                assert.deepEqual(fs.readdirSync(dir), []);
            } finally {
                fs.rmSync(root, { recursive: true, force: true });
            }
        });

        it("restore.sh refuses every hostile or system database name before touching the server", () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taxi-hostile-restore-"));
            try {
                const b = script("backup.sh", {
                    DATABASES: "airflow:airflow",
                    BACKUP_DIR: dir,
                    BACKUP_STAMP: "20261121T020000Z",
                });
                assert.equal(b.status, 0, b.stderr);
                const dump = path.join(dir, "airflow", "airflow-20261121T020000Z.dump");
                const names = Object.values(HOSTILE_DATABASE_ENTRIES)
                    .flat()
                    .map(([entry]) => entry.split(":")[0]!)
                    .filter((db) => databaseNameProblem(db) !== undefined);
                for (const db of [
                    ...names,
                    "dbname=airflow host=127.0.0.1",
                    "postgresql://postgres@127.0.0.1/postgres",
                ]) {
                    const r = script("restore.sh", {}, [dump, db], dir);
                    expectRefused(r, `restore into ${JSON.stringify(db)}`, 2);
                    assert.match(r.stderr, /nothing was restored/);
                    counted++;
                }
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });

        after(() => {
            // Visible in the test output: how many hostile runs were refused intact.
            console.log(
                `      ${counted} hostile script runs refused, server unchanged after each`,
            );
        });
    });
});
