/** The spark-operator component's public surface. */
export * from "./spark-operator";
