import { strict as assert } from "node:assert";
import * as pulumi from "@pulumi/pulumi";
import { SECRET, evaluate } from "./engine";

/** Concrete stand-ins for a provider and a provider-managed resource. */
class FakeProvider extends pulumi.ProviderResource {}
class FakeResource extends pulumi.CustomResource {}

/** A tiny component used only to exercise the harness. */
class Box extends pulumi.ComponentResource {
    readonly label: pulumi.Output<string>;
    constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
        super("test:index:Box", name, {}, opts);
        const provider = new FakeProvider("random", `${name}-provider`, {}, { parent: this });
        const child = new FakeResource(
            "random:index/randomPet:RandomPet",
            `${name}-pet`,
            { length: 2, prefix: pulumi.secret("hidden-prefix"), label: "visible" },
            { parent: this, provider },
        );
        this.label = child.urn.apply(() => "box-label");
        this.registerOutputs({ label: this.label });
    }
}

describe("offline/engine", () => {
    it("records every resource with its type, name, parent and redacted inputs", async () => {
        const run = await evaluate(() => {
            const box = new Box("b1");
            return { label: box.label, token: pulumi.secret("s3cr3t"), plain: "x" };
        });
        assert.deepEqual(
            run.resources.map((r) => [r.type, r.name, r.parent]),
            [
                ["test:index:Box", "b1", undefined],
                ["pulumi:providers:random", "b1-provider", "test:index:Box::b1"],
                ["random:index/randomPet:RandomPet", "b1-pet", "test:index:Box::b1"],
            ],
        );
        const pet = run.get("random:index/randomPet:RandomPet", "b1-pet");
        assert.equal(pet.inputs.prefix, SECRET);
        assert.equal(pet.inputs.label, "visible");
        assert.deepEqual(pet.secretInputs, ["prefix"]);
        assert.equal(pet.custom, true);
        assert.deepEqual(run.outputs, { label: "box-label", token: SECRET, plain: "x" });
        assert.deepEqual(run.countsByType(), {
            "pulumi:providers:random": 1,
            "random:index/randomPet:RandomPet": 1,
            "test:index:Box": 1,
        });
        assert.equal(run.childrenOf("test:index:Box", "b1").length, 2);
    });

    it("fails the evaluation on an invoke the test did not declare", async () => {
        await assert.rejects(
            evaluate(async () => {
                await pulumi.runtime.invoke("gcp:organizations/getProject:getProject", {});
                return {};
            }),
            /unexpected invoke gcp:organizations\/getProject:getProject/,
        );
    });

    it("answers declared invokes", async () => {
        const run = await evaluate(
            async () => {
                const res = (await pulumi.runtime.invoke(
                    "gcp:organizations/getProject:getProject",
                    {},
                )) as {
                    number: string;
                };
                return { number: res.number };
            },
            { invokes: { "gcp:organizations/getProject:getProject": () => ({ number: "1234" }) } },
        );
        assert.deepEqual(run.outputs, { number: "1234" });
    });

    it("names what exists when a lookup finds nothing", async () => {
        const run = await evaluate(() => new Box("only"));
        assert.throws(
            () => run.get("test:index:Box", "other"),
            /found 0 \(names of that type: only\)/,
        );
    });

    it("isolates consecutive evaluations", async () => {
        await evaluate(() => new Box("first"));
        const second = await evaluate(() => new Box("second"));
        assert.deepEqual(
            second.ofType("test:index:Box").map((r) => r.name),
            ["second"],
        );
    });

    it("surfaces program errors", async () => {
        await assert.rejects(
            evaluate(() => {
                throw new Error("bad args: x");
            }),
            /bad args: x/,
        );
    });
});
