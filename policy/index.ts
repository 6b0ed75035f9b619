/**
 * The policy pack the Pulumi CLI runs: `pulumi preview --policy-pack policy` (and `pulumi up`).
 * Constructing the PolicyPack starts the analyzer's gRPC server, so nothing else imports this
 * file: tests and the offline evaluator use ./rules directly.
 */
import { PolicyPack } from "@pulumi/policy";
import { PACK_NAME, POLICIES } from "./rules";

new PolicyPack(PACK_NAME, {
    description:
        "Security and reliability rules of the taxi data platform (GKE, Cloud Storage, the AWS " +
        "trigger, Kubernetes workloads). See policy/README.md.",
    enforcementLevel: "mandatory",
    policies: [...POLICIES],
});
