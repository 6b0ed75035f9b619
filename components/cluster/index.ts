/** The cluster component's public surface. */
export * from "./cluster";
