/** The docs-site component's public surface. */
export * from "./docs-site";
