/**
 * Stack files (stacks/Pulumi.<stack>.yaml) as the Pulumi CLI hands them to the program:
 * namespaced keys, scalars as strings, lists as JSON text. Secure values cannot be decrypted
 * offline: they become a placeholder and are marked secret, so the render shows "[secret]".
 */
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { PROJECT } from "../stacks/config";

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
    const doc = (YAML.parse(fs.readFileSync(file, "utf8")) ?? {}) as {
        config?: Record<string, unknown>;
    };
    return doc.config ?? {};
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
        if (decl.secret && !isSecure) {
            problems.push(`${stack}: ${fullKey} is declared secret but stored in plain text`);
        }
        if (isSecure) continue;
        if (!hasType(value, decl.type)) {
            problems.push(
                `${stack}: ${fullKey} is ${JSON.stringify(value)}, not of type ${decl.type}`,
            );
        } else if (decl.type === "array" && decl.items) {
            (value as unknown[]).forEach((item, i) => {
                if (!hasType(item, decl.items!.type)) {
                    problems.push(
                        `${stack}: ${fullKey}[${i}] is ${JSON.stringify(item)}, not ${decl.items!.type}`,
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
