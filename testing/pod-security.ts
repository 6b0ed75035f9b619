/**
 * The workload rules (restricted Pod Security Standard, requests and limits, probes) live in the
 * policy pack, which enforces them under the Pulumi CLI; the stack tests use the same checker.
 */
export {
    DOCUMENTED_EXCEPTIONS,
    podFindings,
    podSpecOf,
    podViolations,
    type PodFinding,
} from "../policy/pod-security";
