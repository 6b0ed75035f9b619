/**
 * The migration Job's user steps hand the passwords to Airflow on stdin, never on a command
 * line. Each step's exact command runs here in bash with no controlling terminal (as in a Job
 * container), with `airflow` on PATH standing in for the CLI entry point: it calls the FAB
 * provider's own `_create_password` (what `airflow users create` / `reset-password` call when no
 * --password is given) from the pinned Airflow environment (dags/.venv), and records its argv
 * and the password it read.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { withPasswordOnStdin } from "./migration";

const ROOT = path.resolve(__dirname, "..", "..");
const PYTHON = path.join(ROOT, "dags", ".venv", "bin", "python");

describe("components/airflow: passwords on stdin, not on command lines", function () {
    this.timeout(240_000);
    let dir: string;
    before(function () {
        if (!fs.existsSync(PYTHON)) {
            // npm test builds dags/.venv before mocha; run `npm test` once, or `npm run
            // test:python`, when running this file on its own.
            throw new Error(`${PYTHON} is missing: the Airflow environment (dags/.venv) is needed`);
        }
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "taxi-airflow-stdin-"));
        fs.writeFileSync(
            path.join(dir, "airflow"),
            `#!${PYTHON}
import argparse, json, os, sys
from airflow.providers.fab.auth_manager.cli_commands.user_command import _create_password
password = _create_password(argparse.Namespace(use_random_password=False, password=None))
with open(os.environ["RECORD"], "a") as f:
    f.write(json.dumps({"argv": sys.argv[1:], "password": password}) + "\\n")
`,
            { mode: 0o755 },
        );
    });
    after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

    it("refuses a variable name that is not one", () => {
        assert.throws(() => withPasswordOnStdin("X; rm -rf /", []), /is not an env var name/);
    });

    const hostile = "pw with 'quotes', \"double\", $(id), `id`; and spaces\\n";
    for (const [step, args] of [
        ["create-admin", ["users", "create", "--username=admin", "--role=Admin"]],
        ["set-trigger-password", ["users", "reset-password", "--username=trigger-fn"]],
    ] as const) {
        it(`${step}: Airflow's prompt reads the Secret's password, no argv holds it`, () => {
            const record = path.join(dir, `${step}.jsonl`);
            const command = withPasswordOnStdin("ADMIN_PASSWORD", [...args]);
            // What Kubernetes runs: command verbatim (no $(VAR) in it to expand).
            assert.ok(command.every((a) => !a.includes(hostile) && !/\$\(/.test(a)));
            const r = spawnSync("setsid", ["--wait", ...command], {
                env: {
                    PATH: `${dir}:/usr/bin:/bin`,
                    HOME: dir,
                    AIRFLOW_HOME: dir,
                    RECORD: record,
                    ADMIN_PASSWORD: hostile,
                },
                encoding: "utf8",
                stdio: ["ignore", "pipe", "pipe"],
            });
            assert.equal(r.status, 0, r.stderr);
            const [got] = fs
                .readFileSync(record, "utf8")
                .trim()
                .split("\n")
                .map((l) => JSON.parse(l) as { argv: string[]; password: string });
            assert.equal(got!.password, hostile, "the password Airflow read");
            assert.deepEqual(got!.argv, args, "airflow is started with the step's args only");
            assert.ok(!r.stdout.includes(hostile) && !r.stderr.includes(hostile), "not echoed");
        });
    }
});
