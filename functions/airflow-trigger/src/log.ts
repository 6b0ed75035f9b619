/**
 * Structured logging: one JSON object per line on stdout (CloudWatch Logs keeps each line as an
 * event; `jq` or a Logs Insights query filters on fields, no regexes).
 *
 * Every line has `ts`, `level`, `logger` and `event`; extra fields are merged in. Fields whose
 * name looks like a credential (password, token, authorization, cookie, secret value) are replaced by
 * `[redacted]` before writing, as a second line of defence: the code never passes secrets here.
 */
export type Level = "debug" | "info" | "warn" | "error";
export type Fields = Record<string, unknown>;
/** Where lines go; tests pass an array's push. */
export type LogSink = (line: string) => void;

const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
export const LEVELS = Object.keys(ORDER) as Level[];
const SENSITIVE = /passw(or)?d|token|authorization|cookie|secret_?(value|string)/i;
export const REDACTED = "[redacted]";
/** Keys every line has; fields cannot overwrite them. */
const RESERVED = ["ts", "level", "logger", "event"];

export interface Logger {
    debug(event: string, fields?: Fields): void;
    info(event: string, fields?: Fields): void;
    warn(event: string, fields?: Fields): void;
    error(event: string, fields?: Fields): void;
    /** A logger that adds `fields` to every line (e.g. the Lambda request id). */
    child(fields: Fields): Logger;
}

export interface LoggerOptions {
    /** Logger name in the `logger` field (default `airflow-trigger`). */
    name?: string;
    /** Lowest level written (default `info`). */
    level?: Level;
    /** Default: write to stdout. */
    sink?: LogSink;
    /** Fields added to every line. */
    base?: Fields;
}

function redact(fields: Fields): Fields {
    const out: Fields = {};
    for (const [k, v] of Object.entries(fields)) out[k] = SENSITIVE.test(k) ? REDACTED : v;
    return out;
}

function serialise(value: unknown): unknown {
    if (value instanceof Error) return { name: value.name, message: value.message };
    return value;
}

export function createLogger(options: LoggerOptions = {}): Logger {
    const name = options.name ?? "airflow-trigger";
    const min = ORDER[options.level ?? "info"];
    const sink: LogSink = options.sink ?? ((line) => process.stdout.write(`${line}\n`));
    const base = options.base ?? {};
    const write = (level: Level, event: string, fields: Fields = {}) => {
        if (ORDER[level] < min) return;
        const extra = { ...redact(base), ...redact(fields) };
        for (const k of RESERVED) delete extra[k];
        const payload = { ts: new Date().toISOString(), level, logger: name, event, ...extra };
        sink(JSON.stringify(payload, (_k, v: unknown) => serialise(v)));
    };
    return {
        debug: (e, f) => write("debug", e, f),
        info: (e, f) => write("info", e, f),
        warn: (e, f) => write("warn", e, f),
        error: (e, f) => write("error", e, f),
        child: (fields) => createLogger({ ...options, base: { ...base, ...fields } }),
    };
}
