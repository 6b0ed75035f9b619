/**
 * Debian's `promtool` for the alert-rule tests: `apt-get download prometheus` (the package of
 * the release the machine's apt sources carry), unpacked with `dpkg-deb -x` into
 * `~/.cache/taxi-platform/promtool/<package version>/`, reused on later runs. No root needed:
 * `apt-get download` writes into the working directory. When apt-get or dpkg-deb is missing, or
 * the package cannot be downloaded, it throws saying so (CI has apt: no silent skip).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import * as path from "node:path";

export const PROMTOOL_CACHE = path.join(homedir(), ".cache", "taxi-platform", "promtool");

function run(cmd: string, args: string[], cwd?: string): string {
    try {
        return execFileSync(cmd, args, {
            cwd,
            encoding: "utf8",
            stdio: ["ignore", "pipe", "pipe"],
        });
    } catch (err) {
        const e = err as { code?: string; stderr?: string; message: string };
        if (e.code === "ENOENT") {
            throw new Error(
                `promtool: '${cmd}' is not installed; the alert-rule tests need apt-get and ` +
                    "dpkg-deb (Debian/Ubuntu) to fetch Debian's 'prometheus' package",
                { cause: err },
            );
        }
        throw new Error(`promtool: ${cmd} ${args.join(" ")} failed: ${e.stderr ?? e.message}`, {
            cause: err,
        });
    }
}

/** The candidate version of Debian's `prometheus` package (`apt-cache policy`). */
export function candidateVersion(): string {
    const out = run("apt-cache", ["policy", "prometheus"]);
    const version = /Candidate:\s*(\S+)/.exec(out)?.[1];
    if (!version || version === "(none)") {
        throw new Error(
            "promtool: apt knows no 'prometheus' package; run `apt-get update` (Debian bookworm " +
                "or later carries it) and try again",
        );
    }
    return version;
}

/** Path of a cached or freshly unpacked `promtool` binary. */
export function promtool(cache = PROMTOOL_CACHE): string {
    const version = candidateVersion();
    const dir = path.join(cache, version.replace(/[^A-Za-z0-9.+~-]/g, "_"));
    const bin = path.join(dir, "usr", "bin", "promtool");
    if (existsSync(bin)) return bin;
    mkdirSync(cache, { recursive: true });
    const work = mkdtempSync(path.join(cache, ".download-"));
    try {
        process.stderr.write(`promtool: downloading Debian's prometheus ${version}...\n`);
        run("apt-get", ["download", `prometheus=${version}`], work);
        const deb = readdirSync(work).find((f) => f.endsWith(".deb"));
        if (!deb) throw new Error(`promtool: apt-get download left no .deb in ${work}`);
        const unpacked = path.join(work, "root");
        run("dpkg-deb", ["-x", path.join(work, deb), unpacked]);
        if (!existsSync(path.join(unpacked, "usr", "bin", "promtool"))) {
            throw new Error(`promtool: ${deb} has no usr/bin/promtool`);
        }
        rmSync(dir, { recursive: true, force: true });
        renameSync(unpacked, dir); // atomic: a concurrent run sees all of it or nothing
    } finally {
        rmSync(work, { recursive: true, force: true });
    }
    return bin;
}
