/**
 * The PostgreSQL server: a headless Service and a one-replica StatefulSet with its data volume
 * (retained when the set is deleted or scaled), restricted security context and pg_isready probes.
 */
import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { container, execProbe, resources, restrictedPodSecurity } from "../shared/workload";
import { POSTGRES_PORT, POSTGRES_UID } from "./config";
import type { ResolvedPostgresArgs } from "./secrets";

/** The Service and the StatefulSet (after the superuser Secret); returns the StatefulSet. */
export function postgresServer(
    name: string,
    args: ResolvedPostgresArgs,
    inputs: {
        labels: Record<string, string>;
        selector: Record<string, string>;
        superSecret: pulumi.Resource;
    },
    parent: pulumi.Resource,
): k8s.apps.v1.StatefulSet {
    const o = { parent };
    const ns = args.namespace;
    const { labels, selector, superSecret } = inputs;
    const service = new k8s.core.v1.Service(
        `${name}-service`,
        {
            metadata: { name: "postgres", namespace: ns, labels },
            spec: {
                clusterIP: "None",
                selector,
                ports: [{ name: "postgres", port: POSTGRES_PORT, targetPort: "postgres" }],
            },
        },
        o,
    );
    const isReady = ["pg_isready", "--host=127.0.0.1", "--username=postgres", "--quiet"];
    return new k8s.apps.v1.StatefulSet(
        `${name}-server`,
        {
            metadata: { name: "postgres", namespace: ns, labels },
            spec: {
                serviceName: "postgres",
                replicas: 1,
                selector: { matchLabels: selector },
                template: {
                    metadata: { labels },
                    spec: {
                        automountServiceAccountToken: false,
                        securityContext: restrictedPodSecurity(POSTGRES_UID),
                        terminationGracePeriodSeconds: 60,
                        containers: [
                            container({
                                name: "postgres",
                                image: args.image,
                                args: [
                                    "-c",
                                    "max_connections=200",
                                    "-c",
                                    "password_encryption=scram-sha-256",
                                    "-c",
                                    "log_connections=off",
                                ],
                                ports: [{ name: "postgres", containerPort: POSTGRES_PORT }],
                                env: [
                                    {
                                        name: "PGDATA",
                                        value: "/var/lib/postgresql/data/pgdata",
                                    },
                                    {
                                        name: "POSTGRES_PASSWORD",
                                        valueFrom: {
                                            secretKeyRef: {
                                                name: "postgres-superuser",
                                                key: "password",
                                            },
                                        },
                                    },
                                ],
                                resources: resources("250m", "1Gi", { cpu: "1" }),
                                startupProbe: execProbe(isReady, { failureThreshold: 30 }),
                                readinessProbe: execProbe(isReady),
                                livenessProbe: execProbe(isReady, {
                                    periodSeconds: 30,
                                    failureThreshold: 4,
                                }),
                                volumeMounts: [
                                    { name: "data", mountPath: "/var/lib/postgresql/data" },
                                    { name: "run", mountPath: "/var/run/postgresql" },
                                    { name: "tmp", mountPath: "/tmp" },
                                ],
                            }),
                        ],
                        volumes: [
                            { name: "run", emptyDir: {} },
                            { name: "tmp", emptyDir: {} },
                        ],
                    },
                },
                volumeClaimTemplates: [
                    {
                        metadata: { name: "data", labels },
                        spec: {
                            accessModes: ["ReadWriteOnce"],
                            storageClassName: args.storageClass,
                            resources: { requests: { storage: `${args.diskGi}Gi` } },
                        },
                    },
                ],
                persistentVolumeClaimRetentionPolicy: {
                    whenDeleted: "Retain",
                    whenScaled: "Retain",
                },
            },
        },
        { ...o, dependsOn: [superSecret, service] },
    );
}
