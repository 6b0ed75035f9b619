/**
 * Airflow's network rules: the Airflow pod (from the load balancer; to Postgres, the statsd
 * exporter, the API server, HTTPS and the metadata server) and every task pod it launches in the
 * jobs namespace (Spark driver and executors among themselves, the API server, HTTPS, the
 * metadata server, MLflow).
 */
import type * as pulumi from "@pulumi/pulumi";
import {
    GKE_METADATA_EGRESS,
    GOOGLE_LB_RANGES,
    INTERNET_HTTPS,
    allowPolicy,
    apiServerEgress,
    fromNamespace,
    tcp,
} from "../shared/network-policy";
import { AIRFLOW_API_PORT } from "./config";
import type { ResolvedAirflowArgs } from "./environment";

/** The network policies of the Airflow pod and of the task pods. */
export function airflowNetworkPolicies(
    name: string,
    args: ResolvedAirflowArgs,
    selector: Record<string, string>,
    parent: pulumi.Resource,
): void {
    const o = { parent };
    const ns = args.namespace;
    const apiServer = apiServerEgress(args.apiServerCidr);
    // The Airflow pod.
    allowPolicy(
        `${name}-netpol`,
        { name: "airflow", namespace: ns },
        {
            podSelector: selector,
            ingress: [
                {
                    from: GOOGLE_LB_RANGES.map((cidr) => ({ ipBlock: { cidr } })),
                    ports: tcp(AIRFLOW_API_PORT),
                },
            ],
            egress: [
                {
                    to: [
                        fromNamespace(args.databaseNamespace, {
                            "app.kubernetes.io/name": "postgres",
                        }),
                    ],
                    ports: tcp(5432),
                },
                {
                    to: [fromNamespace(args.statsd.namespace)],
                    ports: [{ protocol: "UDP", port: args.statsd.port }],
                },
                // Launch and watch task pods, Jobs and SparkApplications.
                apiServer,
                // Git DAG bundle, Google APIs.
                INTERNET_HTTPS,
                GKE_METADATA_EGRESS,
            ],
        },
        o,
    );

    // Every task pod Airflow launches in the jobs namespace.
    allowPolicy(
        `${name}-netpol-tasks`,
        { name: "task-pods", namespace: args.jobsNamespace },
        {
            podSelector: {},
            // A Spark driver and its executors talk to each other on ports Spark picks.
            ingress: [{ from: [fromNamespace(args.jobsNamespace)] }],
            egress: [
                { to: [fromNamespace(args.jobsNamespace)] },
                // Spark drivers create and watch their executors.
                apiServer,
                // GCS, BigQuery, S3 over HTTPS; Workload Identity tokens.
                INTERNET_HTTPS,
                GKE_METADATA_EGRESS,
                { to: [fromNamespace(args.mlflowNamespace)], ports: tcp(5000) },
            ],
        },
        o,
    );
}
