import { strict as assert } from "node:assert";
import { evaluate } from "../../offline/engine";
import { HEALTH_CHECK_RANGES, Network, POD_RANGE, SERVICE_RANGE } from "./network";

const ARGS = {
    region: "europe-west1",
    nodesCidr: "10.10.0.0/20",
    podsCidr: "10.20.0.0/16",
    servicesCidr: "10.30.0.0/20",
    masterCidr: "172.16.0.0/28",
};

describe("components/network", () => {
    it("creates exactly the VPC, subnet, router, NAT and two firewall rules", async () => {
        const run = await evaluate(() => new Network("dev", ARGS));
        assert.deepEqual(
            run
                .childrenOf("taxi:gcp:Network", "dev")
                .map((r) => `${r.type}::${r.name}`)
                .sort(),
            [
                "gcp:compute/firewall:Firewall::dev-allow-health-checks",
                "gcp:compute/firewall:Firewall::dev-allow-webhooks",
                "gcp:compute/network:Network::dev-vpc",
                "gcp:compute/router:Router::dev-router",
                "gcp:compute/routerNat:RouterNat::dev-nat",
                "gcp:compute/subnetwork:Subnetwork::dev-subnet",
            ],
        );
        assert.equal(
            run.get("gcp:compute/network:Network", "dev-vpc").inputs.autoCreateSubnetworks,
            false,
        );
        const subnet = run.get("gcp:compute/subnetwork:Subnetwork", "dev-subnet").inputs;
        assert.equal(subnet.ipCidrRange, "10.10.0.0/20");
        assert.equal(subnet.privateIpGoogleAccess, true);
        assert.deepEqual(subnet.secondaryIpRanges, [
            { rangeName: POD_RANGE, ipCidrRange: "10.20.0.0/16" },
            { rangeName: SERVICE_RANGE, ipCidrRange: "10.30.0.0/20" },
        ]);
        const nat = run.get("gcp:compute/routerNat:RouterNat", "dev-nat").inputs;
        assert.equal(nat.natIpAllocateOption, "AUTO_ONLY");
        const hc = run.get("gcp:compute/firewall:Firewall", "dev-allow-health-checks").inputs;
        assert.deepEqual(hc.sourceRanges, HEALTH_CHECK_RANGES);
        const wh = run.get("gcp:compute/firewall:Firewall", "dev-allow-webhooks").inputs;
        assert.deepEqual(
            wh.sourceRanges,
            ["172.16.0.0/28"],
            "webhooks open to the control plane only",
        );
        for (const fw of run.ofType("gcp:compute/firewall:Firewall")) {
            assert.ok(
                !(fw.inputs.sourceRanges as string[]).includes("0.0.0.0/0"),
                `${fw.name} is open to the internet`,
            );
        }
    });

    it("rejects reused ranges before creating anything", async () => {
        await assert.rejects(
            evaluate(() => new Network("dev", { ...ARGS, servicesCidr: ARGS.podsCidr })),
            /Network: invalid arguments:\n {2}- nodesCidr, podsCidr, servicesCidr and masterCidr must be four different ranges/,
        );
    });
});
