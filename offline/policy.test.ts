import { strict as assert } from "node:assert";
import * as gcp from "@pulumi/gcp";
import { type EvalResource, evaluatePolicies, resourcesOfRender, stackUrn } from "./policy";
import type { PlatformPolicy } from "../policy/rules";

/** The evaluator behaves like the policy analyzer the Pulumi CLI runs. */

const base = {
    description: "test policy",
    remediationSteps: "fix it",
    enforcementLevel: "mandatory",
} as const;
const provider: EvalResource = {
    type: "pulumi:providers:gcp",
    name: "gcp",
    urn: "urn:pulumi:t::p::pulumi:providers:gcp::gcp",
    props: { project: "acme" },
};
const bucket: EvalResource = {
    type: "gcp:storage/bucket:Bucket",
    name: "b",
    urn: "urn:pulumi:t::p::gcp:storage/bucket:Bucket::b",
    props: { name: "acme-b" },
    parentUrn: provider.urn,
    provider: `${provider.urn}::gcp-id`,
    dependencies: [provider.urn],
    propertyDependencies: { name: [provider.urn] },
};

describe("offline/policy", () => {
    it("gives resource policies the CLI's arguments: typed isType/asType, provider, opts, config", async () => {
        const seen: string[] = [];
        const policy: PlatformPolicy = {
            ...base,
            name: "probe",
            validateResource: (args, report) => {
                if (!args.isType(gcp.storage.Bucket)) args.notApplicable("buckets only");
                const typed = args.asType(gcp.storage.Bucket);
                seen.push(
                    `${String(typed?.name)} via ${args.provider?.name}/${String(args.provider?.props.project)} ` +
                        `parent ${String(args.opts.parent)} config ${JSON.stringify(args.getConfig())}`,
                );
                report("found");
            },
        };
        const violations = await evaluatePolicies([provider, bucket], {
            policies: [policy],
            config: { probe: { enforcementLevel: "advisory", limit: 3 } },
        });
        assert.deepEqual(seen, [`acme-b via gcp/acme parent ${provider.urn} config {"limit":3}`]);
        assert.deepEqual(violations, [
            {
                policy: "probe",
                enforcementLevel: "advisory",
                message: "found",
                urn: bucket.urn,
                resource: "gcp:storage/bucket:Bucket::b",
            },
        ]);
    });

    it("links stack resources: parent, dependencies and property dependencies", async () => {
        let linked = "";
        const policy: PlatformPolicy = {
            ...base,
            name: "links",
            validateStack: (args) => {
                const b = args.resources.find((r) => r.name === "b")!;
                linked = [
                    b.parent?.name,
                    b.dependencies[0]?.name,
                    b.propertyDependencies.name?.[0]?.type,
                ].join(",");
            },
        };
        assert.deepEqual(await evaluatePolicies([provider, bucket], { policies: [policy] }), []);
        assert.equal(linked, "gcp,gcp,pulumi:providers:gcp");
    });

    it("skips disabled policies, turns unknown values into advisories and names a failing rule", async () => {
        const thrower: PlatformPolicy = {
            ...base,
            name: "thrower",
            validateResource: () => {
                throw new TypeError("boom");
            },
        };
        assert.deepEqual(
            await evaluatePolicies([bucket], {
                policies: [thrower],
                config: { thrower: { enforcementLevel: "disabled" } },
            }),
            [],
        );
        await assert.rejects(
            evaluatePolicies([bucket], { policies: [thrower] }),
            /policy 'thrower' failed on resource urn:pulumi:t::p::gcp:storage\/bucket:Bucket::b .*boom/,
        );
        class UnknownValueError extends Error {}
        const unknown: PlatformPolicy = {
            ...base,
            name: "unknown",
            validateResource: () => {
                throw new UnknownValueError("string value at .arn can't be known during preview");
            },
        };
        const [v] = await evaluatePolicies([bucket], { policies: [unknown] });
        assert.equal(v?.enforcementLevel, "advisory");
        assert.match(
            v.message,
            /can't run policy 'unknown' .* during preview: string value at \.arn/,
        );
    });

    it("turns a render into resources with the root Stack carrying the outputs", () => {
        const resources = resourcesOfRender(
            {
                stack: "dev",
                outputs: { url: "http://x" },
                resources: [
                    {
                        type: bucket.type,
                        name: "b",
                        urn: bucket.urn,
                        parentUrn: undefined,
                        parent: undefined,
                        custom: true,
                        inputs: { name: "acme-b" },
                        secretInputs: [],
                        provider: undefined,
                        dependencies: [],
                        propertyDependencies: {},
                    },
                ],
            },
            "taxi-platform",
        );
        assert.deepEqual(
            resources.map((r) => [r.type, r.urn, r.parentUrn]),
            [
                ["pulumi:pulumi:Stack", stackUrn("taxi-platform", "dev"), undefined],
                [bucket.type, bucket.urn, stackUrn("taxi-platform", "dev")],
            ],
        );
        assert.deepEqual(resources[0]!.props, { url: "http://x" });
    });
});
