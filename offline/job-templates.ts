/**
 * The DAGs' job templates (`dags/templates/*.yaml.j2`) rendered with nunjucks exactly as
 * `dags/common/templates.py` renders them with Jinja2 (same environment settings, Jinja2's
 * `tojson`). The parity test (testing/job-templates.ts) proves the two renderings equal; the
 * preflight checks render the task pods with it.
 */
import * as path from "node:path";
import nunjucks from "nunjucks";
import YAML from "yaml";

export const ROOT = path.resolve(__dirname, "..");
export const TEMPLATES_DIR = path.join(ROOT, "dags", "templates");
export const DAGS_PYTHON = path.join(ROOT, "dags", ".venv", "bin", "python");

/** JSON like Python's `json.dumps(value, sort_keys=True)` (ensure_ascii, ", " and ": "). */
export function pythonJsonDumps(value: unknown): string {
    if (value === null || value === undefined) return "null";
    if (typeof value === "string") {
        return JSON.stringify(value).replace(
            /[\u007f-\uffff]/g,
            (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
        );
    }
    if (typeof value === "number") {
        if (!Number.isInteger(value)) throw new Error(`tojson: floats are not allowed (${value})`);
        return String(value);
    }
    if (typeof value === "boolean") return value ? "true" : "false";
    if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(", ")}]`;
    if (typeof value === "object") {
        const record = value as Record<string, unknown>;
        const entries = Object.keys(record)
            .sort()
            .map((k) => `${pythonJsonDumps(k)}: ${pythonJsonDumps(record[k])}`);
        return `{${entries.join(", ")}}`;
    }
    throw new Error(`tojson: cannot serialise ${typeof value}`);
}

/**
 * Jinja2's `tojson`: `json.dumps(sort_keys=True)` made HTML-safe (`<`, `>`, `&`, `'` as
 * `\u003c`, `\u003e`, `\u0026`, `\u0027`). Python escapes everything outside space..tilde,
 * DEL included.
 */
export function jinjaToJson(value: unknown): string {
    return pythonJsonDumps(value)
        .replace(/</g, "\\u003c")
        .replace(/>/g, "\\u003e")
        .replace(/&/g, "\\u0026")
        .replace(/'/g, "\\u0027");
}

let env: nunjucks.Environment | undefined;

/** The nunjucks environment configured like the Jinja2 one in dags/common/templates.py. */
export function templatesEnvironment(): nunjucks.Environment {
    if (!env) {
        env = new nunjucks.Environment(new nunjucks.FileSystemLoader(TEMPLATES_DIR), {
            autoescape: false,
            throwOnUndefined: true,
            trimBlocks: false,
            lstripBlocks: false,
        });
        env.addFilter("tojson", (v: unknown) => new nunjucks.runtime.SafeString(jinjaToJson(v)));
    }
    return env;
}

export function renderText(template: string, values: Record<string, unknown>): string {
    return templatesEnvironment().render(template, values);
}

export function render(template: string, values: Record<string, unknown>): Record<string, unknown> {
    const text = renderText(template, values);
    const obj: unknown = YAML.parse(text);
    if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
        throw new Error(`${template} did not render a mapping:\n${text}`);
    }
    return obj as Record<string, unknown>;
}
