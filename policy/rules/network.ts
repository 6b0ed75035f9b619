/**
 * One external load balancer per stack: every user-facing UI shares one Gateway (one forwarding
 * rule, one global IP). Each extra external load balancer costs money and is one more public
 * entry point to secure.
 */
import * as aws from "@pulumi/aws";
import * as gcp from "@pulumi/gcp";
import * as k8s from "@pulumi/kubernetes";
import type { PolicyResource } from "@pulumi/policy";
import { type PlatformPolicy, type ResourceClass, label, obj, str } from "./common";

/** Service annotations that make a `type: LoadBalancer` Service internal. */
const INTERNAL_LB_ANNOTATIONS: Record<string, string[]> = {
    "networking.gke.io/load-balancer-type": ["internal"],
    "cloud.google.com/load-balancer-type": ["internal"],
    "service.beta.kubernetes.io/aws-load-balancer-internal": ["true", "0.0.0.0/0"],
    "service.beta.kubernetes.io/aws-load-balancer-scheme": ["internal"],
};

function annotations(r: PolicyResource): Record<string, unknown> {
    return obj(obj(r.props.metadata)?.annotations) ?? {};
}

function isInternalService(r: PolicyResource): boolean {
    const a = annotations(r);
    return Object.entries(INTERNAL_LB_ANNOTATIONS).some(([k, values]) =>
        values.includes((str(a[k]) ?? "").toLowerCase()),
    );
}

const EXTERNAL_SCHEMES = ["EXTERNAL", "EXTERNAL_MANAGED"];
const AWS_LBS: ResourceClass[] = [aws.lb.LoadBalancer, aws.alb.LoadBalancer, aws.elb.LoadBalancer];

/** Why `r` is an external load balancer front end, or undefined when it is not one. */
export function externalFrontEnd(r: PolicyResource): string | undefined {
    const spec = obj(r.props.spec);
    if (r.isType(k8s.core.v1.Service)) {
        return spec?.type === "LoadBalancer" && !isInternalService(r)
            ? "a Service of type LoadBalancer"
            : undefined;
    }
    if (r.isType(k8s.networking.v1.Ingress)) {
        const cls =
            str(spec?.ingressClassName) ?? str(annotations(r)["kubernetes.io/ingress.class"]);
        return cls === "gce-internal"
            ? undefined
            : "an Ingress (an external HTTP(S) load balancer on GKE)";
    }
    if (/^kubernetes:gateway\.networking\.k8s\.io\/[^:]+:Gateway$/.test(r.type)) {
        const cls = str(spec?.gatewayClassName) ?? "";
        return /internal|rilb/.test(cls) ? undefined : `a Gateway of class "${cls}"`;
    }
    if (r.isType(gcp.compute.GlobalForwardingRule) || r.isType(gcp.compute.ForwardingRule)) {
        const scheme = str(r.props.loadBalancingScheme) ?? "EXTERNAL";
        return EXTERNAL_SCHEMES.includes(scheme) ? `a forwarding rule (${scheme})` : undefined;
    }
    if (AWS_LBS.some((cls) => r.isType(cls))) {
        return r.props.internal === true ? undefined : "an internet-facing AWS load balancer";
    }
    return undefined;
}

export const oneExternalLoadBalancer: PlatformPolicy = {
    name: "one-external-load-balancer",
    description:
        "A stack has at most one external load balancer (the shared Gateway) and at most one " +
        "external global IP address per IP version.",
    enforcementLevel: "mandatory",
    remediationSteps:
        "Route the new UI through the shared Gateway (components/load-balancer): add an " +
        "HTTPRoute with its host name instead of a LoadBalancer Service, Ingress or second Gateway.",
    validateStack: (args, report) => {
        const frontEnds = args.resources
            .map((r) => ({ r, why: externalFrontEnd(r) }))
            .filter((x): x is { r: PolicyResource; why: string } => x.why !== undefined);
        if (frontEnds.length > 1) {
            const list = frontEnds.map((x) => `${label(x.r)} (${x.why})`).join("; ");
            for (const { r } of frontEnds) {
                report(
                    `${label(r)} is one of ${frontEnds.length} external load balancers in this ` +
                        `stack (${list}): keep one, the shared Gateway, and route through it.`,
                    r.urn,
                );
            }
        }
        const addresses = args.resources.filter(
            (r) =>
                r.isType(gcp.compute.GlobalAddress) &&
                (str(r.props.addressType) ?? "EXTERNAL") === "EXTERNAL" &&
                str(r.props.purpose) === undefined,
        );
        for (const version of ["IPV4", "IPV6"]) {
            const same = addresses.filter((r) => (str(r.props.ipVersion) ?? "IPV4") === version);
            if (same.length > 1) {
                for (const r of same) {
                    report(
                        `${label(r)} is one of ${same.length} external global ${version} addresses ` +
                            `(${same.map((x) => x.name).join(", ")}): the shared load balancer needs one.`,
                        r.urn,
                    );
                }
            }
        }
    },
};

export const networkPolicies: PlatformPolicy[] = [oneExternalLoadBalancer];
