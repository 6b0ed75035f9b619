/**
 * No plaintext secret in ConfigMaps, container env values, Lambda environment variables or
 * stack outputs. Detection (policy/secret-detect.ts) is by the name a value is stored under
 * and by the shape of the value.
 *
 * What "plaintext" means depends on where the value ends up:
 * - ConfigMap data, container `env[].value` and Lambda environment variables are stored in
 *   clear by Kubernetes / AWS and readable by anyone who can read the object, whether or not
 *   the Pulumi value was a secret. A credential there is a violation even when it came from a
 *   Pulumi secret (the offline engine shows those as "[secret]"): use a Kubernetes Secret with
 *   `secretKeyRef` / a Secrets Manager reference instead.
 * - Stack outputs are encrypted in the state when they are Pulumi secrets, so a secret-wrapped
 *   output is fine. The Pulumi CLI, however, hands policies secret values in plain text with
 *   no marker (pulumi/pulumi-policy#241), so a check by key name would flag every properly
 *   secret output such as `grafanaAdmin.password`. Outputs are therefore checked by value shape
 *   always, and by key name only when the evaluator marks secrets as "[secret]" and says so with
 *   the policy config `checkOutputKeyNames: true` (the offline evaluator, offline/policy.ts).
 */
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import type { PolicyResource, ReportViolation, ResourceValidationArgs } from "@pulumi/policy";
import { containersOf, podSpecOf } from "../pod-security";
import {
    SECRET_MARKER,
    credentialShape,
    credentialsInText,
    isLiteralUnderSensitiveName,
} from "../secret-detect";
import { type PlatformPolicy, WORKLOADS, label, obj, str } from "./common";

/** Why an environment variable's literal value is a plaintext secret, or undefined. */
function envProblem(name: string, value: string): string | undefined {
    if (value === SECRET_MARKER) return "holds a Pulumi secret as a plain value";
    const shape = credentialShape(value);
    if (shape) return `holds ${shape}`;
    if (isLiteralUnderSensitiveName(name, value)) return "is a credential set as a literal value";
    return undefined;
}

function checkConfigMap(args: ResourceValidationArgs, report: ReportViolation): void {
    const data = obj(args.props.data) ?? {};
    for (const [key, value] of Object.entries(data)) {
        if (typeof value !== "string") continue;
        const problems =
            value === SECRET_MARKER
                ? ["holds a Pulumi secret"]
                : isLiteralUnderSensitiveName(key, value)
                  ? ["is a credential stored under a secret-looking key"]
                  : credentialsInText(value);
        for (const p of problems) {
            report(
                `${label(args)} data "${key}" ${p}: ConfigMaps are stored and shown in clear. ` +
                    "Move the value to a Kubernetes Secret and mount it or read it with secretKeyRef.",
            );
        }
    }
}

function checkWorkloadEnv(args: ResourceValidationArgs, report: ReportViolation): void {
    const kind = str(args.props.kind) ?? args.type.split(":").pop();
    const found = podSpecOf({ kind, spec: args.props.spec as unknown });
    const spec = found?.spec as Record<string, unknown> | undefined;
    for (const { c } of containersOf(spec)) {
        const container = c as { name?: string; env?: { name?: string; value?: unknown }[] };
        for (const e of container.env ?? []) {
            if (typeof e.value !== "string") continue;
            const problem = envProblem(String(e.name), e.value);
            if (problem) {
                report(
                    `${label(args)} container ${String(container.name)} env ${String(e.name)} ` +
                        `${problem}: pod specs are readable in clear. Put it in a Kubernetes Secret ` +
                        "and use valueFrom.secretKeyRef.",
                );
            }
        }
    }
}

function checkLambdaEnv(args: ResourceValidationArgs, report: ReportViolation): void {
    const variables = obj(obj(args.props.environment)?.variables) ?? {};
    for (const [name, value] of Object.entries(variables)) {
        if (typeof value !== "string") continue;
        const problem = envProblem(name, value);
        if (problem) {
            report(
                `${label(args)} environment variable ${name} ${problem}: Lambda environment ` +
                    "variables are readable in clear by anyone who can read the function. Store " +
                    "it in Secrets Manager and pass the secret's ARN.",
            );
        }
    }
}

/** Every string leaf of an output value, with its dotted path and the key it sits under. */
function leaves(
    value: unknown,
    path: string,
    key: string,
): { path: string; key: string; value: string }[] {
    if (typeof value === "string") return [{ path, key, value }];
    if (Array.isArray(value)) return value.flatMap((v, i) => leaves(v, `${path}[${i}]`, key));
    const o = obj(value);
    if (!o) return [];
    return Object.entries(o).flatMap(([k, v]) => leaves(v, path === "" ? k : `${path}.${k}`, k));
}

function checkOutputs(
    stack: PolicyResource,
    checkKeyNames: boolean,
    report: ReportViolation,
): void {
    for (const leaf of leaves(stack.props, "", "")) {
        if (leaf.value === SECRET_MARKER) continue;
        const shape = credentialShape(leaf.value);
        const byName = checkKeyNames && isLiteralUnderSensitiveName(leaf.key, leaf.value);
        if (shape || byName) {
            report(
                `stack output ${leaf.path} ${shape ? `holds ${shape}` : "is a credential in plain text"}: ` +
                    "export it with pulumi.secret(...) (or do not export it).",
                stack.urn,
            );
        }
    }
}

export interface NoPlaintextSecretsConfig {
    /** Also flag outputs by key name (only where secrets arrive redacted as "[secret]"). */
    checkOutputKeyNames?: boolean;
}

export const noPlaintextSecrets: PlatformPolicy = {
    name: "no-plaintext-secrets",
    description:
        "No credential in clear in ConfigMaps, container env values, Lambda environment " +
        "variables or stack outputs (judged by key name and by value shape: PEM keys, " +
        "service-account JSON, AWS keys, API tokens, URIs with a password).",
    enforcementLevel: "mandatory",
    remediationSteps:
        "Keep credentials in Kubernetes Secrets (env valueFrom.secretKeyRef or a mounted file), " +
        "in Secrets Manager for the Lambda, and export them only as pulumi.secret outputs.",
    configSchema: {
        properties: {
            checkOutputKeyNames: {
                type: "boolean",
                default: false,
                description:
                    "Also flag stack outputs by key name. Only for evaluators that show secrets " +
                    "as [secret]: the Pulumi CLI passes secrets to policies in plain text.",
            },
        },
    },
    validateResource: (args, report) => {
        if (args.isType(k8s.core.v1.ConfigMap)) checkConfigMap(args, report);
        else if (WORKLOADS.some((cls) => args.isType(cls))) checkWorkloadEnv(args, report);
        else if (args.isType(aws.lambda.Function)) checkLambdaEnv(args, report);
        else args.notApplicable("applies to ConfigMaps, workloads and Lambda functions");
    },
    validateStack: (args, report) => {
        const config = args.getConfig<NoPlaintextSecretsConfig>();
        for (const stack of args.resources.filter((r) => r.type === "pulumi:pulumi:Stack")) {
            checkOutputs(stack, config.checkOutputKeyNames === true, report);
        }
    },
};

export const secretPolicies: PlatformPolicy[] = [noPlaintextSecrets];
