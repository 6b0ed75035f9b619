/**
 * PlatformNamespaces: the namespaces of the platform, each enforcing the `restricted` Pod
 * Security Standard, so no workload can run privileged, as root or with host access, and each
 * starting from "deny all traffic" (ingress and egress) with DNS as the only exception; the
 * components add the connections their pods need next to the pods (shared/network-policy.ts).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { PART_OF } from "../shared/labels";
import { allowPolicy, fromNamespace } from "../shared/network-policy";

/** Namespace of each part of the platform. */
export const NAMESPACES = {
    airflow: "airflow",
    jobs: "jobs",
    mlflow: "mlflow",
    monitoring: "monitoring",
    database: "database",
    docs: "docs",
    /** The fare model's prediction API (components/model-serving). */
    serving: "serving",
    gateway: "gateway",
    /** The Spark operator's controller and webhook (they manage SparkApplications in `jobs`). */
    sparkOperator: "spark-operator",
} as const;
export type NamespaceKey = keyof typeof NAMESPACES;

/** Namespaces with no UI: they may not attach routes to the shared Gateway. */
const NO_UI_NAMESPACES: readonly NamespaceKey[] = ["jobs", "database", "sparkOperator"];

/** Label that lets a namespace attach routes to the shared Gateway. */
export const GATEWAY_ACCESS_LABEL = "taxi-platform/gateway-access";

export interface PlatformNamespacesArgs {
    /** Pod Security Standard level enforced (default "restricted"). */
    podSecurity?: "restricted" | "baseline";
}

export class PlatformNamespaces extends pulumi.ComponentResource {
    public readonly names: Record<NamespaceKey, pulumi.Output<string>>;

    constructor(name: string, args: PlatformNamespacesArgs, opts: pulumi.ComponentResourceOptions) {
        super("taxi:k8s:PlatformNamespaces", name, {}, opts);
        const level = args.podSecurity ?? "restricted";
        const names = {} as Record<NamespaceKey, pulumi.Output<string>>;
        for (const [key, ns] of Object.entries(NAMESPACES) as [NamespaceKey, string][]) {
            const created = new k8s.core.v1.Namespace(
                `${name}-${key}`,
                {
                    metadata: {
                        name: ns,
                        labels: {
                            "app.kubernetes.io/part-of": PART_OF,
                            "pod-security.kubernetes.io/enforce": level,
                            "pod-security.kubernetes.io/enforce-version": "latest",
                            "pod-security.kubernetes.io/warn": "restricted",
                            ...(NO_UI_NAMESPACES.includes(key)
                                ? {}
                                : { [GATEWAY_ACCESS_LABEL]: "true" }),
                        },
                    },
                },
                { parent: this },
            );
            names[key] = created.metadata.name;
            const o = { parent: this, dependsOn: [created] };
            new k8s.networking.v1.NetworkPolicy(
                `${name}-${key}-default-deny`,
                {
                    metadata: {
                        name: "default-deny",
                        namespace: ns,
                        labels: { "app.kubernetes.io/part-of": PART_OF },
                    },
                    spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
                },
                o,
            );
            allowPolicy(
                `${name}-${key}-allow-dns`,
                { name: "allow-dns", namespace: ns },
                {
                    podSelector: {},
                    egress: [
                        {
                            to: [fromNamespace("kube-system", { "k8s-app": "kube-dns" })],
                            ports: [
                                { protocol: "UDP", port: 53 },
                                { protocol: "TCP", port: 53 },
                            ],
                        },
                    ],
                },
                o,
            );
        }
        this.names = names;
        this.registerOutputs({ names });
    }
}
