/**
 * A `.dockerignore` matcher with Docker's semantics (moby/patternmatcher): patterns are anchored
 * at the context root, `*` and `?` stay within one path segment, `**` spans any number of
 * segments, `[…]` is a character class, `!` re-includes; a pattern that matches a folder applies
 * to everything below it, and the last pattern that matches wins.
 *
 * The offline render uses it to hash exactly the files each image build sends
 * (`cloud-fakes.ts`), and the Dockerfile rules (`testing/dockerfile-rules.ts`) to check what
 * each context sends.
 */
import * as fs from "node:fs";
import * as path from "node:path";

interface IgnorePattern {
    readonly text: string;
    readonly negate: boolean;
    readonly segments: readonly string[];
    readonly regex: RegExp;
}

function globToRegexSource(glob: string): string {
    let out = "";
    for (let k = 0; k < glob.length; k++) {
        const c = glob[k]!;
        if (c === "*") {
            if (glob[k + 1] === "*") {
                k++;
                if (glob[k + 1] === "/") k++;
                out += k + 1 >= glob.length ? ".*" : "(?:.*/)?";
            } else {
                out += "[^/]*";
            }
        } else if (c === "?") {
            out += "[^/]";
        } else if (c === "[") {
            const end = glob.indexOf("]", k + 1);
            if (end < 0) throw new Error(`unterminated [ in pattern ${glob}`);
            let cls = glob.slice(k + 1, end);
            if (cls.startsWith("!")) cls = `^${cls.slice(1)}`;
            out += `[${cls.replace(/\\/g, "\\\\")}]`;
            k = end;
        } else if (c === "\\" && k + 1 < glob.length) {
            k++;
            out += glob[k]!.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
        } else {
            out += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
        }
    }
    return out;
}

/** Clean a pattern like Go's filepath.Clean and drop a leading "/" (Docker does both). */
export function cleanPattern(p: string): string {
    const parts: string[] = [];
    for (const seg of p.split("/")) {
        if (seg === "" || seg === ".") continue;
        if (seg === ".." && parts.length > 0 && parts[parts.length - 1] !== "..") parts.pop();
        else parts.push(seg);
    }
    return parts.join("/");
}

export class DockerIgnore {
    readonly patterns: readonly IgnorePattern[];

    constructor(text: string) {
        const patterns: IgnorePattern[] = [];
        for (const rawLine of text.split(/\r?\n/)) {
            let line = rawLine.trim();
            if (line === "" || line.startsWith("#")) continue;
            const negate = line.startsWith("!");
            if (negate) line = line.slice(1).trim();
            const cleaned = cleanPattern(line);
            if (cleaned === "") continue;
            patterns.push({
                text: rawLine.trim(),
                negate,
                segments: cleaned.split("/"),
                regex: new RegExp(`^${globToRegexSource(cleaned)}$`),
            });
        }
        this.patterns = patterns;
    }

    /** Whether the context leaves `relPath` (slash-separated, relative to the root) out. */
    excludes(relPath: string): boolean {
        const parts = cleanPattern(relPath).split("/");
        const candidates = parts.map((_, k) => parts.slice(0, k + 1).join("/"));
        let excluded = false;
        for (const p of this.patterns) {
            if (candidates.some((c) => p.regex.test(c))) excluded = !p.negate;
        }
        return excluded;
    }

    /** Could a re-include (`!`) pattern match something below folder `relDir`? */
    mayIncludeBelow(relDir: string): boolean {
        const dir = cleanPattern(relDir).split("/");
        return this.patterns.some((p) => p.negate && couldMatchBelow(p.segments, 0, dir, 0));
    }
}

function segmentMatches(pattern: string, segment: string): boolean {
    return new RegExp(`^${globToRegexSource(pattern.replace(/\*\*/g, "*"))}$`).test(segment);
}

function couldMatchBelow(
    p: readonly string[],
    i: number,
    d: readonly string[],
    j: number,
): boolean {
    if (j === d.length) return i < p.length;
    if (i === p.length) return false;
    if (p[i] === "**") {
        return couldMatchBelow(p, i + 1, d, j) || couldMatchBelow(p, i, d, j + 1);
    }
    return segmentMatches(p[i]!, d[j]!) && couldMatchBelow(p, i + 1, d, j + 1);
}

/**
 * Every file (relative, slash-separated, sorted) that a build with context `root` and ignore
 * rules `ignore` sends. Folders that are excluded and that no `!` pattern can reach are not
 * entered (the result is the same; `node_modules` and `.venv` are large).
 */
export function contextFiles(root: string, ignore: DockerIgnore): string[] {
    const out: string[] = [];
    const walk = (rel: string) => {
        const abs = rel === "" ? root : path.join(root, rel);
        for (const entry of fs.readdirSync(abs, { withFileTypes: true })) {
            const childRel = rel === "" ? entry.name : `${rel}/${entry.name}`;
            if (entry.isDirectory()) {
                if (!ignore.excludes(childRel) || ignore.mayIncludeBelow(childRel)) walk(childRel);
            } else if (!ignore.excludes(childRel)) {
                out.push(childRel);
            }
        }
    };
    walk("");
    return out.sort();
}

/** Files of `files` matched by a glob (`*`, `?`, `**`, `[…]`), or below it when it is a folder. */
export function matchPath(glob: string, files: readonly string[]): string[] {
    const cleaned = cleanPattern(glob);
    if (cleaned === "") return [...files];
    const re = new RegExp(`^${globToRegexSource(cleaned)}(?:/.*)?$`);
    return files.filter((f) => re.test(f));
}
