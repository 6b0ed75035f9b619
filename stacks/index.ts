/**
 * Pulumi program entry point (Pulumi.yaml `main`). Reads and validates the stack's config once,
 * composes the platform, and exports its outputs. Everything else lives in platform.ts and
 * components/.
 */
import { loadConfig } from "./config";
import { definePlatform } from "./platform";

export = definePlatform(loadConfig());
