/**
 * `npm run preflight -- <stack>... | --all`: the preflight checks (offline/preflight) on each
 * stack's offline render, plus the policy pack; prints a readable report and exits 1 on any
 * problem.
 *
 * Options: --out <file> also writes the full report there; --summary <file> writes the short
 * form (counts, problems, one line per check class) that the PR workflow posts.
 */
import * as fs from "node:fs";
import {
    formatReport,
    formatSummary,
    inputFor,
    problemsOf,
    runChecks,
} from "../offline/preflight/report";
import { evaluateStack, formatViolations } from "../offline/policy";
import { listStacks } from "../offline/stack-files";

async function main(): Promise<number> {
    const argv = process.argv.slice(2);
    const stacks: string[] = [];
    let out: string | undefined;
    let summaryOut: string | undefined;
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i]!;
        if (a === "--all") stacks.push(...listStacks());
        else if (a === "--out") out = argv[++i];
        else if (a === "--summary") summaryOut = argv[++i];
        else if (a.startsWith("-"))
            throw new Error(
                `unknown option ${a}. Usage: npm run preflight -- <stack>... | --all [--out file] [--summary file]`,
            );
        else stacks.push(a);
    }
    const known = listStacks();
    if (stacks.length === 0)
        throw new Error(
            `name a stack (${known.join(", ")}) or --all. Example: npm run preflight -- dev`,
        );
    for (const s of stacks)
        if (!known.includes(s))
            throw new Error(`unknown stack "${s}": stacks/ has ${known.join(", ")}`);

    const sections: string[] = [];
    const summaries: string[] = ["## Preflight", ""];
    let failed = 0;
    for (const stack of stacks) {
        const report = runChecks(await inputFor(stack));
        const violations = await evaluateStack(stack);
        const mandatory = violations.filter((v) => v.enforcementLevel === "mandatory");
        let text = formatReport(report);
        text += `### Policy pack\n${violations.length === 0 ? "ok   no violation" : formatViolations(violations)}\n`;
        sections.push(text);
        summaries.push(formatSummary(report));
        summaries.push(
            mandatory.length === 0
                ? "- ✅ policy pack: no mandatory violation\n"
                : `- ❌ policy pack: ${mandatory.length} mandatory violation(s)\n${formatViolations(mandatory)}\n`,
        );
        failed += problemsOf(report).length + mandatory.length;
    }
    const text = sections.join("\n");
    console.log(text);
    if (out) fs.writeFileSync(out, text);
    if (summaryOut) fs.writeFileSync(summaryOut, summaries.join("\n"));
    return failed > 0 ? 1 : 0;
}

main().then(
    (code) => process.exit(code),
    (err: unknown) => {
        console.error(`preflight failed: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
    },
);
