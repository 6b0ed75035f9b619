/**
 * `npm test`: everything, offline. Runs each step even when an earlier one fails, then prints a
 * summary and exits non-zero if any failed.
 *
 *   1. TypeScript typecheck (tsc --noEmit: the root project, then offline/'s)
 *   2. lint (ESLint + Prettier)
 *   3. system packages the browser tests need (Debian's chromium), installed when missing
 *   4. each pipeline folder's Python virtual environment, created or refreshed (cached)
 *   5. unit, infrastructure and service tests (mocha: config, components, stacks, render,
 *      docs app, trigger function; some drive the Python environments prepared in step 4)
 *   6. Python suites of every pipeline folder
 *   7. end to end: `npm start -- --once` with small data in a temporary state folder, then the
 *      warehouse, Airflow's runs, MLflow's registry and the docs app are checked
 *      (tools/local/e2e.test.ts, kept out of step 5 by .mocharc.cjs)
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..");
const bin = (name: string) => path.join(ROOT, "node_modules", ".bin", name);

const STEPS: { name: string; cmd: string; args: string[] }[] = [
    { name: "typecheck", cmd: bin("tsc"), args: ["--noEmit", "-p", "tsconfig.json"] },
    // offline/ has its own project (it extends the root one) so that adding it left the root
    // tsconfig.json, which the docs-app image build copies, unchanged.
    {
        name: "typecheck offline",
        cmd: bin("tsc"),
        args: ["--noEmit", "-p", path.join("offline", "tsconfig.json")],
    },
    { name: "eslint", cmd: bin("eslint"), args: ["."] },
    { name: "prettier", cmd: bin("prettier"), args: ["--check", "."] },
    { name: "system packages", cmd: bin("tsx"), args: [path.join("tools", "system-packages.ts")] },
    {
        name: "python envs",
        cmd: bin("tsx"),
        args: [path.join("tools", "python-suites.ts"), "--prepare"],
    },
    { name: "mocha", cmd: bin("mocha"), args: [] },
    { name: "python suites", cmd: bin("tsx"), args: [path.join("tools", "python-suites.ts")] },
    {
        name: "end-to-end",
        cmd: bin("mocha"),
        args: [
            "--no-config",
            "--require",
            "tsx/cjs",
            "--extension",
            "ts",
            "--timeout",
            "1200000",
            path.join("tools", "local", "e2e.test.ts"),
        ],
    },
];

const only = process.argv.slice(2);
const results: { name: string; ok: boolean; seconds: number }[] = [];
for (const step of STEPS.filter((s) => only.length === 0 || only.includes(s.name))) {
    console.log(`\n=== ${step.name} ===`);
    const started = Date.now();
    const r = spawnSync(step.cmd, step.args, { cwd: ROOT, stdio: "inherit" });
    results.push({ name: step.name, ok: r.status === 0, seconds: (Date.now() - started) / 1000 });
}
console.log("\n=== summary ===");
for (const r of results)
    console.log(`${r.ok ? "ok  " : "FAIL"}  ${r.name.padEnd(14)} ${r.seconds.toFixed(1)} s`);
const failed = results.filter((r) => !r.ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
