/**
 * Structured logging: one JSON object per line on stdout (CloudWatch Logs keeps each line as an
 * event; `jq` or a Logs Insights query filters on fields, no regexes).
 *
 * Every line has `ts`, `level`, `logger` and `event`; extra fields are merged in. Fields whose
 * name looks like a credential (password, token, authorization, cookie, secret value) are replaced by
 * `[redacted]` before writing, as a second line of defence: the code never passes secrets here.
 */
import * as fs from "node:fs";

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

/** `fs.writeSync`'s shape, so tests can make it fail. */
export type WriteSync = (fd: number, text: string) => number;
/** Where the rest goes once direct writes failed; `process.stdout.write`'s shape. */
export type Fallback = (chunk: string | Uint8Array) => void;

/**
 * The default sink: each line written synchronously to file descriptor 1 with `fs.writeSync`,
 * which costs nothing at cold start. `process.stdout` is not touched until it is needed: creating
 * that stream is several milliseconds of a cold start (the same order as all of this function's
 * own code). Lines keep their order and are on the descriptor when the call returns, so none is
 * lost if the process ends.
 *
 * Fallback: if a write throws (`EAGAIN` when fd 1 is a non-blocking pipe that is full, `EBADF`
 * when it is closed...), or writes only part of a line, that line's remainder and every later
 * line go through `fallback` (by default `process.stdout.write`, which queues and never throws
 * `EAGAIN`), so the order is kept and nothing is dropped.
 */
export function fdSink(
    fd = 1,
    writeSync: WriteSync = fs.writeSync,
    fallback: Fallback = (chunk) => void process.stdout.write(chunk),
): LogSink {
    let direct = true;
    return (line) => {
        const text = `${line}\n`;
        if (direct) {
            try {
                const written = writeSync(fd, text);
                if (written === Buffer.byteLength(text)) return;
                // A short write (pipe nearly full): the rest goes to the fallback, and so does
                // every later line, behind it.
                direct = false;
                fallback(Buffer.from(text).subarray(written));
                return;
            } catch {
                direct = false;
            }
        }
        fallback(text);
    };
}

let stdoutSink: LogSink | undefined;

export interface LoggerOptions {
    /** Logger name in the `logger` field (default `airflow-trigger`). */
    name?: string;
    /** Lowest level written (default `info`). */
    level?: Level;
    /** Default: stdout, through {@link fdSink} (one sink per process). */
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
    const sink: LogSink = options.sink ?? (stdoutSink ??= fdSink());
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
