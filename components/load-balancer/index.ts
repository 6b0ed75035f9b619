/** The load-balancer component's public surface. */
export * from "./load-balancer";
