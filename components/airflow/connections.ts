/**
 * Airflow connections from Google Secret Manager (dags/common/secrets_backend.py).
 *
 * For each expected connection id (stack option `airflowConnections`) one EMPTY secret
 * `<prefix>-connections-<id>` (automatic replication; the stack never writes a value: the
 * operator adds it with `gcloud secrets versions add`, docs/operations.md#28-airflow-connections)
 * and one binding of `roles/secretmanager.secretAccessor` for Airflow's Google service account
 * on that secret alone (no project-wide grant: Airflow can read these secrets and nothing
 * else). The Airflow processes get `AIRFLOW__SECRETS__BACKEND` and its kwargs (project,
 * prefix, the ids), so only those ids cause Secret Manager calls. Both come from the
 * Kubernetes Secret `airflow-secrets-backend` (`secretKeyRef`): they hold no credential, but a
 * secrets backend's kwargs may (Vault's token), so they are never literal pod env.
 */
import * as gcp from "@pulumi/gcp";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { EnvVar } from "./environment";

/** The backend class in the Airflow image (dags/common/secrets_backend.py). */
export const SECRETS_BACKEND_CLASS = "common.secrets_backend.SecretManagerBackend";
/** An Airflow connection id the platform keeps in Secret Manager (same rule as dags/common/engines.py). */
export const CONNECTION_ID = /^[a-z][a-z0-9_]{0,62}$/;
export const SECRET_ACCESSOR = "roles/secretmanager.secretAccessor";

export interface AirflowConnectionsArgs {
    /** Project of the secrets. */
    project: string;
    /** Secret name prefix, e.g. `airflow-dev`: secrets are `<prefix>-connections-<id>`. */
    prefix: string;
    /** Connection ids Airflow reads from Secret Manager. */
    ids: string[];
    /** Email of Airflow's Google service account (Workload Identity of its KSA). */
    googleServiceAccount: pulumi.Input<string>;
}

/** Secret id of one connection. */
export const connectionSecretId = (prefix: string, id: string) => `${prefix}-connections-${id}`;

/** Problems with the args, for `assertArgs`. */
export function connectionArgsProblems(c: AirflowConnectionsArgs | undefined): (string | false)[] {
    if (c === undefined) return [];
    const dupes = c.ids.filter((id, i) => c.ids.indexOf(id) !== i);
    return [
        !/^[a-z][a-z0-9-]{0,40}$/.test(c.prefix) &&
            `connections.prefix ${JSON.stringify(c.prefix)} must be lower-case letters, digits and '-' (at most 41)`,
        ...c.ids.map(
            (id) =>
                !CONNECTION_ID.test(id) &&
                `connections.ids: ${JSON.stringify(id)} is not an Airflow connection id (lower-case letters, digits, '_', starting with a letter, at most 63)`,
        ),
        dupes.length > 0 && `connections.ids lists ${[...new Set(dupes)].join(", ")} twice`,
    ];
}

/** Kubernetes Secret holding the backend's class and kwargs. */
export const BACKEND_SECRET = "airflow-secrets-backend";

/** The values of `AIRFLOW__SECRETS__BACKEND` and `..._KWARGS` (none without ids). */
export function secretsBackendValues(
    c: AirflowConnectionsArgs | undefined,
): { backend: string; kwargs: string } | undefined {
    if (c === undefined || c.ids.length === 0) return undefined;
    return {
        backend: SECRETS_BACKEND_CLASS,
        kwargs: JSON.stringify({
            project_id: c.project,
            prefix: c.prefix,
            connection_ids: [...c.ids].sort(),
        }),
    };
}

/** The Airflow environment that turns the backend on, from `BACKEND_SECRET` (none without ids). */
export function secretsBackendEnv(c: AirflowConnectionsArgs | undefined): EnvVar[] {
    if (secretsBackendValues(c) === undefined) return [];
    const ref = (name: string, key: string): EnvVar => ({
        name,
        valueFrom: { secretKeyRef: { name: BACKEND_SECRET, key } },
    });
    return [
        ref("AIRFLOW__SECRETS__BACKEND", "backend"),
        ref("AIRFLOW__SECRETS__BACKEND_KWARGS", "kwargs"),
    ];
}

/**
 * The empty secrets, the per-secret read grants and the backend's Kubernetes Secret; Airflow's
 * pods depend on all of them.
 */
export function connectionSecrets(
    name: string,
    c: AirflowConnectionsArgs | undefined,
    k8sSecret: { namespace: string; labels: Record<string, string> },
    parent: pulumi.Resource,
): pulumi.Resource[] {
    const values = secretsBackendValues(c);
    if (c === undefined || values === undefined) return [];
    const out: pulumi.Resource[] = [
        new k8s.core.v1.Secret(
            `${name}-secrets-backend`,
            {
                metadata: {
                    name: BACKEND_SECRET,
                    namespace: k8sSecret.namespace,
                    labels: k8sSecret.labels,
                },
                stringData: values,
            },
            { parent },
        ),
    ];
    for (const id of [...c.ids].sort()) {
        const secretName = `${name}-conn-${id.replace(/_/g, "-")}`;
        const secret = new gcp.secretmanager.Secret(
            secretName,
            {
                project: c.project,
                secretId: connectionSecretId(c.prefix, id),
                replication: { auto: {} },
                labels: { component: "airflow", purpose: "airflow-connection" },
                annotations: { "airflow-connection-id": id },
            },
            { parent },
        );
        out.push(
            new gcp.secretmanager.SecretIamMember(
                `${secretName}-reader`,
                {
                    project: c.project,
                    secretId: secret.secretId,
                    role: SECRET_ACCESSOR,
                    member: pulumi.interpolate`serviceAccount:${c.googleServiceAccount}`,
                },
                { parent },
            ),
        );
    }
    return out;
}
