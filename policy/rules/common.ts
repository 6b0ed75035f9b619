/**
 * Shapes and helpers every rule module shares: the policy type the pack uses (a Pulumi policy
 * that may validate resources, the stack, or both), how a violation names its resource, and
 * how resources reference each other in a stack.
 */
import * as k8s from "@pulumi/kubernetes";
import type { Policy, PolicyResource, ResourceValidation, StackValidation } from "@pulumi/policy";

/**
 * A mandatory policy of this pack. `validateResource` runs on each resource's inputs before it
 * is created or changed (`pulumi preview` and `pulumi up`); `validateStack` runs once over the
 * whole stack (resource outputs) at the end. A policy may do both: the resource check fails
 * early on a bad resource, the stack check finds what is missing.
 */
export interface PlatformPolicy extends Policy {
    name: string;
    description: string;
    enforcementLevel: "mandatory";
    remediationSteps: string;
    validateResource?: ResourceValidation;
    validateStack?: StackValidation;
}

/** The class of a Pulumi resource, as `isType` and `validateResourceOfType` take it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any resource class
export type ResourceClass = { new (...rest: any[]): any };

/** The type token a resource class registers (`gcp:container/cluster:Cluster`). */
/** Every Kubernetes kind that carries a pod template (or is a Pod). */
export const WORKLOADS: ResourceClass[] = [
    k8s.apps.v1.Deployment,
    k8s.apps.v1.StatefulSet,
    k8s.apps.v1.DaemonSet,
    k8s.apps.v1.ReplicaSet,
    k8s.batch.v1.Job,
    k8s.batch.v1.CronJob,
    k8s.core.v1.Pod,
];

export function typeOf(cls: ResourceClass): string {
    return (cls as unknown as { __pulumiType: string }).__pulumiType;
}

/** `<type> "<name>"`: how every message names its resource. */
export function label(r: { type: string; name: string }): string {
    return `${r.type} "${r.name}"`;
}

/** A plain object or undefined (props are JSON). */
export function obj(value: unknown): Record<string, unknown> | undefined {
    return value !== null && typeof value === "object" && !Array.isArray(value)
        ? (value as Record<string, unknown>)
        : undefined;
}

/** An array or empty. */
export function arr(value: unknown): unknown[] {
    return Array.isArray(value) ? value : [];
}

/** A non-empty string or undefined. */
export function str(value: unknown): string | undefined {
    return typeof value === "string" && value !== "" ? value : undefined;
}

/**
 * True when `r`'s input `prop` refers to `target`: through the engine's record of which
 * resources an input came from, or, failing that, by value (the target's id, name or ARN).
 */
export function refersTo(
    r: PolicyResource,
    prop: string,
    target: PolicyResource,
    targetValues: (string | undefined)[],
): boolean {
    const deps = r.propertyDependencies?.[prop] ?? [];
    if (deps.some((d) => d.urn === target.urn)) return true;
    const value = r.props[prop] as unknown;
    return typeof value === "string" && targetValues.some((v) => v !== undefined && v === value);
}
