/**
 * Offline render of a stack's desired state: evaluates the whole Pulumi program for a stack
 * under the offline engine (no cloud credentials, no Pulumi CLI) and writes render/<stack>/:
 *
 *   resources.json    every resource: type, name, parent, inputs (secrets as "[secret]")
 *   inventory.md      the same as a readable table with each resource's key inputs
 *   kubernetes/*.yaml every Kubernetes object the stack declares
 *   components.mmd    Mermaid diagram of the component tree
 *   outputs.json      stack outputs (secrets as "[secret]")
 *
 * The commands are `npm run render` and `npm run inventory:update` (tools/render.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { PROJECT } from "../stacks/config";
import { cloudFakes, cloudInvokes } from "./cloud-fakes";
import { evaluate, type RecordedResource } from "./engine";
import { inventoryOf, INVENTORY_DIR, inventoryPath, type Inventory } from "./inventory";
import { REPO_ROOT, configDeclarations } from "./project-file";
import { checkAgainstDeclarations, readStackFile, toEngineConfig } from "./stack-files";

export interface Rendered {
    stack: string;
    resources: RecordedResource[];
    outputs: Record<string, unknown>;
    kubernetes: Record<string, unknown>[];
    seconds: number;
}

const PROGRAM = path.join(REPO_ROOT, "stacks", "index.ts");

/** Evaluate the Pulumi program (stacks/index.ts) for one stack, exactly as `pulumi up` would. */
export async function renderStack(stack: string): Promise<Rendered> {
    const started = process.hrtime.bigint();
    const values = readStackFile(stack);
    const problems = checkAgainstDeclarations(stack, values, configDeclarations());
    if (problems.length > 0) {
        throw new Error(
            `stacks/Pulumi.${stack}.yaml does not match Pulumi.yaml:\n  - ${problems.join("\n  - ")}`,
        );
    }
    const { config, secretKeys } = toEngineConfig(values);
    const run = await evaluate(
        () => {
            // A fresh evaluation of the program module for every stack.
            delete require.cache[require.resolve(PROGRAM)];
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            return require(PROGRAM) as Record<string, unknown>;
        },
        {
            project: PROJECT,
            stack,
            config,
            secretKeys,
            outputs: cloudFakes(config[`${PROJECT}:gcpProject`] ?? "offline-project"),
            invokes: cloudInvokes(config[`${PROJECT}:gcpProject`] ?? "offline-project"),
        },
    );
    const kubernetes = run.resources
        .filter(
            (r) =>
                r.custom && r.type.startsWith("kubernetes:") && typeof r.inputs.kind === "string",
        )
        .map((r) => r.inputs);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { stack, resources: run.resources, outputs: run.outputs, kubernetes, seconds };
}

/** Key inputs shown in the inventory table: scalars only, at most six, each shortened. */
function keyInputs(r: RecordedResource): string {
    const parts: string[] = [];
    for (const [k, v] of Object.entries(r.inputs)) {
        if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") continue;
        const text = String(v);
        parts.push(`${k}=${text.length > 40 ? `${text.slice(0, 37)}...` : text}`);
        if (parts.length === 6) break;
    }
    return parts.join(", ").replace(/\|/g, "\\|");
}

function mermaid(resources: RecordedResource[], stack: string): string {
    const ids = new Map<string, string>();
    const id = (key: string): string => {
        if (!ids.has(key)) ids.set(key, `n${ids.size + 1}`);
        return ids.get(key)!;
    };
    const lines = ["graph TD", `    root["stack ${stack}"]`];
    const components = resources.filter((r) => !r.custom);
    for (const c of components) {
        const key = `${c.type}::${c.name}`;
        lines.push(`    ${id(key)}["${c.name}<br/><small>${c.type}</small>"]`);
        lines.push(`    ${c.parent ? id(c.parent) : "root"} --> ${id(key)}`);
    }
    // Custom resources grouped by (parent, type) with a count, so big stacks stay readable.
    const groups = new Map<string, number>();
    for (const r of resources.filter((x) => x.custom)) {
        const k = `${r.parent ?? ""}|${r.type}`;
        groups.set(k, (groups.get(k) ?? 0) + 1);
    }
    for (const [k, count] of [...groups.entries()].sort()) {
        const [parent, type] = k.split("|") as [string, string];
        const node = id(`group:${k}`);
        lines.push(`    ${node}(["${type} ×${count}"])`);
        lines.push(`    ${parent ? id(parent) : "root"} --> ${node}`);
    }
    return `${lines.join("\n")}\n`;
}

function k8sFileName(obj: Record<string, unknown>): string {
    const meta = (obj.metadata ?? {}) as { name?: string; namespace?: string };
    const parts = [obj.kind as string, meta.namespace, meta.name ?? "unnamed"].filter(Boolean);
    return `${parts.join("-").replace(/[^A-Za-z0-9._-]/g, "_")}.yaml`;
}

/** Write render/<stack>/ for one rendered stack. */
export function writeRender(r: Rendered, outRoot: string): string {
    const dir = path.join(outRoot, r.stack);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(path.join(dir, "kubernetes"), { recursive: true });
    const plain = r.resources.map(({ type, name, parent, custom, inputs }) => ({
        type,
        name,
        parent,
        custom,
        inputs,
    }));
    fs.writeFileSync(path.join(dir, "resources.json"), `${JSON.stringify(plain, null, 2)}\n`);
    fs.writeFileSync(path.join(dir, "outputs.json"), `${JSON.stringify(r.outputs, null, 2)}\n`);
    const rows = r.resources.map(
        (x) => `| ${x.type} | ${x.name} | ${x.parent ?? "(stack)"} | ${keyInputs(x)} |`,
    );
    fs.writeFileSync(
        path.join(dir, "inventory.md"),
        [
            `# Stack ${r.stack}: ${r.resources.length} resources`,
            "",
            "| type | name | parent | key inputs |",
            "|---|---|---|---|",
            ...rows,
            "",
        ].join("\n"),
    );
    for (const obj of r.kubernetes) {
        fs.writeFileSync(
            path.join(dir, "kubernetes", k8sFileName(obj)),
            YAML.stringify(obj, { lineWidth: 0 }),
        );
    }
    fs.writeFileSync(path.join(dir, "components.mmd"), mermaid(r.resources, r.stack));
    return dir;
}

/** Rewrite stacks/inventory/<stack>.yaml from a render; returns the file's path. */
export function writeInventory(r: Rendered): string {
    const inv: Inventory = inventoryOf(r);
    fs.mkdirSync(INVENTORY_DIR, { recursive: true });
    fs.writeFileSync(inventoryPath(r.stack), YAML.stringify(inv, { lineWidth: 0 }));
    return inventoryPath(r.stack);
}
