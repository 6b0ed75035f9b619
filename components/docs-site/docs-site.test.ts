import { strict as assert } from "node:assert";
import { evaluateOnCluster } from "../../testing/cluster-fixture";
import { DocsSite } from "./docs-site";

function build(replicas?: number) {
    return evaluateOnCluster(({ provider, lb }) => {
        const d = new DocsSite(
            "dev",
            {
                namespace: "docs",
                image: "registry/docs-app@sha256:abc",
                docsUri: "gs://acme-docs",
                serviceAccount: "docs-app",
                monitoringNamespace: "monitoring",
                loadBalancer: lb,
                ...(replicas !== undefined ? { replicas } : {}),
            },
            { providers: [provider] },
        );
        return { url: d.url };
    });
}

describe("components/docs-site", () => {
    it("serves the docs bucket with two replicas, a PodDisruptionBudget and a route on the shared LB", async () => {
        const r = await build();
        const d = r.get("kubernetes:apps/v1:Deployment", "dev-app").inputs as any;
        assert.equal(d.spec.replicas, 2);
        const c = d.spec.template.spec.containers[0];
        assert.deepEqual(c.env, [
            { name: "DOCS_URI", value: "gs://acme-docs" },
            { name: "PORT", value: "8080" },
        ]);
        assert.equal(c.readinessProbe.httpGet.path, "/healthz");
        assert.equal(d.spec.template.spec.serviceAccountName, "docs-app");
        assert.equal(r.ofType("kubernetes:policy/v1:PodDisruptionBudget").length, 1);
        assert.equal(r.outputs.url, "http://docs.203-0-113-20.sslip.io");
        assert.equal((await build(1)).ofType("kubernetes:policy/v1:PodDisruptionBudget").length, 0);
    });

    it("rejects zero replicas", async () => {
        await assert.rejects(build(0), /replicas is 0/);
    });
});
