/** The s3-transfer component's public surface. */
export * from "./s3-transfer";
