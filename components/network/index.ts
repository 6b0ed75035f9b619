/** The network component's public surface. */
export * from "./network";
