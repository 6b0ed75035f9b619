import { strict as assert } from "node:assert";
import { diffStates, flatten, toMarkdown, type StackState } from "./render-diff";

const base: StackState = {
    resources: [
        {
            type: "gcp:storage/bucket:Bucket",
            name: "staging",
            inputs: { location: "EU", lifecycleRules: [{ age: 30 }] },
        },
        { type: "gcp:storage/bucket:Bucket", name: "old", inputs: { location: "EU" } },
        { type: "kubernetes:core/v1:Secret", name: "db", inputs: { stringData: "[secret]" } },
    ],
    outputs: { bucket: "staging", url: "http://a" },
};
const head: StackState = {
    resources: [
        {
            type: "gcp:storage/bucket:Bucket",
            name: "staging",
            inputs: { location: "EU", lifecycleRules: [{ age: 7 }] },
        },
        {
            type: "gcp:storage/bucket:Bucket",
            name: "docs",
            parent: "taxi:gcp:DataLake::lake",
            inputs: { location: "EU" },
        },
        { type: "kubernetes:core/v1:Secret", name: "db", inputs: { stringData: "[secret]" } },
    ],
    outputs: { bucket: "staging", url: "https://a" },
};

describe("offline/render-diff", () => {
    it("flattens nested inputs to dotted paths", () => {
        assert.deepEqual(flatten({ a: { b: [1, { c: 2 }] }, d: {} }), {
            "a.b.0": 1,
            "a.b.1.c": 2,
            d: {},
        });
    });

    it("finds added, removed and modified resources and changed outputs", () => {
        const d = diffStates(base, head);
        assert.deepEqual(
            d.added.map((r) => r.name),
            ["docs"],
        );
        assert.deepEqual(
            d.removed.map((r) => r.name),
            ["old"],
        );
        assert.deepEqual(
            d.modified.map((m) => [m.resource.name, m.changes]),
            [["staging", [{ path: "lifecycleRules.0.age", before: 30, after: 7 }]]],
        );
        assert.deepEqual(d.outputs, [{ path: "url", before: "http://a", after: "https://a" }]);
    });

    it("writes Markdown a reviewer can read, with secrets still redacted", () => {
        const md = toMarkdown("dev", "origin/main (abc123)", diffStates(base, head));
        assert.match(md, /\| 1 \| 1 \| 1 \| 1 \|/);
        assert.match(
            md,
            /\+ `gcp:storage\/bucket:Bucket` \*\*docs\*\* \(in taxi:gcp:DataLake::lake\)/,
        );
        assert.match(md, /- `gcp:storage\/bucket:Bucket` \*\*old\*\*/);
        assert.match(md, /\| `lifecycleRules.0.age` \| `30` \| `7` \|/);
        assert.ok(!md.includes("kubernetes:core/v1:Secret"), "an unchanged secret is not listed");
    });

    it("says so when nothing changed", () => {
        assert.match(toMarkdown("dev", "HEAD", diffStates(base, base)), /No changes/);
    });
});
