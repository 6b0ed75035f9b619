/**
 * Airflow: Airflow 3 on the cluster (docs/architecture.md#airflow-on-the-cluster).
 *
 * - ONE Deployment whose pod runs the four processes (scheduler with the LocalExecutor,
 *   api-server, dag-processor, triggerer) from the Airflow image built from `dags/`
 *   (`workloads.ts`).
 * - ONE Secret `airflow-core` with the fernet key (32 random bytes, url-safe base64), the API
 *   secret key and the JWT secret, generated once; every process reads the same three keys
 *   through the same env list (`coreEnv`), so tokens signed by one are accepted by the others
 *   (`secrets.ts`, `environment.ts`).
 * - The metadata DB URL comes from the Postgres component's `airflow-db` Secret.
 * - Migration: a Job named after the image and the user passwords runs `airflow db migrate` and
 *   the user bootstrap (admin + the S3 trigger's API user) as explicit commands; the Deployment
 *   depends on it, and its pods wait in an init container until the schema is current. No Helm
 *   hooks: a new image means a new Job, which `pulumi up` runs to completion before rolling the
 *   pods (`migration.ts`).
 * - DAGs: baked into the image (default) or read from a git DAG bundle (repository, branch and
 *   sub-path from config; the token of a private repository in a Secret the operator creates).
 * - The `pipeline-env` ConfigMap in the airflow and jobs namespaces (contract keys only).
 * - RBAC: create/watch/delete Pods, pod logs, Jobs and SparkApplications in the jobs namespace
 *   only (`rbac.ts`).
 * - The network rules of the Airflow pod and of the task pods it launches in the jobs namespace
 *   (`network.ts`).
 * - Connections from Secret Manager: one empty secret per expected connection id, readable by
 *   Airflow's Google service account alone, and the secrets backend env (`connections.ts`).
 * - Metrics to the statsd exporter; served through the shared load balancer with its base URL.
 */
import * as pulumi from "@pulumi/pulumi";
import { appLabels } from "../shared/workload";
import {
    AIRFLOW_API_PORT,
    PIPELINE_ENV_CONFIGMAP,
    resolveAirflowArgs,
    type AirflowArgs,
} from "./config";
import { connectionSecrets, secretsBackendEnv } from "./connections";
import { coreEnv, pipelineEnvConfigMaps } from "./environment";
import { migrationJob, migrationSelector } from "./migration";
import { airflowNetworkPolicies, migrationNetworkPolicy } from "./network";
import { launcherRbac } from "./rbac";
import { airflowSecrets } from "./secrets";
import { airflowWorkloads } from "./workloads";

export class Airflow extends pulumi.ComponentResource {
    public readonly url: pulumi.Output<string>;
    public readonly adminUser: string;
    public readonly adminPassword: pulumi.Output<string>;
    /** `{"username","password"}` of the trigger's API user (a secret), for the AWS trigger. */
    public readonly triggerCredentials: pulumi.Output<string>;
    public readonly migrationJobName: pulumi.Output<string>;
    public readonly pipelineEnvConfigMap = PIPELINE_ENV_CONFIGMAP;

    /** Pass the cluster's Kubernetes provider in `opts.providers`. */
    constructor(name: string, rawArgs: AirflowArgs, opts: pulumi.ComponentResourceOptions = {}) {
        super("taxi:k8s:Airflow", name, {}, opts);
        const args = resolveAirflowArgs(rawArgs);
        const { labels, selector } = appLabels("airflow", "core");
        const route = args.loadBalancer.addRoute(
            "airflow",
            {
                namespace: args.namespace,
                service: "airflow",
                port: AIRFLOW_API_PORT,
                healthPath: "/api/v2/monitor/health",
            },
            this,
        );
        this.url = route.url;
        this.adminUser = args.adminUser;

        const secrets = airflowSecrets(
            name,
            { namespace: args.namespace, labels, triggerPassword: args.triggerPassword },
            this,
        );
        this.adminPassword = pulumi.secret(secrets.adminPassword);
        this.triggerCredentials = pulumi.secret(
            pulumi
                .all([secrets.triggerPassword])
                .apply(([password]) => JSON.stringify({ username: args.triggerUser, password })),
        );

        const configMaps = pipelineEnvConfigMaps(name, args, labels, this);
        launcherRbac(
            name,
            {
                namespace: args.namespace,
                jobsNamespace: args.jobsNamespace,
                serviceAccount: args.serviceAccount,
                labels,
            },
            this,
        );
        const env = coreEnv(args, this.url);
        const migrationPolicy = migrationNetworkPolicy(
            name,
            args,
            migrationSelector(selector),
            this,
        );
        const migration = migrationJob(
            name,
            args,
            {
                env,
                adminPassword: secrets.adminPassword,
                triggerPassword: secrets.triggerPassword,
                labels,
                selector,
                // Its pods reach PostgreSQL only once their network policy exists, and read
                // both Secrets.
                dependsOn: [...configMaps, migrationPolicy, ...secrets.resources],
            },
            this,
        );
        this.migrationJobName = migration.name;
        // Airflow reads its connections' secrets as soon as it starts: grants (and the
        // backend's Kubernetes Secret) first. The migration Job needs no connection.
        const secretGrants = connectionSecrets(
            name,
            args.connections,
            { namespace: args.namespace, labels },
            this,
        );
        airflowWorkloads(
            name,
            args,
            {
                env: [...env, ...secretsBackendEnv(args.connections)],
                labels,
                selector,
                migration: migration.job,
                dependsOn: [...secretGrants, ...secrets.resources],
            },
            this,
        );
        airflowNetworkPolicies(name, args, selector, this);

        this.registerOutputs({
            url: this.url,
            adminUser: this.adminUser,
            migrationJobName: this.migrationJobName,
        });
    }
}
