/**
 * Composition of the platform for one stack: creates the cloud providers and wires the typed
 * components together. No config reading here (see config.ts) and no resource logic (see
 * components/). Returns the stack outputs.
 */
import * as aws from "@pulumi/aws";
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { bundleForDeploy } from "../functions/airflow-trigger/build";
import {
    Airflow,
    AwsMail,
    AwsTrigger,
    batchDagId,
    type DagSource,
    type Dataset,
    type DatabaseSpec,
    DataLake,
    DocsSite,
    enabledDatasets,
    FareApi,
    GkeCluster,
    JOBS_POOL,
    landingKeyPrefix,
    MlflowServer,
    Monitoring,
    NAMESPACES,
    Network,
    PlatformImageBuilds,
    platformLabels,
    PlatformNamespaces,
    PlatformPostgres,
    POOL_LABEL,
    S3Transfer,
    SharedLoadBalancer,
    SparkOperator,
    WorkloadIdentities,
} from "../components";
import { PLATFORM_DATABASES, type PlatformConfig } from "./config";

/** Namespace of the app using each of the platform's own databases (its Secret lands there). */
const DATABASE_USERS: Record<(typeof PLATFORM_DATABASES)[number], string> = {
    airflow: NAMESPACES.airflow,
    mlflow: NAMESPACES.mlflow,
    grafana: NAMESPACES.monitoring,
};

/**
 * @param datasets the enabled datasets of dags/datasets.yaml (the default): one trigger route and
 *   one transfer job each. Tests pass another registry to prove a new entry end to end.
 */
export function definePlatform(cfg: PlatformConfig, datasets: Dataset[] = enabledDatasets()) {
    const env = cfg.environment;
    const labels = platformLabels(env);
    // Explicit providers: every resource names the account it lands in, never an ambient default.
    const gcpProvider = new gcp.Provider(`${env}-gcp`, {
        project: cfg.gcpProject,
        region: cfg.gcpRegion,
        defaultLabels: labels,
        addPulumiAttributionLabel: false,
    });
    const awsProvider = new aws.Provider(`${env}-aws`, {
        region: cfg.awsRegion as aws.Region,
        defaultTags: { tags: labels },
    });
    const onGcp = { providers: [gcpProvider] };

    const network = new Network(
        env,
        {
            region: cfg.gcpRegion,
            nodesCidr: cfg.nodesCidr,
            podsCidr: cfg.podsCidr,
            servicesCidr: cfg.servicesCidr,
            masterCidr: cfg.masterCidr,
        },
        onGcp,
    );
    const cluster = new GkeCluster(
        env,
        {
            project: cfg.gcpProject,
            region: cfg.gcpRegion,
            networkId: network.networkId,
            subnetId: network.subnetId,
            masterCidr: cfg.masterCidr,
            masterAuthorizedNetworks: cfg.masterAuthorizedNetworks,
            releaseChannel: cfg.releaseChannel,
            systemPool: { machineType: cfg.systemPoolMachineType, nodes: cfg.systemPoolNodes },
            jobsPool: {
                machineType: cfg.jobsPoolMachineType,
                minNodes: cfg.jobsPoolMinNodes,
                maxNodes: cfg.jobsPoolMaxNodes,
                spot: cfg.jobsPoolSpot,
            },
            deletionProtection: cfg.deletionProtection,
        },
        onGcp,
    );
    const inCluster = { providers: [gcpProvider, cluster.provider] };
    const lake = new DataLake(
        env,
        {
            project: cfg.gcpProject,
            region: cfg.gcpRegion,
            environment: env,
            datasetLocation: cfg.datasetLocation,
            stagingRetentionDays: cfg.stagingRetentionDays,
            deletionProtection: cfg.deletionProtection,
        },
        onGcp,
    );
    const namespaces = new PlatformNamespaces(env, {}, inCluster);
    const identities = new WorkloadIdentities(
        env,
        {
            project: cfg.gcpProject,
            environment: env,
            workloadPool: cluster.identityPool,
            buckets: lake.buckets,
            datasets: lake.datasets,
            namespaces,
        },
        inCluster,
    );
    const lb = new SharedLoadBalancer(
        env,
        { domain: cfg.domain, namespace: namespaces.names.gateway, k8sProvider: cluster.provider },
        { ...onGcp, dependsOn: [namespaces] },
    );
    // Every image by digest: ours built from the sibling folders, upstream ones mirrored.
    const builds = new PlatformImageBuilds(
        env,
        {
            registryUrl: lake.registryUrl,
            accessToken: gcp.organizations.getClientConfigOutput({ provider: gcpProvider })
                .accessToken,
            tag: cfg.imageTag,
            buildArgs: {
                spark: {
                    GCS_CONNECTOR_SHA256: cfg.sparkGcsConnectorSha256,
                    BIGQUERY_CONNECTOR_SHA256: cfg.sparkBigqueryConnectorSha256,
                },
            },
        },
        { ...onGcp, dependsOn: [lake] },
    );
    const images = { ...builds.refs, docsApp: builds.refs["docs-app"] };
    const upstream = builds.upstream;

    const databases: DatabaseSpec[] = [
        ...PLATFORM_DATABASES.map((db) => ({ name: db, namespace: DATABASE_USERS[db] })),
        // Extra databases: their credentials Secret stays in the database namespace.
        ...cfg.extraDatabases.map((entry) => {
            const [db, owner] = entry.split(":");
            return { name: db!, ...(owner ? { owner } : {}), namespace: NAMESPACES.database };
        }),
    ];
    const postgres = new PlatformPostgres(
        env,
        {
            namespace: NAMESPACES.database,
            monitoringNamespace: NAMESPACES.monitoring,
            databases,
            image: upstream.postgres,
            diskGi: cfg.postgresDiskGi,
            backup: {
                bucket: lake.buckets.backups.name,
                serviceAccount: identities.kubernetesAccounts["postgres-backup"],
                uploaderImage: upstream.cloudSdk,
            },
        },
        { ...inCluster, dependsOn: [namespaces, identities] },
    );
    // AWS: outgoing email (SES) for run reports and alerts, sent by web identity from GKE.
    const mailIdentity = cfg.mailIdentity || cfg.domain;
    const mail = new AwsMail(
        `${env}-mail`,
        {
            environment: env,
            identity: mailIdentity,
            sender:
                cfg.reportSender ||
                (mailIdentity.includes("@") ? mailIdentity : `reports@${mailIdentity}`),
            // The dag-processor sends the run reports (DAG callbacks) as the Airflow account;
            // Alertmanager's relay sends the alerts as its own.
            senderSubjects: [
                identities.googleAccounts.airflow.uniqueId,
                identities.googleAccounts.alertmanager.uniqueId,
            ],
        },
        { providers: [awsProvider] },
    );
    const mailSettings = {
        REPORT_RECIPIENTS: cfg.reportRecipients.join(","),
        REPORT_SENDER: mail.sender,
        REPORT_TRANSPORT: "ses",
        REPORT_SES_ROLE_ARN: mail.senderRoleArn,
        REPORT_SES_REGION: awsProvider.region.apply((r) => r ?? cfg.awsRegion),
        REPORT_SES_CONFIGURATION_SET: mail.configurationSetName,
    };
    const monitoring = new Monitoring(
        env,
        {
            namespace: NAMESPACES.monitoring,
            scrapeNamespaces: [
                NAMESPACES.jobs,
                NAMESPACES.docs,
                NAMESPACES.serving,
                NAMESPACES.sparkOperator,
            ],
            images: {
                statsdExporter: upstream.statsdExporter,
                postgresExporter: upstream.postgresExporter,
                kubeStateMetrics: upstream.kubeStateMetrics,
                prometheus: upstream.prometheus,
                alertmanager: upstream.alertmanager,
                grafana: upstream.grafana,
            },
            scrapePorts: [8090, 8080],
            airflowNamespace: NAMESPACES.airflow,
            databaseNamespace: NAMESPACES.database,
            exporterSecret: postgres.exporterSecret.name,
            grafanaDbSecret: postgres.secrets.grafana!.name,
            apiServerCidr: cfg.masterCidr,
            retentionDays: cfg.prometheusRetentionDays,
            diskGi: cfg.prometheusDiskGi,
            loadBalancer: lb,
            nodesCidr: cfg.nodesCidr,
            alerting: {
                relayImage: images.airflow,
                serviceAccount: identities.kubernetesAccounts.alertmanager,
                relayEnv: mailSettings,
            },
        },
        { ...inCluster, dependsOn: [namespaces, postgres] },
    );
    const mlflow = new MlflowServer(
        env,
        {
            namespace: NAMESPACES.mlflow,
            image: images.ml,
            apiServerCidr: cfg.masterCidr,
            databaseSecret: postgres.secrets.mlflow!.name,
            artifactsBucket: lake.buckets["mlflow-artifacts"].name,
            serviceAccount: identities.kubernetesAccounts.mlflow,
            clientNamespaces: [NAMESPACES.airflow, NAMESPACES.jobs, NAMESPACES.serving],
            databaseNamespace: NAMESPACES.database,
            loadBalancer: lb,
            // In-cluster only unless the stack lists who may pass Identity-Aware Proxy.
            ...(cfg.mlflowIapMembers.length > 0
                ? { publicAccess: { project: cfg.gcpProject, iapMembers: cfg.mlflowIapMembers } }
                : {}),
        },
        { ...inCluster, dependsOn: [namespaces, postgres] },
    );
    const docs = new DocsSite(
        env,
        {
            namespace: NAMESPACES.docs,
            image: images.docsApp,
            apiServerCidr: cfg.masterCidr,
            docsUri: lake.uris.docs,
            serviceAccount: identities.kubernetesAccounts["docs-app"],
            monitoringNamespace: NAMESPACES.monitoring,
            loadBalancer: lb,
        },
        { ...inCluster, dependsOn: [namespaces] },
    );
    // The fare model's prediction API: the champion from MLflow, model files read directly.
    const fareApi = new FareApi(
        env,
        {
            namespace: NAMESPACES.serving,
            image: images.ml,
            trackingUri: mlflow.internalUrl,
            mlflowNamespace: NAMESPACES.mlflow,
            artifactsDestination: mlflow.artifactsDestination,
            serviceAccount: identities.kubernetesAccounts["fare-api"],
            monitoringNamespace: NAMESPACES.monitoring,
            apiServerCidr: cfg.masterCidr,
            loadBalancer: lb,
        },
        { ...inCluster, dependsOn: [namespaces, identities] },
    );

    // The trigger's Airflow API user: Airflow creates it, the Lambda reads it from Secrets Manager.
    const triggerUser = "trigger-fn";
    const triggerPassword = new random.RandomPassword(`${env}-airflow-trigger-password`, {
        length: 32,
        special: false,
    }).result;

    // AWS: the landing bucket and the trigger; the function calls Airflow's public URL.
    const trigger = new AwsTrigger(
        env,
        {
            environment: env,
            bucketName: `${cfg.gcpProject}-landing`,
            code: pulumi
                .output(bundleForDeploy())
                .apply((b) => new pulumi.asset.FileArchive(b.dir) as pulumi.asset.Archive),
            airflowUrl: lb.urlFor("airflow"),
            // One route per dataset: its files start its own batch DAG.
            routes: datasets.map((d) => ({ prefix: landingKeyPrefix(d), dagId: batchDagId(d) })),
            airflowCredentials: pulumi.secret(
                triggerPassword.apply((password) =>
                    JSON.stringify({ username: triggerUser, password }),
                ),
            ),
            memoryMb: cfg.triggerMemoryMb,
            timeoutSeconds: cfg.triggerTimeoutSeconds,
            forceDestroy: !cfg.deletionProtection,
            // A destroyed and re-created stack must not find its secret's name still reserved.
            secretRecoveryWindowDays: cfg.disposable ? 0 : 7,
        },
        { providers: [awsProvider] },
    );
    const transfer = new S3Transfer(
        env,
        {
            environment: env,
            project: cfg.gcpProject,
            sourceBucketName: trigger.bucketName,
            sourceBucketArn: trigger.bucketArn,
            sinkBucketName: lake.buckets.staging.name,
            datasets,
            // Storage Transfer keeps deleted job names: one name per creation on disposable stacks.
            uniqueName: cfg.disposable,
            landingReaderSubject: identities.googleAccounts.transfer.uniqueId,
            landingWriterSubject: identities.googleAccounts.ingest.uniqueId,
        },
        { providers: [awsProvider, gcpProvider] },
    );

    const sparkOperator = new SparkOperator(
        env,
        {
            namespace: NAMESPACES.sparkOperator,
            jobsNamespace: NAMESPACES.jobs,
            sparkServiceAccount: identities.kubernetesAccounts.spark,
            image: upstream.sparkOperator,
            apiServerCidr: cfg.masterCidr,
            nodeSelector: { [POOL_LABEL]: "system" },
            // The CI preview identity reads the Helm release records (README: environments).
            releaseReaders: [
                cfg.ciPreviewServiceAccount ||
                    `pulumi-preview@${cfg.gcpProject}.iam.gserviceaccount.com`,
            ],
        },
        { ...inCluster, dependsOn: [namespaces, identities] },
    );
    const dagSource: DagSource =
        cfg.airflowDagSource === "git"
            ? {
                  kind: "git",
                  repoUrl: cfg.airflowGitRepo,
                  branch: cfg.airflowGitBranch,
                  subdir: cfg.airflowGitSubdir,
                  ...(cfg.airflowGitCredentialsSecret !== ""
                      ? { credentialsSecret: cfg.airflowGitCredentialsSecret }
                      : {}),
              }
            : { kind: "image" };
    const airflow = new Airflow(
        env,
        {
            namespace: NAMESPACES.airflow,
            image: images.airflow,
            databaseSecret: postgres.secrets.airflow!.name,
            serviceAccount: identities.kubernetesAccounts.airflow,
            jobsNamespace: NAMESPACES.jobs,
            pipelineEnv: {
                PLATFORM_ENV: env,
                PLATFORM_RUNTIME: "kubernetes",
                GCP_PROJECT: cfg.gcpProject,
                GCP_REGION: cfg.gcpRegion,
                BQ_LOCATION: cfg.datasetLocation,
                STAGING_URI: lake.uris.staging,
                DOCS_URI: lake.uris.docs,
                SPARK_TEMP_BUCKET: lake.buckets["spark-temp"].name,
                WAREHOUSE: "bigquery",
                BQ_DATASET_RAW: lake.datasetIds.raw,
                BQ_DATASET_MARTS: lake.datasetIds.marts,
                WAREHOUSE_PATH: "",
                MLFLOW_TRACKING_URI: mlflow.internalUrl,
                JOBS_NAMESPACE: NAMESPACES.jobs,
                JOBS_NODE_POOL: JOBS_POOL,
                IMAGE_SPARK: images.spark,
                IMAGE_DBT: images.dbt,
                IMAGE_ML: images.ml,
                IMAGE_CLOUD_SDK: upstream.cloudSdk,
                S3_LANDING_BUCKET: trigger.bucketName,
                TRANSFER_JOB_PREFIX: transfer.transferJobPrefix,
                AWS_LANDING_ROLE_ARN: transfer.landingReaderRoleArn,
                AWS_INGEST_ROLE_ARN: transfer.landingWriterRoleArn,
                // The publisher's base URL and the "not yet" poke interval come from
                // dags/datasets.yaml in the cloud; these override it (npm start, a mirror).
                INGEST_SOURCE_URL: "",
                INGEST_POKE_SECONDS: "",
                // npm start's window and small files; every month and ingest.min_bytes here.
                INGEST_MONTHS: "",
                INGEST_MIN_BYTES: "",
            },
            statsd: {
                host: monitoring.statsdHost,
                port: monitoring.statsdPort,
                namespace: NAMESPACES.monitoring,
            },
            databaseNamespace: NAMESPACES.database,
            mlflowNamespace: NAMESPACES.mlflow,
            apiServerCidr: cfg.masterCidr,
            loadBalancer: lb,
            dagSource,
            triggerUser,
            triggerPassword,
            nodeSelector: { [POOL_LABEL]: "system" },
            // Connections (dbt Cloud, Databricks, ...) from Secret Manager.
            connections: {
                project: cfg.gcpProject,
                prefix: `airflow-${env}`,
                ids: cfg.airflowConnections,
                googleServiceAccount: identities.emails.airflow,
            },
            runReport: {
                ...mailSettings,
                REPORT_AIRFLOW_URL: lb.urlFor("airflow"),
                REPORT_DOCS_URL: lb.urlFor("docs"),
            },
        },
        { ...inCluster, dependsOn: [namespaces, postgres, identities, sparkOperator] },
    );

    return {
        environment: env,
        gcpProject: cfg.gcpProject,
        gcpRegion: cfg.gcpRegion,
        awsRegion: awsProvider.region.apply((r) => r ?? cfg.awsRegion),
        clusterName: cluster.name,
        clusterEndpoint: cluster.endpoint,
        kubeconfig: cluster.kubeconfig,
        loadBalancerIp: lb.ip,
        dnsRecords: lb.dnsRecords,
        /** Service URLs, one host each on the shared load balancer. */
        urls: pulumi.output({
            airflow: airflow.url,
            grafana: monitoring.grafanaUrl,
            // Only with a public route (mlflowIapMembers); jobs use mlflowInternalUrl.
            ...(mlflow.url ? { mlflow: mlflow.url } : {}),
            docs: docs.url,
            fareApi: fareApi.url,
        }),
        airflowAdmin: { user: airflow.adminUser, password: pulumi.secret(airflow.adminPassword) },
        airflowMigrationJob: airflow.migrationJobName,
        sparkOperatorChart: sparkOperator.chartVersion,
        grafanaAdmin: {
            user: monitoring.grafanaAdminUser,
            password: pulumi.secret(monitoring.grafanaAdminPassword),
        },
        mlflowInternalUrl: mlflow.internalUrl,
        landingBucket: trigger.bucketName,
        /** Outgoing email: the SES sender role, configuration set, events topic and DKIM tokens. */
        mail: {
            sender: mail.sender,
            senderRoleArn: mail.senderRoleArn,
            configurationSet: mail.configurationSetName,
            eventsTopic: mail.eventsTopicArn,
            dkimTokens: mail.dkimTokens,
        },
        /** Dataset → its S3 → GCS transfer job (run by that dataset's full-refresh DAG). */
        transferJobs: transfer.transferJobNames,
        postgres: { host: postgres.host, reconcileJob: postgres.reconcileJobName },
        buckets: lake.uris,
        datasets: lake.datasetIds,
        registryUrl: lake.registryUrl,
        images: pulumi.output(builds.refs),
        serviceAccounts: identities.emails,
    };
}

export type PlatformOutputs = ReturnType<typeof definePlatform>;
