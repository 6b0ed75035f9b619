/**
 * Stack files (stacks/Pulumi.<stack>.yaml) as the Pulumi CLI hands them to the program:
 * namespaced keys, scalars as strings, lists as JSON text. Secure values cannot be decrypted
 * offline: they become a placeholder and are marked secret, so the render shows "[secret]".
 */
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { keyNameProblem, PROJECT } from "../stacks/config";
import { showValue } from "../stacks/config-schema";

export const STACKS_DIR = path.resolve(__dirname, "..", "stacks");

/** Stack names that have a stack file, in a stable order (dev, staging, prod, then others). */
export function listStacks(): string[] {
    const order = ["dev", "staging", "prod"];
    const found = fs
        .readdirSync(STACKS_DIR)
        .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
        .filter((s): s is string => s !== undefined);
    return found.sort((a, b) => {
        const ia = order.indexOf(a);
        const ib = order.indexOf(b);
        return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
    });
}

export function stackFilePath(stack: string): string {
    return path.join(STACKS_DIR, `Pulumi.${stack}.yaml`);
}

/** The parsed YAML values of a stack file (`config:` map), with their YAML types. */
export function readStackFile(stack: string): Record<string, unknown> {
    const file = stackFilePath(stack);
    if (!fs.existsSync(file)) {
        const known = listStacks().join(", ");
        throw new Error(
            `No stack file ${path.relative(process.cwd(), file)}. Known stacks: ${known}.`,
        );
    }
    return parseStackFile(fs.readFileSync(file, "utf8"), path.relative(process.cwd(), file));
}

/** A stack file that cannot be read as the CLI would: every problem with file:line:column. */
export class StackFileError extends Error {
    constructor(
        readonly file: string,
        readonly problems: string[],
    ) {
        const s = problems.length === 1 ? "" : "s";
        super(
            `${file}: ${problems.length} problem${s}; nothing was read from it:\n  - ${problems.join("\n  - ")}`,
        );
        this.name = "StackFileError";
    }
}

/**
 * Parse the text of a stack file (`file` names it in messages) and return its `config:` map.
 * Throws a `StackFileError` naming the file, line and column of every YAML syntax error (an
 * unclosed quote at the quote that opens it, a tab used for indentation, a duplicate key with
 * the line of its first occurrence) and of every config key the program would not read as
 * written (no namespace, as the Pulumi CLI rejects it; a namespace that is neither the
 * project's nor a provider's). Source lines are never quoted, and values never shown: the
 * file may hold a credential by mistake.
 */
export function parseStackFile(text: string, file: string): Record<string, unknown> {
    const lines = new YAML.LineCounter();
    const doc = YAML.parseDocument(text, { lineCounter: lines, prettyErrors: false });
    const at = (offset: number) => {
        const { line, col } = lines.linePos(offset);
        return `${file}:${line}:${col}`;
    };
    // A tab used for indentation misaligns what follows it: the parser's errors after the first
    // tab (bad indentation, nested or multi-line implicit keys) are its consequences, gone once
    // the tab is fixed, and would bury it (13 problems for one tab in a stack file). List the
    // tabs and what comes before the first; say the rest is checked once they are fixed.
    const firstTab = doc.errors.find((e) => e.code === "TAB_AS_INDENT")?.pos[0];
    const errors = doc.errors.filter(
        (e) => firstTab === undefined || e.code === "TAB_AS_INDENT" || e.pos[0] < firstTab,
    );
    const problems = errors.map((e) => yamlProblem(e, text, lines, at));
    if (errors.length < doc.errors.length) {
        const i = errors.findIndex((e) => e.code === "TAB_AS_INDENT");
        problems[i] += " (the rest of the file is checked once the tabs are fixed)";
    }
    if (problems.length > 0) throw new StackFileError(file, problems);
    const config: unknown = doc.get("config", true);
    if (config === undefined || config === null) return {};
    if (!YAML.isMap(config)) {
        const offset = YAML.isNode(config) ? (config.range?.[0] ?? 0) : 0;
        throw new StackFileError(file, [
            `${at(offset)}: config must be a mapping of keys to values (taxi-platform:<key>: <value>)`,
        ]);
    }
    for (const pair of config.items) {
        const keyNode = pair.key;
        const key = String(YAML.isScalar(keyNode) ? keyNode.value : keyNode);
        const wrong = keyNameProblem(key);
        if (wrong) {
            const offset = YAML.isNode(keyNode) ? (keyNode.range?.[0] ?? 0) : 0;
            problems.push(
                `${at(offset)}: config key ${showValue(key)} ${wrong.problem}. ${wrong.fix}.`,
            );
        }
    }
    if (problems.length > 0) throw new StackFileError(file, problems);
    return (doc.toJS() as { config?: Record<string, unknown> } | null)?.config ?? {};
}

/** One YAML syntax error as `file:line:col: what is wrong; the fix` (no source text). */
function yamlProblem(
    e: YAML.YAMLError,
    text: string,
    lines: YAML.LineCounter,
    at: (offset: number) => string,
): string {
    const offset = e.pos[0];
    if (e.code === "MISSING_CHAR" && /quote/.test(e.message)) {
        const open = unclosedQuote(text, offset);
        if (open) {
            const kind = open.quote === '"' ? "double" : "single";
            return `${at(open.offset)}: unclosed ${kind} quote: the quoted value that starts here is never closed, so the rest of the file would be part of it. Close it with ${open.quote} on the same line`;
        }
    }
    if (e.code === "TAB_AS_INDENT") {
        return `${at(offset)}: a tab is used for indentation; YAML allows only spaces. Indent with spaces`;
    }
    if (e.code === "DUPLICATE_KEY") {
        const { line } = lines.linePos(offset);
        const keyText = /^\s*("[^"]*"|'[^']*'|[^#\s][^#]*?)\s*:(\s|$)/.exec(
            text.split("\n")[line - 1] ?? "",
        );
        const key = keyText?.[1]?.replace(/^["']|["']$/g, "");
        const first =
            key === undefined
                ? undefined
                : text
                      .split("\n")
                      .findIndex(
                          (l, i) =>
                              i < line - 1 &&
                              new RegExp(`^\\s*["']?${escapeRe(key)}["']?\\s*:(\\s|$)`).test(l),
                      );
        const name = key === undefined ? "a key" : `key ${showValue(key)}`;
        return `${at(offset)}: duplicate ${name}${first !== undefined && first >= 0 ? ` (first set on line ${first + 1})` : ""}; YAML keys must be unique. Keep one`;
    }
    return `${at(offset)}: ${e.message}`;
}

function escapeRe(s: string): string {
    return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The opening quote of the quoted scalar that is never closed (the last one before `before`). */
function unclosedQuote(
    text: string,
    before: number,
): { offset: number; quote: string } | undefined {
    let found: { offset: number; quote: string } | undefined;
    const visit = (node: unknown): void => {
        if (Array.isArray(node)) return node.forEach(visit);
        if (typeof node !== "object" || node === null) return;
        const t = node as { type?: string; offset?: number; source?: string };
        if (
            (t.type === "double-quoted-scalar" || t.type === "single-quoted-scalar") &&
            typeof t.source === "string" &&
            typeof t.offset === "number" &&
            t.offset <= before
        ) {
            const q = t.source[0]!;
            const closed =
                t.source.length >= 2 &&
                t.source.endsWith(q) &&
                !(q === '"' && /(^|[^\\])(\\\\)*\\"$/.test(t.source));
            if (!closed && (!found || t.offset > found.offset))
                found = { offset: t.offset, quote: q };
        }
        for (const v of Object.values(node)) if (typeof v === "object") visit(v);
    };
    for (const token of new YAML.Parser().parse(text)) visit(token);
    return found;
}

export interface EngineConfig {
    config: Record<string, string>;
    secretKeys: string[];
}

/** Convert a stack file's values to what the engine passes the program. */
export function toEngineConfig(values: Record<string, unknown>): EngineConfig {
    const config: Record<string, string> = {};
    const secretKeys: string[] = [];
    for (const [key, value] of Object.entries(values)) {
        if (value !== null && typeof value === "object" && "secure" in value) {
            config[key] = "offline-render-placeholder";
            secretKeys.push(key);
        } else if (typeof value === "string") {
            config[key] = value;
        } else {
            config[key] = JSON.stringify(value);
        }
    }
    return { config, secretKeys };
}

/** Keys of this project set in a stack file, without the namespace. */
export function projectKeys(values: Record<string, unknown>): string[] {
    return Object.keys(values)
        .filter((k) => k.startsWith(`${PROJECT}:`))
        .map((k) => k.slice(PROJECT.length + 1));
}

/** A Pulumi.yaml `config:` declaration, as the CLI reads it. */
export interface Declaration {
    type: "string" | "integer" | "boolean" | "array";
    description?: string;
    default?: unknown;
    items?: { type: "string" | "integer" | "boolean" };
    secret?: boolean;
}

function hasType(value: unknown, type: string): boolean {
    switch (type) {
        case "string":
            return typeof value === "string";
        case "integer":
            return typeof value === "number" && Number.isInteger(value);
        case "boolean":
            return typeof value === "boolean";
        case "array":
            return Array.isArray(value);
        default:
            return false;
    }
}

/**
 * Check a stack file's values against the project's declared config schema, the way the Pulumi
 * CLI does before it runs the program: every project key declared, values of the declared type
 * (array items too), keys without a default present, secret keys stored encrypted.
 * Returns one line per problem; empty when the file conforms.
 */
export function checkAgainstDeclarations(
    stack: string,
    values: Record<string, unknown>,
    declarations: Record<string, Declaration>,
): string[] {
    const problems: string[] = [];
    for (const [fullKey, value] of Object.entries(values)) {
        if (!fullKey.startsWith(`${PROJECT}:`)) continue; // provider config (gcp:*, aws:*) is not declared
        const key = fullKey.slice(PROJECT.length + 1);
        const decl = declarations[key];
        if (!decl) {
            problems.push(`${stack}: ${fullKey} is not declared in Pulumi.yaml`);
            continue;
        }
        const isSecure = value !== null && typeof value === "object" && "secure" in value;
        // A secret stored in plain text is never echoed (nor is anything that looks like one).
        const shown = (v: unknown) =>
            decl.secret
                ? `a plain-text value (${JSON.stringify(v).length} characters, not shown)`
                : showValue(v);
        if (decl.secret && !isSecure) {
            problems.push(
                `${stack}: ${fullKey} is declared secret but stored in plain text; set it with pulumi config set --secret ${key}`,
            );
        }
        if (isSecure) continue;
        if (!hasType(value, decl.type)) {
            problems.push(`${stack}: ${fullKey} is ${shown(value)}, not of type ${decl.type}`);
        } else if (decl.type === "array" && decl.items) {
            (value as unknown[]).forEach((item, i) => {
                if (!hasType(item, decl.items!.type)) {
                    problems.push(
                        `${stack}: ${fullKey}[${i}] is ${shown(item)}, not ${decl.items!.type}`,
                    );
                }
            });
        }
    }
    for (const [key, decl] of Object.entries(declarations)) {
        if (decl.default === undefined && !(`${PROJECT}:${key}` in values)) {
            problems.push(`${stack}: ${PROJECT}:${key} is required (no default) but not set`);
        }
    }
    return problems;
}
