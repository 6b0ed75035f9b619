/**
 * PlatformPostgres: ONE in-cluster PostgreSQL serving several databases, each with its own owner
 * role and generated password (ARCHITECTURE.md §2). Apps get a Secret with their own database's
 * credentials in their own namespace; the superuser password never leaves this namespace.
 *
 * The database list is reconciled on every `pulumi up` by `scripts/reconcile.sh`, run as a Job
 * whose name follows the list, the script and the image (and which is replaced when a password
 * changes): adding a database creates it, re-running changes nothing, nothing is ever dropped.
 * Daily `pg_dump` of every database goes to the backups bucket (its lifecycle rule deletes old
 * dumps); `scripts/restore.sh` restores one (README: "Restore a database").
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import {
    GKE_METADATA_EGRESS,
    INTERNET_HTTPS,
    allowPolicy,
    fromNamespace,
    tcp,
} from "../shared/network-policy";
import { assertArgs } from "../shared/validation";
import {
    MONITORING_ROLE,
    SUPERUSER,
    databaseNameProblem,
    nameShapeProblem,
    ownerRoleProblem,
    showName,
} from "./names";
import { UPSTREAM_IMAGES } from "../shared/versions";
import {
    appLabels,
    container,
    execProbe,
    resources,
    restrictedPodSecurity,
} from "../shared/workload";

export const POSTGRES_PORT = 5432;
/** uid of the `postgres` user in the official Debian-based image. */
const POSTGRES_UID = 999;
const SCRIPTS_DIR = path.join(__dirname, "scripts");
export const SCRIPTS = ["reconcile.sh", "backup.sh", "restore.sh", "names.sh"] as const;

export interface DatabaseSpec {
    /** Database name (lower-case letters, digits, _). */
    name: string;
    /** Owner role (default: the database name). */
    owner?: string;
    /** Namespace of the app using it; its `<name>-db` Secret is created there. */
    namespace: pulumi.Input<string>;
}

export interface PlatformPostgresArgs {
    /** Namespace of the server, its Secrets and maintenance Jobs. Required. */
    namespace: pulumi.Input<string>;
    /** Databases to serve; at least one. Required. */
    databases: DatabaseSpec[];
    /** Namespace of postgres-exporter; its `postgres-exporter` Secret is created there. Required. */
    monitoringNamespace: pulumi.Input<string>;
    /** Name of the monitoring role (default "monitoring"; gets pg_monitor only). */
    monitoringUser?: string;
    /** Server image, by digest (default UPSTREAM_IMAGES.postgres). */
    image?: pulumi.Input<string>;
    /** Data volume size in GiB (default 20). */
    diskGi?: number;
    /** Storage class of the data volume (default "standard-rwo", GKE's balanced PD). */
    storageClass?: string;
    /** Daily backups; omitted = no backups (not recommended outside throwaway stacks). */
    backup?: {
        /** Bucket name (not URI) the dumps are uploaded to. */
        bucket: pulumi.Input<string>;
        /** Kubernetes service account (in `namespace`) bound to a GSA that may create objects there. */
        serviceAccount: pulumi.Input<string>;
        /** Cron schedule, UTC (default "17 2 * * *"). */
        schedule?: string;
        /** Image with gcloud (default UPSTREAM_IMAGES.cloudSdk). */
        uploaderImage?: pulumi.Input<string>;
    };
}

export function resolvePostgresArgs(args: PlatformPostgresArgs) {
    const r = {
        ...args,
        monitoringUser: args.monitoringUser ?? MONITORING_ROLE,
        image: args.image ?? UPSTREAM_IMAGES.postgres,
        diskGi: args.diskGi ?? 20,
        storageClass: args.storageClass ?? "standard-rwo",
        databases: args.databases.map((d) => ({ ...d, owner: d.owner ?? d.name })),
        backup: args.backup && {
            ...args.backup,
            schedule: args.backup.schedule ?? "17 2 * * *",
            uploaderImage: args.backup.uploaderImage ?? UPSTREAM_IMAGES.cloudSdk,
        },
    };
    const names = r.databases.map((d) => d.name);
    const roles = [...r.databases.map((d) => d.owner), r.monitoringUser];
    assertArgs("PlatformPostgres", [
        r.databases.length === 0 && "databases is empty: declare at least one database",
        // The rules of names.ts (shared with the stack config and scripts/names.sh).
        ...names.map((n) => {
            const why = databaseNameProblem(n);
            return why !== undefined && `database ${showName(n)} ${why}`;
        }),
        ...r.databases.map((d) => {
            const why = ownerRoleProblem(d.owner);
            return why !== undefined && `owner ${showName(d.owner)} of ${d.name} ${why}`;
        }),
        ...[r.monitoringUser].map((m) => {
            const why = nameShapeProblem(m);
            const reserved = m === SUPERUSER || m === "public" || m.startsWith("pg_");
            return (
                (why !== undefined || reserved) &&
                `monitoringUser ${showName(m)} ${why ?? "is the superuser, PUBLIC or a pg_* role"}`
            );
        }),
        ...names.filter((n, i) => names.indexOf(n) !== i).map((n) => `databases lists ${n} twice`),
        ...roles
            .filter((n, i) => roles.indexOf(n) !== i)
            .map(
                (n) =>
                    `role ${n} owns more than one database or is also the monitoring role: give each database its own owner`,
            ),
        r.diskGi < 5 && `diskGi is ${r.diskGi}; must be at least 5`,
    ]);
    return r;
}

/** `DATABASES` value the scripts read: "db:owner db:owner". */
export function databasesEnv(dbs: { name: string; owner: string }[]): string {
    return dbs.map((d) => `${d.name}:${d.owner}`).join(" ");
}

/** Env var holding a database owner's password in the maintenance Jobs. */
export function passwordEnvName(db: string): string {
    return `DB_PASSWORD_${db.toUpperCase()}`;
}

/** Name of the reconcile Job: changes when the list, the scripts or the image change. */
export function reconcileJobName(dbs: { name: string; owner: string }[], image: string): string {
    const h = createHash("sha256").update(databasesEnv(dbs)).update(image);
    for (const s of SCRIPTS) h.update(fs.readFileSync(path.join(SCRIPTS_DIR, s)));
    return `postgres-reconcile-${h.digest("hex").slice(0, 10)}`;
}

export interface DatabaseSecret {
    namespace: pulumi.Output<string>;
    name: string;
}

export class PlatformPostgres extends pulumi.ComponentResource {
    /** In-cluster DNS name of the server. */
    public readonly host: pulumi.Output<string>;
    public readonly port = POSTGRES_PORT;
    /** Per database: the Secret (in the app's namespace) with username, password, host, port, database, uri, sqlalchemy_uri. */
    public readonly secrets: Record<string, DatabaseSecret>;
    /** Secret in the monitoring namespace with DATA_SOURCE_URI/USER/PASS for postgres-exporter. */
    public readonly exporterSecret: DatabaseSecret;
    public readonly reconcileJobName: pulumi.Output<string>;

    /** Pass the cluster's Kubernetes provider in `opts.providers`. */
    constructor(
        name: string,
        rawArgs: PlatformPostgresArgs,
        opts: pulumi.ComponentResourceOptions = {},
    ) {
        super("taxi:k8s:PlatformPostgres", name, {}, opts);
        const args = resolvePostgresArgs(rawArgs);
        const o = { parent: this };
        const ns = args.namespace;
        const { labels, selector } = appLabels("postgres", "database");
        const maint = appLabels("postgres-maintenance", "database");
        this.host = pulumi.interpolate`postgres.${ns}.svc.cluster.local`;

        const password = (id: string) =>
            pulumi.secret(
                new random.RandomPassword(
                    `${name}-${id}-password`,
                    { length: 32, special: false },
                    o,
                ).result,
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
                        host: this.host,
                        port: String(POSTGRES_PORT),
                        database: d.name,
                        uri: pulumi.interpolate`postgresql://${d.owner}:${pw}@${this.host}:${POSTGRES_PORT}/${d.name}`,
                        sqlalchemy_uri: pulumi.interpolate`postgresql+psycopg2://${d.owner}:${pw}@${this.host}:${POSTGRES_PORT}/${d.name}`,
                    },
                },
                o,
            );
            secrets[d.name] = { namespace: s.metadata.namespace, name: `${d.name}-db` };
        }
        this.secrets = secrets;
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
                    DATA_SOURCE_URI: pulumi.interpolate`${this.host}:${POSTGRES_PORT}/postgres?sslmode=disable`,
                    DATA_SOURCE_USER: args.monitoringUser,
                    DATA_SOURCE_PASS: monitoringPassword,
                },
            },
            o,
        );
        this.exporterSecret = { namespace: exporter.metadata.namespace, name: "postgres-exporter" };

        const scripts = new k8s.core.v1.ConfigMap(
            `${name}-scripts`,
            {
                metadata: { name: "postgres-scripts", namespace: ns, labels },
                data: Object.fromEntries(
                    SCRIPTS.map((s) => [s, fs.readFileSync(path.join(SCRIPTS_DIR, s), "utf8")]),
                ),
            },
            o,
        );

        const service = new k8s.core.v1.Service(
            `${name}-service`,
            {
                metadata: { name: "postgres", namespace: ns, labels },
                spec: {
                    clusterIP: "None",
                    selector,
                    ports: [{ name: "postgres", port: POSTGRES_PORT, targetPort: "postgres" }],
                },
            },
            o,
        );
        const pgEnv = (user: "superuser") => [
            { name: "PGHOST", value: this.host },
            { name: "PGPORT", value: String(POSTGRES_PORT) },
            {
                name: "PGUSER",
                valueFrom: { secretKeyRef: { name: "postgres-superuser", key: "username" } },
            },
            {
                name: "PGPASSWORD",
                valueFrom: { secretKeyRef: { name: `postgres-${user}`, key: "password" } },
            },
        ];
        const isReady = ["pg_isready", "--host=127.0.0.1", "--username=postgres", "--quiet"];
        const server = new k8s.apps.v1.StatefulSet(
            `${name}-server`,
            {
                metadata: { name: "postgres", namespace: ns, labels },
                spec: {
                    serviceName: "postgres",
                    replicas: 1,
                    selector: { matchLabels: selector },
                    template: {
                        metadata: { labels },
                        spec: {
                            automountServiceAccountToken: false,
                            securityContext: restrictedPodSecurity(POSTGRES_UID),
                            terminationGracePeriodSeconds: 60,
                            containers: [
                                container({
                                    name: "postgres",
                                    image: args.image,
                                    args: [
                                        "-c",
                                        "max_connections=200",
                                        "-c",
                                        "password_encryption=scram-sha-256",
                                        "-c",
                                        "log_connections=off",
                                    ],
                                    ports: [{ name: "postgres", containerPort: POSTGRES_PORT }],
                                    env: [
                                        {
                                            name: "PGDATA",
                                            value: "/var/lib/postgresql/data/pgdata",
                                        },
                                        {
                                            name: "POSTGRES_PASSWORD",
                                            valueFrom: {
                                                secretKeyRef: {
                                                    name: "postgres-superuser",
                                                    key: "password",
                                                },
                                            },
                                        },
                                    ],
                                    resources: resources("250m", "1Gi", { cpu: "1" }),
                                    startupProbe: execProbe(isReady, { failureThreshold: 30 }),
                                    readinessProbe: execProbe(isReady),
                                    livenessProbe: execProbe(isReady, {
                                        periodSeconds: 30,
                                        failureThreshold: 4,
                                    }),
                                    volumeMounts: [
                                        { name: "data", mountPath: "/var/lib/postgresql/data" },
                                        { name: "run", mountPath: "/var/run/postgresql" },
                                        { name: "tmp", mountPath: "/tmp" },
                                    ],
                                }),
                            ],
                            volumes: [
                                { name: "run", emptyDir: {} },
                                { name: "tmp", emptyDir: {} },
                            ],
                        },
                    },
                    volumeClaimTemplates: [
                        {
                            metadata: { name: "data", labels },
                            spec: {
                                accessModes: ["ReadWriteOnce"],
                                storageClassName: args.storageClass,
                                resources: { requests: { storage: `${args.diskGi}Gi` } },
                            },
                        },
                    ],
                    persistentVolumeClaimRetentionPolicy: {
                        whenDeleted: "Retain",
                        whenScaled: "Retain",
                    },
                },
            },
            { ...o, dependsOn: [superSecret, service] },
        );

        // Who may reach the server: the apps' namespaces, the exporter, and the maintenance Jobs.
        const clientNamespaces = [
            ...new Set([...args.databases.map((d) => d.namespace), args.monitoringNamespace]),
        ];
        allowPolicy(
            `${name}-netpol-server`,
            { name: "postgres-server", namespace: ns },
            {
                podSelector: selector,
                ingress: [
                    {
                        from: [
                            ...clientNamespaces.map((n) => fromNamespace(n)),
                            { podSelector: { matchLabels: maint.selector } },
                        ],
                        ports: tcp(POSTGRES_PORT),
                    },
                ],
                egress: [],
            },
            o,
        );
        allowPolicy(
            `${name}-netpol-maintenance`,
            { name: "postgres-maintenance", namespace: ns },
            {
                podSelector: maint.selector,
                egress: [
                    { to: [{ podSelector: { matchLabels: selector } }], ports: tcp(POSTGRES_PORT) },
                    ...(args.backup ? [INTERNET_HTTPS, GKE_METADATA_EGRESS] : []),
                ],
            },
            o,
        );

        const scriptVolume = {
            name: "scripts",
            configMap: { name: "postgres-scripts", defaultMode: 0o555 },
        };
        const maintPod = (extra: Record<string, unknown> = {}) => ({
            metadata: { labels: maint.labels },
            spec: {
                automountServiceAccountToken: false,
                securityContext: restrictedPodSecurity(POSTGRES_UID),
                volumes: [scriptVolume, { name: "tmp", emptyDir: {} }],
                ...extra,
            },
        });

        this.reconcileJobName = pulumi
            .output(args.image)
            .apply((image) => reconcileJobName(args.databases, image));
        // A fingerprint of the passwords (a truncated SHA-256 of 190-bit random values: it
        // reveals nothing) so that a new password replaces the Job and the roles get it. Not a
        // secret, so the render and the preview still show the Job.
        const passwordsHash = pulumi.unsecret(
            pulumi
                .all([monitoringPassword, ...Object.values(owners)])
                .apply((pws) =>
                    createHash("sha256").update(pws.join("\n")).digest("hex").slice(0, 16),
                ),
        );
        new k8s.batch.v1.Job(
            `${name}-reconcile`,
            {
                metadata: {
                    name: this.reconcileJobName,
                    namespace: ns,
                    labels: maint.labels,
                },
                spec: {
                    backoffLimit: 4,
                    activeDeadlineSeconds: 600,
                    template: {
                        ...maintPod({ restartPolicy: "Never" }),
                        metadata: {
                            labels: maint.labels,
                            // A new password replaces the Job, so the roles get it.
                            annotations: {
                                "taxi-platform/credentials": passwordsHash,
                            },
                        },
                        spec: {
                            ...maintPod({ restartPolicy: "Never" }).spec,
                            containers: [
                                container({
                                    name: "reconcile",
                                    image: args.image,
                                    command: ["bash", "/scripts/reconcile.sh"],
                                    env: [
                                        ...pgEnv("superuser"),
                                        { name: "DATABASES", value: databasesEnv(args.databases) },
                                        { name: "MONITORING_USER", value: args.monitoringUser },
                                    ],
                                    envFrom: [{ secretRef: { name: "postgres-role-passwords" } }],
                                    resources: resources("50m", "64Mi"),
                                    volumeMounts: [
                                        { name: "scripts", mountPath: "/scripts" },
                                        { name: "tmp", mountPath: "/tmp" },
                                    ],
                                }),
                            ],
                        },
                    },
                },
            },
            { ...o, dependsOn: [server, jobSecret, scripts], deleteBeforeReplace: true },
        );

        if (args.backup) {
            const b = args.backup;
            new k8s.batch.v1.CronJob(
                `${name}-backup`,
                {
                    metadata: { name: "postgres-backup", namespace: ns, labels: maint.labels },
                    spec: {
                        schedule: b.schedule,
                        timeZone: "Etc/UTC",
                        concurrencyPolicy: "Forbid",
                        successfulJobsHistoryLimit: 3,
                        failedJobsHistoryLimit: 3,
                        jobTemplate: {
                            spec: {
                                backoffLimit: 2,
                                activeDeadlineSeconds: 3 * 3600,
                                template: {
                                    metadata: { labels: maint.labels },
                                    spec: {
                                        ...maintPod().spec,
                                        restartPolicy: "OnFailure",
                                        serviceAccountName: b.serviceAccount,
                                        // No Kubernetes API token: the GKE metadata server issues
                                        // the uploader's Google credentials (Workload Identity)
                                        // for this pod's service account without one.
                                        automountServiceAccountToken: false,
                                        volumes: [
                                            scriptVolume,
                                            { name: "tmp", emptyDir: {} },
                                            { name: "dumps", emptyDir: {} },
                                        ],
                                        initContainers: [
                                            container({
                                                name: "dump",
                                                image: args.image,
                                                command: ["bash", "/scripts/backup.sh"],
                                                env: [
                                                    ...pgEnv("superuser"),
                                                    {
                                                        name: "DATABASES",
                                                        value: databasesEnv(args.databases),
                                                    },
                                                    { name: "BACKUP_DIR", value: "/dumps" },
                                                ],
                                                resources: resources("100m", "256Mi", { cpu: "1" }),
                                                volumeMounts: [
                                                    { name: "scripts", mountPath: "/scripts" },
                                                    { name: "dumps", mountPath: "/dumps" },
                                                    { name: "tmp", mountPath: "/tmp" },
                                                ],
                                            }),
                                        ],
                                        containers: [
                                            container({
                                                name: "upload",
                                                image: b.uploaderImage,
                                                command: [
                                                    "gcloud",
                                                    "storage",
                                                    "cp",
                                                    "--recursive",
                                                    "/dumps/*",
                                                    pulumi.interpolate`gs://${b.bucket}/postgres/`,
                                                ] as pulumi.Input<string>[],
                                                env: [
                                                    {
                                                        name: "CLOUDSDK_CONFIG",
                                                        value: "/tmp/gcloud",
                                                    },
                                                    { name: "HOME", value: "/tmp" },
                                                ],
                                                resources: resources("100m", "256Mi", {
                                                    cpu: "500m",
                                                }),
                                                volumeMounts: [
                                                    {
                                                        name: "dumps",
                                                        mountPath: "/dumps",
                                                        readOnly: true,
                                                    },
                                                    { name: "tmp", mountPath: "/tmp" },
                                                ],
                                            }),
                                        ],
                                    },
                                },
                            },
                        },
                    },
                },
                { ...o, dependsOn: [server, scripts] },
            );
        }

        this.registerOutputs({
            host: this.host,
            secrets: this.secrets,
            reconcileJobName: this.reconcileJobName,
        });
    }
}
