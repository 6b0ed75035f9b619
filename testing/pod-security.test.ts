import { strict as assert } from "node:assert";
import { podViolations } from "./pod-security";

const good = {
    name: "app",
    image: "x",
    securityContext: {
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
        runAsNonRoot: true,
        seccompProfile: { type: "RuntimeDefault" },
    },
    resources: { requests: { cpu: "1", memory: "1Gi" }, limits: { cpu: "1", memory: "1Gi" } },
    readinessProbe: { httpGet: { path: "/", port: 80 } },
    livenessProbe: { httpGet: { path: "/", port: 80 } },
};
const deployment = (c: object, pod: object = {}) => ({
    kind: "Deployment",
    metadata: { name: "d", namespace: "n" },
    spec: { template: { spec: { containers: [c], ...pod } } },
});

describe("testing/pod-security", () => {
    it("accepts a restricted container with resources and probes", () => {
        assert.deepEqual(podViolations(deployment(good)), []);
    });

    it("names each broken rule", () => {
        const bad = {
            name: "bad",
            image: "x",
            securityContext: { privileged: true, capabilities: { add: ["SYS_ADMIN"] } },
        };
        assert.deepEqual(podViolations(deployment(bad, { hostNetwork: true })), [
            "Deployment/n/d: pod: hostNetwork is true",
            "Deployment/n/d: bad: runAsNonRoot is not true",
            "Deployment/n/d: bad: allowPrivilegeEscalation is not false",
            "Deployment/n/d: bad: privileged",
            "Deployment/n/d: bad: capabilities do not drop ALL",
            "Deployment/n/d: bad: adds capabilities SYS_ADMIN",
            "Deployment/n/d: bad: seccompProfile is not RuntimeDefault",
            "Deployment/n/d: bad: no cpu/memory requests",
            "Deployment/n/d: bad: no cpu/memory limits",
            "Deployment/n/d: bad: no readinessProbe",
            "Deployment/n/d: bad: no livenessProbe",
        ]);
    });

    it("does not require probes on Jobs, and reads pod-level settings", () => {
        const noProbes = { ...good, readinessProbe: undefined, livenessProbe: undefined };
        const job = {
            kind: "Job",
            metadata: { name: "j", namespace: "n" },
            spec: { template: { spec: { containers: [noProbes] } } },
        };
        assert.deepEqual(podViolations(job), []);
        const rootPod = deployment(good, { securityContext: { runAsUser: 0 } });
        assert.deepEqual(podViolations(rootPod), ["Deployment/n/d: app: runs as uid 0"]);
    });
});
