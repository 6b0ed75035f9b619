/**
 * PlatformPostgres's credentials: a generated password per role, the superuser Secret (never
 * leaves the server's namespace), the role passwords for the reconcile Job, a Secret per database
 * in its app's namespace, and the postgres-exporter Secret in the monitoring namespace.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { appLabels } from "../shared/workload";
import {
    POSTGRES_PORT,
    passwordEnvName,
    type DatabaseSecret,
    type resolvePostgresArgs,
} from "./config";

export type ResolvedPostgresArgs = ReturnType<typeof resolvePostgresArgs>;

export interface PostgresSecrets {
    superSecret: k8s.core.v1.Secret;
    /** All role passwords, for the reconcile Job only. */
    jobSecret: k8s.core.v1.Secret;
    /** Per database: its Secret in the app's namespace. */
    secrets: Record<string, DatabaseSecret>;
    exporterSecret: DatabaseSecret;
    monitoringPassword: pulumi.Output<string>;
    /** Per database: the owner's password. */
    owners: Record<string, pulumi.Output<string>>;
}

/** Generate the passwords and create every Secret; `host` is the server's in-cluster DNS name. */
export function postgresSecrets(
    name: string,
    args: ResolvedPostgresArgs,
    host: pulumi.Output<string>,
    labels: Record<string, string>,
    parent: pulumi.Resource,
): PostgresSecrets {
    const o = { parent };
    const ns = args.namespace;
    const password = (id: string) =>
        pulumi.secret(
            new random.RandomPassword(`${name}-${id}-password`, { length: 32, special: false }, o)
                .result,
        );
    const superPassword = password("superuser");
    const monitoringPassword = password(args.monitoringUser);
    const owners = Object.fromEntries(args.databases.map((d) => [d.name, password(d.name)]));

    const superSecret = new k8s.core.v1.Secret(
        `${name}-superuser`,
        {
            metadata: { name: "postgres-superuser", namespace: ns, labels },
            type: "Opaque",
            stringData: { username: "postgres", password: superPassword },
        },
        o,
    );
    // All owner passwords, for the reconcile Job only (env names as reconcile.sh reads them).
    const jobSecret = new k8s.core.v1.Secret(
        `${name}-role-passwords`,
        {
            metadata: { name: "postgres-role-passwords", namespace: ns, labels },
            type: "Opaque",
            stringData: {
                MONITORING_PASSWORD: monitoringPassword,
                ...Object.fromEntries(
                    args.databases.map((d) => [passwordEnvName(d.name), owners[d.name]!]),
                ),
            },
        },
        o,
    );

    const secrets: Record<string, DatabaseSecret> = {};
    for (const d of args.databases) {
        const pw = owners[d.name]!;
        const s = new k8s.core.v1.Secret(
            `${name}-${d.name}-db`,
            {
                metadata: {
                    name: `${d.name}-db`,
                    namespace: d.namespace,
                    labels: appLabels(d.name, "database-credentials").labels,
                },
                type: "Opaque",
                stringData: {
                    username: d.owner,
                    password: pw,
                    host: host,
                    port: String(POSTGRES_PORT),
                    database: d.name,
                    uri: pulumi.interpolate`postgresql://${d.owner}:${pw}@${host}:${POSTGRES_PORT}/${d.name}`,
                    sqlalchemy_uri: pulumi.interpolate`postgresql+psycopg2://${d.owner}:${pw}@${host}:${POSTGRES_PORT}/${d.name}`,
                },
            },
            o,
        );
        secrets[d.name] = { namespace: s.metadata.namespace, name: `${d.name}-db` };
    }
    const exporter = new k8s.core.v1.Secret(
        `${name}-exporter`,
        {
            metadata: {
                name: "postgres-exporter",
                namespace: args.monitoringNamespace,
                labels: appLabels("postgres-exporter", "metrics").labels,
            },
            type: "Opaque",
            stringData: {
                DATA_SOURCE_URI: pulumi.interpolate`${host}:${POSTGRES_PORT}/postgres?sslmode=disable`,
                DATA_SOURCE_USER: args.monitoringUser,
                DATA_SOURCE_PASS: monitoringPassword,
            },
        },
        o,
    );
    return {
        superSecret,
        jobSecret,
        secrets,
        exporterSecret: { namespace: exporter.metadata.namespace, name: "postgres-exporter" },
        monitoringPassword,
        owners,
    };
}
