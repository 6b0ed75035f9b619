/**
 * The run report's mail path on this machine: a loopback SMTP sink (`smtp_sink.py`, aiosmtpd
 * from dags/.venv) saving every message as an `.eml` in `<state>/mail/`, the Airflow settings
 * that make the report notifier (dags/common/notify.py) mail through it, and readers of the saved
 * reports (which `.eml` belongs to a run; the figures of its text part).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { portInUse, waitUntil, type ProcessRegistry, type Service } from "./processes";
import { venvBin } from "./python";

export const MAIL_CONN_ID = "smtp_reports";
export const REPORT_RECIPIENT = "data-team@taxi-platform.local";
export const REPORT_SENDER = "reports@taxi-platform.local";

function waitForPort(service: Service, port: number, timeoutMs: number): Promise<void> {
    return waitUntil(service, `listening on 127.0.0.1:${port}`, () => portInUse(port), {
        timeoutMs,
        pollMs: 300,
    });
}

/** Start the SMTP sink; resolves once it listens. */
export async function startSmtpSink(
    registry: ProcessRegistry,
    o: { dir: string; port: number; logFile: string },
): Promise<{ service: Service; ready: Promise<void> }> {
    if (await portInUse(o.port)) {
        throw new Error(
            `127.0.0.1:${o.port} (SMTP sink) is already in use: another \`npm start\`? Stop it, or pass --port-base with a free range`,
        );
    }
    fs.mkdirSync(o.dir, { recursive: true });
    const service = registry.start(
        "SMTP sink",
        venvBin("dags", "python"),
        [path.join(__dirname, "smtp_sink.py"), "--port", String(o.port), "--dir", o.dir],
        o.logFile,
        { cwd: o.dir, env: { ...process.env, PYTHONUNBUFFERED: "1" } },
    );
    const ready = waitForPort(service, o.port, 60_000);
    ready.catch(() => undefined);
    return { service, ready };
}

/** The Airflow environment of the report notifier: its SMTP connection, recipients, links. */
export function reportEnv(o: {
    smtpPort: number;
    airflowUrl: string;
    docsUrl: string;
}): Record<string, string> {
    return {
        [`AIRFLOW_CONN_${MAIL_CONN_ID.toUpperCase()}`]: JSON.stringify({
            conn_type: "smtp",
            host: "127.0.0.1",
            port: o.smtpPort,
            extra: { disable_ssl: true, disable_tls: true, retry_limit: 2, timeout: 30 },
        }),
        REPORT_SMTP_CONN_ID: MAIL_CONN_ID,
        REPORT_TRANSPORT: "smtp",
        REPORT_RECIPIENTS: REPORT_RECIPIENT,
        REPORT_SENDER: REPORT_SENDER,
        REPORT_AIRFLOW_URL: o.airflowUrl,
        REPORT_DOCS_URL: o.docsUrl,
    };
}

/** The header block of an `.eml` (unfolded), keys lower-cased. */
export function emlHeaders(file: string): Record<string, string> {
    const text = fs.readFileSync(file, "utf8");
    const head = text.split(/\r?\n\r?\n/, 1)[0] ?? "";
    const out: Record<string, string> = {};
    for (const line of head.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
        const i = line.indexOf(":");
        if (i > 0) out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    return out;
}

/** How often {@link reportFor} looks for the report: `npm start` waits for it after each run. */
export const REPORT_POLL_MS = 250;

/** The saved report of `runId`, once the sink has it (the dag-processor sends it after the run). */
export async function reportFor(
    dir: string,
    runId: string,
    timeoutMs: number,
): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    const other = new Set<string>(); // reports of other runs: not read again
    for (;;) {
        const files = fs.existsSync(dir)
            ? fs
                  .readdirSync(dir)
                  .filter((f) => f.endsWith(".eml") && !other.has(f))
                  .sort()
                  .reverse()
            : [];
        for (const f of files) {
            const file = path.join(dir, f);
            if (emlHeaders(file)["x-taxi-run-id"] === runId) return file;
            other.add(f);
        }
        if (Date.now() >= deadline) return undefined;
        await new Promise((r) => setTimeout(r, REPORT_POLL_MS));
    }
}

/** The text part of an `.eml` written by the notifier (quoted-printable decoded). */
export function emlText(file: string): string {
    const raw = fs.readFileSync(file, "utf8").replace(/\r\n/g, "\n");
    const m = /Content-Type: text\/plain[^\n]*\n(?:[^\n]+\n)*\n([\s\S]*?)\n--/i.exec(raw);
    if (!m) throw new Error(`${file}: no text/plain part`);
    return m[1]!
        .replace(/=\n/g, "")
        .replace(/((?:=[0-9A-F]{2})+)/g, (q) =>
            Buffer.from(q.replace(/=/g, ""), "hex").toString("utf8"),
        );
}

/** The row figures of a report's text part (`read`, `loaded`, `quarantined`, by reason). */
export function reportFigures(text: string): {
    read?: number;
    loaded?: number;
    quarantined?: number;
    byReason: Record<string, number>;
} {
    const num = (label: string) => {
        const m = new RegExp(`^  ${label}\\s+([0-9,]+)$`, "m").exec(text);
        return m ? Number(m[1]!.replace(/,/g, "")) : undefined;
    };
    const byReason: Record<string, number> = {};
    const rows = text.split("\nRows\n")[1]?.split("\n\n")[0] ?? "";
    for (const m of rows.matchAll(/^ {4}([a-z0-9_]+): ([0-9,]+)$/gm)) {
        byReason[m[1]!] = Number(m[2]!.replace(/,/g, ""));
    }
    return { read: num("read"), loaded: num("loaded"), quarantined: num("quarantined"), byReason };
}

/** `3 mails in <dir>; last: <file> (<subject>)` for the run summary. */
export function mailSummary(dir: string, show: (p: string) => string = (p) => p): string {
    const files = fs.existsSync(dir)
        ? fs
              .readdirSync(dir)
              .filter((f) => f.endsWith(".eml"))
              .sort()
        : [];
    if (files.length === 0) return `no mail in ${show(dir)}`;
    const last = path.join(dir, files.at(-1)!);
    const subject = emlHeaders(last).subject ?? "";
    return `${files.length} mail(s) in ${show(dir)}; last: ${show(last)} (${subject})`;
}
