/**
 * `npm test`: everything, offline. Runs each step even when an earlier one fails, then prints a
 * summary and exits non-zero if any failed.
 *
 *   1. TypeScript typecheck (tsc --noEmit)
 *   2. lint (ESLint + Prettier)
 *   3. unit and infrastructure tests (mocha: config, harness, components, stacks, render)
 *   4. Python suites of every pipeline folder, each in its own cached virtual environment
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..");
const bin = (name: string) => path.join(ROOT, "node_modules", ".bin", name);

const STEPS: { name: string; cmd: string; args: string[] }[] = [
    { name: "typecheck", cmd: bin("tsc"), args: ["--noEmit", "-p", "tsconfig.json"] },
    { name: "eslint", cmd: bin("eslint"), args: ["."] },
    { name: "prettier", cmd: bin("prettier"), args: ["--check", "."] },
    { name: "mocha", cmd: bin("mocha"), args: [] },
    { name: "python suites", cmd: bin("tsx"), args: [path.join("tools", "python-suites.ts")] },
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
