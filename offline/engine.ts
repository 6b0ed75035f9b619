/**
 * Offline Pulumi engine for tests and the render.
 *
 * `evaluate(program, options)` installs Pulumi mocks BEFORE the program runs (so resources created
 * at import time are seen), runs it inside a root Stack, waits for every registration, and returns
 * what was registered: type, name, parent, custom/component, inputs with secrets redacted, the
 * provider and the dependencies the engine would see (the policy pack's offline evaluator hands
 * them to the policies), and the resolved stack outputs (secrets shown as "[secret]").
 *
 * Any provider function call (invoke) that the test did not declare fails the evaluation: a
 * program that silently depends on a cloud lookup would break `pulumi preview` for forks
 * without credentials.
 */
import * as pulumi from "@pulumi/pulumi";
/* The recording reaches into two SDK runtime modules: the mock monitor (to see each
 * registration's parent URN) and the RPC codec (to keep secret markers when decoding inputs).
 * Neither is in the public typings, so they are loaded untyped here and nowhere else. */
/* eslint-disable @typescript-eslint/no-require-imports, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-explicit-any */
const settings: any = require("@pulumi/pulumi/runtime/settings");
const rpc: any = require("@pulumi/pulumi/runtime/rpc");

export const SECRET = "[secret]";

export interface RecordedResource {
    /** Type token, e.g. `gcp:container/cluster:Cluster` or a component's `taxi:platform:Network`. */
    type: string;
    /** Logical name. */
    name: string;
    urn: string;
    /** URN of the parent resource (the root Stack for top-level resources). */
    parentUrn: string | undefined;
    /** `type::name` of the parent, or undefined for the Stack. */
    parent: string | undefined;
    /** True for provider-managed resources, false for components and the Stack. */
    custom: boolean;
    /** Inputs as registered, secrets replaced by "[secret]". */
    inputs: Record<string, unknown>;
    /** Names of top-level inputs that were secret. */
    secretInputs: string[];
    /** Provider reference (`<provider urn>::<id>`) when the resource names one explicitly. */
    provider: string | undefined;
    /** URNs of the resources this one depends on (explicit `dependsOn` and input references). */
    dependencies: string[];
    /** Per top-level input, the URNs of the resources its value came from. */
    propertyDependencies: Record<string, string[]>;
}

export type InvokeHandler = (inputs: Record<string, unknown>) => Record<string, unknown>;

export interface EvaluateOptions {
    project?: string;
    stack?: string;
    /** Namespaced config values (`project:key` → raw string) visible to the program. */
    config?: Record<string, string>;
    /** Config keys whose values are secrets. */
    secretKeys?: string[];
    /** Invokes the program may call, keyed by token. Any other invoke fails the run. */
    invokes?: Record<string, InvokeHandler>;
    /** Extra output state for resources of a type (e.g. a cluster's endpoint). */
    outputs?: Record<
        string,
        (name: string, inputs: Record<string, unknown>) => Record<string, unknown>
    >;
    /** Evaluate as a preview (unknown values stay unknown) instead of an update. */
    preview?: boolean;
}

export interface Evaluation<T> {
    resources: RecordedResource[];
    /** Resolved program result (the stack outputs), secrets redacted. */
    outputs: T extends object ? Record<keyof T, unknown> : unknown;
    /** Every resource of a type. */
    ofType(type: string): RecordedResource[];
    /** The single resource with this type and name; throws naming what exists otherwise. */
    get(type: string, name: string): RecordedResource;
    /** Children (direct) of the resource `type::name`. */
    childrenOf(type: string, name: string): RecordedResource[];
    /** Counts by type, sorted by type. */
    countsByType(): Record<string, number>;
}

/** True for the SDK's wire form of a secret value. */
function isWireSecret(v: unknown): v is { value: unknown } {
    return (
        typeof v === "object" &&
        v !== null &&
        (v as Record<string, unknown>)[rpc.specialSigKey] === rpc.specialSecretSig
    );
}

/** Replace secret values by "[secret]"; resources referenced by URN keep their URN. */
export function redact(value: unknown): unknown {
    if (isWireSecret(value)) return SECRET;
    if (Array.isArray(value)) return value.map(redact);
    if (value !== null && typeof value === "object") {
        const o = value as Record<string, unknown>;
        if (o[rpc.specialSigKey] === rpc.specialResourceSig) return o.urn;
        return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, redact(v)]));
    }
    return value;
}

/** Remove secret markers, keeping the values (what the engine would return as state). */
function unwrap(value: unknown): unknown {
    if (isWireSecret(value)) return unwrap(value.value);
    if (Array.isArray(value)) return value.map(unwrap);
    if (value !== null && typeof value === "object") {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrap(v)]));
    }
    return value;
}

/** A registration's per-input dependencies as plain URN lists. */
function propertyDependenciesOf(req: any): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    req.getPropertydependenciesMap().forEach((deps: any, key: string) => {
        out[key] = deps.getUrnsList() as string[];
    });
    return out;
}

function parentKey(
    urn: string | undefined,
    byUrn: Map<string, RecordedResource>,
): string | undefined {
    if (!urn) return undefined;
    const parent = byUrn.get(urn);
    if (!parent || parent.type === "pulumi:pulumi:Stack") return undefined;
    return `${parent.type}::${parent.name}`;
}

/** Resolve stack outputs the way the engine shows them: secrets (at any depth) as SECRET. */
async function resolveOutputs(result: unknown): Promise<unknown> {
    const value = await Promise.resolve(result);
    if (pulumi.Output.isInstance(value)) {
        if (await pulumi.isSecret(value)) return SECRET;
        return resolveOutputs(await resolveOutputValue(value));
    }
    if (pulumi.Resource.isInstance(value)) return resolveOutputValue(value.urn);
    if (Array.isArray(value)) return Promise.all(value.map(resolveOutputs));
    if (value === null || typeof value !== "object") return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        out[k] = await resolveOutputs(v);
    }
    return out;
}

async function resolveOutputValue<T>(o: pulumi.Output<T>): Promise<T | undefined> {
    // Unknown values (computed during a preview) resolve to undefined.
    const internal = o as unknown as { isKnown: Promise<boolean>; promise(): Promise<T> };
    return (await internal.isKnown) ? await internal.promise() : undefined;
}

/**
 * Evaluate a program offline and return every registered resource. Runs are sequential: a
 * second `evaluate` resets the engine state left by the first.
 */
export async function evaluate<T>(
    program: () => T | Promise<T>,
    options: EvaluateOptions = {},
): Promise<Evaluation<T>> {
    const project = options.project ?? "taxi-platform";
    const stack = options.stack ?? "test";
    const resources: RecordedResource[] = [];
    const problems: string[] = [];

    const mocks: pulumi.runtime.Mocks = {
        newResource(args) {
            const inputs = unwrap(args.inputs) as Record<string, unknown>;
            const extra = options.outputs?.[args.type]?.(args.name, inputs) ?? {};
            return {
                id: args.custom ? `${args.name}-id` : undefined,
                state: { ...inputs, ...extra },
            };
        },
        call(args) {
            const handler = options.invokes?.[args.token];
            if (!handler) {
                problems.push(`unexpected invoke ${args.token}(${JSON.stringify(args.inputs)})`);
                throw new Error(
                    `unexpected invoke ${args.token}: the program called a provider function the test did not declare`,
                );
            }
            return handler(args.inputs as Record<string, unknown>);
        },
    };

    // setMocks resets the engine state a previous evaluation left behind.
    pulumi.runtime.setAllConfig(options.config ?? {}, options.secretKeys ?? []);
    await pulumi.runtime.setMocks(mocks, project, stack, options.preview ?? false);

    // Record each registration with its parent and secret-aware inputs.
    const monitor = settings.getMonitor();
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req: any, callback: any) => {
        const inputs = rpc.deserializeProperties(req.getObject(), true) as Record<string, unknown>;
        const type: string = req.getType();
        const name: string = req.getName();
        const parent: string = req.getParent();
        const parentUrn = parent === "" ? undefined : parent;
        resources.push({
            type,
            name,
            urn: monitor.newUrn(parentUrn, type, name),
            parentUrn,
            parent: undefined,
            custom: req.getCustom(),
            inputs: redact(inputs) as Record<string, unknown>,
            secretInputs: Object.keys(inputs).filter((k) => isWireSecret(inputs[k])),
            provider: req.getProvider() === "" ? undefined : (req.getProvider() as string),
            dependencies: req.getDependenciesList() as string[],
            propertyDependencies: propertyDependenciesOf(req),
        });
        return register(req, callback);
    };

    let programResult: unknown;
    let programError: unknown;
    try {
        programResult = await pulumi.runtime.runInPulumiStack(async () => {
            const result = await program();
            return (await resolveOutputs(result)) as Record<string, unknown>;
        });
    } catch (err) {
        programError = err;
    }
    await settings.waitForRPCs();
    if (problems.length > 0) throw new Error(problems.join("\n"));
    if (programError !== undefined) {
        throw programError instanceof Error
            ? programError
            : new Error(JSON.stringify(programError));
    }

    const byUrn = new Map(resources.map((r) => [r.urn, r]));
    for (const r of resources) r.parent = parentKey(r.parentUrn, byUrn);
    const program_resources = resources.filter((r) => r.type !== "pulumi:pulumi:Stack");

    const ofType = (type: string) => program_resources.filter((r) => r.type === type);
    return {
        resources: program_resources,
        outputs: (programResult ?? {}) as Evaluation<T>["outputs"],
        ofType,
        get(type, name) {
            const found = program_resources.filter((r) => r.type === type && r.name === name);
            if (found.length !== 1) {
                const names = ofType(type).map((r) => r.name);
                throw new Error(
                    `expected one ${type} named ${name}; found ${found.length} (names of that type: ${names.join(", ") || "none"})`,
                );
            }
            return found[0]!;
        },
        childrenOf(type, name) {
            return program_resources.filter((r) => r.parent === `${type}::${name}`);
        },
        countsByType() {
            const counts: Record<string, number> = {};
            for (const r of [...program_resources].sort((a, b) => a.type.localeCompare(b.type))) {
                counts[r.type] = (counts[r.type] ?? 0) + 1;
            }
            return counts;
        },
    };
}
