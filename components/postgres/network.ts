/**
 * PlatformPostgres's network rules: who may reach the server (the apps' namespaces, the exporter,
 * the maintenance Jobs), and where the maintenance Jobs may go (the server; with backups, HTTPS
 * and the metadata server for the upload).
 */
import type * as pulumi from "@pulumi/pulumi";
import {
    GKE_METADATA_EGRESS,
    INTERNET_HTTPS,
    allowPolicy,
    fromNamespace,
    tcp,
} from "../shared/network-policy";
import { POSTGRES_PORT } from "./config";
import type { ResolvedPostgresArgs } from "./secrets";

/** The server's and the maintenance Jobs' network policies. */
export function postgresNetworkPolicies(
    name: string,
    args: ResolvedPostgresArgs,
    selector: Record<string, string>,
    maint: { selector: Record<string, string> },
    parent: pulumi.Resource,
): void {
    const o = { parent };
    const ns = args.namespace;
    // Who may reach the server: the apps' namespaces, the exporter, and the maintenance Jobs.
    const clientNamespaces = [
        ...new Set([...args.databases.map((d) => d.namespace), args.monitoringNamespace]),
    ];
    allowPolicy(
        `${name}-netpol-server`,
        { name: "postgres-server", namespace: ns },
        {
            podSelector: selector,
            ingress: [
                {
                    from: [
                        ...clientNamespaces.map((n) => fromNamespace(n)),
                        { podSelector: { matchLabels: maint.selector } },
                    ],
                    ports: tcp(POSTGRES_PORT),
                },
            ],
            egress: [],
        },
        o,
    );
    allowPolicy(
        `${name}-netpol-maintenance`,
        { name: "postgres-maintenance", namespace: ns },
        {
            podSelector: maint.selector,
            egress: [
                { to: [{ podSelector: { matchLabels: selector } }], ports: tcp(POSTGRES_PORT) },
                ...(args.backup ? [INTERNET_HTTPS, GKE_METADATA_EGRESS] : []),
            ],
        },
        o,
    );
}
