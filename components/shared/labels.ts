/**
 * Labels every cloud resource and Kubernetes object of the platform carries. GCP labels and AWS
 * tags share these keys so cost reports can be joined across clouds.
 */
export const PART_OF = "taxi-platform";

/** Labels for cloud resources: lower-case keys and values, as GCP requires. */
export function platformLabels(environment: string): Record<string, string> {
    return {
        "app-kubernetes-io-part-of": PART_OF,
        environment,
        "managed-by": "pulumi",
    };
}
