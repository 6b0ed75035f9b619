/**
 * Preflight on the rendered stacks: every stack passes every check, and each check class fails
 * on a render mutated to reproduce the defect of issue 19 it belongs to (or a sibling of it).
 */
import { strict as assert } from "node:assert";
import type { RecordedResource } from "../engine";
import YAML from "yaml";
import { listStacks } from "../stack-files";
import { rebuildInput, type PreflightInput } from "./input";
import { counts, inputFor, problemsOf, runChecks } from "./report";

type Obj = Record<string, any>;

/** A copy of the input with its resources changed by `mutate`, re-derived like a new render. */
function mutated(input: PreflightInput, mutate: (resources: RecordedResource[]) => void) {
    const resources = structuredClone(input.resources);
    mutate(resources);
    return rebuildInput({ ...input, resources });
}

const find = (resources: RecordedResource[], type: string, name: string) => {
    const r = resources.find((x) => x.type === type && x.name === name);
    if (!r) throw new Error(`no ${type} ${name} in the render`);
    return r;
};
const k8s = (resources: RecordedResource[], kind: string, namespace: string, name: RegExp) => {
    const r = resources.find(
        (x) =>
            x.inputs.kind === kind &&
            (x.inputs.metadata as Obj)?.namespace === namespace &&
            name.test((x.inputs.metadata as Obj)?.name),
    );
    if (!r) throw new Error(`no ${kind} ${namespace}/${name} in the render`);
    return r;
};

function problems(input: PreflightInput): string[] {
    return problemsOf(runChecks(input));
}

function assertProblem(list: string[], pattern: RegExp) {
    assert.ok(
        list.some((p) => pattern.test(p)),
        `expected a problem matching ${pattern}; got:\n  ${list.join("\n  ") || "(none)"}`,
    );
}

describe("preflight: the stacks as the real system would run them", function () {
    this.timeout(300000);
    let dev: PreflightInput;
    before(async () => {
        dev = await inputFor("dev");
    });

    for (const stack of listStacks()) {
        it(`${stack}: every flow, API call, creation prerequisite and cloud rule passes`, async () => {
            const report = runChecks(await inputFor(stack));
            assert.deepEqual(problemsOf(report), []);
            const c = counts(report);
            // The catalog covers the rendered workloads, the chart's pods and the DAG task pods.
            assert.ok(
                c.pods >= 20 && c.neededConnections > 100 && c.apiCalls > 40 && c.orderEdges > 200,
                JSON.stringify(c),
            );
        });
    }

    it("the catalog holds the task and Spark pods rendered from the DAG templates", () => {
        const ids = dev.pods.filter((p) => p.origin === "dag-template").map((p) => p.id);
        assert.ok(
            ids.some((id) => /^SparkApplication jobs\/.+ driver$/.test(id)),
            ids.join(", "),
        );
        assert.ok(ids.some((id) => /^SparkApplication jobs\/.+ executor$/.test(id)));
        assert.ok(ids.some((id) => /^Job jobs\//.test(id)));
        assert.ok(dev.pods.some((p) => p.origin === "chart" && /webhook/.test(p.id)));
        const migrate = dev.pods.find((p) => p.id === "Job airflow/airflow-migrate");
        assert.ok(
            migrate?.containers.some((c) => c.init),
            "init containers are in the catalog",
        );
    });

    describe("reachability (defect 1: the migration Job could not reach PostgreSQL)", () => {
        it("fails when no egress policy selects the migration Job's pods", () => {
            const migrateLabels = dev.pods.find(
                (p) => p.id === "Job airflow/airflow-migrate",
            )!.labels;
            const broken = mutated(dev, (rs) => {
                for (const r of rs.filter(
                    (x) =>
                        x.inputs.kind === "NetworkPolicy" &&
                        (x.inputs.metadata as Obj).namespace === "airflow",
                )) {
                    const sel = ((r.inputs.spec as Obj).podSelector?.matchLabels ?? {}) as Record<
                        string,
                        string
                    >;
                    const selectsMigrate =
                        Object.keys(sel).length > 0 &&
                        Object.entries(sel).every(([k, v]) => migrateLabels[k] === v);
                    // As before the fix: the Airflow policy selects the core pod only.
                    if (selectsMigrate)
                        (r.inputs.spec as Obj).podSelector = {
                            matchLabels: {
                                "app.kubernetes.io/name": "airflow",
                                "app.kubernetes.io/component": "core",
                            },
                        };
                }
            });
            assertProblem(
                problems(broken),
                /needed Airflow migration Job .* -> PostgreSQL 5432\/TCP .*Job airflow\/airflow-migrate -> StatefulSet database\/postgres 5432\/TCP is DENIED/,
            );
        });

        it("fails when a must-deny flow opens (task pods to PostgreSQL)", () => {
            const broken = mutated(dev, (rs) => {
                const server = k8s(rs, "NetworkPolicy", "database", /^postgres-server$/);
                ((server.inputs.spec as Obj).ingress[0].from as Obj[]).push({
                    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "jobs" } },
                });
                const tasks = k8s(rs, "NetworkPolicy", "jobs", /^task-pods$/);
                (tasks.inputs.spec as Obj).egress.push({
                    to: [{ namespaceSelector: {} }],
                    ports: [{ protocol: "TCP", port: 5432 }],
                });
            });
            assertProblem(
                problems(broken),
                /must-deny any task pod .* -> PostgreSQL 5432\/TCP.*is ALLOWED \(must be denied\)/,
            );
        });

        it("fails when a container is not covered by the flow table", () => {
            const broken = mutated(dev, (rs) => {
                const docs = k8s(rs, "Deployment", "docs", /^docs-app$/);
                const spec = (docs.inputs.spec as Obj).template.spec as Obj;
                spec.initContainers = [
                    { name: "fetch-theme", image: "x@sha256:" + "0".repeat(64) },
                ];
            });
            assertProblem(
                problems(broken),
                /Deployment docs\/docs-app container fetch-theme \(init\): no flow of offline\/preflight\/flows.ts covers it/,
            );
        });
    });

    describe("permissions (defect 4: the launcher Role lacked the status subresources)", () => {
        it("fails naming the call and the Role when jobs/status is not granted", () => {
            const broken = mutated(dev, (rs) => {
                const role = k8s(rs, "Role", "jobs", /^airflow-launcher$/);
                for (const rule of role.inputs.rules as Obj[]) {
                    rule.resources = (rule.resources as string[]).filter(
                        (x) => !x.endsWith("/status"),
                    );
                }
            });
            const list = problems(broken);
            assertProblem(
                list,
                /airflow\/airflow: get batch\/jobs\/status \S+ in jobs is FORBIDDEN: no rule of Role jobs\/airflow-launcher allows it/,
            );
            assertProblem(
                list,
                /get sparkoperator.k8s.io\/sparkapplications\/status \S+ in jobs is FORBIDDEN/,
            );
        });

        it("fails when Prometheus discovers a namespace it has no Role in", () => {
            const broken = mutated(dev, (rs) => {
                const cm = k8s(rs, "ConfigMap", "monitoring", /^prometheus-config$/);
                const data = cm.inputs.data as Record<string, string>;
                const config = YAML.parse(data["prometheus.yml"]!) as Obj;
                for (const sc of config.scrape_configs as Obj[]) {
                    for (const sd of (sc.kubernetes_sd_configs ?? []) as Obj[]) {
                        // Namespaced discovery only (the kubelet job discovers nodes).
                        if (sd.namespaces) (sd.namespaces.names as string[]).push("airflow");
                    }
                }
                data["prometheus.yml"] = YAML.stringify(config);
            });
            assertProblem(
                problems(broken),
                /monitoring\/prometheus: list core\/pods in airflow is FORBIDDEN/,
            );
        });

        it("fails when a pod that never calls the API mounts a token", () => {
            const broken = mutated(dev, (rs) => {
                const spec = (k8s(rs, "Deployment", "docs", /^docs-app$/).inputs.spec as Obj)
                    .template.spec as Obj;
                spec.automountServiceAccountToken = true;
            });
            assertProblem(
                problems(broken),
                /Deployment docs\/docs-app: mounts a service-account token/,
            );
        });
    });

    describe("first up (defect 2: Workload Identity bindings did not wait for the cluster)", () => {
        it("fails naming both resources when the binding does not depend on the cluster", () => {
            const broken = mutated(dev, (rs) => {
                const m = find(rs, "gcp:serviceaccount/iAMMember:IAMMember", "dev-airflow-wi");
                const cluster = find(rs, "gcp:container/cluster:Cluster", "dev");
                m.propertyDependencies = Object.fromEntries(
                    Object.entries(m.propertyDependencies).map(([k, v]) => [
                        k,
                        v.filter((u) => u !== cluster.urn),
                    ]),
                );
                m.dependencies = m.dependencies.filter((u) => u !== cluster.urn);
            });
            assertProblem(
                problems(broken),
                /IAMMember "dev-airflow-wi" may be created before gcp:container\/cluster:Cluster "dev" \(a GKE cluster with workload pool acme-taxi-dev.svc.id.goog/,
            );
        });

        it("fails when a Job using PostgreSQL, an image digest and a Gateway route lose their prerequisites", () => {
            const broken = mutated(dev, (rs) => {
                const migrate = k8s(rs, "Job", "airflow", /^airflow-migrate/);
                migrate.parentUrn = undefined;
                migrate.dependencies = [];
                migrate.propertyDependencies = {};
                const cluster = find(rs, "gcp:container/cluster:Cluster", "dev");
                delete cluster.inputs.gatewayApiConfig;
            });
            const list = problems(broken);
            assertProblem(
                list,
                /Job "dev-migrate" may be created before kubernetes:apps\/v1:StatefulSet "dev-server" \(the PostgreSQL server/,
            );
            assertProblem(
                list,
                /Job "dev-migrate" may be created before kubernetes:batch\/v1:Job "dev-reconcile" \(the reconcile Job/,
            );
            assertProblem(
                list,
                /Job "dev-migrate" may be created before docker-build:index:Image "dev-airflow"/,
            );
            assertProblem(
                list,
                /HTTPRoute "airflow-route" needs a cluster with the Gateway API enabled/,
            );
        });
    });

    describe("cloud semantics (defects 3, 6, 11)", () => {
        it("3: fails when a build pushes a fixed tag or its cache into an immutable repository", () => {
            const broken = mutated(dev, (rs) => {
                find(
                    rs,
                    "gcp:artifactregistry/repository:Repository",
                    "dev-images",
                ).inputs.dockerConfig = { immutableTags: true };
            });
            const list = problems(broken);
            assertProblem(
                list,
                /Image "dev-airflow" pushes tag \S+\/platform\/airflow:0.1.0 into \S+ "dev-images", which has immutableTags/,
            );
            assertProblem(list, /Image "dev-airflow" pushes build cache .*:buildcache/);
        });

        it("6: fails on an enum value the API no longer accepts", () => {
            const broken = mutated(dev, (rs) => {
                (
                    find(rs, "gcp:container/cluster:Cluster", "dev").inputs
                        .securityPostureConfig as Obj
                ).vulnerabilityMode = "VULNERABILITY_BASIC";
            });
            assertProblem(
                problems(broken),
                /Cluster "dev": securityPostureConfig.vulnerabilityMode = VULNERABILITY_BASIC is rejected/,
            );
        });

        it("11: fails on reserved names with a fixed value on a disposable stack, and not on a kept one", () => {
            const fixed = (rs: RecordedResource[]) => {
                const job = find(rs, "gcp:storage/transferJob:TransferJob", "dev-job-yellow");
                job.inputs.name = "transferJobs/dev-s3-full-refresh-yellow";
                job.propertyDependencies.name = [];
                find(
                    rs,
                    "aws:secretsmanager/secret:Secret",
                    "dev-airflow-api",
                ).inputs.recoveryWindowInDays = 7;
            };
            const list = problems(mutated(dev, fixed));
            assertProblem(
                list,
                /TransferJob "dev-job-yellow": name "transferJobs\/dev-s3-full-refresh-yellow" is fixed on disposable stack dev/,
            );
            assertProblem(
                list,
                /Secret "dev-airflow-api": name "dev\/airflow-trigger\/airflow-api" is fixed on disposable stack dev/,
            );
            const kept = mutated({ ...dev, config: { ...dev.config, disposable: "false" } }, fixed);
            assert.deepEqual(
                problems(kept).filter((p) => /disposable/.test(p)),
                [],
            );
        });
    });
});
