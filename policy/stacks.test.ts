import { strict as assert } from "node:assert";
import { renderStack, type Rendered } from "../offline/render";
import { listStacks } from "../offline/stack-files";
import {
    type EvalResource,
    OFFLINE_CONFIG,
    type Violation,
    evaluatePolicies,
    formatViolations,
    resourcesOfRender,
} from "../offline/policy";
import { POLICIES } from "./rules";

/**
 * Every stack in stacks/ passes the whole pack, evaluated on its offline render the way
 * `pulumi preview --policy-pack policy` would evaluate it. Then the dev render is broken one
 * rule at a time, to show each rule really looks at the stack's resources.
 */
describe("policy pack: every stack's render", function () {
    this.timeout(120_000);
    const rendered = new Map<string, Rendered>();

    before(async () => {
        for (const stack of listStacks()) rendered.set(stack, await renderStack(stack));
    });

    for (const stack of listStacks()) {
        it(`${stack} passes every policy`, async () => {
            const violations = await evaluatePolicies(resourcesOfRender(rendered.get(stack)!), {
                config: OFFLINE_CONFIG,
            });
            assert.equal(
                violations.length,
                0,
                `${violations.length} violation(s) in stack ${stack}:\n${formatViolations(violations)}`,
            );
        });
    }

    describe("each rule catches a break in the dev render", () => {
        /** A fresh, editable copy of the dev render's resources. */
        const devResources = (): EvalResource[] =>
            JSON.parse(JSON.stringify(resourcesOfRender(rendered.get("dev")!))) as EvalResource[];
        const key = (v: Violation) => `${v.policy}|${v.urn ?? ""}|${v.message}`;

        const one = (
            rs: EvalResource[],
            type: string,
            pick: (r: EvalResource) => boolean = () => true,
        ) => {
            const found = rs.filter((r) => r.type === type && pick(r));
            assert.ok(found.length > 0, `the dev render has no ${type} to break`);
            return found[0]!;
        };
        const drop = (rs: EvalResource[], type: string) => rs.filter((r) => r.type !== type);
        const meta = (r: EvalResource) => r.props.metadata as { name?: string };
        const podOf = (r: EvalResource): any => {
            const spec = r.props.spec as any;
            return spec.jobTemplate?.spec.template.spec ?? spec.template.spec;
        };

        const BREAKS: {
            policy: string;
            what: string;
            edit: (rs: EvalResource[]) => EvalResource[];
        }[] = [
            {
                policy: "gke-private-nodes",
                what: "cluster nodes made public",
                edit: (rs) => {
                    (
                        one(rs, "gcp:container/cluster:Cluster").props.privateClusterConfig as any
                    ).enablePrivateNodes = false;
                    return rs;
                },
            },
            {
                policy: "gke-workload-identity",
                what: "a node pool exposing the node's metadata",
                edit: (rs) => {
                    (
                        one(rs, "gcp:container/nodePool:NodePool").props.nodeConfig as any
                    ).workloadMetadataConfig = { mode: "GCE_METADATA" };
                    return rs;
                },
            },
            {
                policy: "gke-shielded-nodes",
                what: "secure boot off on a node pool",
                edit: (rs) => {
                    (
                        one(rs, "gcp:container/nodePool:NodePool").props.nodeConfig as any
                    ).shieldedInstanceConfig.enableSecureBoot = false;
                    return rs;
                },
            },
            {
                policy: "gke-control-plane-restricted",
                what: "0.0.0.0/0 added to the control plane's authorized networks",
                edit: (rs) => {
                    (
                        one(rs, "gcp:container/cluster:Cluster").props
                            .masterAuthorizedNetworksConfig as any
                    ).cidrBlocks.push({ cidrBlock: "0.0.0.0/0", displayName: "anyone" });
                    return rs;
                },
            },
            {
                policy: "service-account-token-only-for-api-clients",
                what: "the docs app mounts a service-account token",
                edit: (rs) => {
                    const docs = rs.find(
                        (r) =>
                            r.type === "kubernetes:apps/v1:Deployment" &&
                            (r.props.metadata as any)?.name === "docs-app",
                    )!;
                    (docs.props.spec as any).template.spec.automountServiceAccountToken = true;
                    return rs;
                },
            },
            {
                policy: "no-service-account-keys",
                what: "a service-account key added",
                edit: (rs) => [
                    ...rs,
                    {
                        type: "gcp:serviceaccount/key:Key",
                        name: "k",
                        urn: "urn:pulumi:dev::taxi-platform::gcp:serviceaccount/key:Key::k",
                        props: {},
                    },
                ],
            },
            {
                policy: "no-static-aws-keys",
                what: "static keys on the AWS provider",
                edit: (rs) => {
                    Object.assign(one(rs, "pulumi:providers:aws").props, {
                        accessKey: "AKIAABCDEFGHIJKLMNOP",
                        secretKey: "x",
                    });
                    return rs;
                },
            },
            {
                policy: "gcs-public-access-prevention",
                what: "public access prevention inherited on a bucket",
                edit: (rs) => {
                    one(rs, "gcp:storage/bucket:Bucket").props.publicAccessPrevention = "inherited";
                    return rs;
                },
            },
            {
                policy: "s3-public-access-block",
                what: "the landing bucket's public access block removed",
                edit: (rs) => drop(rs, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"),
            },
            {
                policy: "s3-encryption",
                what: "the landing bucket's encryption removed",
                edit: (rs) =>
                    drop(
                        rs,
                        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                    ),
            },
            {
                policy: "s3-versioning",
                what: "the landing bucket's versioning removed",
                edit: (rs) => drop(rs, "aws:s3/bucketVersioning:BucketVersioning"),
            },
            {
                policy: "pod-restricted-security-context",
                what: "a privileged docs-app container",
                edit: (rs) => {
                    const d = one(
                        rs,
                        "kubernetes:apps/v1:Deployment",
                        (r) => meta(r).name === "docs-app",
                    );
                    podOf(d).containers[0].securityContext.privileged = true;
                    return rs;
                },
            },
            {
                policy: "container-resources-and-probes",
                what: "Grafana without probes",
                edit: (rs) => {
                    const d = one(
                        rs,
                        "kubernetes:apps/v1:Deployment",
                        (r) => meta(r).name === "grafana",
                    );
                    for (const c of podOf(d).containers) delete c.livenessProbe;
                    return rs;
                },
            },
            {
                policy: "images-by-digest",
                what: "the Postgres backup image by tag",
                edit: (rs) => {
                    const cron = one(rs, "kubernetes:batch/v1:CronJob");
                    podOf(cron).containers[0].image = "postgres:17";
                    return rs;
                },
            },
            {
                policy: "helm-release-restricted-namespace",
                what: "the Spark operator installed into `default`",
                edit: (rs) => {
                    one(rs, "kubernetes:helm.sh/v3:Release").props.namespace = "default";
                    return rs;
                },
            },
            {
                policy: "no-plaintext-secrets",
                what: "a password written into pipeline-env",
                edit: (rs) => {
                    const cm = one(
                        rs,
                        "kubernetes:core/v1:ConfigMap",
                        (r) => meta(r).name === "pipeline-env",
                    );
                    (cm.props.data as Record<string, string>).WAREHOUSE_PASSWORD = "hunter2";
                    return rs;
                },
            },
            {
                policy: "lambda-node-runtime",
                what: "the trigger on nodejs20.x",
                edit: (rs) => {
                    one(rs, "aws:lambda/function:Function").props.runtime = "nodejs20.x";
                    return rs;
                },
            },
            {
                policy: "lambda-on-failure-destination",
                what: "the trigger's event-invoke config removed",
                edit: (rs) =>
                    drop(rs, "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"),
            },
            {
                policy: "one-external-load-balancer",
                what: "Grafana's Service as a LoadBalancer",
                edit: (rs) => {
                    const svc = one(
                        rs,
                        "kubernetes:core/v1:Service",
                        (r) => meta(r).name === "grafana",
                    );
                    (svc.props.spec as any).type = "LoadBalancer";
                    return rs;
                },
            },
        ];

        it("covers every policy of the pack", () => {
            assert.deepEqual(
                BREAKS.map((b) => b.policy).sort(),
                POLICIES.map((p) => p.name).sort(),
            );
        });

        for (const b of BREAKS) {
            it(`${b.policy}: ${b.what}`, async () => {
                const base = new Set(
                    (await evaluatePolicies(devResources(), { config: OFFLINE_CONFIG })).map(key),
                );
                const after = await evaluatePolicies(b.edit(devResources()), {
                    config: OFFLINE_CONFIG,
                });
                const added = after.filter((v) => !base.has(key(v)));
                assert.ok(added.length > 0, `no new violation for: ${b.what}`);
                assert.deepEqual(
                    [...new Set(added.map((v) => v.policy))],
                    [b.policy],
                    formatViolations(added),
                );
            });
        }
    });
});
