/**
 * The public surface of `components/`: every entity the stack composes, each from its folder's
 * `index.ts`. `stacks/` imports from here; a component's internal files are not part of it.
 */
export * from "./airflow";
export * from "./aws-mail";
export * from "./aws-trigger";
export * from "./cluster";
export * from "./data-lake";
export * from "./docs-site";
export * from "./identities";
export * from "./images";
export * from "./load-balancer";
export * from "./mlflow";
export * from "./model-serving";
export * from "./monitoring";
export * from "./namespaces";
export * from "./network";
export * from "./postgres";
export * from "./s3-transfer";
export * from "./spark-operator";
export { platformLabels } from "./shared/labels";
export {
    authorizedNetworkProblem,
    cidrHostBitsZero,
    cidrsOverlap,
    parseCidr,
    WIDEST_PUBLIC_AUTHORIZED_PREFIX,
    type Cidr,
} from "./shared/cidr";
export {
    batchDagId,
    enabledDatasets,
    fullRefreshDagId,
    landingKeyPrefix,
    type Dataset,
} from "./shared/datasets";
