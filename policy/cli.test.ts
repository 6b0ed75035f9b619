/**
 * The pack as the Pulumi CLI runs it, without the CLI: `pulumi preview --policy-pack policy`
 * starts `@pulumi/pulumi/cmd/run-policy-pack` in the pack's folder (ts-node compiles index.ts
 * with type checking), reads the analyzer's port from its stdout and sends Analyze (one call
 * per resource, inputs) and AnalyzeStack (all resources) over gRPC. This test does the same,
 * against the dev stack's render plus a set of resources that break every rule, and checks
 * that the running pack reports exactly what the offline evaluator (policy/evaluate.ts) reports.
 */
import * as grpc from "@grpc/grpc-js";
import * as analyzerRpc from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import * as analyzerProto from "@pulumi/pulumi/proto/analyzer_pb";
import { type ChildProcess, spawn } from "node:child_process";
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { renderStack } from "../offline/render";
import {
    type EvalResource,
    OFFLINE_CONFIG,
    type Violation,
    evaluatePolicies,
    resourcesOfRender,
} from "../offline/policy";
import { POLICIES } from "./rules";

const PACK_DIR = __dirname;
const LEVELS: Record<number, string> = {
    [analyzerProto.EnforcementLevel.ADVISORY]: "advisory",
    [analyzerProto.EnforcementLevel.MANDATORY]: "mandatory",
    [analyzerProto.EnforcementLevel.DISABLED]: "disabled",
    [analyzerProto.EnforcementLevel.REMEDIATE]: "remediate",
};

/** Resources that break the rules, so the comparison is not one of two empty lists. */
function rulebreakers(): EvalResource[] {
    const r = (type: string, name: string, props: Record<string, unknown>): EvalResource => ({
        type,
        name,
        urn: `urn:pulumi:dev::taxi-platform::${type}::${name}`,
        props,
    });
    const pod = {
        containers: [
            {
                name: "web",
                image: "nginx:1.27",
                securityContext: { privileged: true },
                env: [{ name: "DB_PASSWORD", value: "hunter2" }],
            },
        ],
        hostNetwork: true,
    };
    return [
        r("gcp:container/cluster:Cluster", "public", {
            enableShieldedNodes: false,
            nodeConfig: {},
        }),
        r("gcp:container/nodePool:NodePool", "open", {
            networkConfig: { enablePrivateNodes: false },
        }),
        r("gcp:serviceaccount/key:Key", "key", { serviceAccountId: "sa" }),
        r("aws:iam/accessKey:AccessKey", "ak", { user: "ci" }),
        r("gcp:storage/bucket:Bucket", "open", { publicAccessPrevention: "inherited" }),
        r("aws:s3/bucket:Bucket", "bare", { bucket: "bare", acl: "public-read" }),
        r("kubernetes:apps/v1:Deployment", "web", {
            kind: "Deployment",
            metadata: { name: "web", namespace: "default" },
            spec: { template: { spec: pod } },
        }),
        r("kubernetes:core/v1:ConfigMap", "cfg", {
            kind: "ConfigMap",
            data: { password: "x1y2z3" },
        }),
        r("kubernetes:core/v1:Service", "lb", { kind: "Service", spec: { type: "LoadBalancer" } }),
        r("kubernetes:helm.sh/v3:Release", "chart", {
            chart: "c",
            namespace: "nowhere",
            values: {},
        }),
        r("aws:lambda/function:Function", "old", { name: "old", runtime: "nodejs18.x" }),
    ];
}

function struct(value: unknown): Struct {
    return Struct.fromJavaScript(JSON.parse(JSON.stringify(value ?? {})) as Record<string, never>);
}

function options(r: EvalResource): analyzerProto.AnalyzerResourceOptions {
    const o = new analyzerProto.AnalyzerResourceOptions();
    o.setCustomtimeouts(new analyzerProto.AnalyzerResourceOptions.CustomTimeouts());
    if (r.parentUrn) o.setParent(r.parentUrn);
    return o;
}

function provider(
    r: EvalResource,
    byUrn: Map<string, EvalResource>,
): analyzerProto.AnalyzerProviderResource | undefined {
    if (!r.provider) return undefined;
    const p = byUrn.get(r.provider.slice(0, r.provider.lastIndexOf("::")));
    if (!p) return undefined;
    const msg = new analyzerProto.AnalyzerProviderResource();
    msg.setType(p.type).setName(p.name).setUrn(p.urn).setProperties(struct(p.props));
    return msg;
}

function call<Req, Res>(
    fn: (req: Req, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown,
    req: Req,
): Promise<Res> {
    return new Promise((resolve, reject) =>
        fn(req, (err, res) => (err ? reject(err) : resolve(res))),
    );
}

/**
 * The analyzer's diagnostics as violations. The SDK prefixes each message with the policy's
 * description (checked, then removed); for Analyze the engine attributes a diagnostic without
 * URN to the analyzed resource, as done here with `analyzed`.
 */
function diagnostics(res: analyzerProto.AnalyzeResponse, analyzed?: string): Violation[] {
    return res.getDiagnosticsList().map((d) => {
        const policy = POLICIES.find((p) => p.name === d.getPolicyname());
        assert.ok(policy, `unknown policy ${d.getPolicyname()}`);
        const prefix = `${policy.description}\n`;
        assert.ok(d.getMessage().startsWith(prefix), d.getMessage());
        return {
            policy: policy.name,
            enforcementLevel: LEVELS[d.getEnforcementlevel()] as Violation["enforcementLevel"],
            message: d.getMessage().slice(prefix.length),
            urn: d.getUrn() === "" ? analyzed : d.getUrn(),
        };
    });
}

/** Sorted `policy | level | urn | message` lines: comparable whatever the call order. */
function lines(violations: Violation[]): string[] {
    return violations
        .map((v) => `${v.policy} | ${v.enforcementLevel} | ${v.urn ?? ""} | ${v.message}`)
        .sort();
}

describe("policy pack under the Pulumi CLI's analyzer runtime", function () {
    this.timeout(120_000);
    let child: ChildProcess | undefined;
    let client: analyzerRpc.AnalyzerClient;
    let stderr = "";

    before(async () => {
        const runner = require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [PACK_DIR] });
        // What pulumi-analyzer-policy does: node <run-policy-pack> <engine address> <pack dir>,
        // in the pack's folder. The runner does not dial the engine unless a policy logs.
        child = spawn(process.execPath, [runner, "127.0.0.1:1", "."], {
            cwd: PACK_DIR,
            stdio: ["ignore", "pipe", "pipe"],
        });
        child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
        const port = await new Promise<string>((resolve, reject) => {
            let out = "";
            child!.stdout!.on("data", (b: Buffer) => {
                out += b.toString();
                const m = /^(\d+)\s*$/m.exec(out);
                if (m) resolve(m[1]!);
            });
            child!.on("exit", (code) =>
                reject(new Error(`the pack exited (${code}) before serving:\n${stderr}`)),
            );
        });
        client = new analyzerRpc.AnalyzerClient(
            `127.0.0.1:${port}`,
            grpc.credentials.createInsecure(),
        );
    });

    after(() => {
        client?.close();
        if (child && child.exitCode === null) child.kill("SIGTERM");
    });

    it("serves the pack: name, version from policy/package.json, every policy mandatory", async () => {
        const info = await call<Empty, analyzerProto.AnalyzerInfo>(
            client.getAnalyzerInfo.bind(client),
            new Empty(),
        );
        assert.equal(info.getName(), "taxi-platform");
        assert.equal(info.getVersion(), "0.1.0");
        const served = info
            .getPoliciesList()
            .map((p) => [p.getName(), LEVELS[p.getEnforcementlevel()]]);
        assert.deepEqual(
            served,
            POLICIES.map((p) => [p.name, "mandatory"]),
        );
        assert.equal(path.basename(PACK_DIR), "policy");
    });

    it("reports exactly what the offline evaluator reports, on the dev render and on rule breakers", async () => {
        const rendered = await renderStack("dev");
        const resources = [...resourcesOfRender(rendered), ...rulebreakers()];
        const byUrn = new Map(resources.map((r) => [r.urn, r]));

        // The same policy config on both sides (the CLI sends --policy-pack-config this way).
        const configure = new analyzerProto.ConfigureAnalyzerRequest();
        for (const p of POLICIES) {
            const c = new analyzerProto.PolicyConfig();
            c.setEnforcementlevel(analyzerProto.EnforcementLevel.MANDATORY);
            c.setProperties(struct(OFFLINE_CONFIG[p.name] ?? {}));
            configure.getPolicyconfigMap().set(p.name, c);
        }
        await call(client.configure.bind(client), configure);

        const fromCli: Violation[] = [];
        for (const r of resources) {
            const req = new analyzerProto.AnalyzeRequest();
            // The root Stack registers no inputs (its outputs come with AnalyzeStack).
            const inputs = r.type === "pulumi:pulumi:Stack" ? {} : r.props;
            req.setType(r.type).setName(r.name).setUrn(r.urn).setProperties(struct(inputs));
            req.setOptions(options(r));
            const p = provider(r, byUrn);
            if (p) req.setProvider(p);
            fromCli.push(...diagnostics(await call(client.analyze.bind(client), req), r.urn));
        }
        const stack = new analyzerProto.AnalyzeStackRequest();
        stack.setResourcesList(
            resources.map((r) => {
                const m = new analyzerProto.AnalyzerResource();
                m.setType(r.type).setName(r.name).setUrn(r.urn).setProperties(struct(r.props));
                m.setOptions(options(r));
                if (r.parentUrn) m.setParent(r.parentUrn);
                m.setDependenciesList(r.dependencies ?? []);
                for (const [k, urns] of Object.entries(r.propertyDependencies ?? {})) {
                    const deps = new analyzerProto.AnalyzerPropertyDependencies();
                    deps.setUrnsList(urns);
                    m.getPropertydependenciesMap().set(k, deps);
                }
                const p = provider(r, byUrn);
                if (p) m.setProvider(p);
                return m;
            }),
        );
        fromCli.push(...diagnostics(await call(client.analyzeStack.bind(client), stack)));

        const offline = await evaluatePolicies(resources, { config: OFFLINE_CONFIG });
        assert.deepEqual(lines(fromCli), lines(offline));
        // Every rule is exercised: each policy reports at least once across the inputs.
        const reported = new Set(fromCli.map((v) => v.policy));
        const silent = POLICIES.map((p) => p.name).filter((n) => !reported.has(n));
        assert.deepEqual(silent, [], "policies that reported nothing");
    });
});
