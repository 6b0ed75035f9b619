/**
 * GKE: nodes without public IPs, Workload Identity on the cluster and on every node's
 * metadata server, shielded nodes with secure boot.
 */
import * as gcp from "@pulumi/gcp";
import type { ReportViolation, ResourceValidationArgs } from "@pulumi/policy";
import { authorizedNetworkProblem } from "../../stacks/config-schema";
import { type PlatformPolicy, arr, label, obj, str } from "./common";

/** Every node configuration a cluster or node pool declares, with where it sits. */
function nodeConfigs(
    args: ResourceValidationArgs,
): { where: string; config: Record<string, unknown> | undefined }[] {
    const props = args.props;
    if (args.isType(gcp.container.NodePool)) {
        return [{ where: "nodeConfig", config: obj(props.nodeConfig) }];
    }
    const found: { where: string; config: Record<string, unknown> | undefined }[] = [];
    // The default pool's nodeConfig; a cluster declared without one (Autopilot, or only
    // separate NodePool resources) has nothing to check here.
    if (props.nodeConfig !== undefined) {
        found.push({ where: "nodeConfig", config: obj(props.nodeConfig) });
    }
    arr(props.nodePools).forEach((p, i) => {
        found.push({ where: `nodePools[${i}].nodeConfig`, config: obj(obj(p)?.nodeConfig) });
    });
    return found;
}

function onClusterOrPool(
    check: (args: ResourceValidationArgs, report: ReportViolation) => void,
): (args: ResourceValidationArgs, report: ReportViolation) => void {
    return (args, report) => {
        if (!args.isType(gcp.container.Cluster) && !args.isType(gcp.container.NodePool)) {
            args.notApplicable("applies to GKE clusters and node pools");
        }
        check(args, report);
    };
}

export const gkePrivateNodes: PlatformPolicy = {
    name: "gke-private-nodes",
    description: "GKE nodes have internal IP addresses only (private nodes).",
    enforcementLevel: "mandatory",
    remediationSteps:
        "Set privateClusterConfig.enablePrivateNodes = true on the cluster (components/cluster) " +
        "and do not set networkConfig.enablePrivateNodes = false on any node pool; nodes reach " +
        "the internet through Cloud NAT.",
    validateResource: onClusterOrPool((args, report) => {
        const props = args.props;
        if (args.isType(gcp.container.Cluster)) {
            if (obj(props.privateClusterConfig)?.enablePrivateNodes !== true) {
                report(
                    `${label(args)} does not make its nodes private: set ` +
                        "privateClusterConfig.enablePrivateNodes = true (egress goes through Cloud NAT).",
                );
            }
            arr(props.nodePools).forEach((p, i) => {
                if (obj(obj(p)?.networkConfig)?.enablePrivateNodes === false) {
                    report(
                        `${label(args)} nodePools[${i}] sets networkConfig.enablePrivateNodes = false: ` +
                            "remove it so the pool's nodes stay private.",
                    );
                }
            });
        } else if (obj(props.networkConfig)?.enablePrivateNodes === false) {
            report(
                `${label(args)} sets networkConfig.enablePrivateNodes = false, giving its nodes ` +
                    "public IPs: remove it so the pool inherits the cluster's private nodes.",
            );
        }
    }),
};

export const gkeWorkloadIdentity: PlatformPolicy = {
    name: "gke-workload-identity",
    description:
        "Workload Identity is on for the cluster and every node runs the GKE metadata server, " +
        "so pods get Google credentials only through their Kubernetes service account.",
    enforcementLevel: "mandatory",
    remediationSteps:
        "Set workloadIdentityConfig.workloadPool = '<project>.svc.id.goog' on the cluster and " +
        "nodeConfig.workloadMetadataConfig.mode = 'GKE_METADATA' on every node pool; bind each " +
        "workload's Kubernetes service account to its Google service account (components/identities).",
    validateResource: onClusterOrPool((args, report) => {
        if (args.isType(gcp.container.Cluster)) {
            const pool = str(obj(args.props.workloadIdentityConfig)?.workloadPool);
            if (!pool || !pool.endsWith(".svc.id.goog")) {
                report(
                    `${label(args)} has no Workload Identity pool: set ` +
                        "workloadIdentityConfig.workloadPool = '<project>.svc.id.goog'.",
                );
            }
        }
        for (const { where, config } of nodeConfigs(args)) {
            const mode = obj(config?.workloadMetadataConfig)?.mode;
            if (mode !== "GKE_METADATA") {
                report(
                    `${label(args)} ${where}.workloadMetadataConfig.mode is ` +
                        `${JSON.stringify(mode ?? null)}: set it to "GKE_METADATA" so pods cannot ` +
                        "read the node's service-account credentials from the metadata server.",
                );
            }
        }
    }),
};

export const gkeShieldedNodes: PlatformPolicy = {
    name: "gke-shielded-nodes",
    description: "GKE nodes are Shielded VMs with secure boot and integrity monitoring.",
    enforcementLevel: "mandatory",
    remediationSteps:
        "Leave enableShieldedNodes on (do not set it to false) on the cluster and set " +
        "nodeConfig.shieldedInstanceConfig = { enableSecureBoot: true, enableIntegrityMonitoring: true } " +
        "on every node pool.",
    validateResource: onClusterOrPool((args, report) => {
        if (args.isType(gcp.container.Cluster) && args.props.enableShieldedNodes === false) {
            report(
                `${label(args)} sets enableShieldedNodes = false: remove it (the default is on).`,
            );
        }
        for (const { where, config } of nodeConfigs(args)) {
            const shielded = obj(config?.shieldedInstanceConfig);
            if (shielded?.enableSecureBoot !== true) {
                report(
                    `${label(args)} ${where}.shieldedInstanceConfig.enableSecureBoot is not true: ` +
                        "set it so nodes boot only signed components.",
                );
            }
            if (shielded?.enableIntegrityMonitoring === false) {
                report(
                    `${label(args)} ${where}.shieldedInstanceConfig.enableIntegrityMonitoring is ` +
                        "false: remove it (the default is on).",
                );
            }
        }
    }),
};

export const gkeControlPlaneRestricted: PlatformPolicy = {
    name: "gke-control-plane-restricted",
    description:
        "The GKE control plane's IP endpoint answers only listed, narrow networks: authorized " +
        "networks are on, never 0.0.0.0/0 or a public range wider than /16, and not every " +
        "Google Cloud public address.",
    enforcementLevel: "mandatory",
    remediationSteps:
        "Set masterAuthorizedNetworksConfig.cidrBlocks to your office or VPN egress ranges " +
        "(stacks: masterAuthorizedNetworks) and leave gcpPublicCidrsAccessEnabled off; automation " +
        "outside those ranges (CI) uses the IAM-authorized DNS endpoint " +
        "(controlPlaneEndpointsConfig.dnsEndpointConfig, components/cluster).",
    validateResource: (args, report) => {
        if (!args.isType(gcp.container.Cluster)) {
            args.notApplicable("applies to GKE clusters");
        }
        const props = args.props;
        const ipEndpoint = obj(obj(props.controlPlaneEndpointsConfig)?.ipEndpointsConfig);
        if (ipEndpoint?.enabled === false) return; // no IP endpoint at all: nothing to reach
        const authorized = obj(props.masterAuthorizedNetworksConfig);
        if (!authorized) {
            report(
                `${label(args)} has no masterAuthorizedNetworksConfig: its control-plane IP ` +
                    "endpoint answers the whole internet. List your office or VPN ranges in " +
                    "masterAuthorizedNetworksConfig.cidrBlocks.",
            );
            return;
        }
        if (authorized.gcpPublicCidrsAccessEnabled === true) {
            report(
                `${label(args)} sets masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled: ` +
                    "every Google Cloud VM of every customer could reach the control plane. " +
                    "Remove it.",
            );
        }
        arr(authorized.cidrBlocks).forEach((b, i) => {
            const cidr = str(obj(b)?.cidrBlock);
            if (cidr === undefined) return; // unknown during preview; checked on up
            const why = authorizedNetworkProblem(cidr);
            if (why !== undefined) {
                report(
                    `${label(args)} masterAuthorizedNetworksConfig.cidrBlocks[${i}] ` +
                        `${JSON.stringify(cidr)} ${why}. Remove it; list only your office, VPN ` +
                        "or runner egress ranges.",
                );
            }
        });
    },
};

export const gkePolicies: PlatformPolicy[] = [
    gkePrivateNodes,
    gkeWorkloadIdentity,
    gkeShieldedNodes,
    gkeControlPlaneRestricted,
];
