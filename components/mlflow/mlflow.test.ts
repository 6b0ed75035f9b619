import { strict as assert } from "node:assert";
import { evaluateOnCluster } from "../../testing/cluster-fixture";
import { validateRecorded, type K8sObject } from "../../testing/k8s-validate";
import { MlflowServer, resolveMlflowArgs, type MlflowServerArgs } from "./mlflow";

function build(overrides: Partial<MlflowServerArgs> = {}) {
    return evaluateOnCluster(({ provider, lb }) => {
        const m = new MlflowServer(
            "dev",
            {
                namespace: "mlflow",
                apiServerCidr: "172.16.0.0/28",
                image: "registry/ml@sha256:abc",
                databaseSecret: "mlflow-db",
                artifactsBucket: "acme-mlflow-artifacts",
                serviceAccount: "mlflow",
                clientNamespaces: ["airflow", "jobs"],
                databaseNamespace: "database",
                loadBalancer: lb,
                ...overrides,
            },
            { providers: [provider] },
        );
        return { url: m.url, internal: m.internalUrl };
    });
}

describe("components/mlflow", () => {
    it("stores runs in its own Postgres database and artifacts in the MLflow bucket, served through the server", async () => {
        const r = await build();
        const d = r.get("kubernetes:apps/v1:Deployment", "dev-server").inputs as any;
        const pod = d.spec.template.spec;
        const c = pod.containers[0];
        assert.deepEqual(c.command, ["mlflow", "server"]);
        assert.ok(c.args.includes("--serve-artifacts"));
        assert.ok(c.args.includes("--artifacts-destination=gs://acme-mlflow-artifacts/artifacts"));
        assert.ok(
            !c.args.some((a: string) => a.startsWith("--backend-store-uri")),
            "no password on the command line",
        );
        assert.deepEqual(c.env.find((e: any) => e.name === "MLFLOW_BACKEND_STORE_URI").valueFrom, {
            secretKeyRef: { name: "mlflow-db", key: "uri" },
        });
        assert.equal(pod.serviceAccountName, "mlflow");
        assert.match(
            c.args.find((a: string) => a.startsWith("--allowed-hosts=")),
            /mlflow\.203-0-113-20\.sslip\.io,mlflow\.mlflow\.svc\.cluster\.local:5000/,
        );
        assert.equal(r.outputs.url, "http://mlflow.203-0-113-20.sslip.io");
        assert.equal(r.outputs.internal, "http://mlflow.mlflow.svc.cluster.local:5000");
        for (const o of r.resources.filter(
            (x) => x.custom && x.type.startsWith("kubernetes:") && x.inputs.kind,
        )) {
            await validateRecorded(o.inputs as K8sObject);
        }
    });

    it("registers its route on the shared Gateway and adds a PodDisruptionBudget only with replicas > 1", async () => {
        const one = await build();
        const routes = one.ofType("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute");
        assert.equal(routes.length, 1);
        assert.equal((routes[0]!.inputs as any).spec.parentRefs[0].name, "dev");
        assert.equal(one.ofType("kubernetes:policy/v1:PodDisruptionBudget").length, 0);
        const two = await build({ replicas: 2 });
        assert.equal(two.ofType("kubernetes:policy/v1:PodDisruptionBudget").length, 1);
    });

    it("rejects an out-of-range replica count", () => {
        assert.throws(
            () => resolveMlflowArgs({ replicas: 0 } as MlflowServerArgs),
            /replicas is 0/,
        );
    });
});
