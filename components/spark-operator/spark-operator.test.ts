import { strict as assert } from "node:assert";
import { SPARK_OPERATOR_CHART } from "../../charts/spark-operator/chart";
import { evaluateOnCluster } from "../../testing/cluster-fixture";
import { mirrorName } from "../images/images";
import { UPSTREAM_IMAGES } from "../shared/versions";
import { validateRecorded, type K8sObject } from "../../testing/k8s-validate";
import {
    SparkOperator,
    resolveSparkOperatorArgs,
    sparkOperatorValues,
    type SparkOperatorArgs,
} from "./spark-operator";

const base: SparkOperatorArgs = {
    namespace: "spark-operator",
    jobsNamespace: "jobs",
    sparkServiceAccount: "spark",
    apiServerCidr: "172.16.0.0/28",
};

function build(overrides: Partial<SparkOperatorArgs> = {}) {
    return evaluateOnCluster(({ provider }) => {
        const s = new SparkOperator("dev", { ...base, ...overrides }, { providers: [provider] });
        return { chartVersion: s.chartVersion };
    });
}

describe("components/spark-operator", () => {
    it("mirrors the operator image the pinned chart runs: ghcr.io/kubeflow/spark-operator/controller", () => {
        // Evidence (README): chart v2.5.0's values.yaml and release workflow; docker.io has no 2.x.
        assert.equal(
            UPSTREAM_IMAGES.sparkOperator,
            `ghcr.io/kubeflow/spark-operator/controller:${SPARK_OPERATOR_CHART.version}`,
        );
        assert.equal(SPARK_OPERATOR_CHART.image.tag, SPARK_OPERATOR_CHART.version, "appVersion");
        assert.equal(
            mirrorName(UPSTREAM_IMAGES.sparkOperator),
            "mirror/kubeflow/spark-operator/controller",
        );
    });

    it("installs the pinned upstream chart as a Helm release that watches the jobs namespace only", async () => {
        const r = await build();
        const releases = r.ofType("kubernetes:helm.sh/v3:Release");
        assert.equal(releases.length, 1);
        const rel = releases[0]!.inputs as any;
        assert.equal(rel.chart, "spark-operator");
        assert.match(rel.version, /^2\.5\.\d+$/, "chart 2.5.x, pinned exactly");
        assert.equal(rel.version, SPARK_OPERATOR_CHART.version);
        assert.deepEqual(rel.repositoryOpts, { repo: "https://kubeflow.github.io/spark-operator" });
        assert.equal(rel.namespace, "spark-operator");
        assert.equal(
            rel.skipCrds,
            false,
            "CRDs installed with the release (upgrades: charts/README.md)",
        );
        assert.equal(rel.atomic, true);
        const v = rel.values;
        assert.deepEqual(v.spark.jobNamespaces, ["jobs"]);
        assert.deepEqual(v.spark.serviceAccount, { create: false, name: "spark" });
        assert.deepEqual(v.spark.rbac, { create: true });
        assert.equal(v.webhook.enable, true);
        assert.equal(v.webhook.failurePolicy, "Fail");
        assert.equal(v.webhook.port, 9443);
        assert.deepEqual(v.prometheus.metrics, {
            enable: true,
            port: 8080,
            portName: "metrics",
            endpoint: "/metrics",
        });
        assert.equal(v.controller.annotations["prometheus.io/scrape"], "true");
        assert.equal(v.image.tag, SPARK_OPERATOR_CHART.image.tag);
        assert.equal(r.outputs.chartVersion, SPARK_OPERATOR_CHART.version);
    });

    it("runs the operator's pods under the restricted profile with requests and limits", () => {
        const v = sparkOperatorValues(resolveSparkOperatorArgs(base), "spark");
        for (const part of [v.controller, v.webhook]) {
            assert.equal(part.podSecurityContext.runAsNonRoot, true);
            assert.notEqual(part.podSecurityContext.runAsUser, 0);
            assert.equal(part.podSecurityContext.seccompProfile.type, "RuntimeDefault");
            assert.equal(part.securityContext.allowPrivilegeEscalation, false);
            assert.deepEqual(part.securityContext.capabilities.drop, ["ALL"]);
            assert.ok(part.resources.requests.cpu && part.resources.limits.memory);
            // Writable paths are emptyDirs (read-only root filesystem).
            for (const m of part.volumeMounts)
                assert.ok(part.volumes.some((vol) => vol.name === m.name));
        }
        const two = sparkOperatorValues(
            resolveSparkOperatorArgs({ ...base, webhookReplicas: 2 }),
            "spark",
        );
        assert.deepEqual(two.webhook.podDisruptionBudget, { enable: true, minAvailable: 1 });
    });

    it("admits only the control plane to the webhook and lets both pods reach the API server only", async () => {
        const r = await build();
        const policies = r
            .ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy")
            .map((p) => p.inputs as any);
        assert.deepEqual(policies.map((p) => p.metadata.name).sort(), [
            "spark-operator-controller",
            "spark-operator-webhook",
        ]);
        const webhook = policies.find((p) => p.metadata.name === "spark-operator-webhook");
        assert.deepEqual(webhook.spec.ingress, [
            {
                from: [{ ipBlock: { cidr: "172.16.0.0/28" } }],
                ports: [{ protocol: "TCP", port: 9443 }],
            },
        ]);
        for (const p of policies) {
            assert.deepEqual(p.spec.egress, [
                {
                    to: [{ ipBlock: { cidr: "172.16.0.0/28" } }],
                    ports: [{ protocol: "TCP", port: 443 }],
                },
            ]);
            await validateRecorded(p as K8sObject);
        }
    });

    it("rejects running the operator in the jobs namespace and out-of-range sizes", () => {
        assert.throws(
            () => resolveSparkOperatorArgs({ ...base, namespace: "jobs" }),
            /namespace and jobsNamespace are both "jobs"/,
        );
        assert.throws(
            () => resolveSparkOperatorArgs({ ...base, webhookReplicas: 0 }),
            /webhookReplicas is 0/,
        );
    });

    it("lets the CI preview identity get and list Secrets in its namespace only (the Helm release records)", async () => {
        const none = await build();
        assert.equal(none.ofType("kubernetes:rbac.authorization.k8s.io/v1:Role").length, 0);
        const preview = "pulumi-preview@acme-taxi-dev.iam.gserviceaccount.com";
        const r = await build({ releaseReaders: [preview] });
        const role = r.get("kubernetes:rbac.authorization.k8s.io/v1:Role", "dev-release-readers")
            .inputs as any;
        assert.equal(role.metadata.namespace, "spark-operator");
        assert.deepEqual(role.rules, [
            { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list"] },
        ]);
        const binding = r.get(
            "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
            "dev-release-readers",
        ).inputs as any;
        assert.equal(binding.metadata.namespace, "spark-operator");
        assert.deepEqual(binding.subjects, [
            { apiGroup: "rbac.authorization.k8s.io", kind: "User", name: preview },
        ]);
        assert.equal(binding.roleRef.kind, "Role", "never a ClusterRole");
        assert.equal(
            r.ofType("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding").length,
            0,
        );
        for (const o of [role, binding]) await validateRecorded(o as K8sObject);
    });
});
