/**
 * PlatformPostgres's maintenance: the scripts ConfigMap (`scripts/`), the reconcile Job (the
 * database list applied on every `pulumi up`; its name follows the list, the scripts and the
 * image, and a new password replaces it), and the daily backup CronJob (`pg_dump` of every
 * database, uploaded to the backups bucket).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { container, resources, restrictedPodSecurity } from "../shared/workload";
import { POSTGRES_PORT, POSTGRES_UID, SCRIPTS, SCRIPTS_DIR, databasesEnv } from "./config";
import type { ResolvedPostgresArgs } from "./secrets";

/** Name of the reconcile Job: changes when the list, the scripts or the image change. */
export function reconcileJobName(dbs: { name: string; owner: string }[], image: string): string {
    const h = createHash("sha256").update(databasesEnv(dbs)).update(image);
    for (const s of SCRIPTS) h.update(fs.readFileSync(path.join(SCRIPTS_DIR, s)));
    return `postgres-reconcile-${h.digest("hex").slice(0, 10)}`;
}

/** The `postgres-scripts` ConfigMap (the maintenance scripts, mounted by the Jobs). */
export function scriptsConfigMap(
    name: string,
    ns: pulumi.Input<string>,
    labels: Record<string, string>,
    parent: pulumi.Resource,
): k8s.core.v1.ConfigMap {
    return new k8s.core.v1.ConfigMap(
        `${name}-scripts`,
        {
            metadata: { name: "postgres-scripts", namespace: ns, labels },
            data: Object.fromEntries(
                SCRIPTS.map((s) => [s, fs.readFileSync(path.join(SCRIPTS_DIR, s), "utf8")]),
            ),
        },
        { parent },
    );
}

/** The reconcile Job and (with `args.backup`) the backup CronJob; returns the Job's name. */
export function maintenanceJobs(
    name: string,
    args: ResolvedPostgresArgs,
    inputs: {
        host: pulumi.Output<string>;
        maint: { labels: Record<string, string> };
        server: pulumi.Resource;
        jobSecret: pulumi.Resource;
        scripts: pulumi.Resource;
        monitoringPassword: pulumi.Output<string>;
        owners: Record<string, pulumi.Output<string>>;
    },
    parent: pulumi.Resource,
): pulumi.Output<string> {
    const o = { parent };
    const ns = args.namespace;
    const { host, maint, server, jobSecret, scripts, monitoringPassword, owners } = inputs;
    const pgEnv = (user: "superuser") => [
        { name: "PGHOST", value: host },
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

    const jobName = pulumi
        .output(args.image)
        .apply((image) => reconcileJobName(args.databases, image));
    // A fingerprint of the passwords (a truncated SHA-256 of 190-bit random values: it
    // reveals nothing) so that a new password replaces the Job and the roles get it. Not a
    // secret, so the render and the preview still show the Job.
    const passwordsHash = pulumi.unsecret(
        pulumi
            .all([monitoringPassword, ...Object.values(owners)])
            .apply((pws) => createHash("sha256").update(pws.join("\n")).digest("hex").slice(0, 16)),
    );
    new k8s.batch.v1.Job(
        `${name}-reconcile`,
        {
            metadata: {
                name: jobName,
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
                                    // the uploader's Google credentials (Workload Identity) for
                                    // this pod's service account without one.
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
    return jobName;
}
