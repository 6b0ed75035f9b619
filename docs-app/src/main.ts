/**
 * Entry point: read the config, open the storage backend, serve, and shut down gracefully on
 * SIGTERM (Kubernetes) or SIGINT (Ctrl-C, without the drain delay).
 *
 *   DOCS_URI=file:///tmp/docs tsx docs-app/src/main.ts
 */
import * as fs from "node:fs";

import type { Config, DocsLocation } from "./config";
import { ConfigError, loadConfig } from "./config";
import type { Logger } from "./log";
import { createLogger, errorFields } from "./log";
import { Metrics } from "./metrics";
import { DocsServer } from "./server";
import type { Storage } from "./storage";
import { FileStorage } from "./storage-file";

/**
 * The backend for `DOCS_URI`. The GCS client (`@google-cloud/storage` and its Google auth and
 * HTTP stack) is loaded only for a `gs://` root: about 8 MB of resident memory a `file://` run
 * does not need.
 */
export function openStorage(location: DocsLocation, gcsApiEndpoint?: string): Promise<Storage> {
    if (location.kind === "file") return Promise.resolve(new FileStorage(location.root));
    // A CommonJS require, not import(): esbuild inlines it into the bundle as a lazily
    // initialised module, and it resolves the .ts source under tsx's CommonJS hook (the tests).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { openGcsStorage } = require("./storage-gcs") as typeof import("./storage-gcs");
    return Promise.resolve(openGcsStorage(location.bucket, location.prefix, gcsApiEndpoint));
}

export async function start(config: Config, logger: Logger): Promise<DocsServer> {
    if (config.docs.kind === "file" && !fs.existsSync(config.docs.root)) {
        logger.warn("docs_root_missing", {
            root: config.docs.root,
            hint: "nothing is published there yet; the index stays empty until a site appears",
        });
    }
    const server = new DocsServer({
        storage: await openStorage(config.docs, config.gcsApiEndpoint),
        logger,
        metrics: new Metrics({ defaultMetrics: true }),
        catalogTtlSeconds: config.catalogTtlSeconds,
        cacheBytes: config.cacheMb * 1024 * 1024,
        statCacheMs: config.statCacheMs,
    });
    const address = await server.listen(config.port, config.host);
    logger.info("listening", {
        host: address.address,
        port: address.port,
        docs_uri: config.docs.uri,
        backend: config.docs.kind,
    });
    return server;
}

async function main(): Promise<void> {
    let config: Config;
    try {
        config = loadConfig();
    } catch (err) {
        if (err instanceof ConfigError) {
            createLogger().error("config_invalid", { error: err.message });
            process.exit(2);
        }
        throw err;
    }
    const logger = createLogger({ level: config.logLevel });
    process.on("unhandledRejection", (err) => {
        logger.error("unhandled_rejection", errorFields(err));
    });
    let server: DocsServer;
    try {
        server = await start(config, logger);
    } catch (err) {
        logger.error("start_failed", { ...errorFields(err), port: config.port, host: config.host });
        process.exit(1);
    }
    const stop = (signal: NodeJS.Signals, delayMs: number): void => {
        logger.info("signal", { signal });
        server
            .shutdown({ delayMs, timeoutMs: config.shutdownTimeoutSeconds * 1000 })
            .then(() => process.exit(0))
            .catch((err: unknown) => {
                logger.error("shutdown_failed", errorFields(err));
                process.exit(1);
            });
    };
    process.once("SIGTERM", (s) => stop(s, config.shutdownDelaySeconds * 1000));
    process.once("SIGINT", (s) => stop(s, 0));
}

if (require.main === module) void main();
