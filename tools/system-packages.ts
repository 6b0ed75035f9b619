/**
 * Debian packages the tests and `npm start` need beyond what the machine ships: Chromium for the
 * browser tests of the docs app and the dbt docs. Installs them with apt-get when missing and the
 * process may (root, or passwordless sudo); otherwise prints the one command to run and fails.
 *
 *   tsx tools/system-packages.ts          check and install
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";

/** Debian package → a file that proves it is installed. */
export const SYSTEM_PACKAGES: Record<string, string> = {
    chromium: "/usr/bin/chromium",
};

/** Path of the Chromium binary the browser tests drive (override with CHROMIUM_PATH). */
export function chromiumPath(): string {
    return process.env.CHROMIUM_PATH ?? SYSTEM_PACKAGES.chromium!;
}

export function missingPackages(): string[] {
    return Object.entries(SYSTEM_PACKAGES)
        .filter(([, file]) => !fs.existsSync(file))
        .map(([pkg]) => pkg);
}

function main(): void {
    const missing = missingPackages();
    if (missing.length === 0) {
        console.log(`system packages present: ${Object.keys(SYSTEM_PACKAGES).join(", ")}`);
        return;
    }
    const isRoot = process.getuid?.() === 0;
    const prefix = isRoot ? [] : ["sudo", "-n"];
    console.log(`installing Debian packages: ${missing.join(", ")} (once; apt-get)`);
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const steps = [
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", ...missing],
    ];
    for (const step of steps) {
        const cmd = [...prefix, ...step];
        const r = spawnSync(cmd[0]!, cmd.slice(1), { stdio: "inherit", env });
        if (r.status !== 0) {
            console.error(
                `could not install ${missing.join(", ")}: run \`sudo apt-get install -y ${missing.join(" ")}\` and re-run.`,
            );
            process.exit(1);
        }
    }
}

if (require.main === module) main();
