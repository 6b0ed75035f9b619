/**
 * The repository's structure, checked so it stays as docs/architecture.md#floors describes it.
 *
 * Import floors: every relative import of a TypeScript file (tests excepted) runs downward,
 *
 *   tools/ (commands), testing/ (test helpers)  →  offline/  →  stacks/, policy/  →  components/
 *   →  components/shared/  →  charts/
 *
 * where the two top floors never import each other, nor stacks/ and policy/ each other, with
 * `functions/` and `docs-app/` as self-contained apps (the stack and `npm start` bundle or
 * call the trigger function), `policy/` a pure rule pack that imports nothing of the repository,
 * and `stacks/` reading components only through their public surface (`components/index.ts`).
 * The checker also runs on a broken fixture and must report each fault.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..");

/** Folders (repository-relative) whose TypeScript files are checked. */
const FLOORED = [
    "tools",
    "testing",
    "offline",
    "stacks",
    "policy",
    "components",
    "charts",
    "functions",
    "docs-app",
];

/**
 * What each floor may import besides itself. `components/shared` is its own floor below the
 * components; `components@index` means `components/index.ts` only.
 */
const MAY_IMPORT: Record<string, readonly string[]> = {
    tools: [
        "offline",
        "stacks",
        "policy",
        "components",
        "components/shared",
        "charts",
        "functions",
    ],
    testing: [
        "offline",
        "stacks",
        "policy",
        "components",
        "components/shared",
        "charts",
        "functions",
    ],
    offline: ["stacks", "policy", "components", "components/shared", "charts"],
    stacks: ["components@index", "functions"],
    policy: [],
    components: ["components/shared", "charts"],
    "components/shared": ["charts"],
    charts: [],
    functions: [],
    "docs-app": [],
};

/** The floor of a repository-relative path, or undefined outside the checked folders. */
function floorOf(rel: string): string | undefined {
    if (rel === "components/shared" || rel.startsWith("components/shared/")) {
        return "components/shared";
    }
    const top = rel.split("/")[0]!;
    return FLOORED.includes(top) ? top : undefined;
}

const IMPORT_RE =
    /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']*)["']/gm;

export interface SourceFile {
    /** Repository-relative path with forward slashes. */
    path: string;
    text: string;
}

/** Every import that goes up a floor or sideways where not allowed, as `file: message`. */
export function floorViolations(files: readonly SourceFile[]): string[] {
    const out: string[] = [];
    for (const f of files) {
        if (/\.test\.ts$/.test(f.path)) continue;
        const from = floorOf(f.path);
        if (from === undefined) continue;
        for (const m of f.text.matchAll(IMPORT_RE)) {
            const spec = m[1]!;
            const target = path.posix.normalize(path.posix.join(path.posix.dirname(f.path), spec));
            const to = floorOf(target);
            if (to === undefined || to === from) continue;
            const allowed = MAY_IMPORT[from] ?? [];
            const isIndex = target === "components" || target === "components/index";
            const ok =
                allowed.includes(to) ||
                (to === "components" && isIndex && allowed.includes("components@index"));
            if (!ok) {
                const why =
                    to === "components" && allowed.includes("components@index")
                        ? "import the public surface (components/index.ts) instead"
                        : `${from}/ may import ${allowed.join(", ") || "nothing of the repository"}`;
                out.push(
                    `${f.path}: imports ${spec} (${to}/, a floor ${from}/ may not use): ${why}`,
                );
            }
        }
    }
    return out;
}

function sourceFiles(): SourceFile[] {
    const out: SourceFile[] = [];
    const skip = new Set(["node_modules", ".venv", "dist", "render", "bin", "fixtures"]);
    const walk = (rel: string) => {
        for (const e of fs.readdirSync(path.join(ROOT, rel), { withFileTypes: true })) {
            const child = `${rel}/${e.name}`;
            if (e.isDirectory()) {
                if (!skip.has(e.name)) walk(child);
            } else if (/\.(?:ts|cjs|mjs)$/.test(e.name)) {
                out.push({ path: child, text: fs.readFileSync(path.join(ROOT, child), "utf8") });
            }
        }
    };
    for (const top of FLOORED) if (fs.existsSync(path.join(ROOT, top))) walk(top);
    return out;
}

describe("repository layout: import floors", () => {
    it("every import of the repository runs downward", () => {
        const files = sourceFiles();
        assert.ok(files.length > 100, `only ${files.length} source files found under ${ROOT}`);
        assert.deepEqual(floorViolations(files), []);
    });

    it("reports an import up a floor, a deep component path from stacks/, and policy/ importing the engine", () => {
        const found = floorViolations([
            {
                path: "components/mlflow/mlflow.ts",
                text: 'import { evaluate } from "../../offline/engine";',
            },
            { path: "components/shared/labels.ts", text: 'import { Airflow } from "../airflow";' },
            {
                path: "stacks/platform.ts",
                text: 'import { Airflow } from "../components/airflow/airflow";',
            },
            { path: "stacks/index.ts", text: 'import { Airflow } from "../components";' },
            {
                path: "policy/rules/gke.ts",
                text: 'import { renderStack } from "../../offline/render";',
            },
            { path: "policy/index.ts", text: 'const x = require("../testing/pod-security");' },
            { path: "offline/render.ts", text: 'import { x } from "../tools/render";' },
            { path: "tools/render.ts", text: 'import { x } from "../testing/cluster-fixture";' },
            { path: "testing/k8s-validate.ts", text: 'import { x } from "../tools/start";' },
            {
                path: "components/airflow/airflow.test.ts",
                text: 'import { x } from "../../testing/cluster-fixture";',
            },
        ]);
        assert.deepEqual(
            found.map((f) => f.slice(0, f.indexOf(":"))),
            [
                "components/mlflow/mlflow.ts",
                "components/shared/labels.ts",
                "stacks/platform.ts",
                "policy/rules/gke.ts",
                "policy/index.ts",
                "offline/render.ts",
                "tools/render.ts",
                "testing/k8s-validate.ts",
            ],
        );
        assert.match(found[2]!, /public surface \(components\/index\.ts\)/);
        assert.match(found[3]!, /policy\/ may import nothing of the repository/);
    });
});

// --- README layout tables ----------------------------------------------------------------------

/** Folders (backticked, ending in `/`) named in the first column of a README's tables. */
export function tableFolders(markdown: string): string[] {
    const out: string[] = [];
    for (const line of markdown.split("\n")) {
        const row = /^\|([^|]*)\|/.exec(line.trim());
        if (!row) continue;
        for (const m of row[1]!.matchAll(/`([^`\s]+\/)`/g)) out.push(m[1]!);
    }
    return out;
}

/**
 * What is wrong with the READMEs' layout tables: a listed folder that does not exist (relative to
 * the README), a top-level folder the root README does not list, a component folder
 * `components/README.md` does not list.
 */
export function readmeProblems(
    readmes: Readonly<Record<string, string>>,
    isFolder: (rel: string) => boolean,
    topFolders: readonly string[],
    componentFolders: readonly string[],
): string[] {
    const out: string[] = [];
    for (const [file, text] of Object.entries(readmes)) {
        const dir = path.posix.dirname(file);
        for (const folder of tableFolders(text)) {
            const rel = path.posix.normalize(path.posix.join(dir, folder)).replace(/\/$/, "");
            if (!isFolder(rel))
                out.push(`${file}: lists ${folder}, which does not exist (${rel}/)`);
        }
    }
    const rootListed = tableFolders(readmes["README.md"] ?? "").map((f) => f.replace(/\/$/, ""));
    for (const top of topFolders) {
        if (!rootListed.some((f) => f === top || f.startsWith(`${top}/`))) {
            out.push(`README.md: the layout table does not list ${top}/`);
        }
    }
    const componentsListed = tableFolders(readmes["components/README.md"] ?? "");
    for (const c of componentFolders) {
        if (!componentsListed.includes(`${c}/`)) {
            out.push(`components/README.md: the component table does not list ${c}/`);
        }
    }
    return out;
}

/** Top-level folders of the repository (folders `.gitignore` names, and hidden ones, left out). */
function topLevelFolders(): string[] {
    const ignored = new Set(
        fs
            .readFileSync(path.join(ROOT, ".gitignore"), "utf8")
            .split("\n")
            .map((l) => l.trim().replace(/\/$/, ""))
            .filter((l) => l !== "" && !l.startsWith("#") && !/[*/]/.test(l)),
    );
    return fs
        .readdirSync(ROOT, { withFileTypes: true })
        .filter((e) => e.isDirectory() && !ignored.has(e.name))
        .filter((e) => !e.name.startsWith(".") || e.name === ".github")
        .map((e) => e.name)
        .sort();
}

function readmes(): Record<string, string> {
    const out: Record<string, string> = {};
    const skip = new Set(["node_modules", ".venv", "dist", "render", "bin", ".git", ".local"]);
    const walk = (rel: string) => {
        const abs = rel === "" ? ROOT : path.join(ROOT, rel);
        for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
            const child = rel === "" ? e.name : `${rel}/${e.name}`;
            if (e.isDirectory()) {
                if (!skip.has(e.name) && !e.name.startsWith("__")) walk(child);
            } else if (e.name === "README.md") {
                out[child] = fs.readFileSync(path.join(ROOT, child), "utf8");
            }
        }
    };
    walk("");
    return out;
}

describe("repository layout: READMEs", () => {
    it("every folder a README's table lists exists; every top-level folder and component is listed", () => {
        const all = readmes();
        assert.ok(Object.keys(all).length > 20, `only ${Object.keys(all).length} READMEs found`);
        const components = fs
            .readdirSync(path.join(ROOT, "components"), { withFileTypes: true })
            .filter((e) => e.isDirectory() && e.name !== "shared")
            .map((e) => e.name);
        assert.ok(components.length > 10, `only ${components.length} component folders found`);
        const isFolder = (rel: string) =>
            fs.statSync(path.join(ROOT, rel), { throwIfNoEntry: false })?.isDirectory() === true;
        assert.deepEqual(readmeProblems(all, isFolder, topLevelFolders(), components), []);
    });

    it("reports a listed folder that is gone, an unlisted top-level folder and an unlisted component", () => {
        const problems = readmeProblems(
            {
                "README.md":
                    "| folder | what |\n|---|---|\n| `stacks/` | x |\n| `gone/` | y |\n| `functions/airflow-trigger/` | z |\n",
                "components/README.md":
                    "| folder | component |\n|---|---|\n| `network/`, `cluster/` | a |\n",
                "tools/README.md": "prose mentions `nowhere/` outside a table\n| `local/` | b |\n",
            },
            (rel) =>
                [
                    "stacks",
                    "functions/airflow-trigger",
                    "components/network",
                    "components/cluster",
                    "tools/local",
                ].includes(rel),
            ["functions", "offline", "stacks"],
            ["cluster", "network", "postgres"],
        );
        assert.deepEqual(problems, [
            "README.md: lists gone/, which does not exist (gone/)",
            "README.md: the layout table does not list offline/",
            "components/README.md: the component table does not list postgres/",
        ]);
    });
});
