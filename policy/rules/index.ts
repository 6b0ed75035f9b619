/**
 * Every policy of the pack, in the order the README lists them. Tests and the offline
 * evaluator import this module; only policy/index.ts constructs the PolicyPack (which starts
 * the analyzer server the Pulumi CLI talks to).
 */
import type { PlatformPolicy } from "./common";
import { credentialPolicies } from "./credentials";
import { gkePolicies } from "./gke";
import { lambdaPolicies } from "./lambda";
import { networkPolicies } from "./network";
import { secretPolicies } from "./secrets";
import { storagePolicies } from "./storage";
import { workloadPolicies } from "./workloads";

export type { PlatformPolicy } from "./common";

export const POLICIES: readonly PlatformPolicy[] = [
    ...gkePolicies,
    ...credentialPolicies,
    ...storagePolicies,
    ...workloadPolicies,
    ...secretPolicies,
    ...lambdaPolicies,
    ...networkPolicies,
];

/** The pack's name, as `pulumi preview --policy-pack` reports it. */
export const PACK_NAME = "taxi-platform";
