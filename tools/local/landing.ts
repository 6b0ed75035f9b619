/**
 * The local landing folder, the stand-in for the S3 landing bucket: what counts as a new object,
 * and the messages the watcher process (`watcher.ts`) sends back to `npm start`.
 *
 * A file is an object once it is complete: names starting with `.` are in-flight copies (the
 * dropper writes `.<name>.tmp` and renames), and a file must look the same (size and mtime) on
 * two consecutive scans before it is delivered. Writing the same key again (a new mtime) is a
 * new object creation, as a PUT to S3 is; identical content keeps its ETag (the MD5), so the
 * trigger derives the same DAG run id.
 */
import * as fs from "node:fs";
import * as path from "node:path";

export interface FileSig {
    size: number;
    mtimeMs: number;
}

/** Every complete-looking file under `root`, by key (`/`-separated relative path). */
export function scanLanding(root: string): Map<string, FileSig> {
    const out = new Map<string, FileSig>();
    const walk = (dir: string, prefix: string) => {
        let entries: fs.Dirent[];
        try {
            entries = fs.readdirSync(dir, { withFileTypes: true });
        } catch {
            return;
        }
        for (const e of entries) {
            if (e.name.startsWith(".")) continue;
            const full = path.join(dir, e.name);
            const key = prefix + e.name;
            if (e.isDirectory()) walk(full, `${key}/`);
            else if (e.isFile()) {
                try {
                    const st = fs.statSync(full);
                    out.set(key, { size: st.size, mtimeMs: st.mtimeMs });
                } catch {
                    // removed between readdir and stat
                }
            }
        }
    };
    walk(root, "");
    return out;
}

/**
 * How often the landing watcher scans. A file is delivered once it is unchanged between two
 * scans, so its S3-shaped event comes one to two intervals after it lands: at 1 s that was
 * 1.4 s of each month's hand-over from its download to its batch run. A file copied in by hand
 * over more than this is seen changing (size, mtime) and is delivered once complete.
 */
export const WATCH_INTERVAL_MS = 500;

const same = (a: FileSig | undefined, b: FileSig | undefined) =>
    a !== undefined && b !== undefined && a.size === b.size && a.mtimeMs === b.mtimeMs;

/** Decides which keys are new, complete objects, one scan at a time. */
export class NewObjectDetector {
    private delivered = new Map<string, FileSig>();
    private previous = new Map<string, FileSig>();

    /** Files already there when watching starts were delivered before: no event for them. */
    baseline(scan: Map<string, FileSig>): void {
        this.delivered = new Map(scan);
        this.previous = new Map(scan);
    }

    /** Keys that changed since their last delivery and were stable since the previous scan. */
    observe(scan: Map<string, FileSig>): string[] {
        const fresh: string[] = [];
        for (const [key, sig] of scan) {
            if (same(this.delivered.get(key), sig)) continue;
            if (same(this.previous.get(key), sig)) {
                fresh.push(key);
                this.delivered.set(key, sig);
            }
        }
        for (const key of this.delivered.keys()) if (!scan.has(key)) this.delivered.delete(key);
        this.previous = new Map(scan);
        return fresh.sort();
    }
}

/** Messages from the watcher process to `npm start`. */
export type WatcherMessage =
    | { type: "ready"; existing: number }
    | {
          type: "triggered";
          key: string;
          eTag: string;
          runs: { uri: string; dagRunId: string; outcome: "created" | "exists" }[];
          ignored: { key: string; reason: string }[];
      }
    | { type: "trigger_failed"; key: string; error: string; attempts: number };
