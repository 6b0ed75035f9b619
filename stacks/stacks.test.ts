import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import YAML from "yaml";
import { renderStack, type Rendered } from "../offline/render";
import { inventoryOf, inventoryPath } from "../offline/inventory";
import { listStacks } from "../offline/stack-files";
import { validateRecorded, type K8sObject } from "../testing/k8s-validate";
import { DOCUMENTED_EXCEPTIONS, podSpecOf, podViolations } from "../testing/pod-security";

/**
 * Every stack is evaluated through the real program entry point (stacks/index.ts, config read
 * from the stack file) under the offline engine, then checked against its inventory.
 */
describe("stacks: offline evaluation of every stack", () => {
    const rendered = new Map<string, Rendered>();

    before(async () => {
        for (const stack of listStacks()) rendered.set(stack, await renderStack(stack));
    });

    for (const stack of listStacks()) {
        describe(stack, () => {
            it(`matches stacks/inventory/${stack}.yaml (regenerate with: npm run inventory:update)`, () => {
                const want = YAML.parse(fs.readFileSync(inventoryPath(stack), "utf8")) as unknown;
                assert.deepEqual(inventoryOf(rendered.get(stack)!), want);
            });

            it("declares only Kubernetes objects that pass strict schema validation", async () => {
                const r = rendered.get(stack)!;
                const crds = r.kubernetes.filter(
                    (o) => o.kind === "CustomResourceDefinition",
                ) as K8sObject[];
                for (const obj of r.kubernetes) await validateRecorded(obj as K8sObject, crds);
            });

            it("has one public IP for all UIs, no service-account keys, no public buckets", () => {
                const r = rendered.get(stack)!;
                assert.equal(
                    r.resources.filter((x) => x.type === "gcp:compute/globalAddress:GlobalAddress")
                        .length,
                    1,
                );
                assert.equal(
                    r.resources.filter((x) => x.type === "gcp:compute/address:Address").length,
                    0,
                );
                assert.equal(
                    r.resources.filter((x) => x.type === "gcp:serviceaccount/key:Key").length,
                    0,
                );
                for (const b of r.resources.filter((x) => x.type === "gcp:storage/bucket:Bucket")) {
                    assert.equal(b.inputs.publicAccessPrevention, "enforced", b.name);
                }
                assert.equal(r.outputs.kubeconfig, "[secret]", "kubeconfig is a secret output");
            });

            it("runs every pod under the restricted profile, with resources and probes", () => {
                const r = rendered.get(stack)!;
                const pods = (r.kubernetes as any[]).filter((o) => podSpecOf(o));
                assert.ok(
                    pods.length >= 6,
                    `expected the platform's workloads, found ${pods.length}`,
                );
                const problems = pods.flatMap((o) => podViolations(o));
                assert.deepEqual(problems, [], "see testing/pod-security.ts for the rules");
                // An exception must name a container this stack really runs (no stale entries).
                const containers = new Set(
                    pods.flatMap((o: any) => {
                        const spec = podSpecOf(o)!.spec;
                        const where = `${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;
                        return [...(spec.containers ?? []), ...(spec.initContainers ?? [])].map(
                            (c: any) => `${where}/${c.name}`,
                        );
                    }),
                );
                for (const key of Object.keys(DOCUMENTED_EXCEPTIONS)) {
                    assert.ok(containers.has(key), `exception for ${key}, which does not exist`);
                }
            });

            it("keeps secrets out of ConfigMaps, env values and plain outputs", () => {
                const r = rendered.get(stack)!;
                for (const cm of (r.kubernetes as any[]).filter((o) => o.kind === "ConfigMap")) {
                    const text = JSON.stringify(cm);
                    assert.ok(
                        !text.includes("[secret]"),
                        `ConfigMap ${cm.metadata?.name} holds a secret`,
                    );
                    assert.ok(
                        !/offline-password/.test(text),
                        `ConfigMap ${cm.metadata?.name} holds a password`,
                    );
                }
                for (const o of r.kubernetes as any[]) {
                    const spec = podSpecOf(o)?.spec;
                    for (const c of [
                        ...(spec?.containers ?? []),
                        ...(spec?.initContainers ?? []),
                    ]) {
                        for (const e of c.env ?? []) {
                            assert.ok(
                                e.value === undefined ||
                                    !/secret|offline-password/.test(String(e.value)),
                                `${o.kind}/${o.metadata?.name}/${c.name} env ${e.name} has a secret as a plain value`,
                            );
                            if (
                                /PASSWORD|SECRET|TOKEN|KEY$/.test(e.name) &&
                                e.valueFrom === undefined
                            ) {
                                assert.fail(
                                    `${o.kind}/${o.metadata?.name}/${c.name} env ${e.name} is not read from a Secret`,
                                );
                            }
                        }
                    }
                }
                assert.ok(
                    !JSON.stringify(r.outputs).includes("offline-password"),
                    "a password in the outputs",
                );
            });

            it("targets the project and regions of its stack file", () => {
                const r = rendered.get(stack)!;
                const gcp = r.resources.filter((x) => x.type === "pulumi:providers:gcp");
                assert.equal(gcp.length, 1, "exactly one explicit GCP provider");
                assert.equal(r.outputs.environment, stack);
                assert.equal(gcp[0]!.inputs.project, r.outputs.gcpProject);
            });
        });
    }

    it("stacks differ where their config differs", () => {
        const projects = listStacks().map((s) => rendered.get(s)!.outputs.gcpProject);
        assert.equal(
            new Set(projects).size,
            projects.length,
            "each environment has its own project",
        );
    });
});
