/**
 * Offline evaluator of the policy pack: runs every policy over a stack's offline render the way
 * the Pulumi CLI's policy analyzer runs it during `pulumi preview --policy-pack policy`, without
 * the CLI or a cloud account.
 *
 * Fidelity to the CLI (@pulumi/policy 1.x server):
 * - resource policies get ResourceValidationArgs for EVERY registered resource (components and
 *   providers included): type, props (the inputs), urn, name, opts (parent; the other options
 *   at their defaults), provider (type, name, urn, props of the provider the resource names),
 *   stackTags, isType/asType (by type token, as the server does), getConfig, notApplicable;
 * - stack policies get every resource once more, plus the root `pulumi:pulumi:Stack` whose
 *   props are the stack outputs, each with parent, dependencies and propertyDependencies
 *   linked as PolicyResource objects;
 * - a policy's enforcement level comes from its config, else the policy, else the pack
 *   (mandatory); `notApplicable` ends that validation silently; an UnknownValueError (a value
 *   only known after deployment) becomes an advisory "can't run during preview" note.
 * Differences, stated: props are the offline render's inputs (the CLI gives stack policies
 * resource outputs, which add computed values); Pulumi secrets appear as "[secret]" where the
 * CLI gives their plain value, so the evaluator sets `checkOutputKeyNames` for
 * `no-plaintext-secrets` (see policy/rules/secrets.ts).
 *
 * Command line: tools/policy.ts.
 */
import type {
    EnforcementLevel,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
} from "@pulumi/policy";
import { PROJECT } from "../stacks/config";
import type { RecordedResource } from "./engine";
import { renderStack } from "./render";
import { PACK_NAME, POLICIES, type PlatformPolicy } from "../policy/rules";

/** One resource as the evaluator feeds it to the policies. */
export interface EvalResource {
    type: string;
    name: string;
    urn: string;
    props: Record<string, unknown>;
    parentUrn?: string | undefined;
    /** Provider reference `<provider urn>::<id>`, as the engine records it. */
    provider?: string | undefined;
    dependencies?: string[];
    propertyDependencies?: Record<string, string[]>;
}

export interface Violation {
    policy: string;
    enforcementLevel: EnforcementLevel;
    message: string;
    /** URN of the resource the violation is about (absent for a stack-wide finding). */
    urn?: string | undefined;
    /** `<type>::<name>` of that resource, for reading. */
    resource?: string | undefined;
}

/** Per-policy configuration, as `--policy-pack-config` gives it to the CLI. */
export type PackConfig = Record<
    string,
    { enforcementLevel?: EnforcementLevel } & Record<string, unknown>
>;

export interface EvaluateOptions {
    policies?: readonly PlatformPolicy[];
    config?: PackConfig;
    stackTags?: ReadonlyMap<string, string>;
}

const PACK_ENFORCEMENT: EnforcementLevel = "mandatory";
const STACK_TYPE = "pulumi:pulumi:Stack";

class NotApplicable extends Error {}

/** The server's isTypeOf: by the class's registered type token, else its isInstance. */
function isTypeOf(type: string, resourceClass: unknown): boolean {
    const cls = resourceClass as {
        __pulumiType?: unknown;
        isInstance?: (o: unknown) => boolean;
    };
    if (typeof cls.__pulumiType === "string" && cls.__pulumiType !== "") {
        return type === cls.__pulumiType;
    }
    return typeof cls.isInstance === "function" && cls.isInstance({ __pulumiType: type }) === true;
}

function defaultOptions(parentUrn: string | undefined): PolicyResourceOptions {
    return {
        protect: false,
        ignoreChanges: [],
        aliases: [],
        customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
        additionalSecretOutputs: [],
        ...(parentUrn ? { parent: parentUrn } : {}),
    };
}

/** A deep copy, so no policy can change the render another policy sees. */
function copy<T>(value: T): T {
    return JSON.parse(JSON.stringify(value ?? {})) as T;
}

function levelOf(policy: PlatformPolicy, config: PackConfig): EnforcementLevel {
    return config[policy.name]?.enforcementLevel ?? policy.enforcementLevel ?? PACK_ENFORCEMENT;
}

function configFor(policy: PlatformPolicy, config: PackConfig): <T extends object>() => T {
    return <T extends object>() => {
        const properties: Record<string, unknown> = { ...config[policy.name] };
        delete properties.enforcementLevel;
        return properties as T;
    };
}

function isUnknownValueError(err: unknown): boolean {
    return err instanceof Error && err.constructor.name === "UnknownValueError";
}

function providerOf(
    r: EvalResource,
    byUrn: Map<string, EvalResource>,
): PolicyProviderResource | undefined {
    if (!r.provider) return undefined;
    const urn = r.provider.slice(0, r.provider.lastIndexOf("::"));
    const p = byUrn.get(urn);
    if (!p) return undefined;
    return { type: p.type, name: p.name, urn: p.urn, props: copy(p.props) };
}

/** Run every policy over the resources; returns the violations in policy order. */
export async function evaluatePolicies(
    resources: readonly EvalResource[],
    options: EvaluateOptions = {},
): Promise<Violation[]> {
    const policies = options.policies ?? POLICIES;
    const config = options.config ?? {};
    const stackTags = options.stackTags ?? new Map<string, string>();
    const byUrn = new Map(resources.map((r) => [r.urn, r]));
    const violations: Violation[] = [];
    const notApplicable = (reason?: string): never => {
        throw new NotApplicable(reason);
    };

    for (const policy of policies) {
        const level = levelOf(policy, config);
        if (level === "disabled") continue;
        const report = (urn: string | undefined) => (message: string, reportedUrn?: string) => {
            const target = urn ?? reportedUrn;
            const r = target ? byUrn.get(target) : undefined;
            violations.push({
                policy: policy.name,
                enforcementLevel: level === "remediate" ? "mandatory" : level,
                message,
                urn: target,
                resource: r ? `${r.type}::${r.name}` : undefined,
            });
        };
        const guard = async (urn: string | undefined, run: () => unknown) => {
            try {
                await Promise.resolve(run());
            } catch (err) {
                if (err instanceof NotApplicable) return;
                if (isUnknownValueError(err)) {
                    const message = `can't run policy '${policy.name}' from policy pack '${PACK_NAME}' during preview: ${(err as Error).message}`;
                    violations.push({
                        policy: policy.name,
                        enforcementLevel: "advisory",
                        message,
                        urn,
                    });
                    return;
                }
                const where = urn ? `resource ${urn}` : "the stack";
                throw new Error(
                    `policy '${policy.name}' failed on ${where} (a bug in the rule, which fails ` +
                        `the Pulumi CLI's analysis too): ${err instanceof Error ? err.message : String(err)}`,
                    { cause: err },
                );
            }
        };

        if (policy.validateResource) {
            const validate = policy.validateResource;
            for (const r of resources) {
                // The root Stack registers no inputs; its outputs reach stack policies only.
                const props = r.type === STACK_TYPE ? {} : copy(r.props);
                const args: ResourceValidationArgs = {
                    type: r.type,
                    props,
                    urn: r.urn,
                    name: r.name,
                    opts: defaultOptions(r.parentUrn),
                    stackTags,
                    isType: (cls) => isTypeOf(r.type, cls),
                    // eslint-disable-next-line @typescript-eslint/no-unsafe-return, @typescript-eslint/no-explicit-any -- same contract as the SDK's asType
                    asType: (cls) => (isTypeOf(r.type, cls) ? (props as any) : undefined),
                    getConfig: configFor(policy, config),
                    notApplicable,
                };
                const provider = providerOf(r, byUrn);
                if (provider) args.provider = provider;
                await guard(r.urn, () => validate(args, report(r.urn)));
            }
        }
        if (policy.validateStack) {
            const validate = policy.validateStack;
            const args: StackValidationArgs = {
                resources: policyResources(resources, byUrn),
                stackTags,
                getConfig: configFor(policy, config),
                notApplicable,
            };
            await guard(undefined, () => validate(args, report(undefined)));
        }
    }
    return violations;
}

/** The stack as StackValidationArgs.resources: linked parents and dependencies. */
function policyResources(
    resources: readonly EvalResource[],
    byUrn: Map<string, EvalResource>,
): PolicyResource[] {
    const out = new Map<string, PolicyResource>();
    for (const r of resources) {
        const props = copy(r.props);
        const resource: PolicyResource = {
            type: r.type,
            props,
            urn: r.urn,
            name: r.name,
            opts: defaultOptions(r.parentUrn),
            dependencies: [],
            propertyDependencies: {},
            isType: (cls) => isTypeOf(r.type, cls),
            // eslint-disable-next-line @typescript-eslint/no-unsafe-return, @typescript-eslint/no-explicit-any -- same contract as the SDK's asType
            asType: (cls) => (isTypeOf(r.type, cls) ? (props as any) : undefined),
        };
        const provider = providerOf(r, byUrn);
        if (provider) resource.provider = provider;
        out.set(r.urn, resource);
    }
    const resolve = (urns: string[] | undefined) =>
        (urns ?? []).map((u) => out.get(u)).filter((x): x is PolicyResource => x !== undefined);
    for (const r of resources) {
        const resource = out.get(r.urn)!;
        const parent = r.parentUrn ? out.get(r.parentUrn) : undefined;
        if (parent) resource.parent = parent;
        resource.dependencies = resolve(r.dependencies);
        for (const [k, urns] of Object.entries(r.propertyDependencies ?? {})) {
            resource.propertyDependencies[k] = resolve(urns);
        }
    }
    return [...out.values()];
}

/** URN of a stack's root resource, as the engine names it. */
export function stackUrn(project: string, stack: string): string {
    return `urn:pulumi:${stack}::${project}::pulumi:pulumi:Stack::${project}-${stack}`;
}

/** A stack's offline render as evaluator input: every resource, plus the root Stack and its outputs. */
export function resourcesOfRender(
    render: { stack: string; resources: RecordedResource[]; outputs: Record<string, unknown> },
    project = PROJECT,
): EvalResource[] {
    const root = stackUrn(project, render.stack);
    return [
        {
            type: "pulumi:pulumi:Stack",
            name: `${project}-${render.stack}`,
            urn: root,
            props: render.outputs,
        },
        ...render.resources.map((r) => ({
            type: r.type,
            name: r.name,
            urn: r.urn,
            props: r.inputs,
            parentUrn: r.parentUrn ?? root,
            provider: r.provider,
            dependencies: r.dependencies,
            propertyDependencies: r.propertyDependencies,
        })),
    ];
}

/** Config the offline evaluator runs the pack with (secrets arrive as "[secret]"). */
export const OFFLINE_CONFIG: PackConfig = {
    "no-plaintext-secrets": { checkOutputKeyNames: true },
};

/** Evaluate the pack over one stack's offline render (tools/render.ts). */
export async function evaluateStack(stack: string): Promise<Violation[]> {
    const rendered = await renderStack(stack);
    return evaluatePolicies(resourcesOfRender(rendered, PROJECT), { config: OFFLINE_CONFIG });
}

/** One line per violation, grouped by policy. */
export function formatViolations(violations: readonly Violation[]): string {
    return violations
        .map(
            (v) =>
                `  [${v.enforcementLevel}] ${v.policy}: ${v.message}` +
                (v.resource ? `\n      at ${v.resource}` : ""),
        )
        .join("\n");
}
