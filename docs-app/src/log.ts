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

/**
 * Lines written in one event-loop turn go out in one write, on the next turn: under load the
 * per-request log line costs a string append instead of a write system call (synchronous when
 * stdout is a file). `flush()` writes what is pending at once; more than `maxBytes` pending
 * flushes immediately, so the buffer stays small.
 */
export function batchedWriter(
    sink: (chunk: string) => void,
    options: { maxBytes?: number; schedule?: (fn: () => void) => void } = {},
): { write: (line: string) => void; flush: () => void } {
    const maxBytes = options.maxBytes ?? 256 * 1024;
    const schedule = options.schedule ?? ((fn: () => void) => void setImmediate(fn));
    let pending: string[] = [];
    let bytes = 0;
    let scheduled = false;
    const flush = (): void => {
        scheduled = false;
        if (pending.length === 0) return;
        const chunk = pending.join("");
        pending = [];
        bytes = 0;
        sink(chunk);
    };
    return {
        write: (line) => {
            pending.push(line);
            bytes += line.length;
            if (bytes >= maxBytes) {
                flush();
            } else if (!scheduled) {
                scheduled = true;
                schedule(flush);
            }
        },
        flush,
    };
}

let stdoutWriter: ((line: string) => void) | undefined;

/** The process's stdout, batched; whatever is pending is written at exit. */
function stdout(): (line: string) => void {
    if (stdoutWriter === undefined) {
        const writer = batchedWriter((chunk) => process.stdout.write(chunk));
        // On Linux, stdout writes to files and pipes are synchronous: flushing at exit is enough.
        process.once("exit", () => writer.flush());
        stdoutWriter = writer.write;
    }
    return stdoutWriter;
}

export function createLogger(
    options: { level?: LogLevel; name?: string; write?: (line: string) => void } = {},
): Logger {
    const min = RANK[options.level ?? "info"];
    const name = options.name ?? "docs-app";
    const write = options.write ?? stdout();
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
