/**
 * The Postgres reconcile, backup and restore scripts against a real PostgreSQL server (a private
 * cluster of the machine's PostgreSQL with password authentication; see testing/private-postgres).
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startPrivatePostgres, type PrivatePostgres } from "../../testing/private-postgres";

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
        pg = startPrivatePostgres(28410);
    });
    after(() => pg?.stop());

    function script(name: string, env: Record<string, string>, args: string[] = []) {
        const r = spawnSync("bash", [path.join(SCRIPTS, name), ...args], {
            env: { ...pg.env, ...env },
            encoding: "utf8",
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
        assert.match(bad.stderr, /invalid name 'Bad-Name'/);
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
});
