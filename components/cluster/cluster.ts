/**
 * GkeCluster: a private, regional GKE Standard cluster hardened by default, with a least-
 * privilege node service account and two node pools (`system` and the autoscaling, tainted
 * `jobs` pool), and a Kubernetes provider every in-cluster component takes.
 */
import * as gcp from "@pulumi/gcp";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { POD_RANGE, SERVICE_RANGE } from "../network/network";
import { assertArgs } from "../shared/validation";

export interface NodePoolSize {
    /** Machine type, e.g. e2-standard-4. */
    machineType: string;
    /** Minimum nodes per zone. */
    minNodes: number;
    /** Maximum nodes per zone. */
    maxNodes: number;
}

export interface GkeClusterArgs {
    /** GCP project id. Required. */
    project: string;
    /** Region: the cluster is regional. Required. */
    region: string;
    /** VPC and subnet from the Network component. Required. */
    networkId: pulumi.Input<string>;
    subnetId: pulumi.Input<string>;
    /** /28 range of the private control plane. Required. */
    masterCidr: string;
    /** CIDR blocks allowed to reach the control plane. At least one. */
    masterAuthorizedNetworks: string[];
    /** GKE release channel (default REGULAR). */
    releaseChannel?: "RAPID" | "REGULAR" | "STABLE";
    /** System pool: fixed size (min = max). Default e2-standard-4, 1 node per zone. */
    systemPool?: { machineType?: string; nodes?: number };
    /** Jobs pool: autoscaling. Default e2-standard-8, 0 to 3 per zone. */
    jobsPool?: Partial<NodePoolSize> & { spot?: boolean };
    /** Block `pulumi destroy` of the cluster (default true). */
    deletionProtection?: boolean;
}

/** Label and taint that reserve the jobs pool for task pods and Spark. */
export const JOBS_POOL = "jobs";
export const JOBS_TAINT = {
    key: "taxi-platform/pool",
    value: JOBS_POOL,
    effect: "NO_SCHEDULE",
} as const;
export const POOL_LABEL = "taxi-platform/pool";

/** Roles of the node service account: write logs and metrics, pull images. Nothing else. */
export const NODE_ROLES = [
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/artifactregistry.reader",
];

const DEFAULTS = {
    releaseChannel: "REGULAR",
    systemPool: { machineType: "e2-standard-4", nodes: 1 },
    jobsPool: { machineType: "e2-standard-8", minNodes: 0, maxNodes: 3, spot: false },
    deletionProtection: true,
} as const;

/** Validate args and apply defaults; throws naming every bad argument. */
export function resolveClusterArgs(args: GkeClusterArgs) {
    const systemPool = { ...DEFAULTS.systemPool, ...args.systemPool };
    const jobsPool = { ...DEFAULTS.jobsPool, ...args.jobsPool };
    assertArgs("GkeCluster", [
        args.masterAuthorizedNetworks.length === 0 &&
            "masterAuthorizedNetworks is empty: the control plane would be unreachable; give at least one CIDR",
        !/\/28$/.test(args.masterCidr) && `masterCidr ${args.masterCidr} must be a /28`,
        systemPool.nodes < 1 &&
            `systemPool.nodes is ${systemPool.nodes}; the system pool needs at least 1 node`,
        jobsPool.minNodes < 0 && `jobsPool.minNodes is ${jobsPool.minNodes}; it cannot be negative`,
        jobsPool.maxNodes < jobsPool.minNodes &&
            `jobsPool.maxNodes (${jobsPool.maxNodes}) is below jobsPool.minNodes (${jobsPool.minNodes})`,
        jobsPool.maxNodes < 1 && "jobsPool.maxNodes must be at least 1",
    ]);
    return {
        ...args,
        releaseChannel: args.releaseChannel ?? DEFAULTS.releaseChannel,
        deletionProtection: args.deletionProtection ?? DEFAULTS.deletionProtection,
        systemPool,
        jobsPool,
    };
}

/** Node settings shared by both pools: shielded, GKE metadata server, no legacy endpoints. */
function nodeConfig(
    serviceAccount: pulumi.Input<string>,
    machineType: string,
    extra: Partial<gcp.types.input.container.NodePoolNodeConfig> = {},
): gcp.types.input.container.NodePoolNodeConfig {
    return {
        machineType,
        serviceAccount,
        oauthScopes: ["https://www.googleapis.com/auth/cloud-platform"],
        diskType: "pd-balanced",
        diskSizeGb: 100,
        imageType: "COS_CONTAINERD",
        metadata: { "disable-legacy-endpoints": "true" },
        workloadMetadataConfig: { mode: "GKE_METADATA" },
        shieldedInstanceConfig: { enableSecureBoot: true, enableIntegrityMonitoring: true },
        ...extra,
    };
}

/**
 * kubeconfig for the cluster's DNS-based control-plane endpoint (`<id>.<region>.gke.goog`),
 * authenticating with the gke-gcloud-auth-plugin (no keys),
 * from Application Default Credentials: the identity that runs `pulumi up` (ADC locally, Workload
 * Identity Federation in CI), not whichever `gcloud auth login` account happens to be active. The endpoint presents a publicly
 * trusted certificate, so no CA data; Google IAM (`container.clusters.connect`) admits the
 * caller before Kubernetes RBAC applies, from any network, so CI runners need no fixed address.
 */
export function kubeconfig(name: string, dnsEndpoint: string): string {
    return JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name, cluster: { server: `https://${dnsEndpoint}` } }],
        contexts: [{ name, context: { cluster: name, user: name } }],
        "current-context": name,
        users: [
            {
                name,
                user: {
                    exec: {
                        apiVersion: "client.authentication.k8s.io/v1beta1",
                        command: "gke-gcloud-auth-plugin",
                        args: ["--use_application_default_credentials"],
                        provideClusterInfo: true,
                        installHint:
                            "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin",
                    },
                },
            },
        ],
    });
}

export class GkeCluster extends pulumi.ComponentResource {
    public readonly cluster: gcp.container.Cluster;
    public readonly nodeServiceAccount: gcp.serviceaccount.Account;
    public readonly provider: k8s.Provider;
    public readonly name: pulumi.Output<string>;
    public readonly endpoint: pulumi.Output<string>;
    /** DNS-based control-plane endpoint (`<id>.<region>.gke.goog`), IAM-authorized. */
    public readonly dnsEndpoint: pulumi.Output<string>;
    /** kubeconfig (secret). */
    public readonly kubeconfig: pulumi.Output<string>;
    /** Workload Identity pool, `<project>.svc.id.goog`. */
    public readonly workloadPool: string;

    constructor(name: string, rawArgs: GkeClusterArgs, opts: pulumi.ComponentResourceOptions = {}) {
        super("taxi:gcp:GkeCluster", name, {}, opts);
        const args = resolveClusterArgs(rawArgs);
        const o = { parent: this };
        this.workloadPool = `${args.project}.svc.id.goog`;

        this.nodeServiceAccount = new gcp.serviceaccount.Account(
            `${name}-nodes`,
            { accountId: `${name}-nodes`.slice(0, 30), displayName: `GKE nodes of ${name}` },
            o,
        );
        for (const role of NODE_ROLES) {
            new gcp.projects.IAMMember(
                `${name}-nodes-${role.split("/")[1]!.replace(/\./g, "-")}`,
                {
                    project: args.project,
                    role,
                    member: pulumi.interpolate`serviceAccount:${this.nodeServiceAccount.email}`,
                },
                o,
            );
        }

        this.cluster = new gcp.container.Cluster(
            name,
            {
                location: args.region,
                network: rawArgs.networkId,
                subnetwork: rawArgs.subnetId,
                removeDefaultNodePool: true,
                initialNodeCount: 1,
                deletionProtection: args.deletionProtection,
                releaseChannel: { channel: args.releaseChannel },
                ipAllocationPolicy: {
                    clusterSecondaryRangeName: POD_RANGE,
                    servicesSecondaryRangeName: SERVICE_RANGE,
                },
                privateClusterConfig: {
                    enablePrivateNodes: true,
                    enablePrivateEndpoint: false,
                    masterIpv4CidrBlock: args.masterCidr,
                    masterGlobalAccessConfig: { enabled: false },
                },
                // Two ways in: the IP endpoint for the authorized networks (office, VPN), and the
                // DNS endpoint for everyone else who holds container.clusters.connect in IAM
                // (CI on GitHub-hosted runners, whose addresses are not fixed).
                controlPlaneEndpointsConfig: { dnsEndpointConfig: { allowExternalTraffic: true } },
                masterAuthorizedNetworksConfig: {
                    cidrBlocks: args.masterAuthorizedNetworks.map((cidrBlock, i) => ({
                        cidrBlock,
                        displayName: `authorized-${i + 1}`,
                    })),
                },
                masterAuth: { clientCertificateConfig: { issueClientCertificate: false } },
                workloadIdentityConfig: { workloadPool: this.workloadPool },
                enableShieldedNodes: true,
                // Dataplane V2 enforces NetworkPolicy natively (no Calico add-on).
                datapathProvider: "ADVANCED_DATAPATH",
                gatewayApiConfig: { channel: "CHANNEL_STANDARD" },
                enableLegacyAbac: false,
                securityPostureConfig: { mode: "BASIC", vulnerabilityMode: "VULNERABILITY_BASIC" },
                loggingConfig: { enableComponents: ["SYSTEM_COMPONENTS", "WORKLOADS"] },
                monitoringConfig: {
                    enableComponents: ["SYSTEM_COMPONENTS"],
                    managedPrometheus: { enabled: false },
                },
                addonsConfig: {
                    httpLoadBalancing: { disabled: false },
                    gcePersistentDiskCsiDriverConfig: { enabled: true },
                },
                nodeConfig: nodeConfig(this.nodeServiceAccount.email, args.systemPool.machineType),
            },
            { ...o, ignoreChanges: ["nodeConfig", "initialNodeCount"] },
        );

        new gcp.container.NodePool(
            `${name}-system`,
            {
                cluster: this.cluster.id,
                location: args.region,
                nodeCount: args.systemPool.nodes,
                management: { autoRepair: true, autoUpgrade: true },
                nodeConfig: nodeConfig(this.nodeServiceAccount.email, args.systemPool.machineType, {
                    labels: { [POOL_LABEL]: "system" },
                }),
            },
            o,
        );
        new gcp.container.NodePool(
            `${name}-${JOBS_POOL}`,
            {
                cluster: this.cluster.id,
                location: args.region,
                initialNodeCount: args.jobsPool.minNodes,
                autoscaling: {
                    minNodeCount: args.jobsPool.minNodes,
                    maxNodeCount: args.jobsPool.maxNodes,
                    locationPolicy: "ANY",
                },
                management: { autoRepair: true, autoUpgrade: true },
                nodeConfig: nodeConfig(this.nodeServiceAccount.email, args.jobsPool.machineType, {
                    spot: args.jobsPool.spot,
                    labels: { [POOL_LABEL]: JOBS_POOL },
                    taints: [{ ...JOBS_TAINT }],
                }),
            },
            { ...o, ignoreChanges: ["initialNodeCount"] },
        );

        this.name = this.cluster.name;
        this.endpoint = this.cluster.endpoint;
        this.dnsEndpoint = this.cluster.controlPlaneEndpointsConfig.apply((c) => {
            const endpoint = c?.dnsEndpointConfig?.endpoint;
            if (!endpoint) {
                throw new Error(
                    `GkeCluster ${name}: the cluster reports no DNS control-plane endpoint (controlPlaneEndpointsConfig.dnsEndpointConfig.endpoint); the kubeconfig needs it`,
                );
            }
            return endpoint;
        });
        this.kubeconfig = pulumi.secret(
            pulumi
                .all([this.cluster.name, this.dnsEndpoint])
                .apply(([n, endpoint]) => kubeconfig(n, endpoint)),
        );
        this.provider = new k8s.Provider(
            `${name}-k8s`,
            { kubeconfig: this.kubeconfig, enableServerSideApply: true, deleteUnreachable: false },
            o,
        );
        this.registerOutputs({
            name: this.name,
            endpoint: this.endpoint,
            kubeconfig: this.kubeconfig,
        });
    }
}
