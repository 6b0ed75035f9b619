/**
 * Composition of the platform for one stack: creates the cloud providers and wires the typed
 * components together. No config reading here (see config.ts) and no resource logic (see
 * components/). Returns the stack outputs.
 */
import * as aws from "@pulumi/aws";
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { bundleForDeploy } from "../functions/airflow-trigger/build";
import { AwsTrigger } from "../components/aws-trigger/aws-trigger";
import { S3Transfer } from "../components/s3-transfer/s3-transfer";
import { PLATFORM_DATABASES, type PlatformConfig } from "./config";
import { GkeCluster } from "../components/cluster/cluster";
import { DataLake } from "../components/data-lake/data-lake";
import { WorkloadIdentities } from "../components/identities/identities";
import { SharedLoadBalancer } from "../components/load-balancer/load-balancer";
import { MlflowServer } from "../components/mlflow/mlflow";
import { Monitoring } from "../components/monitoring/monitoring";
import { DocsSite } from "../components/docs-site/docs-site";
import { NAMESPACES, PlatformNamespaces } from "../components/namespaces/namespaces";
import { PlatformPostgres, type DatabaseSpec } from "../components/postgres/postgres";
import { Network } from "../components/network/network";
import { platformLabels } from "../components/shared/labels";
import { platformImages } from "../components/shared/versions";

/** Namespace of the app using each of the platform's own databases (its Secret lands there). */
const DATABASE_USERS: Record<(typeof PLATFORM_DATABASES)[number], string> = {
    airflow: NAMESPACES.airflow,
    mlflow: NAMESPACES.mlflow,
    grafana: NAMESPACES.monitoring,
};

export function definePlatform(cfg: PlatformConfig) {
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
            workloadPool: cluster.workloadPool,
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
    const images = platformImages(lake.registryUrl, cfg.imageTag);

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
            diskGi: cfg.postgresDiskGi,
            backup: {
                bucket: lake.buckets.backups.name,
                serviceAccount: identities.kubernetesAccounts["postgres-backup"],
            },
        },
        { ...inCluster, dependsOn: [namespaces, identities] },
    );
    const monitoring = new Monitoring(
        env,
        {
            namespace: NAMESPACES.monitoring,
            scrapeNamespaces: [NAMESPACES.jobs, NAMESPACES.docs],
            scrapePorts: [8090, 8080],
            airflowNamespace: NAMESPACES.airflow,
            databaseNamespace: NAMESPACES.database,
            exporterSecret: postgres.exporterSecret.name,
            grafanaDbSecret: postgres.secrets.grafana!.name,
            apiServerCidr: cfg.masterCidr,
            retentionDays: cfg.prometheusRetentionDays,
            diskGi: cfg.prometheusDiskGi,
            loadBalancer: lb,
        },
        { ...inCluster, dependsOn: [namespaces, postgres] },
    );
    const mlflow = new MlflowServer(
        env,
        {
            namespace: NAMESPACES.mlflow,
            image: images.ml,
            databaseSecret: postgres.secrets.mlflow!.name,
            artifactsBucket: lake.buckets["mlflow-artifacts"].name,
            serviceAccount: identities.kubernetesAccounts.mlflow,
            clientNamespaces: [NAMESPACES.airflow, NAMESPACES.jobs],
            databaseNamespace: NAMESPACES.database,
            loadBalancer: lb,
        },
        { ...inCluster, dependsOn: [namespaces, postgres] },
    );
    const docs = new DocsSite(
        env,
        {
            namespace: NAMESPACES.docs,
            image: images.docsApp,
            docsUri: lake.uris.docs,
            serviceAccount: identities.kubernetesAccounts["docs-app"],
            monitoringNamespace: NAMESPACES.monitoring,
            loadBalancer: lb,
        },
        { ...inCluster, dependsOn: [namespaces] },
    );

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
            memoryMb: cfg.triggerMemoryMb,
            timeoutSeconds: cfg.triggerTimeoutSeconds,
            forceDestroy: !cfg.deletionProtection,
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
        },
        { providers: [awsProvider, gcpProvider] },
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
        urls: pulumi.output({ grafana: monitoring.grafanaUrl, mlflow: mlflow.url, docs: docs.url }),
        grafanaAdmin: {
            user: monitoring.grafanaAdminUser,
            password: pulumi.secret(monitoring.grafanaAdminPassword),
        },
        mlflowInternalUrl: mlflow.internalUrl,
        landingBucket: trigger.bucketName,
        transferJobName: transfer.transferJobName,
        postgres: { host: postgres.host, reconcileJob: postgres.reconcileJobName },
        buckets: lake.uris,
        datasets: lake.datasetIds,
        registryUrl: lake.registryUrl,
        serviceAccounts: identities.emails,
    };
}

export type PlatformOutputs = ReturnType<typeof definePlatform>;
