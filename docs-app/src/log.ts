/**
 * Structured logging: one JSON object per line. Every line has `ts`, `level`, `severity` (the
 * field Cloud Logging reads), `logger` and `event`; extra fields are merged in, so lines can be
 * filtered with `jq` or a log query without regexes.
 */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SEVERITY: Record<LogLevel, string> = {
    debug: "DEBUG",
    info: "INFO",
    warn: "WARNING",
    error: "ERROR",
};

export type LogFields = Record<string, unknown>;

export interface Logger {
    enabled(level: LogLevel): boolean;
    debug(event: string, fields?: LogFields): void;
    info(event: string, fields?: LogFields): void;
    warn(event: string, fields?: LogFields): void;
    error(event: string, fields?: LogFields): void;
}

/** The parts of an error worth logging (never sent to clients). */
export function errorFields(err: unknown): LogFields {
    if (err instanceof Error) {
        const code = (err as { code?: unknown }).code;
        return {
            error: err.message,
            error_type: err.name,
            ...(code !== undefined ? { error_code: code } : {}),
            ...(err.cause !== undefined ? { cause: errorFields(err.cause) } : {}),
        };
    }
    return { error: String(err) };
}

export function createLogger(
    options: { level?: LogLevel; name?: string; write?: (line: string) => void } = {},
): Logger {
    const min = RANK[options.level ?? "info"];
    const name = options.name ?? "docs-app";
    const write = options.write ?? ((line: string) => process.stdout.write(line));
    const log = (level: LogLevel, event: string, fields?: LogFields): void => {
        if (RANK[level] < min) return;
        const record = {
            ts: new Date().toISOString(),
            level,
            severity: SEVERITY[level],
            logger: name,
            event,
            ...fields,
        };
        let line: string;
        try {
            line = JSON.stringify(record);
        } catch {
            line = JSON.stringify({
                ts: record.ts,
                level,
                severity: record.severity,
                logger: name,
                event,
                fields: "[unserialisable]",
            });
        }
        write(line + "\n");
    };
    return {
        enabled: (level) => RANK[level] >= min,
        debug: (event, fields) => log("debug", event, fields),
        info: (event, fields) => log("info", event, fields),
        warn: (event, fields) => log("warn", event, fields),
        error: (event, fields) => log("error", event, fields),
    };
}
