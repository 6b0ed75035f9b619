/**
 * Network: a custom-mode VPC with one subnet (secondary ranges for pods and services), a Cloud
 * Router with Cloud NAT so private nodes reach the internet, and minimal firewall rules.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { assertArgs } from "../shared/validation";

export interface NetworkArgs {
    /** GCP region of the subnet, router and NAT. Required. */
    region: string;
    /** Primary range of the subnet (nodes). Required. */
    nodesCidr: string;
    /** Secondary range for pods. Required. */
    podsCidr: string;
    /** Secondary range for services. Required. */
    servicesCidr: string;
    /** Private control-plane range, allowed to reach nodes for webhooks. Required. */
    masterCidr: string;
    /** Log NAT errors (default true). */
    natLogging?: boolean;
}

/** Names of the subnet's secondary ranges, used by the cluster's IP allocation policy. */
export const POD_RANGE = "pods";
export const SERVICE_RANGE = "services";

/** Google's health-check source ranges (load balancer probes to pods and nodes). */
export const HEALTH_CHECK_RANGES = ["35.191.0.0/16", "130.211.0.0/22"];

export class Network extends pulumi.ComponentResource {
    public readonly network: gcp.compute.Network;
    public readonly subnet: gcp.compute.Subnetwork;
    public readonly networkId: pulumi.Output<string>;
    public readonly subnetId: pulumi.Output<string>;

    constructor(name: string, args: NetworkArgs, opts: pulumi.ComponentResourceOptions = {}) {
        super("taxi:gcp:Network", name, {}, opts);
        assertArgs("Network", [
            !args.region && "region is required",
            new Set([args.nodesCidr, args.podsCidr, args.servicesCidr, args.masterCidr]).size !==
                4 &&
                "nodesCidr, podsCidr, servicesCidr and masterCidr must be four different ranges",
        ]);
        const o = { parent: this };

        this.network = new gcp.compute.Network(
            `${name}-vpc`,
            {
                autoCreateSubnetworks: false,
                routingMode: "REGIONAL",
                description: "Data platform VPC",
            },
            o,
        );
        this.subnet = new gcp.compute.Subnetwork(
            `${name}-subnet`,
            {
                network: this.network.id,
                region: args.region,
                ipCidrRange: args.nodesCidr,
                privateIpGoogleAccess: true,
                secondaryIpRanges: [
                    { rangeName: POD_RANGE, ipCidrRange: args.podsCidr },
                    { rangeName: SERVICE_RANGE, ipCidrRange: args.servicesCidr },
                ],
                logConfig: {
                    aggregationInterval: "INTERVAL_10_MIN",
                    flowSampling: 0.5,
                    metadata: "INCLUDE_ALL_METADATA",
                },
            },
            o,
        );
        const router = new gcp.compute.Router(
            `${name}-router`,
            { network: this.network.id, region: args.region },
            o,
        );
        new gcp.compute.RouterNat(
            `${name}-nat`,
            {
                router: router.name,
                region: args.region,
                natIpAllocateOption: "AUTO_ONLY",
                sourceSubnetworkIpRangesToNat: "LIST_OF_SUBNETWORKS",
                subnetworks: [{ name: this.subnet.id, sourceIpRangesToNats: ["ALL_IP_RANGES"] }],
                logConfig: { enable: args.natLogging ?? true, filter: "ERRORS_ONLY" },
            },
            o,
        );
        // Only what GKE does not create itself: load-balancer health checks, and the control
        // plane reaching admission webhooks (the Spark operator's) on the nodes.
        new gcp.compute.Firewall(
            `${name}-allow-health-checks`,
            {
                network: this.network.id,
                direction: "INGRESS",
                sourceRanges: HEALTH_CHECK_RANGES,
                allows: [{ protocol: "tcp" }],
                description: "Google load balancer health checks",
            },
            o,
        );
        new gcp.compute.Firewall(
            `${name}-allow-webhooks`,
            {
                network: this.network.id,
                direction: "INGRESS",
                sourceRanges: [args.masterCidr],
                allows: [{ protocol: "tcp", ports: ["8443", "9443"] }],
                description: "GKE control plane to admission webhooks",
            },
            o,
        );

        this.networkId = this.network.id;
        this.subnetId = this.subnet.id;
        this.registerOutputs({ networkId: this.networkId, subnetId: this.subnetId });
    }
}
