/**
 * What a change does to a stack's desired state, as Markdown for a pull-request comment (the
 * diff is offline/render-diff.ts).
 *
 *   npm run render:diff -- <stack> [--base <git-ref>]
 */
import { renderDiff } from "../offline/render-diff";

async function main(): Promise<void> {
    const argv = process.argv.slice(2);
    let base: string | undefined;
    const stacks: string[] = [];
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--base") base = argv[++i];
        else if (argv[i]!.startsWith("-")) throw new Error(`unknown option ${argv[i]}`);
        else stacks.push(argv[i]!);
    }
    if (stacks.length !== 1)
        throw new Error("usage: npm run render:diff -- <stack> [--base <git-ref>]");
    process.stdout.write(await renderDiff(stacks[0]!, base));
}

if (require.main === module) {
    main().catch((err: unknown) => {
        console.error(`render:diff failed: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
    });
}
