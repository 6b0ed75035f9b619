/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-call -- walks untyped rendered Kubernetes JSON */
/**
 * Checks every pod spec a stack renders against the platform's workload rules: the `restricted`
 * Pod Security Standard (non-root, no privilege escalation, all capabilities dropped, seccomp
 * RuntimeDefault, no host namespaces or hostPath), requests and limits on every container, and
 * readiness + liveness probes on long-running containers. Deliberate departures are listed in
 * DOCUMENTED_EXCEPTIONS with the reason; anything else fails the stack test.
 */

/** `<kind>/<namespace>/<name>/<container>` → why the rule does not apply. */
export const DOCUMENTED_EXCEPTIONS: Record<string, { rule: string; why: string }[]> = {
    // None today: every platform pod runs under the restricted profile. Helm-managed pods (the
    // Spark operator) are not rendered offline; their chart values set the same contexts.
};

interface Obj {
    kind: string;
    metadata?: { name?: string; namespace?: string };
    spec?: any;
}

/** The pod spec inside a workload object, and whether its containers run for good (need probes). */
export function podSpecOf(obj: Obj): { spec: any; longRunning: boolean } | undefined {
    switch (obj.kind) {
        case "Pod":
            return { spec: obj.spec, longRunning: true };
        case "Deployment":
        case "StatefulSet":
        case "DaemonSet":
        case "ReplicaSet":
            return { spec: obj.spec?.template?.spec, longRunning: true };
        case "Job":
            return { spec: obj.spec?.template?.spec, longRunning: false };
        case "CronJob":
            return { spec: obj.spec?.jobTemplate?.spec?.template?.spec, longRunning: false };
        default:
            return undefined;
    }
}

/** Every rule the pod breaks, as `<container>: <rule>` strings (empty = compliant). */
export function podViolations(obj: Obj): string[] {
    const found = podSpecOf(obj);
    if (!found) return [];
    const { spec, longRunning } = found;
    const where = `${obj.kind}/${obj.metadata?.namespace ?? ""}/${obj.metadata?.name ?? ""}`;
    const problems: string[] = [];
    const pod = spec?.securityContext ?? {};
    for (const host of ["hostNetwork", "hostPID", "hostIPC"]) {
        if (spec?.[host] === true) problems.push(`pod: ${host} is true`);
    }
    for (const v of spec?.volumes ?? []) {
        if (v.hostPath) problems.push(`pod: hostPath volume ${v.name}`);
    }
    const all = [
        ...(spec?.initContainers ?? []).map((c: any) => ({ c, init: true })),
        ...(spec?.containers ?? []).map((c: any) => ({ c, init: false })),
    ];
    for (const { c, init } of all) {
        const sc = c.securityContext ?? {};
        const name = c.name as string;
        const add = (rule: string) => {
            const excepted = (DOCUMENTED_EXCEPTIONS[`${where}/${name}`] ?? []).some(
                (e) => e.rule === rule,
            );
            if (!excepted) problems.push(`${name}: ${rule}`);
        };
        if ((sc.runAsNonRoot ?? pod.runAsNonRoot) !== true) add("runAsNonRoot is not true");
        if ((sc.runAsUser ?? pod.runAsUser) === 0) add("runs as uid 0");
        if (sc.allowPrivilegeEscalation !== false) add("allowPrivilegeEscalation is not false");
        if (sc.privileged === true) add("privileged");
        const drop: string[] = sc.capabilities?.drop ?? [];
        if (!drop.includes("ALL")) add("capabilities do not drop ALL");
        const addCaps: string[] = sc.capabilities?.add ?? [];
        if (addCaps.some((cap) => cap !== "NET_BIND_SERVICE"))
            add(`adds capabilities ${addCaps.join(",")}`);
        const seccomp = sc.seccompProfile?.type ?? pod.seccompProfile?.type;
        if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost")
            add("seccompProfile is not RuntimeDefault");
        const req = c.resources?.requests ?? {};
        const lim = c.resources?.limits ?? {};
        if (!req.cpu || !req.memory) add("no cpu/memory requests");
        if (!lim.memory || !lim.cpu) add("no cpu/memory limits");
        if (longRunning && !init) {
            if (!c.readinessProbe) add("no readinessProbe");
            if (!c.livenessProbe) add("no livenessProbe");
        }
    }
    return problems.map((p) => `${where}: ${p}`);
}
