/** The namespaces component's public surface. */
export * from "./namespaces";
