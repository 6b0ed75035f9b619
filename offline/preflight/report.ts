/**
 * Run every preflight check on one stack's offline render and format the report.
 */
import { renderStack } from "../render";
import { readStackFile, toEngineConfig } from "../stack-files";
import { PROJECT } from "../../stacks/config";
import { checkCloud, type CloudReport } from "./cloud";
import { DENIED_FLOWS, NEEDED_FLOWS } from "./flows";
import { buildInput, type BuildOptions, type PreflightInput } from "./input";
import { checkOrder, type OrderReport } from "./order";
import { checkPermissions, type PermissionsReport } from "./permissions";
import { checkReachability, type ReachabilityReport } from "./reachability";

export interface PreflightReport {
    stack: string;
    reachability: ReachabilityReport;
    permissions: PermissionsReport;
    order: OrderReport;
    cloud: CloudReport;
}

/** The stack's config as the program sees it, keys without the project namespace. */
export function stackConfig(stack: string): Record<string, string> {
    const { config } = toEngineConfig(readStackFile(stack));
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(config)) {
        if (k.startsWith(`${PROJECT}:`)) out[k.slice(PROJECT.length + 1)] = v;
    }
    return out;
}

const cache = new Map<string, Promise<PreflightInput>>();

/** The preflight input of a stack (rendered once per process). */
export function inputFor(stack: string, options: BuildOptions = {}): Promise<PreflightInput> {
    if (!cache.has(stack) || options.jobCases) {
        const p = renderStack(stack).then((r) => buildInput(r, stackConfig(stack), options));
        if (options.jobCases) return p;
        cache.set(stack, p);
    }
    return cache.get(stack)!;
}

export function runChecks(input: PreflightInput): PreflightReport {
    return {
        stack: input.stack,
        reachability: checkReachability(input, NEEDED_FLOWS, DENIED_FLOWS),
        permissions: checkPermissions(input),
        order: checkOrder(input),
        cloud: checkCloud(input),
    };
}

/** Every problem of a report, one line each. */
export function problemsOf(r: PreflightReport): string[] {
    return [
        ...r.reachability.stale.map((p) => `reachability: ${p}`),
        ...r.reachability.uncovered.map((p) => `reachability: ${p}`),
        ...r.reachability.needed.flatMap((f) =>
            f.problems.map((p) => `reachability: needed ${f.flow}: ${p}`),
        ),
        ...r.reachability.denied.flatMap((f) =>
            f.problems.map((p) => `reachability: must-deny ${f.flow}: ${p}`),
        ),
        ...r.permissions.results
            .filter((c) => !c.allowed)
            .map((c) => `permissions: ${c.client}: ${c.call} is FORBIDDEN: ${c.by}`),
        ...r.permissions.tokenProblems.map((p) => `permissions: ${p}`),
        ...r.order.problems.map((p) => `first up: ${p}`),
        ...r.cloud.problems.map((p) => `cloud: ${p}`),
    ];
}

export function counts(r: PreflightReport) {
    const sum = (xs: { checked: number }[]) => xs.reduce((a, x) => a + x.checked, 0);
    return {
        pods: r.reachability.pods,
        containers: r.reachability.containers,
        neededFlows: r.reachability.needed.length,
        neededConnections: sum(r.reachability.needed),
        deniedFlows: r.reachability.denied.length,
        deniedConnections: sum(r.reachability.denied),
        apiCalls: r.permissions.results.length,
        orderEdges: r.order.checked,
        cloudChecks: r.cloud.checked,
    };
}

const mark = (ok: boolean) => (ok ? "ok  " : "FAIL");

/**
 * The short form for a pull-request comment: counts and problems, one status line per check
 * class (the full report is the artifact).
 */
export function formatSummary(r: PreflightReport): string {
    const c = counts(r);
    const p = problemsOf(r);
    const by = (prefix: string) => p.filter((x) => x.startsWith(prefix)).length;
    const line = (ok: boolean, text: string) => `- ${ok ? "✅" : "❌"} ${text}`;
    return [
        `### Preflight \`${r.stack}\`: ${p.length === 0 ? "no problems" : `${p.length} problem(s)`}`,
        "",
        line(
            by("reachability") === 0,
            `reachability: ${c.neededFlows} needed flows (${c.neededConnections} connections) and ${c.deniedFlows} must-deny flows (${c.deniedConnections}) over ${c.pods} pods / ${c.containers} containers`,
        ),
        line(
            by("permissions") === 0,
            `permissions: ${c.apiCalls} API calls (${r.permissions.sources.map((s) => `${s.client}: ${s.source}`).join("; ")})`,
        ),
        line(
            by("first up") === 0,
            `first \`up\`: ${c.orderEdges} prerequisites over ${r.order.resources} resources, ${r.order.advisories.length} advisories`,
        ),
        line(by("cloud") === 0, `cloud semantics: ${c.cloudChecks} checks`),
        ...(p.length > 0 ? ["", ...p.map((x) => `  - ${x}`)] : []),
        "",
    ].join("\n");
}

/** A readable report (Markdown-friendly plain text). */
export function formatReport(r: PreflightReport): string {
    const c = counts(r);
    const problems = problemsOf(r);
    const lines: string[] = [];
    lines.push(
        `## Preflight: ${r.stack} — ${problems.length === 0 ? "no problems" : `${problems.length} problem(s)`}`,
    );
    lines.push("");
    lines.push(
        `${c.pods} pods (${c.containers} containers), ${c.neededFlows} needed flows (${c.neededConnections} connections), ` +
            `${c.deniedFlows} must-deny flows (${c.deniedConnections} connections), ${c.apiCalls} API calls, ` +
            `${c.orderEdges} creation-order prerequisites over ${r.order.resources} resources in ${r.order.waves} waves, ${c.cloudChecks} cloud-semantics checks`,
    );
    lines.push("");
    if (problems.length > 0) {
        lines.push("### Problems");
        for (const p of problems) lines.push(`- ${p}`);
        lines.push("");
    }
    lines.push("### Reachability (NetworkPolicy)");
    for (const f of r.reachability.needed)
        lines.push(`${mark(f.problems.length === 0)} allow ${f.flow} [${f.checked}]`);
    for (const f of r.reachability.denied)
        lines.push(`${mark(f.problems.length === 0)} deny  ${f.flow} [${f.checked}]`);
    lines.push("");
    lines.push("### Permissions (RBAC)");
    for (const s of r.permissions.sources)
        lines.push(`- ${s.client}: ${s.calls} calls, ${s.source}`);
    for (const x of r.permissions.results) lines.push(`${mark(x.allowed)} ${x.call} — ${x.by}`);
    lines.push("");
    lines.push("### First `up` on an empty project");
    lines.push(
        `${r.order.problems.length === 0 ? "ok  " : "FAIL"} ${r.order.checked} prerequisites, ${r.order.problems.length} missing`,
    );
    for (const a of r.order.advisories) lines.push(`note ${a}`);
    lines.push("");
    lines.push("### Cloud semantics");
    lines.push(
        `${r.cloud.problems.length === 0 ? "ok  " : "FAIL"} ${r.cloud.checked} checks, ${r.cloud.problems.length} problems`,
    );
    lines.push("");
    return lines.join("\n");
}
