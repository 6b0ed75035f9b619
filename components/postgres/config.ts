/**
 * PlatformPostgres's settings: the args with their defaults and validation
 * (`resolvePostgresArgs`), and the values the maintenance scripts read.
 */
import type * as pulumi from "@pulumi/pulumi";
import * as path from "node:path";
import { assertArgs } from "../shared/validation";
import { UPSTREAM_IMAGES } from "../shared/versions";
import {
    MONITORING_ROLE,
    SUPERUSER,
    databaseNameProblem,
    nameShapeProblem,
    ownerRoleProblem,
    showName,
} from "./names";

export const POSTGRES_PORT = 5432;
/** uid of the `postgres` user in the official Debian-based image. */
export const POSTGRES_UID = 999;
export const SCRIPTS_DIR = path.join(__dirname, "scripts");
/** The scripts shipped in the `postgres-scripts` ConfigMap; names.sh is sourced by the others. */
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

export interface DatabaseSecret {
    namespace: pulumi.Output<string>;
    name: string;
}
