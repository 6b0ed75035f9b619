import { strict as assert } from "node:assert";
import { type EvalResource, type PackConfig, evaluatePolicies } from "../offline/policy";
import { DOCUMENTED_EXCEPTIONS } from "./pod-security";
import { POLICIES } from "./rules";

/**
 * Every policy of the pack, each with resources that pass and resources that fail, evaluated
 * the way the Pulumi CLI runs the pack (policy/evaluate.ts). A failing case asserts the
 * message names the resource and what to fix, so a rule that stops firing fails here.
 */

const DIGEST = `sha256:${"ab12".repeat(16)}`;

function res(
    type: string,
    name: string,
    props: Record<string, unknown>,
    extra: Partial<EvalResource> = {},
): EvalResource {
    return { type, name, urn: `urn:pulumi:test::taxi-platform::${type}::${name}`, props, ...extra };
}

async function run(
    policy: string,
    resources: EvalResource[],
    config: PackConfig = {},
): Promise<string[]> {
    const p = POLICIES.find((x) => x.name === policy);
    assert.ok(p, `no policy ${policy}`);
    const violations = await evaluatePolicies(resources, { policies: [p], config });
    for (const v of violations) assert.equal(v.enforcementLevel, "mandatory", v.message);
    return violations.map((v) => v.message);
}

/** Asserts one message per pattern, in order. */
function expectMessages(messages: string[], patterns: RegExp[]): void {
    assert.equal(messages.length, patterns.length, `got:\n${messages.join("\n")}`);
    patterns.forEach((p, i) => assert.match(messages[i]!, p));
}

const CLUSTER = "gcp:container/cluster:Cluster";
const POOL = "gcp:container/nodePool:NodePool";
const goodNodeConfig = {
    workloadMetadataConfig: { mode: "GKE_METADATA" },
    shieldedInstanceConfig: { enableSecureBoot: true, enableIntegrityMonitoring: true },
};
const goodCluster = res(CLUSTER, "dev", {
    privateClusterConfig: { enablePrivateNodes: true, masterIpv4CidrBlock: "172.16.0.0/28" },
    masterAuthorizedNetworksConfig: { cidrBlocks: [{ cidrBlock: "203.0.113.0/24" }] },
    workloadIdentityConfig: { workloadPool: "acme.svc.id.goog" },
    enableShieldedNodes: true,
    nodeConfig: goodNodeConfig,
});
const goodPool = res(POOL, "dev-jobs", { nodeConfig: goodNodeConfig });

const container = (overrides: Record<string, unknown> = {}) => ({
    name: "app",
    image: `registry.example/app@${DIGEST}`,
    securityContext: {
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
        runAsNonRoot: true,
        seccompProfile: { type: "RuntimeDefault" },
    },
    resources: { requests: { cpu: "1", memory: "1Gi" }, limits: { cpu: "1", memory: "1Gi" } },
    readinessProbe: { httpGet: { path: "/", port: 80 } },
    livenessProbe: { httpGet: { path: "/", port: 80 } },
    ...overrides,
});
const deployment = (name: string, c: object, pod: object = {}) =>
    res("kubernetes:apps/v1:Deployment", name, {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name, namespace: "apps" },
        spec: { template: { spec: { containers: [c], ...pod } } },
    });
const job = (name: string, c: object) =>
    res("kubernetes:batch/v1:Job", name, {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name, namespace: "jobs" },
        spec: { template: { spec: { containers: [c], restartPolicy: "Never" } } },
    });

describe("policy pack: the rules", () => {
    it("declares every rule mandatory, with a description and remediation steps", () => {
        assert.ok(POLICIES.length >= 17);
        assert.equal(new Set(POLICIES.map((p) => p.name)).size, POLICIES.length);
        for (const p of POLICIES) {
            assert.equal(p.enforcementLevel, "mandatory", p.name);
            assert.ok(p.description.length > 20 && p.remediationSteps.length > 20, p.name);
            assert.ok(p.validateResource ?? p.validateStack, p.name);
        }
    });

    describe("gke-private-nodes", () => {
        it("passes a cluster with private nodes and a pool that keeps them", async () => {
            assert.deepEqual(await run("gke-private-nodes", [goodCluster, goodPool]), []);
        });
        it("fails a public cluster and a pool that opts out", async () => {
            const messages = await run("gke-private-nodes", [
                res(CLUSTER, "pub", { privateClusterConfig: { enablePrivateNodes: false } }),
                res(POOL, "out", { networkConfig: { enablePrivateNodes: false } }),
            ]);
            expectMessages(messages, [
                /Cluster "pub" does not make its nodes private: set privateClusterConfig\.enablePrivateNodes = true/,
                /NodePool "out" sets networkConfig\.enablePrivateNodes = false/,
            ]);
        });
    });

    describe("gke-workload-identity", () => {
        it("passes a Workload Identity cluster whose nodes run the GKE metadata server", async () => {
            assert.deepEqual(await run("gke-workload-identity", [goodCluster, goodPool]), []);
        });
        it("fails a cluster without a pool and a node pool exposing node metadata", async () => {
            const messages = await run("gke-workload-identity", [
                res(CLUSTER, "nowi", { nodeConfig: goodNodeConfig }),
                res(POOL, "meta", {
                    nodeConfig: { workloadMetadataConfig: { mode: "GCE_METADATA" } },
                }),
            ]);
            expectMessages(messages, [
                /Cluster "nowi" has no Workload Identity pool/,
                /NodePool "meta" nodeConfig\.workloadMetadataConfig\.mode is "GCE_METADATA": set it to "GKE_METADATA"/,
            ]);
        });
    });

    describe("gke-shielded-nodes", () => {
        it("passes shielded nodes with secure boot", async () => {
            assert.deepEqual(await run("gke-shielded-nodes", [goodCluster, goodPool]), []);
        });
        it("fails a cluster that turns shielded nodes off and a pool without secure boot", async () => {
            const messages = await run("gke-shielded-nodes", [
                res(CLUSTER, "off", { enableShieldedNodes: false }),
                res(POOL, "nosb", {
                    nodeConfig: { shieldedInstanceConfig: { enableIntegrityMonitoring: false } },
                }),
            ]);
            expectMessages(messages, [
                /Cluster "off" sets enableShieldedNodes = false/,
                /NodePool "nosb" nodeConfig\.shieldedInstanceConfig\.enableSecureBoot is not true/,
                /NodePool "nosb" nodeConfig\.shieldedInstanceConfig\.enableIntegrityMonitoring is false/,
            ]);
        });
    });

    describe("gke-control-plane-restricted", () => {
        const withNetworks = (name: string, cidrs: string[], extra: object = {}) =>
            res(CLUSTER, name, {
                masterAuthorizedNetworksConfig: {
                    cidrBlocks: cidrs.map((cidrBlock) => ({ cidrBlock })),
                    ...extra,
                },
            });
        it("passes narrow public ranges, private ranges and a cluster without an IP endpoint", async () => {
            assert.deepEqual(
                await run("gke-control-plane-restricted", [
                    goodCluster,
                    withNetworks("narrow", ["203.0.113.0/24", "198.51.0.0/16", "10.0.0.0/8"]),
                    res(CLUSTER, "dns-only", {
                        controlPlaneEndpointsConfig: { ipEndpointsConfig: { enabled: false } },
                    }),
                ]),
                [],
            );
        });
        it("fails an open control plane, a very wide public range, no list and all of Google Cloud", async () => {
            const messages = await run("gke-control-plane-restricted", [
                withNetworks("open", ["203.0.113.0/24", "0.0.0.0/0"]),
                withNetworks("wide", ["52.0.0.0/10"]),
                withNetworks("halves", ["0.0.0.0/1", "128.0.0.0/1"]),
                res(CLUSTER, "unlisted", {}),
                withNetworks("gcp", ["203.0.113.0/24"], { gcpPublicCidrsAccessEnabled: true }),
            ]);
            expectMessages(messages, [
                /Cluster "open" masterAuthorizedNetworksConfig\.cidrBlocks\[1\] "0\.0\.0\.0\/0" is the whole internet: it opens the Kubernetes API to anyone/,
                /Cluster "wide" masterAuthorizedNetworksConfig\.cidrBlocks\[0\] "52\.0\.0\.0\/10" is a public range of 4,194,304 addresses, wider than \/16/,
                /Cluster "halves" .*cidrBlocks\[0\] "0\.0\.0\.0\/1" is a public range of 2,147,483,648/,
                /Cluster "halves" .*cidrBlocks\[1\] "128\.0\.0\.0\/1"/,
                /Cluster "unlisted" has no masterAuthorizedNetworksConfig: its control-plane IP endpoint answers the whole internet/,
                /Cluster "gcp" sets masterAuthorizedNetworksConfig\.gcpPublicCidrsAccessEnabled/,
            ]);
        });
    });

    describe("no-service-account-keys", () => {
        const keyless = res("pulumi:providers:gcp", "gcp", { project: "p" });
        const wif = res("pulumi:providers:gcp", "wif", {
            credentials: JSON.stringify({ type: "external_account", audience: "//iam..." }),
        });
        const keyed = res("pulumi:providers:gcp", "keyed", {
            credentials: JSON.stringify({ type: "service_account", private_key: "-----BEGIN" }),
        });
        it("passes service accounts and providers without keys (WIF config included)", async () => {
            const sa = res(
                "gcp:serviceaccount/account:Account",
                "sa",
                { accountId: "sa" },
                {
                    provider: `${keyless.urn}::id`,
                },
            );
            assert.deepEqual(await run("no-service-account-keys", [keyless, wif, sa]), []);
        });
        it("fails a service-account key, an HMAC key and a provider holding a key", async () => {
            const bucket = res(
                "gcp:storage/bucket:Bucket",
                "b",
                {},
                { provider: `${keyed.urn}::id` },
            );
            const messages = await run("no-service-account-keys", [
                res("gcp:serviceaccount/key:Key", "k", { serviceAccountId: "sa" }),
                res("gcp:storage/hmacKey:HmacKey", "h", { serviceAccountEmail: "sa@p" }),
                keyed,
                bucket,
            ]);
            expectMessages(messages, [
                /Key "k" creates a service-account key .*Workload Identity/,
                /HmacKey "h" creates an HMAC key/,
                /providers:gcp "keyed": credentials holds a service-account JSON key/,
                /Bucket "b" uses provider "keyed" whose credentials holds a service-account JSON key/,
            ]);
        });
    });

    describe("no-static-aws-keys", () => {
        it("passes a provider that assumes a role", async () => {
            const p = res("pulumi:providers:aws", "aws", {
                region: "eu-west-1",
                assumeRoles: JSON.stringify([{ roleArn: "arn:aws:iam::1:role/deploy" }]),
            });
            assert.deepEqual(await run("no-static-aws-keys", [p]), []);
        });
        it("fails an access key and a provider (and its resources) with static keys", async () => {
            const p = res("pulumi:providers:aws", "static", {
                accessKey: "AKIA...",
                secretKey: "x",
            });
            const messages = await run("no-static-aws-keys", [
                res("aws:iam/accessKey:AccessKey", "ak", { user: "ci" }),
                p,
                res("aws:s3/bucket:Bucket", "b", {}, { provider: `${p.urn}::id` }),
            ]);
            expectMessages(messages, [
                /AccessKey "ak" creates a static IAM access key/,
                /providers:aws "static" is configured with static keys \(accessKey, secretKey\)/,
                /Bucket "b" uses provider "static" configured with static keys/,
            ]);
        });
    });

    describe("gcs-public-access-prevention", () => {
        const BUCKET = "gcp:storage/bucket:Bucket";
        it("passes an enforced, uniform bucket granted to a service account", async () => {
            const messages = await run("gcs-public-access-prevention", [
                res(BUCKET, "ok", {
                    publicAccessPrevention: "enforced",
                    uniformBucketLevelAccess: true,
                }),
                res("gcp:storage/bucketIAMMember:BucketIAMMember", "m", {
                    member: "serviceAccount:sa@p.iam.gserviceaccount.com",
                    role: "roles/storage.objectViewer",
                }),
            ]);
            assert.deepEqual(messages, []);
        });
        it("fails an inherited, non-uniform bucket and grants to allUsers", async () => {
            const messages = await run("gcs-public-access-prevention", [
                res(BUCKET, "open", { publicAccessPrevention: "inherited" }),
                res("gcp:storage/bucketIAMMember:BucketIAMMember", "pub", { member: "allUsers" }),
                res("gcp:storage/bucketIAMBinding:BucketIAMBinding", "auth", {
                    members: ["user:a@b.c", "allAuthenticatedUsers"],
                }),
            ]);
            expectMessages(messages, [
                /Bucket "open" has publicAccessPrevention "inherited": set it to "enforced"/,
                /Bucket "open" does not set uniformBucketLevelAccess: true/,
                /BucketIAMMember "pub" grants allUsers access/,
                /BucketIAMBinding "auth" grants allAuthenticatedUsers access/,
            ]);
        });
    });

    const S3 = "aws:s3/bucket:Bucket";
    const bucket = res(S3, "landing", { bucket: "acme-landing" });
    /** A companion resource linked to the bucket the way the engine records it. */
    const companion = (type: string, name: string, props: Record<string, unknown>) =>
        res(
            type,
            name,
            { bucket: "landing-id", ...props },
            {
                propertyDependencies: { bucket: [bucket.urn] },
            },
        );
    const PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock";
    const allBlocked = {
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
    };

    describe("s3-public-access-block", () => {
        it("passes a bucket with a full block (linked by dependency or by bucket name)", async () => {
            assert.deepEqual(
                await run("s3-public-access-block", [bucket, companion(PAB, "pab", allBlocked)]),
                [],
            );
            // Stack outputs under the CLI: the block's bucket input is the bucket's name.
            const byName = res(PAB, "pab", { bucket: "acme-landing", ...allBlocked });
            assert.deepEqual(await run("s3-public-access-block", [bucket, byName]), []);
        });
        it("fails a bucket without a block, a partial block and a public ACL", async () => {
            const messages = await run("s3-public-access-block", [
                bucket,
                res(S3, "acl", { bucket: "acme-acl", acl: "public-read" }),
                companion(PAB, "half", { ...allBlocked, blockPublicPolicy: false }),
            ]);
            expectMessages(messages, [
                /Bucket "acl" has the public ACL "public-read"/,
                /BucketPublicAccessBlock "half" does not turn on blockPublicPolicy/,
                /Bucket "acl" has no aws\.s3\.BucketPublicAccessBlock/,
            ]);
        });
    });

    const SSE =
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration";
    describe("s3-encryption", () => {
        it("passes a bucket with default SSE (own resource or inline)", async () => {
            const sse = companion(SSE, "sse", {
                rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }],
            });
            assert.deepEqual(await run("s3-encryption", [bucket, sse]), []);
            const inline = res(S3, "inline", {
                serverSideEncryptionConfiguration: {
                    rule: { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" } },
                },
            });
            assert.deepEqual(await run("s3-encryption", [inline]), []);
        });
        it("fails a bucket without encryption and a configuration without a rule", async () => {
            const messages = await run("s3-encryption", [
                bucket,
                res(SSE, "empty", { bucket: "other", rules: [] }),
            ]);
            expectMessages(messages, [
                /BucketServerSideEncryptionConfiguration "empty" has no default encryption rule/,
                /Bucket "landing" has no default encryption/,
            ]);
        });
    });

    const VERSIONING = "aws:s3/bucketVersioning:BucketVersioning";
    describe("s3-versioning", () => {
        it("passes a bucket with versioning enabled", async () => {
            const v = companion(VERSIONING, "v", {
                versioningConfiguration: { status: "Enabled" },
            });
            assert.deepEqual(await run("s3-versioning", [bucket, v]), []);
        });
        it("fails suspended versioning and a bucket without any", async () => {
            const suspended = companion(VERSIONING, "v", {
                versioningConfiguration: { status: "Suspended" },
            });
            const messages = await run("s3-versioning", [
                bucket,
                suspended,
                res(S3, "bare", { bucket: "acme-bare" }),
            ]);
            expectMessages(messages, [
                /BucketVersioning "v" sets versioning status "Suspended"/,
                /Bucket "bare" has no versioning/,
            ]);
        });
    });

    describe("pod-restricted-security-context", () => {
        it("passes a restricted pod", async () => {
            assert.deepEqual(
                await run("pod-restricted-security-context", [deployment("ok", container())]),
                [],
            );
        });
        it("fails a privileged pod on the host network, naming each broken rule", async () => {
            const bad = container({ securityContext: { privileged: true } });
            const messages = await run("pod-restricted-security-context", [
                deployment("bad", bad, { hostNetwork: true }),
            ]);
            expectMessages(messages, [
                /Deployment "bad" \(Deployment\/apps\/bad\) pod: hostNetwork is true/,
                /app: runAsNonRoot is not true/,
                /app: allowPrivilegeEscalation is not false/,
                /app: privileged/,
                /app: capabilities do not drop ALL/,
                /app: seccompProfile is not RuntimeDefault\. Fix: .*DOCUMENTED_EXCEPTIONS/,
            ]);
        });
        it("honours a documented exception for exactly the named container and rule", async () => {
            const key = "Deployment/apps/exempt/app";
            DOCUMENTED_EXCEPTIONS[key] = [{ rule: "runs as uid 0", why: "test" }];
            try {
                const root = deployment("exempt", container(), {
                    securityContext: { runAsUser: 0 },
                });
                assert.deepEqual(await run("pod-restricted-security-context", [root]), []);
                const other = deployment("other", container(), {
                    securityContext: { runAsUser: 0 },
                });
                expectMessages(await run("pod-restricted-security-context", [other]), [
                    /app: runs as uid 0/,
                ]);
            } finally {
                delete DOCUMENTED_EXCEPTIONS[key];
            }
        });
    });

    describe("container-resources-and-probes", () => {
        it("passes a Deployment with resources and probes, and a Job without probes", async () => {
            const noProbes = container({ readinessProbe: undefined, livenessProbe: undefined });
            assert.deepEqual(
                await run("container-resources-and-probes", [
                    deployment("ok", container()),
                    job("batch", noProbes),
                ]),
                [],
            );
        });
        it("fails a container without limits and a Deployment without probes", async () => {
            const messages = await run("container-resources-and-probes", [
                job(
                    "nolimits",
                    container({ resources: { requests: { cpu: "1", memory: "1Gi" } } }),
                ),
                deployment(
                    "noprobes",
                    container({ readinessProbe: undefined, livenessProbe: undefined }),
                ),
            ]);
            expectMessages(messages, [
                /Job "nolimits" \(Job\/jobs\/nolimits\) app: no cpu\/memory limits\. Fix: set resources/,
                /Deployment "noprobes" .* app: no readinessProbe/,
                /Deployment "noprobes" .* app: no livenessProbe/,
            ]);
        });
    });

    describe("images-by-digest", () => {
        const release = (values: Record<string, unknown>) =>
            res("kubernetes:helm.sh/v3:Release", "op", { chart: "spark-operator", values });
        const cm = (data: Record<string, string>) =>
            res("kubernetes:core/v1:ConfigMap", "pipeline-env", { kind: "ConfigMap", data });
        it("passes digests in pods, Helm values and pipeline-env", async () => {
            assert.deepEqual(
                await run("images-by-digest", [
                    deployment("ok", container({ image: `postgres:17.6@${DIGEST}` })),
                    release({
                        image: {
                            registry: "ghcr.io",
                            repository: "kubeflow/spark-operator/controller",
                            tag: `2.5.0@${DIGEST}`,
                        },
                    }),
                    cm({ IMAGE_SPARK: `r/spark@${DIGEST}`, STAGING_URI: "gs://x" }),
                ]),
                [],
            );
        });
        it("fails tags, short digests, a release without images and a tagged IMAGE_*", async () => {
            const messages = await run("images-by-digest", [
                deployment("tagged", container({ image: "postgres:17.6-bookworm" })),
                job("short", container({ image: "r/app@sha256:abc" })),
                release({
                    image: { repository: "kubeflow/spark-operator/controller", tag: "2.5.0" },
                }),
                release({ webhook: { enable: true } }),
                cm({ IMAGE_ML: "r/ml:0.1.0" }),
            ]);
            expectMessages(messages, [
                /Deployment "tagged" container app runs image "postgres:17\.6-bookworm", not pinned by digest/,
                /Job "short" container app runs image "r\/app@sha256:abc"/,
                /Release "op" values\.image is "kubeflow\/spark-operator\/controller:2\.5\.0", not pinned by digest/,
                /Release "op" \(chart spark-operator\) sets no image in its values/,
                /ConfigMap "pipeline-env" IMAGE_ML is "r\/ml:0\.1\.0", not pinned by digest/,
            ]);
        });
    });

    describe("helm-release-restricted-namespace", () => {
        const ns = (name: string, level: string) =>
            res("kubernetes:core/v1:Namespace", name, {
                metadata: { name, labels: { "pod-security.kubernetes.io/enforce": level } },
            });
        const release = (name: string, namespace: string) =>
            res("kubernetes:helm.sh/v3:Release", name, { chart: "c", namespace });
        it("passes a release in a declared restricted namespace", async () => {
            assert.deepEqual(
                await run("helm-release-restricted-namespace", [
                    ns("spark-operator", "restricted"),
                    release("op", "spark-operator"),
                ]),
                [],
            );
        });
        it("fails releases in an undeclared and in a baseline namespace", async () => {
            const messages = await run("helm-release-restricted-namespace", [
                ns("legacy", "baseline"),
                release("a", "elsewhere"),
                release("b", "legacy"),
            ]);
            expectMessages(messages, [
                /Release "a" installs into namespace "elsewhere", which this stack does not declare/,
                /Release "b" installs into namespace "legacy", which enforces "baseline", not "restricted"/,
            ]);
        });
    });

    describe("service-account-token-only-for-api-clients", () => {
        const sa = (ns: string, name: string, automount?: boolean) =>
            res("kubernetes:core/v1:ServiceAccount", `${ns}-${name}`, {
                kind: "ServiceAccount",
                metadata: { name, namespace: ns },
                ...(automount === undefined ? {} : { automountServiceAccountToken: automount }),
            });
        const workload = (
            kind: "Deployment" | "StatefulSet" | "CronJob",
            ns: string,
            name: string,
            pod: object,
        ) => {
            const podSpec = { containers: [container()], ...pod };
            const spec =
                kind === "CronJob"
                    ? { jobTemplate: { spec: { template: { spec: podSpec } } } }
                    : { template: { spec: podSpec } };
            const group = kind === "CronJob" ? "batch" : "apps";
            return res(`kubernetes:${group}/v1:${kind}`, name, {
                kind,
                metadata: { name, namespace: ns },
                spec,
            });
        };
        it("passes declared API clients with a token and every other pod without one", async () => {
            assert.deepEqual(
                await run("service-account-token-only-for-api-clients", [
                    sa("airflow", "airflow", true),
                    workload("Deployment", "airflow", "airflow", { serviceAccountName: "airflow" }),
                    workload("StatefulSet", "monitoring", "prometheus", {
                        automountServiceAccountToken: true,
                    }),
                    sa("docs", "docs-app", false),
                    workload("Deployment", "docs", "docs-app", { serviceAccountName: "docs-app" }),
                    workload("CronJob", "database", "backup", {
                        serviceAccountName: "uploader",
                        automountServiceAccountToken: false,
                    }),
                ]),
                [],
            );
        });
        it("fails a pod with a token it does not need, by its own setting, its account's or the default, and a stale declaration", async () => {
            const messages = await run("service-account-token-only-for-api-clients", [
                sa("database", "postgres-backup", false),
                workload("CronJob", "database", "postgres-backup", {
                    serviceAccountName: "postgres-backup",
                    automountServiceAccountToken: true,
                }),
                sa("airflow", "airflow", true),
                workload("Deployment", "airflow", "migrate", { serviceAccountName: "airflow" }),
                workload("Deployment", "docs", "docs-app", {}),
                workload("Deployment", "monitoring", "metrics-exporter", {
                    automountServiceAccountToken: false,
                }),
            ]);
            expectMessages(messages, [
                /CronJob "postgres-backup" \(CronJob\/database\/postgres-backup\) gets a Kubernetes API token it does not need: it sets automountServiceAccountToken: true\. Set automountServiceAccountToken: false/,
                /Deployment "migrate" \(Deployment\/airflow\/migrate\) gets a Kubernetes API token .*service account airflow mounts one/,
                /Deployment "docs-app" .*service account default mounts one/,
                /Deployment "metrics-exporter" \(Deployment\/monitoring\/metrics-exporter\) is declared in KUBERNETES_API_CLIENTS but gets no token/,
            ]);
        });
    });

    describe("no-plaintext-secrets", () => {
        const cm = (data: Record<string, string>) =>
            res("kubernetes:core/v1:ConfigMap", "cfg", { kind: "ConfigMap", data });
        const lambda = (variables: Record<string, string>) =>
            res("aws:lambda/function:Function", "fn", {
                runtime: "nodejs22.x",
                environment: { variables },
            });
        const stack = (outputs: Record<string, unknown>) =>
            res("pulumi:pulumi:Stack", "taxi-platform-test", outputs);
        it("passes config, secretKeyRef env, ARNs and secret outputs", async () => {
            const env = [
                { name: "PORT", value: "8080" },
                {
                    name: "DB_PASSWORD",
                    valueFrom: { secretKeyRef: { name: "db", key: "password" } },
                },
                { name: "PGPASSWORD", value: "$(DB_PASSWORD)" },
                { name: "GF_SECURITY_ADMIN_PASSWORD__FILE", value: "/etc/grafana/admin/password" },
                { name: "AWS_ACCESS_KEY_ID_SOURCE", value: "web-identity" },
            ];
            const messages = await run(
                "no-plaintext-secrets",
                [
                    cm({
                        "prometheus.yml":
                            "scrape_configs:\n  - job_name: x\n    bearer_token_file: /var/run/token\n",
                        "datasources.yaml":
                            "secureJsonData:\n  password: $__file{/etc/secrets/pw}\n",
                        "run.sh": 'PGPASSWORD="${!2}" psql -w\n',
                    }),
                    deployment("app", container({ env })),
                    lambda({
                        AIRFLOW_CREDENTIALS_SECRET_ID:
                            "arn:aws:secretsmanager:eu-west-1:1:secret:x",
                        S3_KEY_PREFIX: "trip data/",
                    }),
                    stack({
                        kubeconfig: "[secret]",
                        grafanaAdmin: { user: "admin", password: "[secret]" },
                    }),
                ],
                { "no-plaintext-secrets": { checkOutputKeyNames: true } },
            );
            assert.deepEqual(messages, []);
        });
        it("fails secrets in ConfigMaps, env values, Lambda variables and outputs", async () => {
            const env = [
                { name: "DB_PASSWORD", value: "hunter2" },
                {
                    name: "DATABASE_URL",
                    value: "postgresql://airflow:s3cret@postgres:5432/airflow",
                },
                { name: "FERNET_KEY", value: "[secret]" },
            ];
            const messages = await run(
                "no-plaintext-secrets",
                [
                    cm({
                        admin_password: "hunter2",
                        "app.ini": "[db]\nuser = app\npassword = hunter2\n",
                        token: "[secret]",
                    }),
                    deployment("app", container({ env })),
                    lambda({ API_TOKEN: "abc123def456" }),
                    stack({
                        key: "-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n-----END RSA PRIVATE KEY-----",
                        admin: { password: "plain-text-pw" },
                    }),
                ],
                { "no-plaintext-secrets": { checkOutputKeyNames: true } },
            );
            expectMessages(messages, [
                /ConfigMap "cfg" data "admin_password" is a credential stored under a secret-looking key/,
                /ConfigMap "cfg" data "app\.ini" line 3: password is set to a literal value/,
                /ConfigMap "cfg" data "token" holds a Pulumi secret/,
                /container app env DB_PASSWORD is a credential set as a literal value: .*secretKeyRef/,
                /container app env DATABASE_URL holds a URI with a password in it/,
                /container app env FERNET_KEY holds a Pulumi secret as a plain value/,
                /Function "fn" environment variable API_TOKEN is a credential set as a literal value/,
                /stack output key holds a PEM private key/,
                /stack output admin\.password is a credential in plain text/,
            ]);
        });
        it("checks outputs by value shape only under the CLI's default config", async () => {
            // The CLI hands policies secret outputs in plain text: key names cannot tell them apart.
            const messages = await run("no-plaintext-secrets", [
                stack({
                    grafanaAdmin: { password: "unwrapped-by-the-cli" },
                    token: "AKIAABCDEFGHIJKLMNOP",
                }),
            ]);
            expectMessages(messages, [/stack output token holds an AWS access key id/]);
        });
    });

    describe("lambda-node-runtime", () => {
        const fn = (name: string, runtime?: string) =>
            res(
                "aws:lambda/function:Function",
                name,
                runtime ? { runtime } : { packageType: "Image" },
            );
        it("passes nodejs22.x and newer", async () => {
            assert.deepEqual(
                await run("lambda-node-runtime", [fn("a", "nodejs22.x"), fn("b", "nodejs24.x")]),
                [],
            );
        });
        it("fails an old Node runtime, another language and an image function", async () => {
            const messages = await run("lambda-node-runtime", [
                fn("old", "nodejs20.x"),
                fn("py", "python3.12"),
                fn("img"),
            ]);
            expectMessages(messages, [
                /Function "old" runs on "nodejs20\.x", older than nodejs22\.x/,
                /Function "py" runs on "python3\.12", not Node\.js/,
                /Function "img" has no runtime/,
            ]);
        });
    });

    describe("lambda-on-failure-destination", () => {
        const FN = "aws:lambda/function:Function";
        const EIC = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig";
        const fn = res(FN, "trigger", { name: "dev-airflow-trigger", runtime: "nodejs22.x" });
        const dest = { onFailure: { destination: "arn:aws:sqs:eu-west-1:1:failures" } };
        it("passes a function whose event-invoke config has an on-failure destination", async () => {
            const linked = res(
                EIC,
                "async",
                { functionName: "x", destinationConfig: dest },
                {
                    propertyDependencies: { functionName: [fn.urn] },
                },
            );
            assert.deepEqual(await run("lambda-on-failure-destination", [fn, linked]), []);
            const byArn = res(EIC, "async", {
                functionName: "arn:aws:lambda:eu-west-1:1:function:dev-airflow-trigger:live",
                destinationConfig: dest,
            });
            assert.deepEqual(await run("lambda-on-failure-destination", [fn, byArn]), []);
        });
        it("fails a config without destination and a function without config", async () => {
            const messages = await run("lambda-on-failure-destination", [
                fn,
                res(EIC, "nodest", {
                    functionName: "dev-airflow-trigger",
                    maximumRetryAttempts: 2,
                }),
            ]);
            expectMessages(messages, [
                /FunctionEventInvokeConfig "nodest" has no destinationConfig\.onFailure\.destination/,
                /Function "trigger" has no event-invoke config with an on-failure destination/,
            ]);
        });
    });

    describe("one-external-load-balancer", () => {
        const gateway = (name: string, cls: string) =>
            res("kubernetes:gateway.networking.k8s.io/v1:Gateway", name, {
                kind: "Gateway",
                spec: { gatewayClassName: cls },
            });
        const service = (name: string, type: string, annotations: Record<string, string> = {}) =>
            res("kubernetes:core/v1:Service", name, {
                kind: "Service",
                metadata: { name, annotations },
                spec: { type },
            });
        const ip = (name: string) =>
            res("gcp:compute/globalAddress:GlobalAddress", name, {
                addressType: "EXTERNAL",
                ipVersion: "IPV4",
            });
        it("passes one Gateway with one IP, internal and ClusterIP Services", async () => {
            assert.deepEqual(
                await run("one-external-load-balancer", [
                    gateway("shared", "gke-l7-global-external-managed"),
                    gateway("inside", "gke-l7-rilb"),
                    ip("ip"),
                    service("db", "ClusterIP"),
                    service("ilb", "LoadBalancer", {
                        "networking.gke.io/load-balancer-type": "Internal",
                    }),
                ]),
                [],
            );
        });
        it("fails a LoadBalancer Service next to the Gateway, and a second global IP", async () => {
            const messages = await run("one-external-load-balancer", [
                gateway("shared", "gke-l7-global-external-managed"),
                service("grafana", "LoadBalancer"),
                ip("ip"),
                ip("ip2"),
            ]);
            expectMessages(messages, [
                /Gateway "shared" is one of 2 external load balancers/,
                /Service "grafana" is one of 2 external load balancers .*a Service of type LoadBalancer/,
                /GlobalAddress "ip" is one of 2 external global IPV4 addresses/,
                /GlobalAddress "ip2" is one of 2 external global IPV4 addresses/,
            ]);
        });
    });
});
