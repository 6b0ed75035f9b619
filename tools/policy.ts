/**
 * The policy pack over stacks' offline renders (the evaluator is offline/policy.ts):
 *
 *   npx tsx tools/policy.ts <stack> [<stack> ...] | --all
 *
 * Prints every violation; exits 1 when any is mandatory, 2 on a usage error.
 */
import { evaluateStack, formatViolations } from "../offline/policy";
import { listStacks } from "../offline/stack-files";
import { POLICIES } from "../policy/rules";

async function main(argv: string[]): Promise<number> {
    const known = listStacks();
    const stacks = argv.includes("--all") ? known : argv.filter((a) => !a.startsWith("-"));
    const unknown = argv.filter((a) => a.startsWith("-") && a !== "--all");
    if (unknown.length > 0 || stacks.length === 0) {
        console.error(
            `usage: tsx tools/policy.ts <stack>... | --all   (stacks: ${known.join(", ")})` +
                (unknown.length > 0 ? `\nunknown option ${unknown.join(" ")}` : ""),
        );
        return 2;
    }
    for (const s of stacks) {
        if (!known.includes(s)) {
            console.error(`unknown stack "${s}": stacks/ has ${known.join(", ")}`);
            return 2;
        }
    }
    let mandatory = 0;
    for (const stack of stacks) {
        const violations = await evaluateStack(stack);
        const hard = violations.filter((v) => v.enforcementLevel === "mandatory").length;
        mandatory += hard;
        console.log(
            `${stack}: ${POLICIES.length} policies, ${violations.length} violation(s), ${hard} mandatory`,
        );
        if (violations.length > 0) console.log(formatViolations(violations));
    }
    return mandatory > 0 ? 1 : 0;
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => process.exit(code),
        (err: unknown) => {
            console.error(
                `policy evaluation failed: ${err instanceof Error ? err.stack : String(err)}`,
            );
            process.exit(2);
        },
    );
}
