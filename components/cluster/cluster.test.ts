import { strict as assert } from "node:assert";
import * as pulumi from "@pulumi/pulumi";
import { cloudFakes } from "../../offline/cloud-fakes";
import { evaluate, SECRET } from "../../offline/engine";
import { GkeCluster, GkeClusterArgs, JOBS_TAINT, NODE_ROLES, kubeconfig } from "./cluster";

const ARGS: GkeClusterArgs = {
    project: "acme-taxi-dev",
    region: "europe-west1",
    networkId: "vpc-id",
    subnetId: "subnet-id",
    masterCidr: "172.16.0.0/28",
    masterAuthorizedNetworks: ["203.0.113.0/24"],
    jobsPool: { minNodes: 0, maxNodes: 4, spot: true },
};
const run = (args: GkeClusterArgs = ARGS) =>
    evaluate(() => new GkeCluster("dev", args), { outputs: cloudFakes("acme-taxi-dev") });

describe("components/cluster", () => {
    it("creates the cluster, two node pools, the node account with only its roles, and a provider", async () => {
        const r = await run();
        const children = r.childrenOf("taxi:gcp:GkeCluster", "dev").map((c) => c.type);
        assert.deepEqual(r.countsByType(), {
            "gcp:container/cluster:Cluster": 1,
            "gcp:container/nodePool:NodePool": 2,
            "gcp:projects/iAMMember:IAMMember": NODE_ROLES.length,
            "gcp:serviceaccount/account:Account": 1,
            "pulumi:providers:kubernetes": 1,
            "taxi:gcp:GkeCluster": 1,
        });
        assert.equal(children.length, 3 + NODE_ROLES.length + 2);
        assert.deepEqual(
            r
                .ofType("gcp:projects/iAMMember:IAMMember")
                .map((m) => m.inputs.role)
                .sort(),
            [...NODE_ROLES].sort(),
        );
        assert.ok(!NODE_ROLES.some((role) => /editor|owner|admin/i.test(role)));
        assert.equal(r.ofType("gcp:serviceaccount/key:Key").length, 0, "no service-account keys");
    });

    it("hardens the cluster: private nodes, authorized networks, Workload Identity, shielded, Dataplane V2", async () => {
        const c = (await run()).get("gcp:container/cluster:Cluster", "dev").inputs as Record<
            string,
            any
        >;
        assert.equal(c.privateClusterConfig.enablePrivateNodes, true);
        assert.equal(c.privateClusterConfig.masterIpv4CidrBlock, "172.16.0.0/28");
        assert.deepEqual(c.masterAuthorizedNetworksConfig.cidrBlocks, [
            { cidrBlock: "203.0.113.0/24", displayName: "authorized-1" },
        ]);
        assert.equal(c.workloadIdentityConfig.workloadPool, "acme-taxi-dev.svc.id.goog");
        assert.equal(c.enableShieldedNodes, true);
        assert.equal(
            c.datapathProvider,
            "ADVANCED_DATAPATH",
            "network policy enforced by Dataplane V2",
        );
        assert.equal(c.removeDefaultNodePool, true);
        assert.equal(c.releaseChannel.channel, "REGULAR");
        assert.equal(c.enableLegacyAbac, false);
        assert.equal(c.masterAuth.clientCertificateConfig.issueClientCertificate, false);
    });

    it("taints the autoscaling jobs pool and keeps legacy metadata off on both pools", async () => {
        const r = await run();
        const jobs = r.get("gcp:container/nodePool:NodePool", "dev-jobs").inputs as Record<
            string,
            any
        >;
        assert.deepEqual(jobs.autoscaling, {
            minNodeCount: 0,
            maxNodeCount: 4,
            locationPolicy: "ANY",
        });
        assert.deepEqual(jobs.nodeConfig.taints, [JOBS_TAINT]);
        assert.equal(jobs.nodeConfig.spot, true);
        const system = r.get("gcp:container/nodePool:NodePool", "dev-system").inputs as Record<
            string,
            any
        >;
        assert.equal(system.nodeCount, 1);
        assert.equal(system.autoscaling, undefined);
        assert.equal(system.nodeConfig.taints, undefined);
        assert.equal(system.nodeConfig.spot, undefined, "system pool is on-demand");
        for (const pool of [jobs, system]) {
            assert.equal(pool.nodeConfig.metadata["disable-legacy-endpoints"], "true");
            assert.equal(pool.nodeConfig.workloadMetadataConfig.mode, "GKE_METADATA");
            assert.equal(pool.nodeConfig.shieldedInstanceConfig.enableSecureBoot, true);
        }
    });

    it("gives the Kubernetes provider a secret kubeconfig that uses the GKE auth plugin", async () => {
        const r = await run();
        assert.equal(r.get("pulumi:providers:kubernetes", "dev-k8s").inputs.kubeconfig, SECRET);
        const kc = JSON.parse(kubeconfig("dev", "gke-abc.europe-west1.gke.goog")) as Record<
            string,
            any
        >;
        assert.equal(kc.users[0].user.exec.command, "gke-gcloud-auth-plugin");
        // The deploying identity's ADC, not the active `gcloud auth login` account.
        assert.deepEqual(kc.users[0].user.exec.args, ["--use_application_default_credentials"]);
        assert.equal(kc.clusters[0].cluster.server, "https://gke-abc.europe-west1.gke.goog");
        assert.ok(!JSON.stringify(kc).includes("token"), "no static credentials");
    });

    it("opens the IAM-authorized DNS endpoint for CI, and the provider uses it", async () => {
        // GitHub-hosted runners have no fixed address, so they cannot be authorized networks;
        // the DNS endpoint admits any network, after Google IAM (container.clusters.connect).
        const r = await evaluate(
            () => {
                const c = new GkeCluster("dev", ARGS);
                return { kubeconfig: pulumi.unsecret(c.kubeconfig), dns: c.dnsEndpoint };
            },
            { outputs: cloudFakes("acme-taxi-dev") },
        );
        const cluster = r.get("gcp:container/cluster:Cluster", "dev").inputs as any;
        assert.deepEqual(cluster.controlPlaneEndpointsConfig, {
            dnsEndpointConfig: { allowExternalTraffic: true },
        });
        assert.deepEqual(
            cluster.masterAuthorizedNetworksConfig.cidrBlocks.map((b: any) => b.cidrBlock),
            ["203.0.113.0/24"],
            "the IP endpoint still answers the authorized networks only",
        );
        const dns = String(r.outputs.dns);
        const kc = JSON.parse(String(r.outputs.kubeconfig)) as Record<string, any>;
        assert.equal(kc.clusters[0].cluster.server, `https://${dns}`);
        assert.match(dns, /\.gke\.goog$/);
    });

    it("rejects a jobs pool whose max is below its min, naming both args", async () => {
        await assert.rejects(
            run({ ...ARGS, jobsPool: { minNodes: 3, maxNodes: 1 } }),
            /jobsPool\.maxNodes \(1\) is below jobsPool\.minNodes \(3\)/,
        );
    });

    it("rejects an empty authorized-network list", async () => {
        await assert.rejects(
            run({ ...ARGS, masterAuthorizedNetworks: [] }),
            /masterAuthorizedNetworks is empty/,
        );
    });
});
