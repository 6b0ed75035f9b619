export * from "./aws-mail";
