/**
 * Long-lived credentials: no Google service-account keys or HMAC keys, no static AWS access
 * keys, and no provider configured with either. CI authenticates by Workload Identity
 * Federation (GCP) and an assumed role (AWS); workloads by Workload Identity.
 */
import * as aws from "@pulumi/aws";
import * as gcp from "@pulumi/gcp";
import type { PolicyProviderResource, ReportViolation } from "@pulumi/policy";
import { type PlatformPolicy, label, str } from "./common";

const GCP_PROVIDER = "pulumi:providers:gcp";
const AWS_PROVIDER = "pulumi:providers:aws";

/** Why a GCP provider's `credentials` is a key, or undefined when it is not one. */
function gcpKeyIn(props: Record<string, unknown>): string | undefined {
    const credentials = str(props.credentials);
    if (!credentials) return undefined;
    // A Workload Identity Federation config holds no key: it says how to exchange a token.
    if (/"type"\s*:\s*"external_account"/.test(credentials)) return undefined;
    return credentials.trimStart().startsWith("{")
        ? "credentials holds a service-account JSON key"
        : "credentials names a key file";
}

/** The static AWS key settings a provider's props carry. */
function awsKeysIn(props: Record<string, unknown>): string[] {
    return ["accessKey", "secretKey", "token"].filter((k) => str(props[k]) !== undefined);
}

function checkProvider(
    provider: PolicyProviderResource | undefined,
    who: string,
    report: ReportViolation,
    kind: "gcp" | "aws",
): void {
    if (!provider) return;
    if (kind === "gcp" && provider.type === GCP_PROVIDER) {
        const why = gcpKeyIn(provider.props);
        if (why) {
            report(
                `${who} uses provider "${provider.name}" whose ${why}: remove gcp:credentials and ` +
                    "authenticate with Workload Identity Federation (CI) or Application Default Credentials.",
            );
        }
    }
    if (kind === "aws" && provider.type === AWS_PROVIDER) {
        const keys = awsKeysIn(provider.props);
        if (keys.length > 0) {
            report(
                `${who} uses provider "${provider.name}" configured with static keys ` +
                    `(${keys.join(", ")}): remove them and assume a role (assumeRoles / OIDC in CI).`,
            );
        }
    }
}

export const noServiceAccountKeys: PlatformPolicy = {
    name: "no-service-account-keys",
    description:
        "No Google service-account keys or HMAC keys are created, and no GCP provider is " +
        "configured with a key.",
    enforcementLevel: "mandatory",
    remediationSteps:
        "Delete the gcp.serviceaccount.Key / gcp.storage.HmacKey. Workloads get Google " +
        "credentials by Workload Identity (components/identities), CI by Workload Identity " +
        "Federation; S3→GCS copies use Storage Transfer role federation.",
    validateResource: (args, report) => {
        if (args.isType(gcp.serviceaccount.Key)) {
            report(
                `${label(args)} creates a service-account key (a long-lived credential): remove it ` +
                    "and bind the workload's Kubernetes service account by Workload Identity instead.",
            );
        } else if (args.isType(gcp.storage.HmacKey)) {
            report(
                `${label(args)} creates an HMAC key for Cloud Storage (a long-lived credential): ` +
                    "remove it and use the service account's own identity (Workload Identity).",
            );
        } else if (args.type === GCP_PROVIDER) {
            const why = gcpKeyIn(args.props);
            if (why) {
                report(
                    `${label(args)}: ${why}. Remove credentials and authenticate with Workload ` +
                        "Identity Federation (CI) or Application Default Credentials.",
                );
            }
        }
        checkProvider(args.provider, label(args), report, "gcp");
    },
};

export const noStaticAwsKeys: PlatformPolicy = {
    name: "no-static-aws-keys",
    description:
        "No IAM access keys are created and no AWS provider is configured with static keys.",
    enforcementLevel: "mandatory",
    remediationSteps:
        "Delete the aws.iam.AccessKey and unset aws:accessKey / aws:secretKey / aws:token. Pulumi " +
        "runs under an assumed role (GitHub OIDC in the workflows); the Lambda uses its execution role.",
    validateResource: (args, report) => {
        if (args.isType(aws.iam.AccessKey)) {
            report(
                `${label(args)} creates a static IAM access key: remove it and grant the caller an ` +
                    "IAM role to assume instead.",
            );
        } else if (args.type === AWS_PROVIDER) {
            const keys = awsKeysIn(args.props);
            if (keys.length > 0) {
                report(
                    `${label(args)} is configured with static keys (${keys.join(", ")}): remove ` +
                        "them and assume a role (assumeRoles, or OIDC credentials in the environment).",
                );
            }
        }
        checkProvider(args.provider, label(args), report, "aws");
    },
};

export const credentialPolicies: PlatformPolicy[] = [noServiceAccountKeys, noStaticAwsKeys];
