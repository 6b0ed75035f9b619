/**
 * Kubernetes RBAC authorization (rbac.authorization.k8s.io/v1), evaluated on rendered objects
 * the way the API server's RBAC authorizer decides a resource request:
 *
 * - The request's user is a service account: `system:serviceaccount:<ns>:<name>`, in the groups
 *   `system:serviceaccounts`, `system:serviceaccounts:<ns>` and `system:authenticated`.
 * - A ClusterRoleBinding grants its ClusterRole everywhere (namespaced and cluster-scoped
 *   requests). A RoleBinding grants its Role, or a ClusterRole, only for requests IN the
 *   binding's namespace (a ClusterRole bound by a RoleBinding is namespaced).
 * - A rule matches when `verbs`, `apiGroups` and `resources` each contain the request's value or
 *   `*`; a request for a subresource is `<resource>/<subresource>` (also matched by
 *   `*` and `*\/<subresource>`, never by the bare resource); `resourceNames`, when present,
 *   must contain the request's object name (requests without a name, e.g. list or create, do
 *   not match such a rule).
 * - RBAC only adds: a request is allowed when any rule of any applicable binding matches.
 */

export interface PolicyRule {
    apiGroups?: string[];
    resources?: string[];
    resourceNames?: string[];
    verbs: string[];
    nonResourceURLs?: string[];
}

export interface RbacRole {
    kind: "Role" | "ClusterRole";
    metadata: { name: string; namespace?: string };
    rules?: PolicyRule[];
}

export interface Subject {
    kind: string;
    name: string;
    namespace?: string;
}

export interface RbacBinding {
    kind: "RoleBinding" | "ClusterRoleBinding";
    metadata: { name: string; namespace?: string };
    roleRef: { kind: string; name: string; apiGroup?: string };
    subjects?: Subject[];
}

/** One API request, in the shape the loopback recorder writes (dags helper, issue 27). */
export interface ApiCall {
    /** `<namespace>/<name>` of the calling pod's service account. */
    serviceAccount: string;
    verb: string;
    group: string;
    version?: string;
    resource: string;
    subresource?: string | null;
    namespace?: string | null;
    name?: string | null;
}

export interface RbacModel {
    roles: RbacRole[];
    bindings: RbacBinding[];
}

export interface CallVerdict {
    allowed: boolean;
    /** The binding and role that allowed it, or why nothing did. */
    by: string;
}

export function describeCall(c: ApiCall): string {
    const res = c.subresource ? `${c.resource}/${c.subresource}` : c.resource;
    const group = c.group === "" ? "core" : c.group;
    const where = c.namespace ? ` in ${c.namespace}` : " (cluster-wide)";
    const name = c.name ? ` ${c.name}` : "";
    return `${c.verb} ${group}/${res}${name}${where}`;
}

function subjectMatches(s: Subject, saNamespace: string, saName: string): boolean {
    switch (s.kind) {
        case "ServiceAccount":
            return s.name === saName && (s.namespace ?? "") === saNamespace;
        case "User":
            return s.name === `system:serviceaccount:${saNamespace}:${saName}`;
        case "Group":
            return [
                "system:serviceaccounts",
                `system:serviceaccounts:${saNamespace}`,
                "system:authenticated",
            ].includes(s.name);
        default:
            return false;
    }
}

function has(list: string[] | undefined, value: string): boolean {
    return (list ?? []).includes("*") || (list ?? []).includes(value);
}

function resourceMatches(rule: PolicyRule, resource: string, subresource: string): boolean {
    const combined = subresource ? `${resource}/${subresource}` : resource;
    for (const r of rule.resources ?? []) {
        if (r === "*" || r === combined) return true;
        if (subresource && r === `*/${subresource}`) return true;
    }
    return false;
}

export function ruleAllows(rule: PolicyRule, call: ApiCall): boolean {
    if (!has(rule.verbs, call.verb)) return false;
    if (!has(rule.apiGroups, call.group)) return false;
    if (!resourceMatches(rule, call.resource, call.subresource ?? "")) return false;
    if (rule.resourceNames && rule.resourceNames.length > 0) {
        return !!call.name && rule.resourceNames.includes(call.name);
    }
    return true;
}

/** Decide one request against the rendered roles and bindings. */
export function authorize(model: RbacModel, call: ApiCall): CallVerdict {
    const [saNamespace, saName] = call.serviceAccount.split("/");
    if (!saNamespace || !saName) {
        throw new Error(
            `API call ${describeCall(call)}: serviceAccount ${JSON.stringify(call.serviceAccount)} is not <namespace>/<name>`,
        );
    }
    const missing: string[] = [];
    const considered: string[] = [];
    for (const b of model.bindings) {
        if (!(b.subjects ?? []).some((s) => subjectMatches(s, saNamespace, saName))) continue;
        if (b.kind === "RoleBinding") {
            // Namespaced grant: only requests in the binding's namespace.
            if (!call.namespace || call.namespace !== b.metadata.namespace) continue;
        }
        const role = model.roles.find(
            (r) =>
                r.kind === b.roleRef.kind &&
                r.metadata.name === b.roleRef.name &&
                (r.kind === "ClusterRole" || r.metadata.namespace === b.metadata.namespace),
        );
        const bindingName = `${b.kind} ${b.metadata.namespace ? `${b.metadata.namespace}/` : ""}${b.metadata.name}`;
        if (!role) {
            missing.push(
                `${bindingName} names ${b.roleRef.kind} ${b.roleRef.name}, which does not exist`,
            );
            continue;
        }
        const roleName = `${role.kind} ${role.metadata.namespace ? `${role.metadata.namespace}/` : ""}${role.metadata.name}`;
        considered.push(roleName);
        if ((role.rules ?? []).some((rule) => ruleAllows(rule, call))) {
            return { allowed: true, by: `${bindingName} -> ${roleName}` };
        }
    }
    const why =
        considered.length > 0
            ? `no rule of ${[...new Set(considered)].join(", ")} allows it`
            : `no Role or ClusterRole is bound to ${call.serviceAccount}${call.namespace ? ` in ${call.namespace}` : ""}`;
    return { allowed: false, by: [why, ...missing].join("; ") };
}

/** The Roles, ClusterRoles and bindings among rendered Kubernetes objects. */
export function rbacModelOf(objects: Record<string, unknown>[]): RbacModel {
    const roles: RbacRole[] = [];
    const bindings: RbacBinding[] = [];
    for (const o of objects) {
        if (o.kind === "Role" || o.kind === "ClusterRole") roles.push(o as unknown as RbacRole);
        if (o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding") {
            bindings.push(o as unknown as RbacBinding);
        }
    }
    return { roles, bindings };
}
