/** The mlflow component's public surface. */
export * from "./mlflow";
