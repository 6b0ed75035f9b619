import { strict as assert } from "node:assert";
import {
    jinjaCases,
    jinjaToJson,
    jinjaToJsonOf,
    render,
    validateRendered,
    type ParityCase,
} from "./job-templates";

const clone = <T>(v: T): T => structuredClone(v);

describe("job templates: nunjucks = Jinja2, and valid Kubernetes objects", function () {
    this.timeout(120000);
    let cases: Record<string, ParityCase>;

    before(() => {
        cases = jinjaCases();
    });

    it("covers the fixtures and every job of the job table", () => {
        const names = Object.keys(cases);
        for (const f of ["job-full", "job-minimal", "spark-full", "spark-minimal"]) {
            assert.ok(names.includes(`${f}.values.json`), f);
        }
        for (const task of [
            "copy_to_staging",
            "validate",
            "load",
            "dbt_build",
            "retrain",
            "publish_docs",
        ]) {
            assert.ok(names.includes(`batch.${task}`), task);
        }
        for (const task of ["transfer", "group_schemas", "initial_load", "dbt_build", "train"]) {
            assert.ok(names.includes(`full_refresh.${task}`), task);
        }
    });

    it("renders every case to the same parsed YAML as Jinja2, and each validates strictly", async () => {
        for (const [name, c] of Object.entries(cases)) {
            const out = render(c.template, c.values);
            assert.deepStrictEqual(out, c.rendered, `${name}: nunjucks and Jinja2 differ`);
            try {
                await validateRendered(out);
            } catch (err) {
                throw new Error(`${name}: ${(err as Error).message}`, { cause: err });
            }
        }
    });

    it("tojson prints what Jinja2's tojson prints, character for character", () => {
        const samples: unknown[] = [
            "plain",
            "quotes \" and 'single'",
            "colon: value # not a comment",
            "<b>&amp;</b>",
            "é ü 東京 😀",
            "line\nbreak\ttab\u0001\u007f",
            "",
            ["a", { b: 1, a: [true, null] }],
            { z: "1", a: "2" },
            42,
        ];
        assert.deepStrictEqual(samples.map(jinjaToJson), jinjaToJsonOf(samples));
    });

    it("the Job keeps the jobs-pool scheduling and the restricted Pod Security profile", () => {
        const job = cases["batch.copy_to_staging"]!.rendered as any;
        const pod = job.spec.template.spec;
        assert.deepStrictEqual(pod.nodeSelector, { "taxi-platform/pool": "jobs" });
        assert.deepStrictEqual(pod.tolerations, [
            { key: "taxi-platform/pool", operator: "Equal", value: "jobs", effect: "NoSchedule" },
        ]);
        assert.equal(pod.securityContext.runAsNonRoot, true);
        assert.deepStrictEqual(pod.securityContext.seccompProfile, { type: "RuntimeDefault" });
        const c = pod.containers[0];
        assert.equal(c.securityContext.allowPrivilegeEscalation, false);
        assert.deepStrictEqual(c.securityContext.capabilities, { drop: ["ALL"] });
        assert.deepStrictEqual(c.envFrom, [{ configMapRef: { name: "pipeline-env" } }]);
        // The copy reads the landing bucket through the transfer identity's AWS role.
        assert.equal(pod.serviceAccountName, "transfer");
        assert.equal(
            cases["batch.retrain"]!.rendered.spec &&
                (cases["batch.retrain"]!.rendered as any).spec.template.spec.serviceAccountName,
            "ml",
        );
    });

    it("the SparkApplication driver carries the Prometheus JMX annotations and the spark account", () => {
        const app = cases["batch.load"]!.rendered as any;
        assert.deepStrictEqual(app.spec.driver.annotations, {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": "8090",
            "prometheus.io/path": "/metrics",
        });
        assert.equal(app.spec.executor.annotations, undefined);
        assert.equal(app.spec.driver.serviceAccount, "spark");
        assert.equal(app.spec.executor.serviceAccount, "spark");
        assert.equal(
            app.spec.mainApplicationFile,
            "local:///opt/taxi-spark/src/taxi_spark/jobs/batch.py",
        );
        assert.deepStrictEqual(app.spec.monitoring.prometheus, {
            jmxExporterJar: "/opt/jmx/jmx_prometheus_javaagent.jar",
            configFile: "/opt/jmx/jmx-exporter.yaml",
            port: 8090,
        });
    });

    it("the CRD and the core-type checks reject what the API server would", async () => {
        const app = cases["spark-full.values.json"]!.rendered as any;
        const unknownField = clone(app);
        unknownField.spec.driver.colour = "red";
        await assert.rejects(validateRendered(unknownField), /additional properties \(colour\)/);
        const executorOnly = clone(app);
        executorOnly.spec.driver.instances = 2;
        await assert.rejects(validateRendered(executorOnly), /additional properties \(instances\)/);
        const portAsString = clone(app);
        portAsString.spec.monitoring.prometheus.port = "8090";
        await assert.rejects(validateRendered(portAsString), /must be integer/);
        const badEnv = clone(app);
        badEnv.spec.executor.env = [{ name: "A", valu: "x" }];
        await assert.rejects(validateRendered(badEnv), /valu: unknown field/);
        const badToleration = clone(app);
        badToleration.spec.driver.tolerations = [{ key: "k", effect: 3 }];
        await assert.rejects(validateRendered(badToleration), /effect must be string/);
        const job = clone(cases["job-full.values.json"]!.rendered as any);
        job.spec.template.spec.volumes[0].emptyDir.sizeLimt = "1Gi";
        await assert.rejects(validateRendered(job), /sizeLimt: unknown field/);
    });
});
