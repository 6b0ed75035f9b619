/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-explicit-any -- walks untyped Kubernetes JSON */
/**
 * The platform's workload rules for every pod spec: the `restricted` Pod Security Standard
 * (non-root, no privilege escalation, all capabilities dropped, seccomp RuntimeDefault, no host
 * namespaces or hostPath), requests and limits on every container, and readiness + liveness
 * probes on long-running containers. Deliberate departures are listed in DOCUMENTED_EXCEPTIONS
 * with the reason; anything else is a violation.
 *
 * One checker, two users: the policy pack (policy/rules/workloads.ts, under the Pulumi CLI and
 * offline) and the stack tests (through testing/pod-security.ts, which re-exports this module).
 */

/** `<kind>/<namespace>/<name>/<container>` → the rules that do not apply to it, and why. */
export const DOCUMENTED_EXCEPTIONS: Record<string, { rule: string; why: string }[]> = {
    // Pods a Helm chart renders (the Spark operator) are not visible to this checker; their
    // namespace enforces the restricted profile instead (policy `helm-release-restricted-namespace`).
    //
    // The Airflow pod runs four processes; only the api-server receives Service traffic. A
    // readiness probe on the other three would take the whole pod (and the UI) out of the Service
    // whenever one of them is briefly unhealthy, while their liveness probes already restart them.
    ...Object.fromEntries(
        ["scheduler", "dag-processor", "triggerer"].map((c) => [
            `Deployment/airflow/airflow/${c}`,
            [
                {
                    rule: "no readinessProbe",
                    why: "not a serving process: readiness would pull the api-server out of the Service; liveness restarts it",
                },
            ],
        ]),
    ),
};

/** Which policy a finding belongs to. */
export type FindingCategory = "security" | "resources" | "probes";

export interface PodFinding {
    /** `<kind>/<namespace>/<name>` of the workload. */
    where: string;
    /** Container name, or `pod` for pod-level findings. */
    container: string;
    /** The broken rule, e.g. `runAsNonRoot is not true`. */
    rule: string;
    category: FindingCategory;
}

export interface WorkloadObject {
    kind?: string;
    metadata?: { name?: string; namespace?: string };
    spec?: any;
}

/** The pod spec inside a workload object, and whether its containers run for good (need probes). */
export function podSpecOf(obj: WorkloadObject): { spec: any; longRunning: boolean } | undefined {
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

/** `<kind>/<namespace>/<name>`: how findings and exceptions name a workload. */
export function workloadKey(obj: WorkloadObject): string {
    return `${obj.kind ?? ""}/${obj.metadata?.namespace ?? ""}/${obj.metadata?.name ?? ""}`;
}

/** The init and regular containers of a pod spec. */
export function containersOf(spec: any): { c: any; init: boolean }[] {
    const init: any[] = spec?.initContainers ?? [];
    const main: any[] = spec?.containers ?? [];
    return [...init.map((c) => ({ c, init: true })), ...main.map((c) => ({ c, init: false }))];
}

/** Every rule the pod breaks that no documented exception covers (empty = compliant). */
export function podFindings(obj: WorkloadObject): PodFinding[] {
    const found = podSpecOf(obj);
    if (!found) return [];
    const { spec, longRunning } = found;
    const where = workloadKey(obj);
    const findings: PodFinding[] = [];
    const pod = spec?.securityContext ?? {};
    for (const host of ["hostNetwork", "hostPID", "hostIPC"]) {
        if (spec?.[host] === true) {
            findings.push({
                where,
                container: "pod",
                rule: `${host} is true`,
                category: "security",
            });
        }
    }
    for (const v of spec?.volumes ?? []) {
        if (v.hostPath) {
            const rule = `hostPath volume ${String(v.name)}`;
            findings.push({ where, container: "pod", rule, category: "security" });
        }
    }
    for (const { c, init } of containersOf(spec)) {
        const sc = c.securityContext ?? {};
        const name = String(c.name);
        const add = (rule: string, category: FindingCategory) => {
            const excepted = (DOCUMENTED_EXCEPTIONS[`${where}/${name}`] ?? []).some(
                (e) => e.rule === rule,
            );
            if (!excepted) findings.push({ where, container: name, rule, category });
        };
        if ((sc.runAsNonRoot ?? pod.runAsNonRoot) !== true)
            add("runAsNonRoot is not true", "security");
        if ((sc.runAsUser ?? pod.runAsUser) === 0) add("runs as uid 0", "security");
        if (sc.allowPrivilegeEscalation !== false)
            add("allowPrivilegeEscalation is not false", "security");
        if (sc.privileged === true) add("privileged", "security");
        const drop: string[] = sc.capabilities?.drop ?? [];
        if (!drop.includes("ALL")) add("capabilities do not drop ALL", "security");
        const addCaps: string[] = sc.capabilities?.add ?? [];
        if (addCaps.some((cap) => cap !== "NET_BIND_SERVICE"))
            add(`adds capabilities ${addCaps.join(",")}`, "security");
        const seccomp = sc.seccompProfile?.type ?? pod.seccompProfile?.type;
        if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost")
            add("seccompProfile is not RuntimeDefault", "security");
        const req = c.resources?.requests ?? {};
        const lim = c.resources?.limits ?? {};
        if (!req.cpu || !req.memory) add("no cpu/memory requests", "resources");
        if (!lim.memory || !lim.cpu) add("no cpu/memory limits", "resources");
        if (longRunning && !init) {
            if (!c.readinessProbe) add("no readinessProbe", "probes");
            if (!c.livenessProbe) add("no livenessProbe", "probes");
        }
    }
    return findings;
}

/** Every rule the pod breaks, as `<kind>/<ns>/<name>: <container>: <rule>` strings. */
export function podViolations(obj: WorkloadObject): string[] {
    return podFindings(obj).map((f) => `${f.where}: ${f.container}: ${f.rule}`);
}
