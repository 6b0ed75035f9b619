/**
 * Offline render of stacks to render/<stack>/ (the engine is offline/render.ts).
 *
 * Usage:
 *   npm run render -- <stack> [<stack> ...]       render the named stacks
 *   npm run render -- --all                        render every stack in stacks/
 *   npm run inventory:update                       render all and rewrite stacks/inventory/*.yaml
 *   options: --out <dir> (default render/)
 */
import * as path from "node:path";
import { REPO_ROOT } from "../offline/project-file";
import { renderStack, writeInventory, writeRender } from "../offline/render";
import { listStacks } from "../offline/stack-files";

interface Args {
    stacks: string[];
    out: string;
    updateInventory: boolean;
}

function parseArgs(argv: string[]): Args {
    const args: Args = { stacks: [], out: path.join(REPO_ROOT, "render"), updateInventory: false };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i]!;
        if (a === "--all") args.stacks = listStacks();
        else if (a === "--update-inventory") args.updateInventory = true;
        else if (a === "--out") args.out = path.resolve(argv[++i] ?? "");
        else if (a.startsWith("-"))
            throw new Error(
                `unknown option ${a}. Usage: npm run render -- <stack>... | --all [--out dir]`,
            );
        else args.stacks.push(a);
    }
    const known = listStacks();
    if (args.stacks.length === 0) {
        throw new Error(
            `name a stack to render (${known.join(", ")}) or --all. Example: npm run render -- dev`,
        );
    }
    for (const s of args.stacks) {
        if (!known.includes(s))
            throw new Error(`unknown stack "${s}": stacks/ has ${known.join(", ")}`);
    }
    return args;
}

async function main(): Promise<void> {
    const args = parseArgs(process.argv.slice(2));
    const started = process.hrtime.bigint();
    for (const stack of args.stacks) {
        const rendered = await renderStack(stack);
        const dir = writeRender(rendered, args.out);
        console.log(
            `rendered ${stack}: ${rendered.resources.length} resources, ${rendered.kubernetes.length} Kubernetes objects ` +
                `in ${rendered.seconds.toFixed(2)} s -> ${path.relative(process.cwd(), dir)}/`,
        );
        if (args.updateInventory) {
            console.log(`  updated ${path.relative(process.cwd(), writeInventory(rendered))}`);
        }
    }
    const total = Number(process.hrtime.bigint() - started) / 1e9;
    const load = process.uptime() - total;
    console.log(
        `rendered ${args.stacks.length} stack(s) in ${total.toFixed(2)} s (plus ${load.toFixed(2)} s start-up and module load)`,
    );
}

if (require.main === module) {
    main().catch((err: unknown) => {
        console.error(`render failed: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
    });
}
