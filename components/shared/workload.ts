/**
 * Shapes every workload of the platform reuses (docs/conventions.md#components: reuse, never reinvent): labels,
 * the restricted Pod Security settings, resources, probes. Components build their pods from
 * these, and the stack test checks every pod spec of every stack against the same rules.
 */
import type * as k8s from "@pulumi/kubernetes";
import { PART_OF } from "./labels";

type Container = k8s.types.input.core.v1.Container;
type PodSecurityContext = k8s.types.input.core.v1.PodSecurityContext;
type SecurityContext = k8s.types.input.core.v1.SecurityContext;
type Probe = k8s.types.input.core.v1.Probe;
type ResourceRequirements = k8s.types.input.core.v1.ResourceRequirements;

/** Recommended Kubernetes labels of one app; `selector` is the stable subset for selectors. */
export function appLabels(app: string, component?: string) {
    const selector = {
        "app.kubernetes.io/name": app,
        ...(component ? { "app.kubernetes.io/component": component } : {}),
    };
    return {
        selector,
        labels: { ...selector, "app.kubernetes.io/part-of": PART_OF },
    };
}

/**
 * Pod-level settings of the `restricted` Pod Security Standard: non-root with a fixed uid,
 * RuntimeDefault seccomp. `fsGroup` makes mounted volumes writable by that uid.
 */
export function restrictedPodSecurity(uid: number, fsGroup = true): PodSecurityContext {
    return {
        runAsNonRoot: true,
        runAsUser: uid,
        runAsGroup: uid,
        ...(fsGroup ? { fsGroup: uid, fsGroupChangePolicy: "OnRootMismatch" } : {}),
        seccompProfile: { type: "RuntimeDefault" },
    };
}

/** Container-level settings of the `restricted` profile, with a read-only root filesystem. */
export function restrictedContainerSecurity(readOnlyRootFilesystem = true): SecurityContext {
    return {
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
        readOnlyRootFilesystem,
        runAsNonRoot: true,
        seccompProfile: { type: "RuntimeDefault" },
    };
}

/** Requests and limits; memory limit = request unless given (no overcommit of memory). */
export function resources(
    cpu: string,
    memory: string,
    limits: { cpu?: string; memory?: string } = {},
): ResourceRequirements {
    return {
        requests: { cpu, memory },
        limits: { cpu: limits.cpu ?? cpu, memory: limits.memory ?? memory },
    };
}

/** HTTP GET probe. */
export function httpProbe(path: string, port: number | string, opts: Partial<Probe> = {}): Probe {
    return {
        httpGet: { path, port },
        periodSeconds: 10,
        timeoutSeconds: 5,
        failureThreshold: 3,
        ...opts,
    };
}

/** Command probe. */
export function execProbe(command: string[], opts: Partial<Probe> = {}): Probe {
    return {
        exec: { command },
        periodSeconds: 10,
        timeoutSeconds: 5,
        failureThreshold: 3,
        ...opts,
    };
}

/** A container with the restricted security context applied (overridable per field). */
export function container(c: Container & { readOnlyRootFilesystem?: boolean }): Container {
    const { readOnlyRootFilesystem, ...rest } = c;
    return {
        imagePullPolicy: "IfNotPresent",
        ...rest,
        securityContext: {
            ...restrictedContainerSecurity(readOnlyRootFilesystem ?? true),
            ...(c.securityContext as object | undefined),
        },
    };
}
