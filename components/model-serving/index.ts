/** The model-serving component's public surface. */
export * from "./model-serving";
