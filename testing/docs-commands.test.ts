/**
 * The README's and the operations guide's commands stay true where that can be checked offline:
 * every `npm run <script>` names a script of package.json and every `--flag` passed to it is one
 * its tool parses; every `pulumi stack output <name>` is an output of the stack; every repository
 * path named exists; every stack-file key named is declared in Pulumi.yaml; every identifier in
 * backticks is a config key, a stack output or a name the code uses; every `kubectl -n <ns>` is a
 * namespace the stack creates, and the namespaces README lists exactly those. Each check also runs
 * on a broken sample and must report it.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { NAMESPACES } from "../components/namespaces/namespaces";

const ROOT = path.resolve(__dirname, "..");
const DOCS = ["README.md", "docs/operations.md"];

const read = (rel: string) => fs.readFileSync(path.join(ROOT, rel), "utf8");

interface Facts {
    scripts: Record<string, string>;
    outputs: Set<string>;
    configKeys: Set<string>;
    namespaces: Set<string>;
    /** Text of the code a backticked identifier may come from. */
    code: string;
}

function facts(): Facts {
    const pkg = JSON.parse(read("package.json")) as { scripts: Record<string, string> };
    const inventory = YAML.parse(read("stacks/inventory/dev.yaml")) as { outputs: string[] };
    const pulumiYaml = YAML.parse(read("Pulumi.yaml")) as { config: Record<string, unknown> };
    const codeFiles: string[] = [];
    const walk = (dir: string) => {
        for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
            const rel = path.posix.join(dir, e.name);
            if (e.isDirectory()) {
                if (!["node_modules", ".venv", "dist", "render", "__pycache__"].includes(e.name))
                    walk(rel);
            } else if (/\.(ts|py|ya?ml|sh|cjs)$/.test(e.name) && !/\.test\.ts$/.test(e.name)) {
                codeFiles.push(rel);
            }
        }
    };
    for (const d of ["components", "stacks", "tools", "functions", "charts", "dags", ".github"])
        walk(d);
    return {
        scripts: pkg.scripts,
        outputs: new Set(inventory.outputs),
        configKeys: new Set(Object.keys(pulumiYaml.config)),
        namespaces: new Set(Object.values(NAMESPACES)),
        code: codeFiles.map(read).join("\n"),
    };
}

/** The code of an npm script's tool: its entry file and the relative modules it imports. */
function toolSource(script: string): string {
    const entry = /\b(tools\/[\w./-]+\.ts)\b/.exec(script)?.[1];
    if (!entry) return "";
    const text = read(entry);
    const imported = [...text.matchAll(/from "(\.\.?\/[^"]+)"/g)]
        .map((m) => path.join(path.dirname(entry), `${m[1]}.ts`))
        .filter((f) => fs.existsSync(path.join(ROOT, f)))
        .map(read);
    return [text, ...imported].join("\n");
}

/** Inline code spans and fenced code lines of a Markdown text. */
function codeOf(md: string): string[] {
    const out: string[] = [];
    let fenced = false;
    for (const line of md.split("\n")) {
        if (line.startsWith("```")) {
            fenced = !fenced;
            continue;
        }
        if (fenced) out.push(line);
        else for (const m of line.matchAll(/`([^`]+)`/g)) out.push(m[1]!);
    }
    return out;
}

export function checkNpmCommands(md: string, f: Facts, where: string): string[] {
    const problems: string[] = [];
    for (const code of codeOf(md)) {
        for (const m of code.matchAll(
            /\bnpm (?:run(?: --silent)? ([\w:-]+)|(start|test))((?: -- .*)?)/g,
        )) {
            const name = m[1] ?? m[2]!;
            const script = f.scripts[name];
            if (script === undefined) {
                problems.push(`${where}: \`npm run ${name}\` is not a script of package.json`);
                continue;
            }
            const source = toolSource(script);
            for (const flag of (m[3] ?? "").matchAll(/(?<=\s)(--[a-z][\w-]*)/g)) {
                const quoted = new RegExp(`["'\`]${flag[1]}["'\`=]`);
                if (!quoted.test(source))
                    problems.push(
                        `${where}: \`npm run ${name}\` is given ${flag[1]}, which its tool (${script}) does not parse`,
                    );
            }
        }
    }
    return problems;
}

export function checkStackOutputs(md: string, f: Facts, where: string): string[] {
    const problems: string[] = [];
    for (const code of codeOf(md))
        for (const m of code.matchAll(/pulumi stack output ((?:--\S+ )*)([A-Za-z]\w*)/g))
            if (!f.outputs.has(m[2]!))
                problems.push(`${where}: \`pulumi stack output ${m[2]}\` is not a stack output`);
    return problems;
}

const ROOTS = [
    ".github",
    "charts",
    "components",
    "dags",
    "dbt",
    "docs",
    "docs-app",
    "functions",
    "libs",
    "ml",
    "policy",
    "spark",
    "stacks",
    "testing",
    "tools",
];

export function checkPaths(
    md: string,
    where: string,
    exists = (p: string) => fs.existsSync(path.join(ROOT, p)),
): string[] {
    const problems: string[] = [];
    const seen = new Set<string>();
    for (const m of md.matchAll(/`([^`\s]+)`|\]\(([^)\s#]+)/g)) {
        let p = (m[1] ?? m[2]!).replace(/[.,:;]+$/, "");
        if (!ROOTS.some((r) => p === r || p.startsWith(`${r}/`))) continue;
        p = p.replace(/\$ENV|<stack>|<env>/g, "dev");
        if (/[<>$*{}]/.test(p) || seen.has(p)) continue; // a placeholder or a glob
        seen.add(p);
        if (!exists(p.replace(/\/$/, "")))
            problems.push(`${where}: names ${p}, which does not exist`);
    }
    return problems;
}

export function checkStackFileKeys(md: string, f: Facts, where: string): string[] {
    const problems: string[] = [];
    for (const line of md.split("\n")) {
        if (!/stack file/.test(line)) continue;
        for (const m of line.matchAll(/`([a-z][A-Za-z0-9]*[A-Z][A-Za-z0-9]*)(?::[^`]*)?`/g))
            if (!f.configKeys.has(m[1]!))
                problems.push(
                    `${where}: \`${m[1]}\` is named as a stack-file key but Pulumi.yaml does not declare it`,
                );
    }
    return problems;
}

export function checkIdentifiers(md: string, f: Facts, where: string): string[] {
    const problems: string[] = [];
    const seen = new Set<string>();
    for (const m of md.matchAll(/`([a-z][a-z0-9]*[A-Z][A-Za-z0-9]*)(?:[:.][^`]*)?`/g)) {
        const id = m[1]!;
        if (seen.has(id)) continue;
        seen.add(id);
        if (f.configKeys.has(id) || f.outputs.has(id)) continue;
        if (!new RegExp(`\\b${id}\\b`).test(f.code))
            problems.push(
                `${where}: \`${id}\` is neither a config key, a stack output nor a name in the code`,
            );
    }
    return problems;
}

export function checkNamespaces(md: string, f: Facts, where: string): string[] {
    const problems: string[] = [];
    for (const code of codeOf(md))
        for (const m of code.matchAll(/kubectl (?:-n|--namespace) ([a-z][a-z0-9-]*)/g))
            if (!f.namespaces.has(m[1]!))
                problems.push(`${where}: kubectl -n ${m[1]}: the stack creates no such namespace`);
    return problems;
}

describe("docs: the README's and the operations guide's commands stay true", () => {
    const f = facts();
    const docs = DOCS.map((d) => [d, read(d)] as const);

    for (const [name, check] of Object.entries({
        "npm scripts and their flags exist": checkNpmCommands,
        "pulumi stack output names are stack outputs": checkStackOutputs,
        "stack-file keys are declared in Pulumi.yaml": checkStackFileKeys,
        "backticked identifiers are config keys, outputs or names in the code": checkIdentifiers,
        "kubectl namespaces are the stack's": checkNamespaces,
    })) {
        it(name, () => {
            assert.deepEqual(
                docs.flatMap(([d, text]) => check(text, f, d)),
                [],
            );
        });
    }

    it("files and folders named exist", () => {
        assert.deepEqual(
            docs.flatMap(([d, text]) => checkPaths(text, d)),
            [],
        );
    });

    it("the README links the operations guide", () => {
        assert.match(read("README.md"), /\]\(docs\/operations\.md\)/);
    });

    it("the namespaces README lists exactly the namespaces the code creates", () => {
        const listed = [
            ...read("components/namespaces/README.md").matchAll(/^\| `([a-z-]+)` \|/gm),
        ].map((m) => m[1]);
        assert.deepEqual(listed.sort(), [...f.namespaces].sort());
    });

    describe("reports a broken document", () => {
        const bad = [
            "```bash",
            "npm run bootstrap:envs -- dev",
            "npm run pin:connectors -- dev --force",
            "pulumi stack output airflowUrl",
            "kubectl -n airflows get pods",
            "```",
            "Set `gcpProjectId` in the stack file; see `tools/bootstrap.ts` and `dags/datasets.yml`.",
            "The `transferJobName` output.",
        ].join("\n");
        it("names each problem", () => {
            const all = [
                ...checkNpmCommands(bad, f, "bad.md"),
                ...checkStackOutputs(bad, f, "bad.md"),
                ...checkStackFileKeys(bad, f, "bad.md"),
                ...checkIdentifiers(bad, f, "bad.md"),
                ...checkNamespaces(bad, f, "bad.md"),
                ...checkPaths(bad, "bad.md"),
            ];
            for (const want of [
                /`npm run bootstrap:envs` is not a script/,
                /`npm run pin:connectors` is given --force, which its tool .* does not parse/,
                /`pulumi stack output airflowUrl` is not a stack output/,
                /kubectl -n airflows: the stack creates no such namespace/,
                /`gcpProjectId` is named as a stack-file key/,
                /names tools\/bootstrap\.ts, which does not exist/,
                /names dags\/datasets\.yml, which does not exist/,
                /`transferJobName` is neither a config key/,
            ])
                assert.ok(
                    all.some((p) => want.test(p)),
                    `${want} in:\n${all.join("\n")}`,
                );
        });
    });
});
