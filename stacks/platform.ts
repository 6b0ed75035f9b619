/**
 * Composition of the platform for one stack: creates the cloud providers and wires the typed
 * components together. No config reading here (see config.ts) and no resource logic (see
 * components/). Returns the stack outputs.
 */
import * as aws from "@pulumi/aws";
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import type { PlatformConfig } from "./config";
import { platformLabels } from "../components/shared/labels";

export interface PlatformOutputs {
    environment: string;
    gcpProject: pulumi.Output<string>;
    gcpRegion: pulumi.Output<string>;
    awsRegion: pulumi.Output<string>;
}

export function definePlatform(cfg: PlatformConfig): PlatformOutputs {
    const labels = platformLabels(cfg.environment);
    // Explicit providers: every resource names the account it lands in, never an ambient default.
    const gcpProvider = new gcp.Provider(`${cfg.environment}-gcp`, {
        project: cfg.gcpProject,
        region: cfg.gcpRegion,
        defaultLabels: labels,
        addPulumiAttributionLabel: false,
    });
    const awsProvider = new aws.Provider(`${cfg.environment}-aws`, {
        region: cfg.awsRegion as aws.Region,
        defaultTags: { tags: labels },
    });

    return {
        environment: cfg.environment,
        gcpProject: gcpProvider.project.apply((p) => p ?? cfg.gcpProject),
        gcpRegion: gcpProvider.region.apply((r) => r ?? cfg.gcpRegion),
        awsRegion: awsProvider.region.apply((r) => r ?? cfg.awsRegion),
    };
}
