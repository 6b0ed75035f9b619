import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { K8sObject, validateK8sObject } from "./k8s-validate";

const deployment = (container: Record<string, unknown>): K8sObject => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", namespace: "apps" },
    spec: {
        selector: { matchLabels: { app: "web" } },
        template: {
            metadata: { labels: { app: "web" } },
            spec: { containers: [container] },
        },
    },
});

const crd = YAML.parse(
    fs.readFileSync(path.join(__dirname, "fixtures", "widget-crd.yaml"), "utf8"),
) as K8sObject;
const widget = (spec: Record<string, unknown>): K8sObject => ({
    apiVersion: "example.com/v1",
    kind: "Widget",
    metadata: { name: "w" },
    spec,
});

describe("testing/k8s-validate", () => {
    it("accepts a valid Deployment", async () => {
        await validateK8sObject(
            deployment({ name: "web", image: "nginx:1.27", ports: [{ containerPort: 80 }] }),
        );
    });

    it("rejects an unknown (misspelt) field with its path", async () => {
        await assert.rejects(
            validateK8sObject(
                deployment({ name: "web", image: "nginx", imagePulPolicy: "Always" }),
            ),
            /spec\.template\.spec\.containers\[0\]\.imagePulPolicy: unknown field/,
        );
    });

    it("rejects a missing required field", async () => {
        await assert.rejects(
            validateK8sObject(deployment({ image: "nginx" })),
            /spec\.template\.spec\.containers\.0 must have required property name/,
        );
    });

    it("rejects a wrong type", async () => {
        await assert.rejects(
            validateK8sObject(
                deployment({ name: "web", image: "nginx", ports: [{ containerPort: "eighty" }] }),
            ),
            /containers\.0\.ports\.0\.containerPort must be integer/,
        );
    });

    it("rejects a kind it has no schema for", async () => {
        await assert.rejects(validateK8sObject(widget({ size: 1 })), /no CRD given/);
    });

    it("validates custom resources against their CRD, strictly", async () => {
        await validateK8sObject(
            widget({ size: 2, mode: "fast", port: "http", extra: { any: { thing: 1 } } }),
            [crd],
        );
        await validateK8sObject(widget({ size: 2, port: 8080 }), [crd]);
        await assert.rejects(
            validateK8sObject(widget({ size: 2, colour: "red" }), [crd]),
            /additional properties \(colour\)/,
        );
        await assert.rejects(
            validateK8sObject(widget({ mode: "fast" }), [crd]),
            /required property 'size'/,
        );
        await assert.rejects(validateK8sObject(widget({ size: 0 }), [crd]), /must be >= 1/);
        await assert.rejects(
            validateK8sObject(widget({ size: 1, mode: "medium" }), [crd]),
            /allowed values/,
        );
    });
});

describe("testing/k8s-validate: Gateway API resources", () => {
    const route = (spec: Record<string, unknown>): K8sObject => ({
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        metadata: { name: "airflow", namespace: "airflow" },
        spec,
    });
    it("accepts a valid HTTPRoute and rejects a schema violation", async () => {
        await validateK8sObject(
            route({
                parentRefs: [{ name: "platform" }],
                rules: [{ backendRefs: [{ name: "web", port: 8080 }] }],
            }),
        );
        await assert.rejects(
            validateK8sObject(
                route({
                    parentRefs: [{ name: "platform" }],
                    rules: [{ backendRefs: [{ name: "web", port: 70000 }] }],
                }),
            ),
            /port must be <= 65535/,
        );
    });
});
