import { strict as assert } from "node:assert";
import { evaluateOnCluster } from "../../testing/cluster-fixture";
import { validateRecorded, type K8sObject } from "../../testing/k8s-validate";
import * as k8s from "@pulumi/kubernetes";
import { cloudFakes } from "../../offline/cloud-fakes";
import { evaluate } from "../../offline/engine";
import { SharedLoadBalancer } from "../load-balancer/load-balancer";
import {
    IAP_ACCESSOR_ROLE,
    MlflowServer,
    resolveMlflowArgs,
    type MlflowServerArgs,
} from "./mlflow";

const BASE = {
    namespace: "mlflow",
    image: "registry/ml@sha256:abc",
    databaseSecret: "mlflow-db",
    artifactsBucket: "acme-mlflow-artifacts",
    serviceAccount: "mlflow",
    clientNamespaces: ["airflow", "jobs"],
    databaseNamespace: "database",
};

function build(overrides: Partial<MlflowServerArgs> = {}) {
    return evaluateOnCluster(({ provider, lb }) => {
        const m = new MlflowServer(
            "dev",
            {
                namespace: "mlflow",
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
        return { url: m.url ?? "(none)", internal: m.internalUrl };
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
        assert.equal(
            c.args.find((a: string) => a.startsWith("--allowed-hosts=")),
            "--allowed-hosts=mlflow.mlflow.svc.cluster.local:5000,mlflow.mlflow.svc:5000,mlflow.mlflow:5000,localhost:5000",
        );
        assert.equal(r.outputs.internal, "http://mlflow.mlflow.svc.cluster.local:5000");
        for (const o of r.resources.filter(
            (x) => x.custom && x.type.startsWith("kubernetes:") && x.inputs.kind,
        )) {
            await validateRecorded(o.inputs as K8sObject);
        }
    });

    it("is internal only by default: no route, no load-balancer ingress, no public URL", async () => {
        const r = await build();
        assert.equal(r.ofType("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute").length, 0);
        assert.equal(r.ofType("kubernetes:networking.gke.io/v1:GCPBackendPolicy").length, 0);
        assert.equal(r.outputs.url, "(none)");
        const np = r.ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy")[0]!.inputs as any;
        const from = np.spec.ingress.flatMap((i: any) => i.from);
        assert.ok(
            from.every((f: any) => f.ipBlock === undefined),
            "only the client namespaces may connect",
        );
        assert.equal(r.ofType("kubernetes:policy/v1:PodDisruptionBudget").length, 0);
        const two = await build({ replicas: 2 });
        assert.equal(two.ofType("kubernetes:policy/v1:PodDisruptionBudget").length, 1);
    });

    it("adds a public route only behind Identity-Aware Proxy, for the listed members, over HTTPS", async () => {
        const members = ["user:ana@example.com", "group:ml@example.com"];
        const r = await evaluate(
            () => {
                const provider = new k8s.Provider("k8s", { kubeconfig: "{}" });
                const lb = new SharedLoadBalancer("dev", {
                    domain: "data.example.com",
                    namespace: "gateway",
                    k8sProvider: provider,
                });
                const m = new MlflowServer(
                    "dev",
                    {
                        ...BASE,
                        loadBalancer: lb,
                        publicAccess: { project: "acme-taxi-dev", iapMembers: members },
                    },
                    { providers: [provider] },
                );
                return { url: m.url };
            },
            { outputs: cloudFakes("acme-taxi-dev") },
        );
        assert.equal(r.outputs.url, "https://mlflow.data.example.com");
        const policy = r.get("kubernetes:networking.gke.io/v1:GCPBackendPolicy", "dev-iap")
            .inputs as any;
        assert.deepEqual(policy.spec, {
            default: { iap: { enabled: true } },
            targetRef: { group: "", kind: "Service", name: "mlflow" },
        });
        await validateRecorded(policy as K8sObject);
        const grants = r.ofType("gcp:iap/webIamMember:WebIamMember").map((g) => g.inputs as any);
        assert.deepEqual(
            grants.map((g) => [g.project, g.role, g.member]),
            members.map((m) => ["acme-taxi-dev", IAP_ACCESSOR_ROLE, m]),
        );
        const route = r
            .ofType("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")
            .map((x) => x.inputs as any)
            .find((x) => x.metadata.name === "mlflow");
        assert.equal(route.spec.parentRefs[0].sectionName, "https");
        const c = (r.get("kubernetes:apps/v1:Deployment", "dev-server").inputs as any).spec.template
            .spec.containers[0];
        assert.match(
            c.args.find((a: string) => a.startsWith("--allowed-hosts=")),
            /^--allowed-hosts=mlflow\.data\.example\.com,mlflow\.mlflow\.svc\.cluster\.local:5000/,
        );
    });

    it("refuses a public route without members, with allUsers, or without HTTPS", async () => {
        const pub = (iapMembers: string[]) => ({ project: "p", iapMembers });
        assert.throws(
            () => resolveMlflowArgs({ ...BASE, publicAccess: pub([]) }),
            /publicAccess\.iapMembers is empty/,
        );
        assert.throws(
            () => resolveMlflowArgs({ ...BASE, publicAccess: pub(["allUsers"]) }),
            /publicAccess\.iapMembers has "allUsers"/,
        );
        await assert.rejects(
            build({ publicAccess: pub(["user:ana@example.com"]) }),
            /publicAccess needs a load balancer with a domain: Identity-Aware Proxy protects HTTPS routes only/,
        );
    });

    it("rejects an out-of-range replica count", () => {
        assert.throws(
            () => resolveMlflowArgs({ replicas: 0 } as MlflowServerArgs),
            /replicas is 0/,
        );
    });
});
