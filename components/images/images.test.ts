import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildDigest, cloudFakes } from "../../offline/cloud-fakes";
import { evaluate } from "../../offline/engine";
import { UPSTREAM_IMAGES } from "../shared/versions";
import { IMAGE_BUILDS } from "./catalog";
import { PlatformImageBuilds, byDigest, mirrorName, type PlatformImageBuildsArgs } from "./images";

const REGISTRY = "europe-west1-docker.pkg.dev/acme-taxi-dev/platform";
const SHAS = { GCS_CONNECTOR_SHA256: "a".repeat(64), BIGQUERY_CONNECTOR_SHA256: "b".repeat(64) };

function build(overrides: Partial<PlatformImageBuildsArgs> = {}) {
    return evaluate(
        () => {
            const b = new PlatformImageBuilds("dev", {
                registryUrl: REGISTRY,
                accessToken: "token-from-the-deploying-identity",
                tag: "0.1.0",
                buildArgs: { spark: SHAS },
                ...overrides,
            });
            return { refs: b.refs, upstream: b.upstream };
        },
        { outputs: cloudFakes("acme-taxi-dev") },
    );
}

describe("components/images", () => {
    it("builds every image of the catalog from the repository root and pushes it with registry cache", async () => {
        const r = await build();
        const images = r.ofType("docker-build:index:Image");
        const ours = images.filter((i) => !i.name.startsWith("dev-mirror-"));
        assert.deepEqual(
            ours.map((i) => i.name).sort(),
            Object.keys(IMAGE_BUILDS)
                .map((k) => `dev-${k}`)
                .sort(),
        );
        for (const i of ours) {
            const inp = i.inputs as any;
            const key = i.name.slice("dev-".length) as keyof typeof IMAGE_BUILDS;
            // Relative to the project root: the state does not depend on the checkout's folder.
            assert.equal(inp.context.location, ".");
            assert.equal(inp.dockerfile.location, IMAGE_BUILDS[key].dockerfile);
            assert.equal(inp.push, true);
            // No build (and so no registry cache export) during a preview: read-only identities.
            assert.equal(inp.buildOnPreview, false);
            assert.deepEqual(inp.platforms, ["linux/amd64"]);
            assert.deepEqual(inp.tags, [`${REGISTRY}/${IMAGE_BUILDS[key].name}:0.1.0`]);
            assert.deepEqual(inp.cacheFrom, [
                { registry: { ref: `${REGISTRY}/${IMAGE_BUILDS[key].name}:buildcache` } },
            ]);
            assert.equal(inp.cacheTo[0].registry.mode, "max");
            // Short-lived token of the deploying identity: the credentials stay secret in the state.
            assert.equal(inp.registries, "[secret]");
            assert.ok(i.secretInputs.includes("registries"));
        }
        assert.deepEqual(
            (r.get("docker-build:index:Image", "dev-spark").inputs as any).buildArgs,
            SHAS,
        );
    });

    it("references every image by digest, ours and the mirrored upstream ones", async () => {
        const r = await build();
        const refs = r.outputs.refs as Record<string, string>;
        for (const [key, b] of Object.entries(IMAGE_BUILDS))
            assert.match(refs[key]!, new RegExp(`^${REGISTRY}/${b.name}@sha256:[0-9a-f]{64}$`));
        const upstream = r.outputs.upstream as Record<string, string>;
        assert.deepEqual(Object.keys(upstream).sort(), Object.keys(UPSTREAM_IMAGES).sort());
        for (const [key, ref] of Object.entries(UPSTREAM_IMAGES)) {
            assert.match(
                upstream[key]!,
                new RegExp(`^${REGISTRY}/mirror/[a-z0-9/._-]+@sha256:[0-9a-f]{64}$`),
            );
            const mirror = r.get("docker-build:index:Image", `dev-mirror-${key}`).inputs as any;
            assert.deepEqual(mirror.dockerfile, { inline: `FROM ${ref}\n` });
            assert.equal(mirror.buildOnPreview, false, "mirrors do not build on preview either");
        }
        assert.equal(
            mirrorName("quay.io/prometheus/prometheus:v3.5.0"),
            "mirror/prometheus/prometheus",
        );
        assert.equal(mirrorName("postgres:17.6-bookworm"), "mirror/postgres");
    });

    it("changes an image's digest when its build inputs change, and only that image's", async () => {
        const a = (await build()).outputs.refs as Record<string, string>;
        const b = (
            await build({ buildArgs: { spark: { ...SHAS, GCS_CONNECTOR_SHA256: "c".repeat(64) } } })
        ).outputs.refs as Record<string, string>;
        assert.notEqual(a.spark, b.spark);
        for (const k of Object.keys(IMAGE_BUILDS).filter((k) => k !== "spark"))
            assert.equal(a[k], b[k]);
    });

    it("fails closed: missing required build args, a bad tag, or a build that returns no digest", async () => {
        await assert.rejects(
            build({ buildArgs: {} }),
            /image spark needs build args GCS_CONNECTOR_SHA256, BIGQUERY_CONNECTOR_SHA256/,
        );
        await assert.rejects(build({ tag: "bad tag" }), /tag "bad tag" is not a Docker tag/);
        assert.throws(() => byDigest("r/x", "latest"), /not a sha256 digest/);
    });

    it("renders digests from what the context sends, not from where the checkout is", () => {
        const make = () => {
            const root = fs.mkdtempSync(path.join(os.tmpdir(), "ctx-"));
            fs.mkdirSync(path.join(root, "app", "tests"), { recursive: true });
            fs.writeFileSync(
                path.join(root, "app", "Dockerfile"),
                "FROM x:1.0.0\nCOPY app/main.py /\n",
            );
            fs.writeFileSync(
                path.join(root, "app", "Dockerfile.dockerignore"),
                "*\n!app/main.py\n",
            );
            fs.writeFileSync(path.join(root, "app", "main.py"), "print(1)\n");
            fs.writeFileSync(path.join(root, "app", "tests", "t.py"), "assert 1\n");
            return root;
        };
        const digest = (root: string) =>
            buildDigest({
                context: { location: root },
                dockerfile: { location: path.join(root, "app", "Dockerfile") },
                buildArgs: {},
            });
        const a = make();
        const b = make();
        try {
            assert.equal(digest(a), digest(b), "two checkouts of the same files: same digest");
            fs.writeFileSync(path.join(b, "app", "tests", "t.py"), "assert 2\n");
            assert.equal(digest(a), digest(b), "a file the context does not send changes nothing");
            fs.writeFileSync(path.join(b, "app", "main.py"), "print(2)\n");
            assert.notEqual(digest(a), digest(b), "a sent file changes the digest");
        } finally {
            fs.rmSync(a, { recursive: true, force: true });
            fs.rmSync(b, { recursive: true, force: true });
        }
    });
});
