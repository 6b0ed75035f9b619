/** The Postgres component's public surface: the component, its args and what the scripts read. */
export { PlatformPostgres } from "./postgres";
export {
    POSTGRES_PORT,
    SCRIPTS,
    databasesEnv,
    passwordEnvName,
    resolvePostgresArgs,
    type DatabaseSecret,
    type DatabaseSpec,
    type PlatformPostgresArgs,
} from "./config";
export { reconcileJobName } from "./maintenance";
