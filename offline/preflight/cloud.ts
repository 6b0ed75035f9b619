/**
 * Cloud semantics the offline mocks accept but the real APIs do not:
 *
 * - Immutable registry tags: an Artifact Registry repository with `dockerConfig.immutableTags`
 *   rejects a push to a tag that already exists. Every build pushes its `tags` and its registry
 *   `cacheTo` refs; in such a repository each must be derived from the build's content (contain
 *   its content digest), or the second build with different content fails.
 * - Enum values an API no longer accepts (table below, with the API's own wording).
 * - Names a cloud keeps reserved after deletion: on a stack marked `disposable` (destroyed and
 *   re-created), such a name must be unique per creation (it depends on a random resource, or
 *   the provider generates it), or the deletion must free it at once.
 */
import type { RecordedResource } from "../engine";
import { cloudFakes } from "../cloud-fakes";
import type { PreflightInput } from "./input";

export interface CloudReport {
    checked: number;
    problems: string[];
}

const label = (r: RecordedResource) => `${r.type} "${r.name}"`;
const str = (v: unknown): string => (typeof v === "string" ? v : "");

function at(obj: unknown, dotted: string): unknown {
    return dotted
        .split(".")
        .reduce<unknown>(
            (o, k) => (o && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined),
            obj,
        );
}

/** Values the APIs reject, by resource type and input path. */
export const REJECTED_VALUES: { type: string; path: string; values: Record<string, string> }[] = [
    {
        type: "gcp:container/cluster:Cluster",
        path: "securityPostureConfig.vulnerabilityMode",
        values: {
            VULNERABILITY_BASIC:
                'GKE API: "Deprecated: Basic vulnerability scanning is no longer supported" (posture-management deprecation); use VULNERABILITY_DISABLED or VULNERABILITY_ENTERPRISE',
        },
    },
    {
        type: "gcp:container/cluster:Cluster",
        path: "nodeConfig.imageType",
        values: {
            COS: "GKE removed Docker-based node images in 1.24; use COS_CONTAINERD",
            UBUNTU: "GKE removed Docker-based node images in 1.24; use UBUNTU_CONTAINERD",
        },
    },
    {
        type: "gcp:container/nodePool:NodePool",
        path: "nodeConfig.imageType",
        values: {
            COS: "GKE removed Docker-based node images in 1.24; use COS_CONTAINERD",
            UBUNTU: "GKE removed Docker-based node images in 1.24; use UBUNTU_CONTAINERD",
        },
    },
    {
        type: "aws:lambda/function:Function",
        path: "runtime",
        values: {
            "nodejs12.x": "AWS Lambda blocks creating functions on deprecated runtimes",
            "nodejs14.x": "AWS Lambda blocks creating functions on deprecated runtimes",
            "nodejs16.x": "AWS Lambda blocks creating functions on deprecated runtimes",
        },
    },
];

/** Resource types whose name stays reserved after deletion, and how long. */
export const RESERVED_NAMES: {
    type: string;
    nameInput: string;
    reserved: string;
    freedWhen?: (r: RecordedResource) => boolean;
}[] = [
    {
        type: "gcp:storage/transferJob:TransferJob",
        nameInput: "name",
        reserved:
            "a deleted Storage Transfer job keeps its name (soft-deleted, purged after about 30 days)",
    },
    {
        type: "aws:secretsmanager/secret:Secret",
        nameInput: "name",
        reserved: "a deleted secret keeps its name for its recovery window",
        freedWhen: (r) => r.inputs.recoveryWindowInDays === 0,
    },
    {
        type: "gcp:kms/keyRing:KeyRing",
        nameInput: "name",
        reserved: "key ring names can never be reused",
    },
    {
        type: "gcp:kms/cryptoKey:CryptoKey",
        nameInput: "name",
        reserved: "crypto key names can never be reused",
    },
    {
        type: "gcp:projects/iAMCustomRole:IAMCustomRole",
        nameInput: "roleId",
        reserved: "a deleted custom role's id is reserved for 37 days",
    },
    {
        type: "gcp:iam/workloadIdentityPool:WorkloadIdentityPool",
        nameInput: "workloadIdentityPoolId",
        reserved: "a deleted pool's id is reserved for 30 days",
    },
    {
        type: "gcp:sql/databaseInstance:DatabaseInstance",
        nameInput: "name",
        reserved: "a deleted instance name is reserved for up to a week",
    },
];

/** Random resources whose value makes a name unique per creation. */
const RANDOM_TYPES = /^random:index\//;

export function checkCloud(input: PreflightInput): CloudReport {
    const problems: string[] = [];
    let checked = 0;
    const byUrn = new Map(input.resources.map((r) => [r.urn, r]));

    // Immutable tags.
    const fake = cloudFakes(input.config.gcpProject ?? "offline-project")[
        "docker-build:index:Image"
    ]!;
    const immutable = input.resources.filter(
        (r) =>
            r.type === "gcp:artifactregistry/repository:Repository" &&
            (r.inputs.dockerConfig as { immutableTags?: boolean } | undefined)?.immutableTags ===
                true,
    );
    for (const img of input.resources.filter((r) => r.type === "docker-build:index:Image")) {
        const digest = String(fake(img.name, img.inputs).digest).replace(/^sha256:/, "");
        const refs = [
            ...((img.inputs.tags as string[] | undefined) ?? []).map((t) => ({
                ref: t,
                why: "tag",
            })),
            ...((img.inputs.cacheTo as { registry?: { ref?: string } }[] | undefined) ?? [])
                .map((c) => c.registry?.ref)
                .filter((ref): ref is string => typeof ref === "string")
                .map((ref) => ({ ref, why: "build cache (re-pushed by every build)" })),
        ];
        for (const { ref, why } of refs) {
            for (const repo of immutable) {
                const location = str(repo.inputs.location);
                const id = str(repo.inputs.repositoryId);
                if (!new RegExp(`^${location}-docker\\.pkg\\.dev/[^/]+/${id}/`).test(ref)) continue;
                checked++;
                const tag = /:([^:/@]+)$/.exec(ref)?.[1] ?? "";
                const contentDerived =
                    /[0-9a-f]{12,}/.exec(tag) !== null &&
                    digest.includes(/[0-9a-f]{12,}/.exec(tag)![0]);
                if (!contentDerived) {
                    problems.push(
                        `${label(img)} pushes ${why} ${ref} into ${label(repo)}, which has immutableTags: the tag does not change with the image's content, so the first rebuild after a change is rejected`,
                    );
                }
            }
        }
    }

    // Enum values the APIs reject.
    for (const rule of REJECTED_VALUES) {
        for (const r of input.resources.filter((x) => x.type === rule.type)) {
            checked++;
            const v = at(r.inputs, rule.path);
            if (typeof v === "string" && rule.values[v]) {
                problems.push(`${label(r)}: ${rule.path} = ${v} is rejected: ${rule.values[v]}`);
            }
        }
    }

    // Reserved names on disposable stacks.
    if (input.config.disposable === "true") {
        for (const rule of RESERVED_NAMES) {
            for (const r of input.resources.filter((x) => x.type === rule.type)) {
                checked++;
                if (rule.freedWhen?.(r)) continue;
                const name = r.inputs[rule.nameInput];
                if (name === undefined) continue; // the provider generates a unique name
                const fromRandom = (r.propertyDependencies[rule.nameInput] ?? []).some((u) =>
                    RANDOM_TYPES.test(byUrn.get(u)?.type ?? ""),
                );
                if (!fromRandom) {
                    problems.push(
                        `${label(r)}: ${rule.nameInput} ${JSON.stringify(name)} is fixed on disposable stack ${input.stack}, but ${rule.reserved}: a destroy and re-create fails. Make it unique per creation (a random suffix) or free it on deletion`,
                    );
                }
            }
        }
    }
    return { checked, problems };
}
