import { strict as assert } from "node:assert";
import { evaluateOnCluster } from "../../testing/cluster-fixture";
import { validateRecorded, type K8sObject } from "../../testing/k8s-validate";
import { podFindings } from "../../testing/pod-security";
import { FareApi, resolveFareApiArgs, type FareApiArgs } from "./model-serving";

const ARGS: Omit<FareApiArgs, "loadBalancer"> = {
    namespace: "serving",
    image: "registry/ml@sha256:abc",
    trackingUri: "http://mlflow.mlflow.svc.cluster.local:5000",
    mlflowNamespace: "mlflow",
    artifactsDestination: "gs://acme-mlflow-artifacts/artifacts",
    serviceAccount: "fare-api",
    monitoringNamespace: "monitoring",
    apiServerCidr: "172.16.0.0/28",
};

function build(overrides: Partial<FareApiArgs> = {}) {
    return evaluateOnCluster(({ provider, lb }) => {
        const api = new FareApi(
            "dev",
            { ...ARGS, loadBalancer: lb, ...overrides },
            {
                providers: [provider],
            },
        );
        return { url: api.url };
    });
}

describe("components/model-serving", () => {
    it("creates exactly its Deployment, Service, PodDisruptionBudget, autoscaler, network policy and route", async () => {
        const r = await build();
        const component = r.resources.find((x) => x.type === "taxi:k8s:FareApi")!;
        const children = r.resources
            .filter((x) => x.parentUrn === component.urn)
            .map((x) => `${x.type} ${x.name}`)
            .sort();
        assert.deepEqual(children, [
            "kubernetes:apps/v1:Deployment dev-app",
            "kubernetes:autoscaling/v2:HorizontalPodAutoscaler dev-hpa",
            "kubernetes:core/v1:Service dev-service",
            "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute fare-api-route",
            "kubernetes:networking.gke.io/v1:HealthCheckPolicy fare-api-health-check",
            "kubernetes:networking.k8s.io/v1:NetworkPolicy dev-netpol",
            "kubernetes:policy/v1:PodDisruptionBudget dev-pdb",
        ]);
        for (const o of r.resources.filter((x) => x.parentUrn === component.urn)) {
            await validateRecorded(o.inputs as K8sObject);
        }
        assert.equal(r.outputs.url, "http://fare-api.203-0-113-20.sslip.io");
    });

    it("serves the champion from the ml image with readiness on a loaded model, restricted and read-only", async () => {
        const r = await build();
        const d = r.get("kubernetes:apps/v1:Deployment", "dev-app").inputs as any;
        assert.equal(d.spec.replicas, undefined, "the autoscaler owns the replica count");
        assert.deepEqual(d.spec.strategy.rollingUpdate, { maxUnavailable: 0, maxSurge: 1 });
        assert.deepEqual(podFindings(d), [], "restricted profile, requests/limits, probes");
        const pod = d.spec.template.spec;
        assert.equal(pod.serviceAccountName, "fare-api");
        assert.equal(pod.automountServiceAccountToken, false);
        const c = pod.containers[0];
        assert.equal(c.image, "registry/ml@sha256:abc");
        assert.deepEqual(c.command, ["python", "-m", "taxi_ml.serve"]);
        const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value]));
        assert.equal(env.MLFLOW_TRACKING_URI, "http://mlflow.mlflow.svc.cluster.local:5000");
        assert.equal(env.MODEL_NAME, "fare-model");
        assert.equal(env.MODEL_ARTIFACTS_DESTINATION, "gs://acme-mlflow-artifacts/artifacts");
        assert.equal(env.SERVE_MAX_TRIPS, "1000");
        assert.equal(env.SERVE_MAX_BODY_BYTES, "1048576");
        assert.equal(env.SERVE_RATE_PER_MINUTE, "600");
        assert.equal(env.SERVE_FORWARDED_HOPS, "2");
        assert.equal(c.readinessProbe.httpGet.path, "/health");
        assert.equal(c.livenessProbe.httpGet.path, "/livez");
        assert.equal(c.securityContext.readOnlyRootFilesystem, true);
        assert.deepEqual(c.lifecycle.preStop, { sleep: { seconds: 10 } });
        assert.equal(d.spec.template.metadata.annotations["prometheus.io/path"], "/metrics");

        const hpa = r.get("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "dev-hpa")
            .inputs as any;
        assert.deepEqual(
            [hpa.spec.minReplicas, hpa.spec.maxReplicas, hpa.spec.scaleTargetRef.name],
            [2, 6, "fare-api"],
        );
        assert.deepEqual(hpa.spec.metrics[0].resource, {
            name: "cpu",
            target: { type: "Utilization", averageUtilization: 70 },
        });
        const pdb = r.get("kubernetes:policy/v1:PodDisruptionBudget", "dev-pdb").inputs as any;
        assert.equal(pdb.spec.minAvailable, 1);
    });

    it("talks to MLflow's pods and Google APIs only, and is reached by the load balancer and Prometheus only", async () => {
        const r = await build();
        const np = r.get("kubernetes:networking.k8s.io/v1:NetworkPolicy", "dev-netpol")
            .inputs as any;
        assert.deepEqual(np.spec.policyTypes, ["Ingress", "Egress"]);
        assert.deepEqual(np.spec.ingress, [
            {
                from: [
                    { ipBlock: { cidr: "35.191.0.0/16" } },
                    { ipBlock: { cidr: "130.211.0.0/22" } },
                    {
                        namespaceSelector: {
                            matchLabels: { "kubernetes.io/metadata.name": "monitoring" },
                        },
                        podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } },
                    },
                ],
                ports: [{ protocol: "TCP", port: 8080 }],
            },
        ]);
        assert.deepEqual(np.spec.egress, [
            {
                to: [
                    {
                        namespaceSelector: {
                            matchLabels: { "kubernetes.io/metadata.name": "mlflow" },
                        },
                        podSelector: { matchLabels: { "app.kubernetes.io/name": "mlflow" } },
                    },
                ],
                ports: [{ protocol: "TCP", port: 5000 }],
            },
            {
                to: [{ ipBlock: { cidr: "0.0.0.0/0", except: ["172.16.0.0/28"] } }],
                ports: [{ protocol: "TCP", port: 443 }],
            },
            {
                to: [
                    { ipBlock: { cidr: "169.254.169.254/32" } },
                    { ipBlock: { cidr: "169.254.169.252/32" } },
                ],
                ports: [
                    { protocol: "TCP", port: 80 },
                    { protocol: "TCP", port: 988 },
                ],
            },
        ]);
        const route = r.ofType("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")[0]!
            .inputs as any;
        assert.deepEqual(route.spec.rules[0].matches, [
            { path: { type: "Exact", value: "/metrics" } },
        ]);
        assert.equal(route.spec.rules[0].backendRefs, undefined, "/metrics is not public");
        assert.deepEqual(route.spec.rules[1].backendRefs, [{ name: "fare-api", port: 8080 }]);
        const check = r.ofType("kubernetes:networking.gke.io/v1:HealthCheckPolicy")[0]!
            .inputs as any;
        assert.equal(check.spec.default.config.httpHealthCheck.requestPath, "/health");
    });

    it("rejects bad bounds and a public MLflow URL, naming the argument", () => {
        const base = ARGS as FareApiArgs;
        assert.throws(() => resolveFareApiArgs({ ...base, minReplicas: 1 }), /minReplicas is 1/);
        assert.throws(
            () => resolveFareApiArgs({ ...base, minReplicas: 4, maxReplicas: 3 }),
            /maxReplicas is 3; must be from minReplicas \(4\)/,
        );
        assert.throws(() => resolveFareApiArgs({ ...base, maxTrips: 20_000 }), /maxTrips is 20000/);
        assert.throws(
            () => resolveFareApiArgs({ ...base, trackingUri: "https://mlflow.example.com" }),
            /trackingUri "https:\/\/mlflow.example.com" must be MLflow's in-cluster Service URL/,
        );
        assert.throws(
            () => resolveFareApiArgs({ ...base, ratePerMinute: 0 }),
            /ratePerMinute is 0/,
        );
    });
});
