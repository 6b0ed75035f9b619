/**
 * PlatformPostgres: ONE in-cluster PostgreSQL serving several databases, each with its own owner
 * role and generated password (docs/architecture.md#platform-services). Apps get a Secret with
 * their own database's credentials in their own namespace; the superuser password never leaves
 * this namespace.
 *
 * The database list is reconciled on every `pulumi up` by `scripts/reconcile.sh`, run as a Job
 * whose name follows the list, the script and the image (and which is replaced when a password
 * changes): adding a database creates it, re-running changes nothing, nothing is ever dropped.
 * Daily `pg_dump` of every database goes to the backups bucket (its lifecycle rule deletes old
 * dumps); `scripts/restore.sh` restores one (README: "Restore a database").
 *
 * Files: `config.ts` (args, defaults, validation), `secrets.ts` (passwords and Secrets),
 * `server.ts` (Service, StatefulSet), `network.ts`, `maintenance.ts` (scripts, reconcile Job,
 * backup CronJob).
 */
import * as pulumi from "@pulumi/pulumi";
import { appLabels } from "../shared/workload";
import {
    POSTGRES_PORT,
    resolvePostgresArgs,
    type DatabaseSecret,
    type PlatformPostgresArgs,
} from "./config";
import { maintenanceJobs, scriptsConfigMap } from "./maintenance";
import { postgresNetworkPolicies } from "./network";
import { postgresSecrets } from "./secrets";
import { postgresServer } from "./server";

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
        const ns = args.namespace;
        const { labels, selector } = appLabels("postgres", "database");
        const maint = appLabels("postgres-maintenance", "database");
        this.host = pulumi.interpolate`postgres.${ns}.svc.cluster.local`;

        const made = postgresSecrets(name, args, this.host, labels, this);
        this.secrets = made.secrets;
        this.exporterSecret = made.exporterSecret;
        const scripts = scriptsConfigMap(name, ns, labels, this);
        const server = postgresServer(
            name,
            args,
            { labels, selector, superSecret: made.superSecret },
            this,
        );
        postgresNetworkPolicies(name, args, selector, maint, this);
        this.reconcileJobName = maintenanceJobs(
            name,
            args,
            {
                host: this.host,
                maint,
                server,
                jobSecret: made.jobSecret,
                scripts,
                monitoringPassword: made.monitoringPassword,
                owners: made.owners,
            },
            this,
        );

        this.registerOutputs({
            host: this.host,
            secrets: this.secrets,
            reconcileJobName: this.reconcileJobName,
        });
    }
}
