import { strict as assert } from "node:assert";
import YAML from "yaml";
import { evaluateOnCluster } from "../../testing/cluster-fixture";
import { validateRecorded, type K8sObject } from "../../testing/k8s-validate";
import { alertRulesText } from "./alerts/rules";
import { loadDashboards } from "./content";
import { KSM_RESOURCES, Monitoring, resolveMonitoringArgs, type MonitoringArgs } from ".";

function build(overrides: Partial<MonitoringArgs> = {}) {
    return evaluateOnCluster(({ provider, lb }) => {
        const m = new Monitoring(
            "dev",
            {
                namespace: "monitoring",
                scrapeNamespaces: ["jobs"],
                airflowNamespace: "airflow",
                databaseNamespace: "database",
                exporterSecret: "postgres-exporter",
                grafanaDbSecret: "grafana-db",
                apiServerCidr: "172.16.0.0/28",
                retentionDays: 30,
                loadBalancer: lb,
                nodesCidr: "10.10.0.0/20",
                alerting: {
                    relayImage: "registry.example/taxi-airflow@sha256:abc",
                    serviceAccount: "alertmanager",
                    relayEnv: {
                        REPORT_RECIPIENTS: "oncall@example.com",
                        REPORT_SENDER: "reports@example.com",
                        REPORT_TRANSPORT: "ses",
                    },
                },
                ...overrides,
            },
            { providers: [provider] },
        );
        return { grafana: m.grafanaUrl, password: m.grafanaAdminPassword };
    });
}

describe("components/monitoring", () => {
    it("loads the alerting rules into Prometheus and sends alerts to Alertmanager, whose receiver is the relay on loopback", async () => {
        const r = await build();
        const cms = r.ofType("kubernetes:core/v1:ConfigMap");
        const byName = (n: string) => cms.find((c) => (c.inputs.metadata as any).name === n)!;
        const rules = (byName("prometheus-rules").inputs as any).data["rules.yaml"];
        assert.equal(rules, alertRulesText());
        const prom = YAML.parse((byName("prometheus-config").inputs as any).data["prometheus.yml"]);
        assert.deepEqual(prom.rule_files, ["/etc/prometheus/rules/rules.yaml"]);
        assert.deepEqual(prom.alerting.alertmanagers[0].static_configs[0].targets, [
            "alertmanager.monitoring.svc:9093",
        ]);
        const kubelet = prom.scrape_configs.find((j: any) => j.job_name === "kubelet");
        assert.equal(kubelet.kubernetes_sd_configs[0].role, "node");
        const ss = r
            .ofType("kubernetes:apps/v1:StatefulSet")
            .find((x) => (x.inputs.metadata as any).name === "prometheus")!;
        const promPod = (ss.inputs as any).spec.template.spec;
        assert.ok(promPod.volumes.some((v: any) => v.configMap?.name === "prometheus-rules"));
        assert.ok(
            promPod.containers[0].volumeMounts.some(
                (m: any) => m.mountPath === "/etc/prometheus/rules",
            ),
        );
        const am = YAML.parse(
            (byName("alertmanager-config").inputs as any).data["alertmanager.yml"],
        );
        assert.deepEqual(am.receivers, [
            {
                name: "email-relay",
                webhook_configs: [
                    { url: "http://127.0.0.1:9095/alerts", send_resolved: true, max_alerts: 50 },
                ],
            },
        ]);
        const dep = r
            .ofType("kubernetes:apps/v1:Deployment")
            .find((d) => (d.inputs.metadata as any).name === "alertmanager")!;
        const pod = (dep.inputs as any).spec.template.spec;
        assert.equal(pod.serviceAccountName, "alertmanager");
        assert.equal(pod.automountServiceAccountToken, false);
        assert.deepEqual(
            pod.containers.map((c: any) => c.name),
            ["alertmanager", "alert-relay"],
        );
        const relay = pod.containers[1];
        assert.deepEqual(relay.command, ["python", "-m", "common.alert_relay"]);
        assert.deepEqual(relay.args, ["--host", "127.0.0.1", "--port", "9095"]);
        assert.ok(relay.env.some((e: any) => e.name === "REPORT_TRANSPORT" && e.value === "ses"));
        // Nothing in the relay's environment is a credential: no AWS key, no password.
        for (const e of relay.env) assert.doesNotMatch(e.name, /KEY|SECRET|PASSWORD|TOKEN/);
    });

    it("lets Prometheus read only node discovery and nodes/metrics cluster-wide (never nodes/proxy)", async () => {
        const r = await build();
        const role = r
            .ofType("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")
            .find((x) => (x.inputs.metadata as any).name === "taxi-prometheus-kubelet")!;
        assert.deepEqual((role.inputs as any).rules, [
            { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch"] },
            { apiGroups: [""], resources: ["nodes/metrics"], verbs: ["get"] },
        ]);
    });

    it("rejects relay settings that are not REPORT_* variables", async () => {
        await assert.rejects(
            () =>
                build({
                    alerting: {
                        relayImage: "x",
                        serviceAccount: "a",
                        relayEnv: { AWS_SECRET_ACCESS_KEY: "x" },
                    },
                }),
            /alerting.relayEnv key "AWS_SECRET_ACCESS_KEY" must start with REPORT_/,
        );
    });

    it("runs ONE exporter Deployment with exactly statsd-exporter, postgres-exporter and kube-state-metrics, behind one Service", async () => {
        const r = await build();
        const deployments = r.ofType("kubernetes:apps/v1:Deployment");
        const exporters = deployments.filter(
            (d) => (d.inputs.metadata as any).name === "metrics-exporter",
        );
        assert.equal(exporters.length, 1);
        const pod = (exporters[0]!.inputs as any).spec.template.spec;
        assert.deepEqual(
            pod.containers.map((c: any) => c.name),
            ["statsd-exporter", "postgres-exporter", "kube-state-metrics"],
        );
        const statsd = pod.containers[0];
        assert.ok(statsd.args.includes("--statsd.mapping-config=/etc/statsd/mapping.yaml"));
        assert.deepEqual(pod.containers[1].envFrom, [{ secretRef: { name: "postgres-exporter" } }]);
        const services = r
            .ofType("kubernetes:core/v1:Service")
            .filter((s) => (s.inputs.metadata as any).name === "metrics-exporter");
        assert.equal(services.length, 1);
        assert.deepEqual(
            (services[0]!.inputs as any).spec.ports.map(
                (p: any) => `${p.name}:${p.port}/${p.protocol ?? "TCP"}`,
            ),
            [
                "statsd-udp:9125/UDP",
                "statsd-tcp:9125/TCP",
                "statsd-metrics:9102/TCP",
                "pg-metrics:9187/TCP",
                "ksm-metrics:8080/TCP",
                "ksm-telemetry:8081/TCP",
            ],
        );
        for (const o of r.resources.filter(
            (x) => x.custom && x.inputs.kind && x.type.startsWith("kubernetes:"),
        )) {
            await validateRecorded(o.inputs as K8sObject);
        }
    });

    it("gives kube-state-metrics read-only access (list, watch) to the listed kinds and no Secrets", async () => {
        const r = await build();
        const role = r
            .ofType("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")
            .filter((x) => (x.inputs.metadata as any).name === "taxi-kube-state-metrics");
        assert.equal(role.length, 1);
        const rules = (role[0]!.inputs as any).rules;
        for (const rule of rules) assert.deepEqual(rule.verbs, ["list", "watch"]);
        const all = rules.flatMap((x: any) => x.resources);
        assert.ok(!all.includes("secrets") && !all.includes("configmaps"));
        assert.deepEqual(all.sort(), Object.values(KSM_RESOURCES).flat().sort());
    });

    it("has Prometheus scrape itself, the three exporters and annotated pods, keeping data for the configured days", async () => {
        const r = await build();
        const cm = r.get("kubernetes:core/v1:ConfigMap", "dev-prometheus-config").inputs as any;
        const cfg = YAML.parse(cm.data["prometheus.yml"]);
        assert.deepEqual(
            cfg.scrape_configs.map((s: any) => s.job_name),
            [
                "prometheus",
                "airflow",
                "postgres",
                "kube-state-metrics",
                "kubelet",
                "annotated-pods",
            ],
        );
        const pods = cfg.scrape_configs[5];
        assert.deepEqual(pods.kubernetes_sd_configs[0].namespaces.names, ["jobs"]);
        assert.equal(
            pods.relabel_configs[0].source_labels[0],
            "__meta_kubernetes_pod_annotation_prometheus_io_scrape",
        );
        const sts = r.get("kubernetes:apps/v1:StatefulSet", "dev-prometheus").inputs as any;
        assert.ok(
            sts.spec.template.spec.containers[0].args.includes("--storage.tsdb.retention.time=30d"),
        );
        assert.equal(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage, "20Gi");
        // discovery is per namespace, never cluster-wide
        const roles = r.ofType("kubernetes:rbac.authorization.k8s.io/v1:Role");
        assert.deepEqual(
            roles.map((x) => (x.inputs.metadata as any).namespace),
            ["jobs"],
        );
    });

    it("provisions Grafana with Prometheus and every dashboard in the repo, a generated admin password, through the LB", async () => {
        const r = await build();
        const prov = r.get("kubernetes:core/v1:ConfigMap", "dev-grafana-provisioning")
            .inputs as any;
        const ds = YAML.parse(prov.data["datasources.yaml"]).datasources;
        assert.deepEqual(
            ds.map((d: any) => `${d.type}:${d.uid}:${d.url}`),
            ["prometheus:prometheus:http://prometheus.monitoring.svc:9090"],
        );
        const dash = r.get("kubernetes:core/v1:ConfigMap", "dev-grafana-dashboards").inputs as any;
        const files = loadDashboards().map((d) => d.file);
        assert.deepEqual(Object.keys(dash.data).sort(), files.sort());
        assert.deepEqual(files.sort(), [
            "airflow.json",
            "cluster.json",
            "fare-api.json",
            "postgres.json",
            "spark.json",
        ]);
        const admin = r.get("kubernetes:core/v1:Secret", "dev-grafana-admin");
        assert.ok(admin.secretInputs.includes("stringData"));
        assert.equal(r.outputs.password, "[secret]");
        const grafana = r.get("kubernetes:apps/v1:Deployment", "dev-grafana").inputs as any;
        const env = Object.fromEntries(
            grafana.spec.template.spec.containers[0].env.map((e: any) => [
                e.name,
                e.value ?? e.valueFrom,
            ]),
        );
        assert.deepEqual(env.GF_SECURITY_ADMIN_PASSWORD, {
            secretKeyRef: { name: "grafana-admin", key: "password" },
        });
        assert.equal(env.GF_DATABASE_TYPE, "postgres");
        assert.equal(env.GF_SERVER_ROOT_URL, "http://grafana.203-0-113-20.sslip.io");
        const routes = r.ofType("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute");
        assert.deepEqual(
            routes.map((x) => (x.inputs as any).spec.hostnames[0]),
            ["grafana.203-0-113-20.sslip.io"],
        );
    });

    it("rejects a zero retention and no scrape namespaces", () => {
        const base = { scrapeNamespaces: [], retentionDays: 0 } as unknown as MonitoringArgs;
        assert.throws(
            () => resolveMonitoringArgs(base),
            (e: Error) =>
                /retentionDays is 0/.test(e.message) && /scrapeNamespaces is empty/.test(e.message),
        );
    });
});
