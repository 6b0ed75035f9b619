/**
 * A small Dockerfile parser and the rules every image of the repo follows (checked by
 * `dockerfiles.test.ts`). No Docker engine is needed. The `.dockerignore` matcher is
 * `offline/dockerignore.ts` (the offline render hashes what each build sends with it).
 *
 * Parser: parser directives (`# syntax=`, `# escape=`), comments, line continuations (with
 * comment and blank lines inside them dropped, as BuildKit does), heredocs (`<<EOF`, `<<-EOF`,
 * `<<'EOF'`, several per instruction), instruction flags (`--from=…`), the JSON (exec) form,
 * `ARG` defaults before the first `FROM` substituted into `FROM` (`$X`, `${X}`, `${X:-d}`,
 * `${X:+a}`), stage names (`FROM … AS name`) and stages built on earlier stages.
 *
 * Rules (each returns messages naming the Dockerfile line and the fix; empty = compliant):
 * - `checkBasesPinned`: every external `FROM` base resolves (ARG defaults) to a reference
 *   pinned by digest (`@sha256:` + 64 hex) or by an exact version tag: one containing a
 *   three-part version (`3.11.14`, `slim-3.3.2-python3.11`) or an 8-digit date stamp. `latest`,
 *   no tag, and floating tags (`3`, `3.11`, `3.11-slim`, `lts`) fail; `scratch` and earlier
 *   stages are not external bases.
 * - `checkFinalUser`: the final image (the last stage, with the stages it is built on) ends
 *   with a `USER` that is a numeric uid, or uid:gid, with uid ≠ 0, so Kubernetes
 *   `runAsNonRoot` can verify it; every root step comes before that `USER`.
 * - `checkNoBuildTools`: in the final image, no package-manager install (apt-get/apt, apk,
 *   yum/dnf/microdnf) of a build or download tool (`BUILD_TOOLS`, any `*-dev` / `*-devel`
 *   package) unless the same RUN removes it again (purge/remove/del, or `apk del` of the
 *   `--virtual` group); apt installs remove `/var/lib/apt/lists` in the same RUN (or use a
 *   cache mount); `pip install` runs with `--no-cache-dir` or after `ENV PIP_NO_CACHE_DIR=1`.
 *   Build stages may do anything: only what reaches the final image counts.
 * - `checkIgnoreFile`: the ignore file excludes `.git`, `node_modules`, `.venv`, the folder's
 *   tests (probe paths), and no file the context actually sends is a test, a cache, a
 *   virtualenv, `node_modules`, a benchmark or VCS metadata.
 * - `checkCopySources`: every `COPY`/`ADD` source without `--from` exists in the context
 *   directory and is sent (a file: not excluded; a folder or glob: at least one file sent);
 *   `ADD` of a URL needs `--checksum`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { cleanPattern, matchPath, type DockerIgnore } from "../offline/dockerignore";

// ---------------------------------------------------------------------------------------------
// Dockerfile parser

export interface Heredoc {
    /** Terminator word (`EOF`). */
    readonly name: string;
    /** The lines between the instruction and the terminator, joined with "\n". */
    readonly body: string;
}

export interface Instruction {
    /** Upper-case keyword: FROM, RUN, COPY, … */
    readonly keyword: string;
    /** Flags before the arguments: `--from=build` → { from: "build" }; bare `--link` → "". */
    readonly flags: Readonly<Record<string, string>>;
    /** The arguments after the flags (continuations joined, heredoc bodies not included). */
    readonly args: string;
    /** Arguments of the JSON (exec) form, when the instruction uses it. */
    readonly json: readonly string[] | undefined;
    readonly heredocs: readonly Heredoc[];
    /** 1-based line of the instruction's first line. */
    readonly line: number;
}

export interface Stage {
    readonly index: number;
    /** `AS` name, lower-cased (Docker stage names are case-insensitive). */
    readonly name: string | undefined;
    /** The `FROM` argument as written. */
    readonly baseRaw: string;
    /** The `FROM` argument with global ARG defaults substituted. */
    readonly base: string;
    /** Variables the base refers to that have no value. */
    readonly unresolved: readonly string[];
    /** Index of the earlier stage this one is built on, if any. */
    readonly parent: number | undefined;
    readonly line: number;
    /** The instructions after `FROM` (FROM itself excluded). */
    readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
    readonly directives: Readonly<Record<string, string>>;
    /** ARGs before the first FROM: name → default (undefined: no default). */
    readonly globalArgs: ReadonlyMap<string, string | undefined>;
    readonly stages: readonly Stage[];
}

const HEREDOC_RE = /<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)\2/g;
const HEREDOC_KEYWORDS = new Set(["RUN", "COPY", "ADD"]);

/** Parse a Dockerfile; throws with the line number on what it cannot read. */
export function parseDockerfile(text: string): Dockerfile {
    const lines = text.replace(/\r\n/g, "\n").split("\n");
    const directives: Record<string, string> = {};
    let i = 0;
    // Parser directives: `# key=value` lines at the very top, before anything else.
    for (; i < lines.length; i++) {
        const m = /^#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$/.exec(lines[i]!);
        if (!m) break;
        directives[m[1]!.toLowerCase()] = m[2]!;
    }
    const escape = directives.escape ?? "\\";
    if (escape !== "\\" && escape !== "`") {
        throw new Error(`line ${i}: escape directive must be \\ or \`, got ${escape}`);
    }
    const instructions: Instruction[] = [];
    while (i < lines.length) {
        const first = lines[i]!;
        if (first.trim() === "" || first.trimStart().startsWith("#")) {
            i++;
            continue;
        }
        const start = i + 1;
        // Join continuation lines; comment and blank lines inside a continuation are dropped.
        let logical = "";
        let current = first;
        for (;;) {
            const trimmed = current.replace(/\s+$/, "");
            if (trimmed.endsWith(escape)) {
                logical += trimmed.slice(0, -1);
                i++;
                while (
                    i < lines.length &&
                    (lines[i]!.trim() === "" || lines[i]!.trimStart().startsWith("#"))
                ) {
                    i++;
                }
                if (i >= lines.length) break;
                current = lines[i]!;
                continue;
            }
            logical += current;
            i++;
            break;
        }
        const m = /^\s*([A-Za-z]+)(?:\s+([\s\S]*))?$/.exec(logical);
        if (!m) throw new Error(`line ${start}: cannot read instruction: ${logical.trim()}`);
        const keyword = m[1]!.toUpperCase();
        let rest = (m[2] ?? "").trim();
        const flags: Record<string, string> = {};
        for (;;) {
            const f = /^--([A-Za-z][A-Za-z0-9-]*)(?:=(\S*))?(?:\s+|$)/.exec(rest);
            if (!f || keyword === "ENV" || keyword === "LABEL") break;
            // A repeated flag (several --mount) keeps every value, one per line.
            const prev = flags[f[1]!];
            flags[f[1]!] = prev === undefined ? (f[2] ?? "") : `${prev}\n${f[2] ?? ""}`;
            rest = rest.slice(f[0].length);
        }
        const heredocs: Heredoc[] = [];
        if (HEREDOC_KEYWORDS.has(keyword)) {
            for (const h of rest.matchAll(HEREDOC_RE)) {
                const strip = h[1] === "-";
                const name = h[3]!;
                const body: string[] = [];
                let closed = false;
                while (i < lines.length) {
                    const raw = lines[i]!;
                    i++;
                    const candidate = strip ? raw.replace(/^\t+/, "") : raw;
                    if (candidate === name) {
                        closed = true;
                        break;
                    }
                    body.push(candidate);
                }
                if (!closed) {
                    throw new Error(`line ${start}: heredoc <<${name} is never closed`);
                }
                heredocs.push({ name, body: body.join("\n") });
            }
        }
        let json: string[] | undefined;
        if (rest.startsWith("[")) {
            try {
                const parsed: unknown = JSON.parse(rest);
                if (
                    Array.isArray(parsed) &&
                    parsed.every((x): x is string => typeof x === "string")
                ) {
                    json = parsed;
                }
            } catch {
                json = undefined; // shell form that happens to start with "["
            }
        }
        instructions.push({ keyword, flags, args: rest, json, heredocs, line: start });
    }
    return buildStages(instructions, directives);
}

function buildStages(all: Instruction[], directives: Record<string, string>): Dockerfile {
    const globalArgs = new Map<string, string | undefined>();
    const stages: Stage[] = [];
    let current: { stage: Omit<Stage, "instructions">; instructions: Instruction[] } | undefined;
    const finish = () => {
        if (current) stages.push({ ...current.stage, instructions: current.instructions });
    };
    for (const ins of all) {
        if (ins.keyword === "FROM") {
            finish();
            const words = ins.args.split(/\s+/).filter(Boolean);
            const baseRaw = words[0] ?? "";
            let name: string | undefined;
            if (words.length >= 3 && words[1]!.toUpperCase() === "AS") {
                name = words[2]!.toLowerCase();
            } else if (words.length !== 1) {
                throw new Error(`line ${ins.line}: expected FROM <image> [AS <name>]`);
            }
            const sub = substitute(baseRaw, globalArgs);
            const parent = stages.findIndex((s) => s.name === sub.value.toLowerCase());
            current = {
                stage: {
                    index: stages.length,
                    name,
                    baseRaw,
                    base: sub.value,
                    unresolved: sub.unresolved,
                    parent: parent >= 0 ? parent : undefined,
                    line: ins.line,
                },
                instructions: [],
            };
            continue;
        }
        if (!current) {
            if (ins.keyword !== "ARG") {
                throw new Error(`line ${ins.line}: only ARG may come before the first FROM`);
            }
            for (const [k, v] of parseArgDecl(ins.args)) globalArgs.set(k, v);
            continue;
        }
        current.instructions.push(ins);
    }
    finish();
    if (stages.length === 0) throw new Error("no FROM instruction");
    return { directives, globalArgs, stages };
}

/** `ARG A=1 B` → [["A", "1"], ["B", undefined]]. */
function parseArgDecl(args: string): [string, string | undefined][] {
    return shellWords(args).map((w) => {
        const eq = w.indexOf("=");
        return eq < 0 ? [w, undefined] : [w.slice(0, eq), w.slice(eq + 1)];
    });
}

/** `ENV A=1 B="x y"` or the legacy `ENV A value with spaces`. */
function parseEnvDecl(args: string): [string, string][] {
    const words = shellWords(args);
    if (words.length > 0 && !words[0]!.includes("=")) {
        const m = /^(\S+)\s+([\s\S]*)$/.exec(args.trim());
        return m ? [[m[1]!, m[2]!.trim()]] : [];
    }
    return words.map((w) => {
        const eq = w.indexOf("=");
        return [w.slice(0, eq), w.slice(eq + 1)];
    });
}

/** Substitute `$X`, `${X}`, `${X:-default}`, `${X:+alt}`; reports names with no value. */
export function substitute(
    text: string,
    vars: ReadonlyMap<string, string | undefined>,
): { value: string; unresolved: string[] } {
    const unresolved: string[] = [];
    const value = text.replace(
        /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g,
        (
            _all,
            braced: string | undefined,
            op: string | undefined,
            word: string | undefined,
            bare: string | undefined,
        ) => {
            const name = (braced ?? bare)!;
            const v = vars.get(name);
            const set = v !== undefined && v !== "";
            if (op === "-") return set ? v : (word ?? "");
            if (op === "+") return set ? (word ?? "") : "";
            if (v === undefined) unresolved.push(name);
            return v ?? "";
        },
    );
    return { value, unresolved };
}

/** Split a shell-like string into words, honouring quotes (quotes removed). */
export function shellWords(text: string): string[] {
    const words: string[] = [];
    let word = "";
    let quote: string | undefined;
    let inWord = false;
    for (let k = 0; k < text.length; k++) {
        const c = text[k]!;
        if (quote) {
            if (c === quote) quote = undefined;
            else word += c;
        } else if (c === "'" || c === '"') {
            quote = c;
            inWord = true;
        } else if (/\s/.test(c)) {
            if (inWord) words.push(word);
            word = "";
            inWord = false;
        } else {
            word += c;
            inWord = true;
        }
    }
    if (inWord) words.push(word);
    return words;
}

/** Split a shell script into simple commands (on `&&`, `||`, `;`, `|`, newlines outside quotes). */
export function shellCommands(script: string): string[][] {
    const commands: string[] = [];
    let cur = "";
    let quote: string | undefined;
    for (let k = 0; k < script.length; k++) {
        const c = script[k]!;
        if (quote) {
            if (c === quote) quote = undefined;
            cur += c;
            continue;
        }
        if (c === "'" || c === '"') {
            quote = c;
            cur += c;
        } else if (c === "\n" || c === ";" || c === "|" || (c === "&" && script[k + 1] === "&")) {
            if ((c === "&" || c === "|") && script[k + 1] === c) k++;
            commands.push(cur);
            cur = "";
        } else {
            cur += c;
        }
    }
    commands.push(cur);
    return commands.map(shellWords).filter((w) => w.length > 0);
}

/** The stages whose layers make up `stage`'s image: its ancestors (built on) and itself. */
export function imageChain(df: Dockerfile, stage: Stage = finalStage(df)): Stage[] {
    const chain: Stage[] = [];
    let s: Stage | undefined = stage;
    while (s) {
        chain.unshift(s);
        s = s.parent === undefined ? undefined : df.stages[s.parent];
    }
    return chain;
}

export function finalStage(df: Dockerfile): Stage {
    return df.stages[df.stages.length - 1]!;
}

// ---------------------------------------------------------------------------------------------
// Rules

/** Tags that count as exact versions: a three-part version or an 8-digit date stamp. */
const EXACT_TAG_RE = /(?:^|[^0-9.])\d+\.\d+\.\d+(?:$|[^0-9.])|(?:^|\D)\d{8}(?:$|\D)/;

function where(ins: { line: number }): string {
    return `line ${ins.line}`;
}

export function checkBasesPinned(df: Dockerfile): string[] {
    const problems: string[] = [];
    for (const s of df.stages) {
        if (s.unresolved.length > 0) {
            problems.push(
                `line ${s.line}: FROM ${s.baseRaw} uses ${s.unresolved.join(", ")}, which has no ` +
                    "default: give the ARG before the first FROM a pinned default image",
            );
            continue;
        }
        if (s.parent !== undefined || s.base.toLowerCase() === "scratch") continue;
        const ref = s.base;
        const at = ref.indexOf("@");
        const digest = at >= 0 ? ref.slice(at + 1) : undefined;
        const nameTag = at >= 0 ? ref.slice(0, at) : ref;
        if (digest !== undefined) {
            if (!/^sha256:[0-9a-f]{64}$/.test(digest)) {
                problems.push(`line ${s.line}: ${ref}: digest must be sha256:<64 hex>`);
            }
            continue;
        }
        const lastSlash = nameTag.lastIndexOf("/");
        const colon = nameTag.indexOf(":", lastSlash + 1);
        const tag = colon >= 0 ? nameTag.slice(colon + 1) : undefined;
        const fix = "pin an exact version tag (e.g. python:3.11.14-slim-bookworm) or a digest";
        if (tag === undefined) {
            problems.push(`line ${s.line}: ${ref} has no tag (means latest): ${fix}`);
        } else if (tag === "latest") {
            problems.push(`line ${s.line}: ${ref} uses the floating tag latest: ${fix}`);
        } else if (!EXACT_TAG_RE.test(tag)) {
            problems.push(`line ${s.line}: ${ref}: tag ${tag} is not an exact version: ${fix}`);
        }
    }
    return problems;
}

function stageVars(
    df: Dockerfile,
    chain: readonly Stage[],
    upTo?: Instruction,
): Map<string, string | undefined> {
    const vars = new Map<string, string | undefined>();
    for (const s of chain) {
        for (const ins of s.instructions) {
            if (ins === upTo) return vars;
            if (ins.keyword === "ARG") {
                for (const [k, v] of parseArgDecl(ins.args)) {
                    vars.set(k, v ?? df.globalArgs.get(k));
                }
            } else if (ins.keyword === "ENV") {
                for (const [k, v] of parseEnvDecl(ins.args)) vars.set(k, substitute(v, vars).value);
            }
        }
    }
    return vars;
}

export function checkFinalUser(df: Dockerfile): string[] {
    const chain = imageChain(df);
    const users = chain.flatMap((s) => s.instructions).filter((ins) => ins.keyword === "USER");
    const last = users[users.length - 1];
    const fin = finalStage(df);
    if (!last) {
        return [
            `final stage (line ${fin.line}) has no USER: add USER <uid>[:<gid>] (numeric, not 0) ` +
                "after the last step that needs root",
        ];
    }
    const value = substitute(last.args.trim(), stageVars(df, chain, last)).value;
    const m = /^(\d+)(?::(\d+))?$/.exec(value);
    if (!m) {
        return [
            `${where(last)}: the final USER is ${JSON.stringify(value)}; use a numeric uid ` +
                "(or uid:gid) so Kubernetes runAsNonRoot can verify it",
        ];
    }
    if (Number(m[1]) === 0) return [`${where(last)}: the final USER is root (uid 0)`];
    return [];
}

/** Packages a final image must not keep (compilers, build systems, VCS and download tools). */
export const BUILD_TOOLS = new Set([
    "gcc",
    "g++",
    "cc",
    "clang",
    "make",
    "cmake",
    "build-essential",
    "build-base",
    "autoconf",
    "automake",
    "libtool",
    "pkg-config",
    "pkgconf",
    "git",
    "curl",
    "wget",
]);

interface Installer {
    readonly tool: string;
    readonly install: string;
    readonly remove: readonly string[];
}

const INSTALLERS: readonly Installer[] = [
    { tool: "apt-get", install: "install", remove: ["purge", "remove"] },
    { tool: "apt", install: "install", remove: ["purge", "remove"] },
    { tool: "apk", install: "add", remove: ["del"] },
    { tool: "yum", install: "install", remove: ["remove", "erase"] },
    { tool: "dnf", install: "install", remove: ["remove"] },
    { tool: "microdnf", install: "install", remove: ["remove"] },
];

function isBuildTool(pkg: string): boolean {
    const name = pkg.split(/[=<>]/)[0]!.toLowerCase();
    return BUILD_TOOLS.has(name) || name.endsWith("-dev") || name.endsWith("-devel");
}

function checkRunScript(
    ins: Instruction,
    script: string,
    env: ReadonlyMap<string, string | undefined>,
): string[] {
    const problems: string[] = [];
    const commands = shellCommands(script);
    const removed = new Set<string>();
    const installed: { pkg: string; group: string | undefined; tool: string }[] = [];
    let aptInstall = false;
    for (const command of commands) {
        // Leading variable assignments (DEBIAN_FRONTEND=noninteractive apt-get …) are not the command.
        const firstWord = command.findIndex((w) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w));
        const words = firstWord < 0 ? [] : command.slice(firstWord);
        const bin = path.basename(words[0] ?? "");
        for (const { tool, install, remove } of INSTALLERS) {
            if (bin !== tool) continue;
            const verbAt = words.findIndex((w, k) => k > 0 && !w.startsWith("-"));
            const action = words[verbAt];
            const rest = words.slice(verbAt + 1);
            if (action === install) {
                let group: string | undefined;
                for (let k = 0; k < rest.length; k++) {
                    const w = rest[k]!;
                    if (w === "--virtual" || w === "-t") {
                        group = rest[++k];
                        continue;
                    }
                    if (w.startsWith("-")) continue;
                    installed.push({ pkg: w, group, tool });
                }
                if (tool === "apt-get" || tool === "apt") aptInstall = true;
            } else if (remove.includes(action ?? "")) {
                for (const w of rest) if (!w.startsWith("-")) removed.add(w.split("=")[0]!);
            }
        }
        // pip install without --no-cache-dir (pip, pip3, python -m pip, python3.11 -m pip)
        let pipAt = words.findIndex((w) => /^pip[0-9.]*$/.test(path.basename(w)));
        if (pipAt < 0) {
            const m = words.findIndex((w, k) => w === "-m" && words[k + 1] === "pip");
            pipAt = m >= 0 ? m + 1 : -1;
        }
        if (pipAt >= 0 && words[pipAt + 1] === "install" && !words.includes("--no-cache-dir")) {
            const envNoCache = (env.get("PIP_NO_CACHE_DIR") ?? "").toLowerCase();
            if (!["1", "true", "on", "yes"].includes(envNoCache)) {
                problems.push(
                    `${where(ins)}: pip install keeps its download cache in the image: add ` +
                        "--no-cache-dir or set ENV PIP_NO_CACHE_DIR=1 before it",
                );
            }
        }
    }
    for (const { pkg, group, tool } of installed) {
        const name = pkg.split(/[=<>]/)[0]!;
        if (!isBuildTool(name)) continue;
        if (removed.has(name) || (group !== undefined && removed.has(group))) continue;
        problems.push(
            `${where(ins)}: ${tool} installs ${name} in the final image and this RUN does not ` +
                "remove it: install build tools in a build stage and COPY --from the result " +
                "(or remove them in the same RUN)",
        );
    }
    const cacheMount = (ins.flags.mount ?? "")
        .split("\n")
        .some((m) => /type=cache/.test(m) && /\/var\/(lib|cache)\/apt/.test(m));
    const listsRemoved = /\brm\s+(?:-\w+\s+)*[^&;|\n]*\/var\/lib\/apt\/lists/.test(script);
    if (aptInstall && !cacheMount && !listsRemoved) {
        problems.push(
            `${where(ins)}: apt-get install leaves /var/lib/apt/lists in the image: end the RUN ` +
                "with rm -rf /var/lib/apt/lists/*",
        );
    }
    return problems;
}

export function checkNoBuildTools(df: Dockerfile): string[] {
    const chain = imageChain(df);
    const problems: string[] = [];
    for (const s of chain) {
        for (const ins of s.instructions) {
            if (ins.keyword !== "RUN") continue;
            const env = stageVars(df, chain, ins);
            const script = ins.json
                ? ins.json.join(" ")
                : [ins.args, ...ins.heredocs.map((h) => h.body)].join("\n");
            problems.push(...checkRunScript(ins, script, env));
        }
    }
    return problems;
}

/** Paths an ignore file must leave out, for an image of `folder`. */
export function ignoreProbes(folder: string): string[] {
    return [
        ".git/HEAD",
        ".git/config",
        "node_modules/left-pad/package.json",
        `${folder}/node_modules/left-pad/package.json`,
        `${folder}/.venv/bin/python`,
        `${folder}/.venv/lib/python3.11/site-packages/x.py`,
        `${folder}/tests/test_example.py`,
        `${folder}/tests/conftest.py`,
        `${folder}/test/example.test.ts`,
    ];
}

/** Path segments and file names that are never part of an image's content. */
const NEVER_SENT_SEGMENTS = new Set([
    ".git",
    ".venv",
    "node_modules",
    "tests",
    "test",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "benchmarks",
    "bench",
]);
const NEVER_SENT_FILE_RE = /(?:\.test\.[cm]?[jt]s|^test_.*\.py|_test\.py|^conftest\.py|\.pyc)$/;

export function checkIgnoreFile(
    ignore: DockerIgnore,
    folder: string,
    sent: readonly string[],
): string[] {
    const problems: string[] = [];
    for (const probe of ignoreProbes(folder)) {
        if (!ignore.excludes(probe)) {
            problems.push(`the ignore file lets ${probe} into the build context: exclude it`);
        }
    }
    for (const file of sent) {
        const segments = file.split("/");
        const base = segments[segments.length - 1]!;
        if (
            segments.slice(0, -1).some((s) => NEVER_SENT_SEGMENTS.has(s)) ||
            NEVER_SENT_FILE_RE.test(base)
        ) {
            problems.push(
                `the build context sends ${file} (tests, caches or local state): exclude it`,
            );
        }
    }
    return problems;
}

export function checkCopySources(
    df: Dockerfile,
    ignore: DockerIgnore,
    root: string,
    sent: readonly string[],
): string[] {
    const problems: string[] = [];
    for (const s of df.stages) {
        for (const ins of s.instructions) {
            if (ins.keyword !== "COPY" && ins.keyword !== "ADD") continue;
            if (ins.flags.from !== undefined) continue;
            const words = ins.json ?? shellWords(ins.args);
            const sources = words.slice(0, -1).filter((w) => !w.startsWith("<<"));
            if (words.length < 2)
                problems.push(`${where(ins)}: ${ins.keyword} needs a source and a destination`);
            for (const src of sources) {
                if (/^[a-z][a-z0-9+.-]*:\/\//i.test(src) || src.startsWith("git@")) {
                    if (ins.keyword === "ADD" && ins.flags.checksum === undefined) {
                        problems.push(
                            `${where(ins)}: ADD ${src} downloads without --checksum=sha256:…`,
                        );
                    }
                    continue;
                }
                const rel = cleanPattern(src);
                if (/[*?[]/.test(rel)) {
                    if (matchPath(rel, sent).length === 0) {
                        problems.push(
                            `${where(ins)}: ${ins.keyword} ${src} matches no file the context sends`,
                        );
                    }
                    continue;
                }
                const abs = path.join(root, rel);
                if (!fs.existsSync(abs)) {
                    problems.push(
                        `${where(ins)}: ${ins.keyword} source ${src} does not exist (paths are relative to the repository root)`,
                    );
                    continue;
                }
                if (fs.statSync(abs).isDirectory()) {
                    if (rel !== "" && matchPath(rel, sent).length === 0) {
                        problems.push(
                            `${where(ins)}: ${ins.keyword} ${src}: the ignore file sends nothing below this folder: add !${rel}/ to it`,
                        );
                    }
                } else if (ignore.excludes(rel)) {
                    problems.push(
                        `${where(ins)}: ${ins.keyword} ${src} is excluded by the ignore file: add !${rel} to it`,
                    );
                }
            }
        }
    }
    return problems;
}

/** ARGs of the Dockerfile (global and per stage) with their defaults (last declaration wins). */
export function declaredArgs(df: Dockerfile): Map<string, string | undefined> {
    const args = new Map(df.globalArgs);
    for (const s of df.stages) {
        for (const ins of s.instructions) {
            if (ins.keyword !== "ARG") continue;
            for (const [k, v] of parseArgDecl(ins.args)) {
                args.set(k, v ?? args.get(k));
            }
        }
    }
    return args;
}
