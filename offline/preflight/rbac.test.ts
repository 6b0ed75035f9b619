import { strict as assert } from "node:assert";
import { authorize, ruleAllows, type ApiCall, type RbacModel } from "./rbac";
import { parseRecording } from "./permissions";

const call = (over: Partial<ApiCall>): ApiCall => ({
    serviceAccount: "airflow/airflow",
    verb: "get",
    group: "batch",
    resource: "jobs",
    namespace: "jobs",
    ...over,
});

describe("preflight RBAC semantics", () => {
    it("subresources: 'jobs' does not grant 'jobs/status'; 'jobs/status', '*' and '*/status' do", () => {
        const status = call({ subresource: "status", name: "j" });
        const rule = (resources: string[]) => ({ apiGroups: ["batch"], resources, verbs: ["get"] });
        assert.equal(ruleAllows(rule(["jobs"]), status), false);
        assert.equal(ruleAllows(rule(["jobs/status"]), status), true);
        assert.equal(ruleAllows(rule(["*"]), status), true);
        assert.equal(ruleAllows(rule(["*/status"]), status), true);
        assert.equal(ruleAllows(rule(["*/status"]), call({ name: "j" })), false);
        assert.equal(ruleAllows(rule(["jobs/status"]), call({ name: "j" })), false);
    });

    it("apiGroups, verbs and resourceNames", () => {
        const base = { apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] };
        assert.equal(ruleAllows(base, call({ group: "", resource: "pods" })), true);
        assert.equal(ruleAllows(base, call({ group: "apps", resource: "pods" })), false);
        assert.equal(
            ruleAllows(base, call({ group: "", resource: "pods", verb: "delete" })),
            false,
        );
        assert.equal(
            ruleAllows(
                { ...base, verbs: ["*"], apiGroups: ["*"] },
                call({ group: "x", resource: "pods", verb: "delete" }),
            ),
            true,
        );
        const named = { ...base, resourceNames: ["a"] };
        assert.equal(ruleAllows(named, call({ group: "", resource: "pods", name: "a" })), true);
        assert.equal(ruleAllows(named, call({ group: "", resource: "pods", name: "b" })), false);
        // A list has no object name, so a resourceNames rule never grants it.
        assert.equal(ruleAllows(named, call({ group: "", resource: "pods", verb: "list" })), false);
    });

    const model: RbacModel = {
        roles: [
            {
                kind: "Role",
                metadata: { name: "launcher", namespace: "jobs" },
                rules: [{ apiGroups: ["batch"], resources: ["jobs"], verbs: ["get"] }],
            },
            {
                kind: "ClusterRole",
                metadata: { name: "reader" },
                rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }],
            },
            {
                kind: "ClusterRole",
                metadata: { name: "nodes" },
                rules: [{ apiGroups: [""], resources: ["nodes"], verbs: ["list"] }],
            },
        ],
        bindings: [
            {
                kind: "RoleBinding",
                metadata: { name: "launcher", namespace: "jobs" },
                roleRef: { kind: "Role", name: "launcher" },
                subjects: [{ kind: "ServiceAccount", name: "airflow", namespace: "airflow" }],
            },
            {
                kind: "RoleBinding",
                metadata: { name: "reader", namespace: "docs" },
                roleRef: { kind: "ClusterRole", name: "reader" },
                subjects: [{ kind: "Group", name: "system:serviceaccounts:monitoring" }],
            },
            {
                kind: "ClusterRoleBinding",
                metadata: { name: "nodes" },
                roleRef: { kind: "ClusterRole", name: "nodes" },
                subjects: [{ kind: "User", name: "system:serviceaccount:monitoring:ksm" }],
            },
            {
                kind: "RoleBinding",
                metadata: { name: "dangling", namespace: "jobs" },
                roleRef: { kind: "Role", name: "gone" },
                subjects: [{ kind: "ServiceAccount", name: "airflow", namespace: "airflow" }],
            },
        ],
    };

    it("a RoleBinding grants only in its namespace, also for a ClusterRole", () => {
        assert.equal(authorize(model, call({ name: "j" })).allowed, true);
        assert.match(
            authorize(model, call({ name: "j" })).by,
            /RoleBinding jobs\/launcher -> Role jobs\/launcher/,
        );
        assert.equal(authorize(model, call({ namespace: "other", name: "j" })).allowed, false);
        const prom = {
            serviceAccount: "monitoring/prometheus",
            verb: "list",
            group: "",
            resource: "pods",
        };
        assert.equal(authorize(model, { ...prom, namespace: "docs" }).allowed, true);
        assert.equal(authorize(model, { ...prom, namespace: "jobs" }).allowed, false);
        assert.equal(authorize(model, { ...prom, namespace: null }).allowed, false);
    });

    it("a ClusterRoleBinding grants cluster-wide; User subjects name the service account", () => {
        const ksm = {
            serviceAccount: "monitoring/ksm",
            verb: "list",
            group: "",
            resource: "nodes",
            namespace: null,
        };
        assert.equal(authorize(model, ksm).allowed, true);
        assert.equal(
            authorize(model, { ...ksm, serviceAccount: "monitoring/other" }).allowed,
            false,
        );
    });

    it("names the Role that did not allow a call, and a binding to a missing Role", () => {
        const v = authorize(model, call({ subresource: "status", name: "j" }));
        assert.equal(v.allowed, false);
        assert.match(v.by, /no rule of Role jobs\/launcher allows it/);
        assert.match(v.by, /RoleBinding jobs\/dangling names Role gone, which does not exist/);
        assert.match(
            authorize(model, call({ serviceAccount: "x/y" })).by,
            /no Role or ClusterRole is bound to x\/y in jobs/,
        );
        assert.throws(
            () => authorize(model, call({ serviceAccount: "airflow" })),
            /not <namespace>\/<name>/,
        );
    });

    it("parses the recorder's JSON lines and rejects malformed ones", () => {
        const text =
            '{"serviceAccount": "airflow/airflow", "verb": "get", "group": "batch", "version": "v1", "resource": "jobs", "subresource": "status", "namespace": "jobs", "name": "j"}\n\n' +
            '{"serviceAccount": "airflow/airflow", "verb": "list", "group": "", "version": "v1", "resource": "pods", "subresource": null, "namespace": "jobs", "name": null}\n';
        const calls = parseRecording(text, "rec");
        assert.equal(calls.length, 2);
        assert.equal(calls[0]!.subresource, "status");
        assert.equal(calls[1]!.group, "");
        assert.throws(() => parseRecording("{not json\n", "rec"), /rec:1: not JSON/);
        assert.throws(
            () => parseRecording('{"verb": "get"}\n', "rec"),
            /rec:1: "serviceAccount" missing/,
        );
    });
});
