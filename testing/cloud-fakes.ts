/**
 * Computed values the clouds would return (endpoints, IPs, emails), for offline evaluation.
 * They use documentation IP ranges and `offline` markers so a render can never be mistaken for
 * real state.
 */
import type { EvaluateOptions } from "./pulumi-harness";

type Outputs = NonNullable<EvaluateOptions["outputs"]>;
type Invokes = NonNullable<EvaluateOptions["invokes"]>;

/** Data-source lookups the program makes, answered offline. */
export function cloudInvokes(project: string): Invokes {
    return {
        // The project's Storage Transfer service agent (S3Transfer federates an AWS role to it).
        "gcp:storage/getTransferProjectServiceAccount:getTransferProjectServiceAccount": () => ({
            email: `project-000000000000@storage-transfer-service.iam.gserviceaccount.com`,
            subjectId: "100000000000000000000",
            project,
        }),
    };
}

export function cloudFakes(project: string): Outputs {
    return {
        "gcp:container/cluster:Cluster": (name, inputs) => ({
            name: inputs.name ?? name,
            endpoint: "203.0.113.10",
            masterAuth: { clusterCaCertificate: "T0ZGTElORS1DQQ==" },
        }),
        "gcp:compute/globalAddress:GlobalAddress": (name, inputs) => ({
            name: inputs.name ?? name,
            address: "203.0.113.20",
        }),
        "gcp:serviceaccount/account:Account": (_name, inputs) => {
            const email = `${String(inputs.accountId)}@${project}.iam.gserviceaccount.com`;
            return { email, name: `projects/${project}/serviceAccounts/${email}` };
        },
        "gcp:certificatemanager/dnsAuthorization:DnsAuthorization": (_name, inputs) => ({
            dnsResourceRecords: [
                {
                    name: `_acme-challenge.${String(inputs.domain)}.`,
                    type: "CNAME",
                    data: `offline.${String(inputs.domain)}.authorize.certificatemanager.goog.`,
                },
            ],
        }),
        "gcp:certificatemanager/certificateMap:CertificateMap": (name) => ({ name }),
        // Marked secret by the provider; the harness redacts it like any secret.
        "random:index/randomPassword:RandomPassword": (name) => ({
            result: `offline-password-${name}`,
        }),
    };
}
