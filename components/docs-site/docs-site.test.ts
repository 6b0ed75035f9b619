import { strict as assert } from "node:assert";
import { evaluateOnCluster } from "../../testing/cluster-fixture";
import { validateRecorded, type K8sObject } from "../../testing/k8s-validate";
import { DocsSite } from "./docs-site";

function build(replicas?: number) {
    return evaluateOnCluster(({ provider, lb }) => {
        const d = new DocsSite(
            "dev",
            {
                namespace: "docs",
                apiServerCidr: "172.16.0.0/28",
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
        // /metrics is for Prometheus only: the public route redirects it instead of forwarding.
        const route = r.ofType("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")[0]!
            .inputs as any;
        assert.deepEqual(route.spec.rules[0].matches, [
            { path: { type: "Exact", value: "/metrics" } },
        ]);
        assert.equal(route.spec.rules[0].backendRefs, undefined);
        assert.equal(route.spec.rules[0].filters[0].type, "RequestRedirect");
        await validateRecorded(route as K8sObject);
        assert.equal((await build(1)).ofType("kubernetes:policy/v1:PodDisruptionBudget").length, 0);
    });

    it("rejects zero replicas", async () => {
        await assert.rejects(build(0), /replicas is 0/);
    });
});
