/**
 * What `npm start` prints: one line per stage start and end, with the time since the command
 * started, so a person can follow the run (and a CI log reads the same). Plain text; no cursor
 * tricks, so the output is the same in a terminal, a pipe or a file.
 */
export type Write = (line: string) => void;

export class Progress {
    private readonly started = Date.now();

    constructor(private readonly write: Write = (l) => process.stdout.write(`${l}\n`)) {}

    private stamp(): string {
        const s = Math.floor((Date.now() - this.started) / 1000);
        return `[${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}]`;
    }

    /** A stage starts: `[mm:ss] ▶ name  detail`. */
    start(name: string, detail = ""): number {
        this.write(`${this.stamp()} ▶ ${name}${detail ? `  ${detail}` : ""}`);
        return Date.now();
    }

    /** A stage ends well: `[mm:ss] ✓ name (12 s)  detail`. */
    done(name: string, since: number, detail = ""): void {
        this.doneIn(name, seconds(since), detail);
    }

    /** Like `done`, with the duration given as text (e.g. a task's own duration). */
    doneIn(name: string, took: string, detail = ""): void {
        this.write(`${this.stamp()} ✓ ${name} (${took})${detail ? `  ${detail}` : ""}`);
    }

    /** A stage failed: `[mm:ss] ✗ name (12 s)  detail`. */
    failed(name: string, since: number | undefined, detail = ""): void {
        const took = since === undefined ? "" : ` (${seconds(since)})`;
        this.write(`${this.stamp()} ✗ ${name}${took}${detail ? `  ${detail}` : ""}`);
    }

    /** A line inside a stage, indented under it. */
    info(text: string): void {
        for (const line of text.split("\n")) this.write(`        ${line}`);
    }

    /** A line without time stamp or indent (headings, the final summary). */
    plain(text = ""): void {
        for (const line of text.split("\n")) this.write(line);
    }
}

export function seconds(since: number): string {
    return duration((Date.now() - since) / 1000);
}

export function duration(s: number): string {
    if (s < 59.5) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
    const total = Math.round(s);
    return `${Math.floor(total / 60)} min ${total % 60} s`;
}

export function count(n: number): string {
    return n.toLocaleString("en-US");
}

export function bytes(n: number): string {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
