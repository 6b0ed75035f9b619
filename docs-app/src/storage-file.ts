/**
 * File backend: the docs root is a local folder (`file:///path`). Used locally and in tests.
 *
 * Every key is re-validated, joined under the root and, after resolving symlinks, must still be
 * inside the root; symlinks are never followed while listing. Hidden entries (`.name`) and
 * anything that is not a regular file are ignored.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Readable } from "node:stream";

import type { ObjectInfo, Storage } from "./storage";
import { SITE_NAME_RE, StorageError, assertSafeKey, assertSiteName } from "./storage";

const TRANSIENT = new Set(["EMFILE", "ENFILE", "EBUSY", "EAGAIN", "EIO", "ETIMEDOUT", "ESTALE"]);

function mapError(err: unknown, what: string): StorageError {
    const code = (err as NodeJS.ErrnoException).code ?? "";
    const kind = TRANSIENT.has(code) ? "unavailable" : "failed";
    return new StorageError(kind, `${what} failed (${code || "error"})`, { cause: err });
}

function isMissing(err: unknown): boolean {
    const code = (err as NodeJS.ErrnoException).code;
    return code === "ENOENT" || code === "ENOTDIR" || code === "ELOOP";
}

export class FileStorage implements Storage {
    readonly backend = "file";
    readonly uri: string;
    private readonly root: string;
    private realRoot: string | undefined;

    constructor(root: string) {
        if (!path.isAbsolute(root)) throw new Error(`file storage root must be absolute: ${root}`);
        this.root = path.resolve(root);
        this.uri = `file://${this.root}`;
    }

    /** The root with symlinks resolved (cached once it exists). */
    private async resolvedRoot(): Promise<string | undefined> {
        if (this.realRoot !== undefined) return this.realRoot;
        try {
            this.realRoot = await fs.promises.realpath(this.root);
            return this.realRoot;
        } catch (err) {
            if (isMissing(err)) return undefined;
            throw mapError(err, `resolving ${this.root}`);
        }
    }

    private inside(root: string, candidate: string): boolean {
        return candidate.startsWith(root + path.sep);
    }

    async listSites(): Promise<string[]> {
        const root = await this.resolvedRoot();
        if (root === undefined) return [];
        let entries: fs.Dirent[];
        try {
            entries = await fs.promises.readdir(root, { withFileTypes: true });
        } catch (err) {
            if (isMissing(err)) return [];
            throw mapError(err, `listing ${this.root}`);
        }
        return entries
            .filter((e) => e.isDirectory() && SITE_NAME_RE.test(e.name))
            .map((e) => e.name)
            .sort();
    }

    async *listObjects(site: string): AsyncIterable<ObjectInfo> {
        assertSiteName(site);
        const root = await this.resolvedRoot();
        if (root === undefined) return;
        const pending: string[] = [site];
        while (pending.length > 0) {
            const rel = pending.pop()!;
            let entries: fs.Dirent[];
            try {
                entries = await fs.promises.readdir(path.join(root, rel), { withFileTypes: true });
            } catch (err) {
                if (isMissing(err)) continue;
                throw mapError(err, `listing ${rel}`);
            }
            for (const entry of entries) {
                if (entry.name.startsWith(".")) continue;
                const key = `${rel}/${entry.name}`;
                if (entry.isDirectory()) {
                    pending.push(key);
                } else if (entry.isFile()) {
                    try {
                        const st = await fs.promises.stat(path.join(root, key));
                        yield this.info(key, st);
                    } catch (err) {
                        if (!isMissing(err)) throw mapError(err, `reading ${key}`);
                    }
                }
            }
        }
    }

    async stat(key: string): Promise<ObjectInfo | undefined> {
        const segments = assertSafeKey(key);
        const root = await this.resolvedRoot();
        if (root === undefined) return undefined;
        const full = path.join(root, ...segments);
        if (!this.inside(root, full)) return undefined;
        if (segments.some((s) => s.startsWith("."))) return undefined;
        try {
            // Resolve symlinks and insist the target is still under the root.
            const real = await fs.promises.realpath(full);
            if (!this.inside(root, real)) return undefined;
            const st = await fs.promises.stat(real);
            if (!st.isFile()) return undefined;
            return { ...this.info(key, st), version: real };
        } catch (err) {
            if (isMissing(err) || (err as NodeJS.ErrnoException).code === "ENAMETOOLONG") {
                return undefined;
            }
            throw mapError(err, `reading ${key}`);
        }
    }

    async read(info: ObjectInfo): Promise<Readable> {
        // `version` is the resolved path `stat` checked; otherwise re-check the key.
        let file = info.version;
        if (file === undefined) {
            const again = await this.stat(info.key);
            if (again?.version === undefined) {
                throw new StorageError("not_found", `${info.key} vanished before it was read`);
            }
            file = again.version;
        }
        let handle: fs.promises.FileHandle;
        try {
            handle = await fs.promises.open(file, fs.constants.O_RDONLY);
        } catch (err) {
            if (isMissing(err)) {
                throw new StorageError("not_found", `${info.key} vanished before it was read`, {
                    cause: err,
                });
            }
            throw mapError(err, `opening ${info.key}`);
        }
        // Never send more than the size the headers announced, even if the file grew since.
        if (info.size === 0) {
            await handle.close();
            return Readable.from([]);
        }
        return handle.createReadStream({ start: 0, end: info.size - 1, highWaterMark: 256 * 1024 });
    }

    private info(key: string, st: fs.Stats): ObjectInfo {
        return {
            key,
            size: st.size,
            updated: st.mtime,
            etag: `${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}`,
        };
    }
}
