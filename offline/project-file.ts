/**
 * Pulumi.yaml is generated from the config spec in stacks/config.ts so that the CLI's checks
 * (types, required keys) and the program's checks never disagree.
 *
 *   npm run config:sync          rewrite Pulumi.yaml (tools/pulumi-yaml.ts)
 *   (tests)                      expectedProjectFile() is compared with the file on disk
 */
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { CONFIG_SPEC, PROJECT } from "../stacks/config";
import type { Field } from "../stacks/config-schema";
import type { Declaration } from "./stack-files";

export const REPO_ROOT = path.resolve(__dirname, "..");
export const PROJECT_FILE = path.join(REPO_ROOT, "Pulumi.yaml");

export function configDeclarations(): Record<string, Declaration> {
    const out: Record<string, Declaration> = {};
    for (const [key, field] of Object.entries(CONFIG_SPEC) as [string, Field<unknown>][]) {
        out[key] = {
            type: field.type,
            description: field.description,
            ...(field.itemType ? { items: { type: field.itemType } } : {}),
            ...(field.default !== undefined ? { default: field.default } : {}),
            ...(field.secret ? { secret: true } : {}),
        };
    }
    return out;
}

export function expectedProjectFile(): string {
    const doc = {
        name: PROJECT,
        description:
            "Batch data platform on Google Cloud (GKE) with an AWS landing trigger, and the pipeline code that runs on it.",
        runtime: { name: "nodejs", options: { typescript: true, packagemanager: "npm" } },
        main: "stacks/index.ts",
        stackConfigDir: "stacks",
        config: configDeclarations(),
    };
    const header =
        "# Generated from stacks/config.ts by `npm run config:sync`; edit the spec there, not here.\n";
    return header + YAML.stringify(doc, { lineWidth: 0 });
}

/** Rewrite Pulumi.yaml; returns the number of config keys it declares. */
export function writeProjectFile(): number {
    fs.writeFileSync(PROJECT_FILE, expectedProjectFile());
    return Object.keys(CONFIG_SPEC).length;
}
