/**
 * What a change does to a stack's desired state, as Markdown for a pull-request comment
 * (`npm run render:diff -- <stack> [--base <git-ref>]`, tools/render-diff.ts).
 *
 * Renders the stack from the working tree and from <git-ref> (default: origin/main when it
 * exists, else HEAD) in a temporary git worktree, and prints the resources added, removed and
 * modified (with each changed input, secrets shown as "[secret]") and the changed outputs.
 * Reviewers of a fork's pull request see this when no cloud credentials are available.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO_ROOT } from "./project-file";
import { renderStack } from "./render";

export interface ResourceState {
    type: string;
    name: string;
    parent?: string;
    inputs: Record<string, unknown>;
}

export interface StackState {
    resources: ResourceState[];
    outputs: Record<string, unknown>;
}

export interface Change {
    path: string;
    before: unknown;
    after: unknown;
}

export interface StackDiff {
    added: ResourceState[];
    removed: ResourceState[];
    modified: { resource: ResourceState; changes: Change[] }[];
    outputs: Change[];
}

/** Flatten nested values to dotted paths (`spec.template.spec.containers.0.image`). */
export function flatten(
    value: unknown,
    prefix = "",
    out: Record<string, unknown> = {},
): Record<string, unknown> {
    if (value !== null && typeof value === "object" && Object.keys(value).length > 0) {
        for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
    } else if (prefix) {
        out[prefix] = value;
    }
    return out;
}

function changesBetween(before: unknown, after: unknown): Change[] {
    const a = flatten(before);
    const b = flatten(after);
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys
        .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
        .map((k) => ({ path: k, before: a[k], after: b[k] }));
}

const key = (r: ResourceState) => `${r.type}::${r.name}`;

export function diffStates(base: StackState, head: StackState): StackDiff {
    const before = new Map(base.resources.map((r) => [key(r), r]));
    const after = new Map(head.resources.map((r) => [key(r), r]));
    const modified: StackDiff["modified"] = [];
    for (const [k, r] of after) {
        const old = before.get(k);
        if (!old) continue;
        const changes = changesBetween(
            { parent: old.parent, ...old.inputs },
            { parent: r.parent, ...r.inputs },
        );
        if (changes.length > 0) modified.push({ resource: r, changes });
    }
    const byKey = (x: ResourceState, y: ResourceState) => key(x).localeCompare(key(y));
    return {
        added: [...after.values()].filter((r) => !before.has(key(r))).sort(byKey),
        removed: [...before.values()].filter((r) => !after.has(key(r))).sort(byKey),
        modified: modified.sort((x, y) => byKey(x.resource, y.resource)),
        outputs: changesBetween(base.outputs, head.outputs),
    };
}

function show(v: unknown): string {
    if (v === undefined) return "_(none)_";
    const text = JSON.stringify(v);
    return `\`${text.length > 80 ? `${text.slice(0, 77)}...` : text}\``.replace(/\|/g, "\\|");
}

export function toMarkdown(stack: string, baseLabel: string, d: StackDiff): string {
    const lines = [`### Stack \`${stack}\`: desired-state diff against \`${baseLabel}\``, ""];
    const total = d.added.length + d.removed.length + d.modified.length + d.outputs.length;
    if (total === 0) {
        lines.push("No changes to resources or outputs.");
        return `${lines.join("\n")}\n`;
    }
    lines.push(
        `| added | removed | modified | outputs changed |`,
        `|---|---|---|---|`,
        `| ${d.added.length} | ${d.removed.length} | ${d.modified.length} | ${d.outputs.length} |`,
        "",
    );
    const list = (title: string, rs: ResourceState[], sign: string) => {
        if (rs.length === 0) return;
        lines.push(`**${title}**`, "");
        for (const r of rs)
            lines.push(
                `- ${sign} \`${r.type}\` **${r.name}**${r.parent ? ` (in ${r.parent})` : ""}`,
            );
        lines.push("");
    };
    list("Added", d.added, "+");
    list("Removed", d.removed, "-");
    if (d.modified.length > 0) {
        lines.push("**Modified**", "");
        for (const m of d.modified) {
            lines.push(
                `<details><summary>~ <code>${m.resource.type}</code> <b>${m.resource.name}</b> (${m.changes.length} change${m.changes.length === 1 ? "" : "s"})</summary>`,
                "",
            );
            lines.push("| input | before | after |", "|---|---|---|");
            for (const c of m.changes)
                lines.push(`| \`${c.path}\` | ${show(c.before)} | ${show(c.after)} |`);
            lines.push("", "</details>", "");
        }
    }
    if (d.outputs.length > 0) {
        lines.push("**Outputs**", "", "| output | before | after |", "|---|---|---|");
        for (const c of d.outputs)
            lines.push(`| \`${c.path}\` | ${show(c.before)} | ${show(c.after)} |`);
        lines.push("");
    }
    return `${lines.join("\n")}\n`;
}

function git(args: string[], cwd = REPO_ROOT): string {
    return execFileSync("git", args, {
        cwd,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
    }).trim();
}

function defaultBase(): string {
    try {
        git(["rev-parse", "--verify", "--quiet", "origin/main"]);
        return "origin/main";
    } catch {
        return "HEAD";
    }
}

/** Render `stack` at `ref` in a temporary worktree; an empty state when the ref cannot render. */
function renderAtRef(stack: string, ref: string): { state: StackState; note?: string } {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "render-base-"));
    const tree = path.join(tmp, "tree");
    try {
        git(["worktree", "add", "--detach", "--quiet", tree, ref]);
        if (!fs.existsSync(path.join(tree, "tools", "render.ts"))) {
            return {
                state: { resources: [], outputs: {} },
                note: `${ref} has no offline render; compared with an empty stack`,
            };
        }
        if (!fs.existsSync(path.join(tree, "stacks", `Pulumi.${stack}.yaml`))) {
            return {
                state: { resources: [], outputs: {} },
                note: `stack ${stack} does not exist at ${ref}`,
            };
        }
        fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(tree, "node_modules"));
        const out = path.join(tmp, "out");
        execFileSync(
            path.join(REPO_ROOT, "node_modules", ".bin", "tsx"),
            ["tools/render.ts", stack, "--out", out],
            {
                cwd: tree,
                stdio: ["ignore", "ignore", "inherit"],
            },
        );
        const resources = JSON.parse(
            fs.readFileSync(path.join(out, stack, "resources.json"), "utf8"),
        ) as ResourceState[];
        const outputs = JSON.parse(
            fs.readFileSync(path.join(out, stack, "outputs.json"), "utf8"),
        ) as Record<string, unknown>;
        return { state: { resources, outputs } };
    } finally {
        try {
            git(["worktree", "remove", "--force", tree]);
        } catch {
            /* the worktree was never created */
        }
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

/**
 * The Markdown diff of `stack` between `base` (default: origin/main when it exists, else HEAD)
 * and the working tree.
 */
export async function renderDiff(stack: string, base?: string): Promise<string> {
    const ref = base ?? defaultBase();
    const sha = git(["rev-parse", "--short", ref]);
    const head = await renderStack(stack);
    const baseState = renderAtRef(stack, ref);
    const d = diffStates(baseState.state, {
        resources: head.resources.map(({ type, name, parent, inputs }) => ({
            type,
            name,
            ...(parent ? { parent } : {}),
            inputs,
        })),
        outputs: head.outputs,
    });
    const note = baseState.note ? `\n_Note: ${baseState.note}._\n` : "";
    return toMarkdown(stack, `${ref} (${sha})`, d) + note;
}
