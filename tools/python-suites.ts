/**
 * Runs the Python test suite of every pipeline folder, each in its own virtual environment
 * (their dependency sets conflict, just as their images do).
 *
 * A folder takes part when it has `requirements-dev.txt` and `tests/`. For each one this
 * creates `<folder>/.venv` with python3 when missing, installs `requirements-dev.txt` when the
 * requirements files changed since the last install (a hash is kept in the venv), runs ruff when
 * the folder pins it, then pytest from inside the folder.
 *
 *   npm run test:python                  every folder
 *   npm run test:python -- spark dbt     only these
 *   tsx tools/python-suites.ts --prepare [folders]   only create/refresh the environments
 *                                        (TypeScript tests that drive Airflow, dbt or MLflow use them)
 *
 * `--prepare` also makes the cloud emulators' environment `testing/emulators/.venv` from
 * `testing/emulators/requirements.txt` (fake-gcs-server and moto's server, which the
 * TypeScript and Python tests start on loopback: `tools/local/emulators.ts`,
 * `libs/python/taxi_testing/emulators.py`); `runSuite` makes it too, before pytest.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..");
/** Folders holding Python code, in the order the pipeline uses them. */
export const PYTHON_FOLDERS = ["spark", "dags", "dbt", "ml"];

export function participating(folders = PYTHON_FOLDERS): string[] {
    return folders.filter(
        (f) =>
            fs.existsSync(path.join(ROOT, f, "requirements-dev.txt")) &&
            fs.existsSync(path.join(ROOT, f, "tests")),
    );
}

/** Hash of every requirements*.txt / constraints*.txt in the folder, plus the Python version. */
function requirementsHash(dir: string, python: string): string {
    const h = createHash("sha256");
    h.update(spawnSync(python, ["--version"], { encoding: "utf8" }).stdout);
    for (const f of fs
        .readdirSync(dir)
        .filter((n) => /^(requirements|constraints).*\.txt$/.test(n))
        .sort()) {
        h.update(f).update(fs.readFileSync(path.join(dir, f)));
    }
    return h.digest("hex");
}

function run(
    cmd: string,
    args: string[],
    cwd: string,
    env: NodeJS.ProcessEnv = process.env,
): number {
    const r = spawnSync(cmd, args, { cwd, stdio: "inherit", env });
    if (r.error) throw r.error;
    return r.status ?? 1;
}

/** The emulators' environment: `testing/emulators/.venv` from its `requirements.txt`. */
export const EMULATOR_FOLDER = "testing/emulators";
export const EMULATOR_REQUIREMENTS = "requirements.txt";

/** Create or refresh `testing/emulators/.venv` (fake-gcs-server, moto); returns its python. */
export function ensureEmulatorVenv(): string {
    return ensureVenv(EMULATOR_FOLDER, EMULATOR_REQUIREMENTS);
}

/**
 * Create or refresh `<folder>/.venv` from `<folder>/<requirements>` (default
 * `requirements-dev.txt`); returns the venv's python.
 */
export function ensureVenv(folder: string, requirements = "requirements-dev.txt"): string {
    const dir = path.join(ROOT, folder);
    const venv = path.join(dir, ".venv");
    const python = path.join(venv, "bin", "python");
    const stamp = path.join(venv, ".requirements.sha256");
    if (!fs.existsSync(python)) {
        console.log(`[${folder}] creating virtual environment ${path.relative(ROOT, venv)}`);
        if (run("python3", ["-m", "venv", venv], dir) !== 0) {
            throw new Error(
                `[${folder}] python3 -m venv failed: is Python 3.11 with venv installed?`,
            );
        }
    }
    const want = requirementsHash(dir, python);
    const have = fs.existsSync(stamp) ? fs.readFileSync(stamp, "utf8").trim() : "";
    if (want !== have) {
        console.log(
            `[${folder}] installing ${requirements} (cached in .venv until the requirements change)`,
        );
        const started = Date.now();
        const pip = [
            python,
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
        ];
        if (run(pip[0]!, [...pip.slice(1), "-r", requirements], dir) !== 0) {
            throw new Error(
                `[${folder}] pip install -r ${requirements} failed (see the pip output above)`,
            );
        }
        fs.writeFileSync(stamp, `${want}\n`);
        console.log(`[${folder}] installed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    } else {
        console.log(`[${folder}] virtual environment up to date`);
    }
    return python;
}

export interface SuiteResult {
    folder: string;
    ok: boolean;
    seconds: number;
}

export function runSuite(folder: string): SuiteResult {
    const started = Date.now();
    const dir = path.join(ROOT, folder);
    const python = ensureVenv(folder);
    // The suites start fake-gcs-server and moto from testing/emulators/.venv.
    ensureEmulatorVenv();
    let ok = true;
    if (fs.existsSync(path.join(dir, ".venv", "bin", "ruff"))) {
        console.log(`[${folder}] ruff check`);
        ok = run(path.join(dir, ".venv", "bin", "ruff"), ["check", "."], dir) === 0 && ok;
        // The shared helpers (libs/python) have no venv of their own: lint them with this one's
        // ruff too (their tests run in each folder's pytest through `testpaths`).
        const shared = path.join(ROOT, "libs", "python");
        if (folder === "spark" && fs.existsSync(shared)) {
            console.log("[libs/python] ruff check");
            ok = run(path.join(dir, ".venv", "bin", "ruff"), ["check", "."], shared) === 0 && ok;
        }
    }
    console.log(`[${folder}] pytest`);
    // Exit code 5 (no tests collected) is a failure: a folder with tests/ must run some.
    const status = run(python, ["-m", "pytest"], dir, {
        ...process.env,
        PYTHONDONTWRITEBYTECODE: "1",
    });
    ok = status === 0 && ok;
    return { folder, ok, seconds: (Date.now() - started) / 1000 };
}

function main(): void {
    const argv = process.argv.slice(2);
    const prepareOnly = argv.includes("--prepare");
    const requested = argv.filter((a) => a !== "--prepare");
    const unknown = requested.filter((f) => !PYTHON_FOLDERS.includes(f));
    if (unknown.length > 0) {
        console.error(
            `unknown folder(s) ${unknown.join(", ")}; Python folders are ${PYTHON_FOLDERS.join(", ")}`,
        );
        process.exit(2);
    }
    const folders = participating(requested.length > 0 ? requested : PYTHON_FOLDERS);
    if (folders.length === 0) {
        console.log(
            "no Python test suites yet (a folder takes part when it has requirements-dev.txt and tests/)",
        );
        return;
    }
    if (prepareOnly) {
        for (const folder of folders) ensureVenv(folder);
        ensureEmulatorVenv();
        return;
    }
    const results = folders.map(runSuite);
    for (const r of results)
        console.log(
            `python ${r.folder}: ${r.ok ? "passed" : "FAILED"} in ${r.seconds.toFixed(0)} s`,
        );
    if (results.some((r) => !r.ok)) process.exit(1);
}

if (require.main === module) main();
