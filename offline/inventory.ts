/**
 * Per-stack inventory: resource counts by type plus selected input values, checked in under
 * stacks/inventory/<stack>.yaml and compared by `npm test`, so a pull request's diff shows what
 * a change does to each environment. Regenerate with `npm run inventory:update`.
 *
 * Which values are selected is declared here, per resource type, as dotted input paths.
 */
import * as path from "node:path";
import type { RecordedResource } from "./engine";

export const INVENTORY_DIR = path.resolve(__dirname, "..", "stacks", "inventory");

export function inventoryPath(stack: string): string {
    return path.join(INVENTORY_DIR, `${stack}.yaml`);
}

/** Input paths recorded in the inventory for each resource type. */
export const INVENTORY_FIELDS: Record<string, string[]> = {
    "pulumi:providers:gcp": ["project", "region"],
    "pulumi:providers:aws": ["region"],
    "gcp:container/cluster:Cluster": [
        "releaseChannel.channel",
        "privateClusterConfig.enablePrivateNodes",
        "privateClusterConfig.masterIpv4CidrBlock",
        "workloadIdentityConfig.workloadPool",
        "deletionProtection",
    ],
    "gcp:container/nodePool:NodePool": [
        "nodeConfig.machineType",
        "nodeCount",
        "autoscaling.minNodeCount",
        "autoscaling.maxNodeCount",
        "nodeConfig.spot",
    ],
    "gcp:compute/subnetwork:Subnetwork": ["ipCidrRange"],
    "gcp:storage/bucket:Bucket": ["name", "versioning.enabled", "forceDestroy"],
    "gcp:bigquery/dataset:Dataset": ["datasetId", "location"],
    "gcp:certificatemanager/certificate:Certificate": ["managed.domains"],
};

export interface Inventory {
    stack: string;
    resources: number;
    counts: Record<string, number>;
    values: Record<string, Record<string, unknown>>;
    outputs: string[];
}

/** Read a dotted path (`a.b.0.c`) from an object; undefined when absent. */
export function pick(obj: unknown, dotted: string): unknown {
    let cur: unknown = obj;
    for (const part of dotted.split(".")) {
        if (cur === null || typeof cur !== "object") return undefined;
        cur = (cur as Record<string, unknown>)[part];
    }
    return cur;
}

export function inventoryOf(r: {
    stack: string;
    resources: RecordedResource[];
    outputs: Record<string, unknown>;
}): Inventory {
    const counts: Record<string, number> = {};
    const values: Record<string, Record<string, unknown>> = {};
    const sorted = [...r.resources].sort(
        (a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name),
    );
    for (const res of sorted) {
        counts[res.type] = (counts[res.type] ?? 0) + 1;
        const fields = INVENTORY_FIELDS[res.type];
        if (!fields) continue;
        const picked: Record<string, unknown> = {};
        for (const f of fields) {
            const v = pick(res.inputs, f);
            if (v !== undefined) picked[f] = v;
        }
        values[`${res.type}::${res.name}`] = picked;
    }
    return {
        stack: r.stack,
        resources: r.resources.length,
        counts,
        values,
        outputs: Object.keys(r.outputs).sort(),
    };
}
