/** The data-lake component's public surface. */
export * from "./data-lake";
