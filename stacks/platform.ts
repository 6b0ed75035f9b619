/**
 * Composition of the platform for one stack: creates the cloud providers and wires the typed
 * components together. No config reading here (see config.ts) and no resource logic (see
 * components/). Returns the stack outputs.
 */
import * as aws from "@pulumi/aws";
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import type { PlatformConfig } from "./config";
import { GkeCluster } from "../components/cluster/cluster";
import { DataLake } from "../components/data-lake/data-lake";
import { WorkloadIdentities } from "../components/identities/identities";
import { SharedLoadBalancer } from "../components/load-balancer/load-balancer";
import { PlatformNamespaces } from "../components/namespaces/namespaces";
import { Network } from "../components/network/network";
import { platformLabels } from "../components/shared/labels";

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
        /** Service URLs; each UI's component adds its route (Airflow, MLflow, Grafana, docs). */
        urls: pulumi.output({} as Record<string, string>),
        buckets: lake.uris,
        datasets: lake.datasetIds,
        registryUrl: lake.registryUrl,
        serviceAccounts: identities.emails,
    };
}

export type PlatformOutputs = ReturnType<typeof definePlatform>;
