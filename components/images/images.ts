/**
 * PlatformImageBuilds: every image the platform runs, built and pushed to the environment's
 * Artifact Registry by the stack with `@pulumi/docker-build`, and referenced BY DIGEST.
 *
 * - Our images: one per entry of `IMAGE_BUILDS` (catalog.ts), built from the repository root
 *   with `-f <folder>/Dockerfile`. docker-build hashes the build context, so `pulumi up` rebuilds
 *   an image only when its files, Dockerfile or build args change; the digest (and so every
 *   Deployment, Job and `pipeline-env` value that uses it) changes exactly then: a code change
 *   rolls out, and nothing else does.
 * - Upstream images (Postgres, exporters, Prometheus, Grafana, gcloud, the Spark operator): each is
 *   mirrored into the registry by a one-line build (`FROM <pinned tag>`), so the cluster pulls
 *   them by a digest recorded in the stack state, from our registry, never a moving tag. The
 *   mirror is rebuilt only when the pinned tag in versions.ts changes (its context hash), so a
 *   re-pushed upstream tag cannot change what runs until someone upgrades deliberately.
 * - Registry cache: each image pulls and pushes its build cache as `<image>:buildcache`.
 * - Previews build nothing (`buildOnPreview: false`): docker-build would otherwise build during
 *   `pulumi preview` and export the registry cache even though it never pushes the image, so a
 *   pull-request preview would need registry write. The digests show as unknown in a preview;
 *   `pulumi up` builds, pushes and exports the cache with the deploying identity.
 * - Registry auth: a short-lived OAuth access token of the identity running `pulumi up` (Workload
 *   Identity Federation in CI); no key file anywhere.
 */
import * as dockerBuild from "@pulumi/docker-build";
import * as pulumi from "@pulumi/pulumi";
import { UPSTREAM_IMAGES } from "../shared/versions";
import { BUILD_CONTEXT, IMAGE_BUILDS } from "./catalog";

export type ImageName = keyof typeof IMAGE_BUILDS;
export type UpstreamName = keyof typeof UPSTREAM_IMAGES;

/**
 * Paths relative to the project root (where Pulumi.yaml is, the program's working directory), so
 * the state and the previews do not change with the folder a checkout happens to live in.
 */
const BUILD_ROOT = BUILD_CONTEXT;
/** An empty folder: the build context of the mirror builds (they copy nothing). */
const MIRROR_CONTEXT = "components/images/mirror";

export interface PlatformImageBuildsArgs {
    /** `<region>-docker.pkg.dev/<project>/<repository>`. Required. */
    registryUrl: pulumi.Input<string>;
    /** Short-lived OAuth access token for the registry (a secret). Required. */
    accessToken: pulumi.Input<string>;
    /** Human-readable tag pushed next to the digest (e.g. the release). Required. */
    tag: string;
    /** Build args per image (for `requiredBuildArgs` of the catalog). */
    buildArgs?: Partial<Record<ImageName, Record<string, pulumi.Input<string>>>>;
    /** Target platform (default linux/amd64, the GKE node pools'). */
    platform?: dockerBuild.Platform;
}

/** `<repository>@sha256:…` from an image's registry path and its pushed digest. */
export function byDigest(repository: string, digest: string): string {
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) {
        throw new Error(
            `image ${repository}: the build returned ${JSON.stringify(digest)}, not a sha256 digest`,
        );
    }
    return `${repository}@${digest}`;
}

/** Registry path of a mirrored upstream image: `mirror/<name>` keeps them apart from ours. */
export function mirrorName(upstream: string): string {
    const withoutTag = upstream.replace(/[:@].*$/, "");
    return `mirror/${withoutTag.replace(/^[^/]+\.[^/]+\//, "").replace(/[^a-z0-9/._-]/g, "-")}`;
}

export class PlatformImageBuilds extends pulumi.ComponentResource {
    /** Our images by digest. */
    public readonly refs: Record<ImageName, pulumi.Output<string>>;
    /** Upstream images, mirrored, by digest. */
    public readonly upstream: Record<UpstreamName, pulumi.Output<string>>;

    /** Pass the GCP provider in `opts.providers` (docker-build needs none). */
    constructor(
        name: string,
        args: PlatformImageBuildsArgs,
        opts: pulumi.ComponentResourceOptions = {},
    ) {
        super("taxi:images:PlatformImageBuilds", name, {}, opts);
        if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(args.tag)) {
            throw new Error(
                `PlatformImageBuilds: tag ${JSON.stringify(args.tag)} is not a Docker tag`,
            );
        }
        const o = { parent: this };
        const platform = args.platform ?? "linux/amd64";
        const registryHost = pulumi.output(args.registryUrl).apply((u) => u.split("/")[0]!);
        const registries = [
            {
                address: registryHost,
                username: "oauth2accesstoken",
                password: pulumi.secret(args.accessToken),
            },
        ];
        const build = (
            resourceName: string,
            repoPath: string,
            source: { context: string; dockerfile: dockerBuild.types.input.DockerfileArgs },
            buildArgs: Record<string, pulumi.Input<string>> = {},
        ) => {
            const repository = pulumi.interpolate`${args.registryUrl}/${repoPath}`;
            const cache = pulumi.interpolate`${repository}:buildcache`;
            const image = new dockerBuild.Image(
                resourceName,
                {
                    context: { location: source.context },
                    dockerfile: source.dockerfile,
                    platforms: [platform],
                    buildArgs,
                    push: true,
                    buildOnPreview: false,
                    tags: [pulumi.interpolate`${repository}:${args.tag}`],
                    registries,
                    cacheFrom: [{ registry: { ref: cache } }],
                    cacheTo: [
                        {
                            registry: {
                                ref: cache,
                                mode: "max",
                                imageManifest: true,
                                ociMediaTypes: true,
                            },
                        },
                    ],
                },
                o,
            );
            return pulumi.all([repository, image.digest]).apply(([r, d]) => byDigest(r, d));
        };

        const refs = {} as Record<ImageName, pulumi.Output<string>>;
        for (const [key, b] of Object.entries(IMAGE_BUILDS) as [
            ImageName,
            (typeof IMAGE_BUILDS)[ImageName],
        ][]) {
            const given = args.buildArgs?.[key] ?? {};
            const missing = b.requiredBuildArgs.filter((a) => given[a] === undefined);
            if (missing.length > 0) {
                throw new Error(
                    `PlatformImageBuilds: image ${key} needs build args ${missing.join(", ")} (see ${b.dockerfile})`,
                );
            }
            refs[key] = build(
                `${name}-${key}`,
                b.name,
                {
                    context: BUILD_ROOT,
                    dockerfile: { location: b.dockerfile },
                },
                { ...b.buildArgs, ...given },
            );
        }
        const upstream = {} as Record<UpstreamName, pulumi.Output<string>>;
        for (const [key, ref] of Object.entries(UPSTREAM_IMAGES) as [UpstreamName, string][]) {
            upstream[key] = build(`${name}-mirror-${key}`, mirrorName(ref), {
                context: MIRROR_CONTEXT,
                dockerfile: { inline: `FROM ${ref}\n` },
            });
        }
        this.refs = refs;
        this.upstream = upstream;
        this.registerOutputs({ refs, upstream });
    }
}
