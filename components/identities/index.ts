/** The identities component's public surface. */
export * from "./identities";
