/**
 * Airflow's RBAC: its service account may launch and watch task pods, Jobs and
 * SparkApplications in the jobs namespace, and nothing else.
 */
import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";

/**
 * What Airflow's service account may do in the jobs namespace, and nothing else: exactly the
 * calls the cncf-kubernetes operators make (offline/preflight checks each recorded call). No
 * pod events: the Job and SparkApplication operators read them only with
 * `log_events_on_failure`, which the DAGs leave off.
 */
export const LAUNCHER_RULES = [
    // Task pods: found by label (list), read while starting (get), labelled once handled
    // (patch), deleted when they succeeded.
    {
        apiGroups: [""],
        resources: ["pods"],
        verbs: ["create", "get", "list", "watch", "delete", "patch"],
    },
    { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
    {
        apiGroups: ["batch"],
        resources: ["jobs"],
        verbs: ["create", "get", "list", "watch", "delete"],
    },
    // The operators wait on the status subresources (`read_namespaced_job_status`,
    // `get_namespaced_custom_object_status`): recorded by dags/tests/k8s_recorder.py.
    { apiGroups: ["batch"], resources: ["jobs/status"], verbs: ["get"] },
    {
        apiGroups: ["sparkoperator.k8s.io"],
        resources: ["sparkapplications"],
        verbs: ["create", "get", "list", "watch", "delete"],
    },
    {
        apiGroups: ["sparkoperator.k8s.io"],
        resources: ["sparkapplications/status"],
        verbs: ["get"],
    },
];

/** The `airflow-launcher` Role and its binding to Airflow's service account. */
export function launcherRbac(
    name: string,
    args: {
        namespace: string;
        jobsNamespace: string;
        serviceAccount: pulumi.Input<string>;
        labels: Record<string, string>;
    },
    parent: pulumi.Resource,
): void {
    const o = { parent };
    const labels = args.labels;
    const role = new k8s.rbac.v1.Role(
        `${name}-launcher`,
        {
            metadata: { name: "airflow-launcher", namespace: args.jobsNamespace, labels },
            rules: LAUNCHER_RULES,
        },
        o,
    );
    new k8s.rbac.v1.RoleBinding(
        `${name}-launcher`,
        {
            metadata: { name: "airflow-launcher", namespace: args.jobsNamespace, labels },
            roleRef: {
                apiGroup: "rbac.authorization.k8s.io",
                kind: "Role",
                name: role.metadata.name,
            },
            subjects: [
                { kind: "ServiceAccount", name: args.serviceAccount, namespace: args.namespace },
            ],
        },
        o,
    );
}
