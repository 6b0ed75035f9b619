/**
 * Kubernetes workloads: the restricted Pod Security Standard, requests/limits and probes on
 * every container (the checker in policy/pod-security.ts, shared with the stack tests), images
 * pinned by digest, and Helm releases confined to namespaces that enforce the restricted profile.
 *
 * Objects checked: Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs and Pods,
 * whether declared directly or through `kubernetes:yaml/v2` / `kubernetes:helm.sh/v4:Chart`
 * (those register each object as its own resource). A `kubernetes:helm.sh/v3:Release` is one
 * resource holding a chart reference and values; the pods the chart renders are created by Helm
 * in the cluster and never pass through Pulumi, so neither this pack nor the offline tests can
 * see them. For a Release the pack checks what it can: the image references in its values are
 * digests, and its namespace enforces the restricted Pod Security Standard, so the API server
 * itself rejects any chart pod that breaks that profile. Requests, limits and probes of chart
 * pods are set in the chart's typed values (charts/<release>) and reviewed there.
 */
import * as k8s from "@pulumi/kubernetes";
import type { PolicyResource, ResourceValidationArgs } from "@pulumi/policy";
import { KUBERNETES_API_CLIENTS } from "../api-clients";
import {
    type FindingCategory,
    containersOf,
    podFindings,
    podSpecOf,
    workloadKey,
} from "../pod-security";
import { type PlatformPolicy, WORKLOADS, label, obj, str } from "./common";

/** The workload object in a resource's props (its `kind` from the type token when absent). */
function workloadOf(args: { type: string; props: Record<string, unknown> }) {
    const kind = str(args.props.kind) ?? args.type.split(":").pop();
    return {
        kind,
        metadata: obj(args.props.metadata) as { name?: string; namespace?: string } | undefined,
        spec: args.props.spec,
    };
}

function onWorkloads(args: ResourceValidationArgs): ReturnType<typeof workloadOf> {
    if (!WORKLOADS.some((cls) => args.isType(cls))) {
        args.notApplicable(
            "applies to Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs and Pods",
        );
    }
    return workloadOf(args);
}

function findingsPolicy(
    categories: FindingCategory[],
    fix: Record<FindingCategory, string>,
): PlatformPolicy["validateResource"] {
    return (args, report) => {
        const workload = onWorkloads(args);
        for (const f of podFindings(workload)) {
            if (!categories.includes(f.category)) continue;
            report(`${label(args)} (${f.where}) ${f.container}: ${f.rule}. ${fix[f.category]}`);
        }
    };
}

const FIXES: Record<FindingCategory, string> = {
    security:
        "Fix: give the container the restricted security context (runAsNonRoot: true, " +
        "allowPrivilegeEscalation: false, capabilities.drop: [ALL], seccompProfile " +
        "RuntimeDefault; components/shared/workload.ts builds it), or add a reasoned entry to " +
        "DOCUMENTED_EXCEPTIONS in policy/pod-security.ts.",
    resources:
        "Fix: set resources.requests and resources.limits for cpu and memory (sizes live with " +
        "the component's defaults), or add a reasoned entry to DOCUMENTED_EXCEPTIONS in " +
        "policy/pod-security.ts.",
    probes:
        "Fix: add a readinessProbe and a livenessProbe to the long-running container, or add a " +
        "reasoned entry to DOCUMENTED_EXCEPTIONS in policy/pod-security.ts.",
};

export const podRestrictedSecurityContext: PlatformPolicy = {
    name: "pod-restricted-security-context",
    description:
        "Every pod meets the restricted Pod Security Standard: non-root, no privilege " +
        "escalation, all capabilities dropped, seccomp RuntimeDefault, no host namespaces or " +
        "hostPath volumes.",
    enforcementLevel: "mandatory",
    remediationSteps: FIXES.security,
    validateResource: findingsPolicy(["security"], FIXES),
};

export const containerResourcesAndProbes: PlatformPolicy = {
    name: "container-resources-and-probes",
    description:
        "Every container sets cpu and memory requests and limits; every long-running container " +
        "(not Jobs, CronJobs or init containers) has readiness and liveness probes.",
    enforcementLevel: "mandatory",
    remediationSteps: `${FIXES.resources} ${FIXES.probes}`,
    validateResource: findingsPolicy(["resources", "probes"], FIXES),
};

/** `<repository>@sha256:<64 hex>`, optionally with a tag before the digest. */
export const DIGEST_REFERENCE = /^[^\s@]+@sha256:[0-9a-f]{64}$/;

/** Image references in Helm values: `image: "<ref>"` strings and `{ repository, tag, digest }` maps. */
export function imagesInValues(
    values: unknown,
    path = "values",
): { path: string; ref: string; pinned: boolean }[] {
    const found: { path: string; ref: string; pinned: boolean }[] = [];
    const o = obj(values);
    if (Array.isArray(values)) {
        values.forEach((v, i) => found.push(...imagesInValues(v, `${path}[${i}]`)));
        return found;
    }
    if (!o) return found;
    for (const [key, value] of Object.entries(o)) {
        const here = `${path}.${key}`;
        const image = obj(value);
        if (/image$/i.test(key) && typeof value === "string") {
            found.push({ path: here, ref: value, pinned: DIGEST_REFERENCE.test(value) });
        } else if (/image$/i.test(key) && image && typeof image.repository === "string") {
            const repo = [str(image.registry), image.repository].filter(Boolean).join("/");
            const tag = str(image.tag);
            const digest = str(image.digest);
            const ref = `${repo}${tag ? `:${tag}` : ""}${digest ? `@${digest}` : ""}`;
            found.push({ path: here, ref, pinned: DIGEST_REFERENCE.test(ref) });
        } else {
            found.push(...imagesInValues(value, here));
        }
    }
    return found;
}

/** ConfigMap keys that carry an image reference to the pipeline (`IMAGE_SPARK`, ...). */
const IMAGE_KEY = /^IMAGE(_[A-Z0-9_]+)?$/;

export const imagesByDigest: PlatformPolicy = {
    name: "images-by-digest",
    description:
        "Every container image, every image a Helm release's values set, and every IMAGE_* " +
        "entry of a ConfigMap (pipeline-env) is referenced by digest (@sha256:<64 hex>), so a " +
        "deployment runs exactly the image that was reviewed and a new build rolls out.",
    enforcementLevel: "mandatory",
    remediationSteps:
        "Reference images as <repository>@sha256:<digest> (or <repository>:<tag>@sha256:<digest>): " +
        "our images from the build's digest output, upstream images with the digest pinned next " +
        "to the tag in components/shared/versions.ts or charts/<release>.",
    validateResource: (args, report) => {
        if (WORKLOADS.some((cls) => args.isType(cls))) {
            const spec = podSpecOf(workloadOf(args))?.spec as Record<string, unknown> | undefined;
            const all = [
                ...containersOf(spec).map(({ c }) => c as Record<string, unknown>),
                ...((spec?.ephemeralContainers as Record<string, unknown>[] | undefined) ?? []),
            ];
            for (const c of all) {
                const image = str(c.image);
                if (!image || !DIGEST_REFERENCE.test(image)) {
                    report(
                        `${label(args)} container ${String(c.name)} runs image ` +
                            `${JSON.stringify(image ?? null)}, not pinned by digest: use ` +
                            "<repository>@sha256:<digest>.",
                    );
                }
            }
        } else if (args.isType(k8s.helm.v3.Release)) {
            const images = imagesInValues(args.props.values);
            if (images.length === 0) {
                report(
                    `${label(args)} (chart ${String(args.props.chart)}) sets no image in its values, ` +
                        "so the chart runs its default images by tag: set the chart's image values " +
                        "with a digest.",
                );
            }
            for (const i of images.filter((x) => !x.pinned)) {
                report(
                    `${label(args)} ${i.path} is ${JSON.stringify(i.ref)}, not pinned by digest: ` +
                        "set the tag to '<tag>@sha256:<digest>' (or the chart's digest value).",
                );
            }
        } else if (args.isType(k8s.core.v1.ConfigMap)) {
            const data = obj(args.props.data) ?? {};
            for (const [key, value] of Object.entries(data)) {
                if (!IMAGE_KEY.test(key)) continue;
                if (typeof value !== "string" || !DIGEST_REFERENCE.test(value)) {
                    report(
                        `${label(args)} ${key} is ${JSON.stringify(value)}, not pinned by digest: ` +
                            "pass the image's <repository>@sha256:<digest>.",
                    );
                }
            }
        } else {
            args.notApplicable("applies to workloads, Helm releases and ConfigMaps");
        }
    },
};

const PSA_ENFORCE = "pod-security.kubernetes.io/enforce";

/** Namespace name → its labels, for every Namespace the stack declares. */
function namespacesOf(resources: PolicyResource[]): Map<string, Record<string, unknown>> {
    const found = new Map<string, Record<string, unknown>>();
    for (const r of resources.filter((x) => x.isType(k8s.core.v1.Namespace))) {
        const meta = obj(r.props.metadata);
        const name = str(meta?.name);
        if (name) found.set(name, obj(meta?.labels) ?? {});
    }
    return found;
}

export const helmReleaseRestrictedNamespace: PlatformPolicy = {
    name: "helm-release-restricted-namespace",
    description:
        "Every Helm release installs into a namespace this stack declares with the restricted " +
        "Pod Security Standard enforced, so the chart's pods (invisible to this pack) are held " +
        "to the same profile by the API server.",
    enforcementLevel: "mandatory",
    remediationSteps:
        "Install the release into a namespace from components/namespaces (labelled " +
        "pod-security.kubernetes.io/enforce: restricted) and set the chart's security contexts, " +
        "resources and probes in its typed values (charts/<release>).",
    validateStack: (args, report) => {
        const namespaces = namespacesOf(args.resources);
        for (const release of args.resources.filter((r) => r.isType(k8s.helm.v3.Release))) {
            const ns = str(release.props.namespace) ?? "default";
            const labels = namespaces.get(ns);
            if (!labels) {
                report(
                    `${label(release)} installs into namespace "${ns}", which this stack does not ` +
                        "declare: declare it with pod-security.kubernetes.io/enforce: restricted.",
                    release.urn,
                );
            } else if (labels[PSA_ENFORCE] !== "restricted") {
                report(
                    `${label(release)} installs into namespace "${ns}", which enforces ` +
                        `${JSON.stringify(labels[PSA_ENFORCE] ?? null)}, not "restricted": ` +
                        "chart pods there are not held to the restricted profile.",
                    release.urn,
                );
            }
        }
    },
};

/** ServiceAccounts the stack declares: `<namespace>/<name>` → their automount setting. */
function serviceAccountAutomount(resources: PolicyResource[]): Map<string, unknown> {
    const found = new Map<string, unknown>();
    for (const r of resources) {
        if (!r.isType(k8s.core.v1.ServiceAccount)) continue;
        const md = obj(r.props.metadata);
        found.set(
            `${str(md?.namespace) ?? ""}/${str(md?.name) ?? ""}`,
            r.props.automountServiceAccountToken,
        );
    }
    return found;
}

export const serviceAccountTokenOnlyForApiClients: PlatformPolicy = {
    name: "service-account-token-only-for-api-clients",
    description:
        "A pod gets a Kubernetes service-account token only when it talks to the Kubernetes " +
        "API (the workloads declared in policy/api-clients.ts); every other pod runs without one.",
    enforcementLevel: "mandatory",
    remediationSteps:
        "Set automountServiceAccountToken: false in the pod spec (Workload Identity needs no " +
        "token: the GKE metadata server issues Google credentials). A workload that does call " +
        "the API gets an entry in KUBERNETES_API_CLIENTS (policy/api-clients.ts) saying why.",
    validateStack: (args, report) => {
        const accounts = serviceAccountAutomount(args.resources);
        for (const r of args.resources) {
            if (!WORKLOADS.some((cls) => r.isType(cls))) continue;
            const workload = workloadOf(r);
            const spec = obj(podSpecOf(workload)?.spec);
            if (!spec) continue;
            const key = workloadKey(workload);
            const account = str(spec.serviceAccountName) ?? "default";
            const ns = workload.metadata?.namespace ?? "";
            const fromAccount = accounts.get(`${ns}/${account}`);
            // The pod's own setting wins; else its account's; an account the stack does not
            // declare (the namespace's "default") mounts a token.
            const podSetting = spec.automountServiceAccountToken;
            const mounted = podSetting !== undefined ? podSetting !== false : fromAccount !== false;
            const why = KUBERNETES_API_CLIENTS[key];
            if (mounted && why === undefined) {
                const source =
                    podSetting === true
                        ? "sets automountServiceAccountToken: true"
                        : `leaves automountServiceAccountToken unset, so service account ${account} mounts one`;
                report(
                    `${label(r)} (${key}) gets a Kubernetes API token it does not need: it ${source}. ` +
                        "Set automountServiceAccountToken: false in its pod spec, or declare the " +
                        "workload in KUBERNETES_API_CLIENTS (policy/api-clients.ts) with the reason it calls the API.",
                );
            } else if (!mounted && why !== undefined) {
                report(
                    `${label(r)} (${key}) is declared in KUBERNETES_API_CLIENTS but gets no token: ` +
                        "remove the entry (or mount the token if it does call the API).",
                );
            }
        }
    },
};

export const workloadPolicies: PlatformPolicy[] = [
    podRestrictedSecurityContext,
    containerResourcesAndProbes,
    imagesByDigest,
    helmReleaseRestrictedNamespace,
    serviceAccountTokenOnlyForApiClients,
];
