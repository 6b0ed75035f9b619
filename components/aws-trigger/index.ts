/** The aws-trigger component's public surface. */
export * from "./aws-trigger";
