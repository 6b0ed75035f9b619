/**
 * Lambda entry point (`index.handler` in the bundle). The configuration is read and validated
 * when the module loads, i.e. at cold start: a missing or malformed variable fails the init with
 * a message naming it, before any event is consumed.
 */
import { ConfigError, loadConfig, type TriggerConfig } from "./config";
import { createLogger } from "./log";
import { createTriggerHandler, type TriggerHandler } from "./trigger";

function configure(): TriggerConfig {
    try {
        return loadConfig(process.env);
    } catch (err) {
        if (err instanceof ConfigError) {
            createLogger().error("config_invalid", { problems: err.problems });
        }
        throw err;
    }
}

const config = configure();
createLogger({ level: config.logLevel }).info("cold_start", {
    airflow_url: config.airflowUrl,
    routes: config.routes.map((r) => `${r.prefix}* -> ${r.dagId}`),
    key_suffix: config.keySuffix,
    credential_source: config.credentials.kind,
});

export const handler: TriggerHandler = createTriggerHandler({ config });
