/**
 * Airflow's secrets, generated once: the keys the four processes share (fernet key, API secret
 * key, JWT secret) in the `airflow-core` Secret, and the users' passwords in `airflow-users`.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { CORE_SECRET } from "./config";

/** The Secret with the users' passwords (`admin-password`, `trigger-password`). */
export const USERS_SECRET = "airflow-users";

export interface AirflowSecrets {
    /** Generated admin password (plain Output; the component wraps it as a secret). */
    adminPassword: pulumi.Output<string>;
    /** The trigger user's password: given by the stack or generated here (a secret). */
    triggerPassword: pulumi.Output<string>;
    /** The two Kubernetes Secrets (core keys, user passwords): what pods read them must wait for. */
    resources: k8s.core.v1.Secret[];
}

/** Generate the shared keys and the passwords, and write the two Secrets into `namespace`. */
export function airflowSecrets(
    name: string,
    args: {
        namespace: string;
        labels: Record<string, string>;
        triggerPassword?: pulumi.Input<string>;
    },
    parent: pulumi.Resource,
): AirflowSecrets {
    const o = { parent };
    const ns = args.namespace;
    const labels = args.labels;
    const fernet = new random.RandomBytes(`${name}-fernet-key`, { length: 32 }, o);
    const apiSecret = new random.RandomPassword(
        `${name}-api-secret-key`,
        { length: 48, special: false },
        o,
    );
    const jwtSecret = new random.RandomPassword(
        `${name}-jwt-secret`,
        { length: 64, special: false },
        o,
    );
    const adminPassword = new random.RandomPassword(
        `${name}-admin-password`,
        { length: 32, special: false },
        o,
    );
    const triggerPassword = pulumi.secret(
        args.triggerPassword ??
            new random.RandomPassword(`${name}-trigger-password`, { length: 32, special: false }, o)
                .result,
    );

    const core = new k8s.core.v1.Secret(
        `${name}-core`,
        {
            metadata: { name: CORE_SECRET, namespace: ns, labels },
            type: "Opaque",
            stringData: {
                // Fernet wants url-safe base64 of 32 bytes.
                "fernet-key": fernet.base64.apply((b) => b.replace(/\+/g, "-").replace(/\//g, "_")),
                "api-secret-key": apiSecret.result,
                "jwt-secret": jwtSecret.result,
            },
        },
        o,
    );
    const users = new k8s.core.v1.Secret(
        `${name}-users`,
        {
            metadata: { name: USERS_SECRET, namespace: ns, labels },
            type: "Opaque",
            stringData: {
                "admin-password": adminPassword.result,
                "trigger-password": triggerPassword,
            },
        },
        o,
    );
    return { adminPassword: adminPassword.result, triggerPassword, resources: [core, users] };
}
