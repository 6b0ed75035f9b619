// Entry of `npm start` and `npm test` on a fresh clone. Runs on whatever Node the machine has
// (20 is enough): installs the locked dependencies when node_modules is missing or older than
// package-lock.json (this brings Node 24 from the `node` package), then runs the given command
// from node_modules/.bin with that Node first on PATH.
"use strict";
const { spawnSync } = require("node:child_process");
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const bin = path.join(root, "node_modules", ".bin");
const stamp = path.join(root, "node_modules", ".install-stamp");

function lockHash() {
    const lock = fs.readFileSync(path.join(root, "package-lock.json"));
    return crypto.createHash("sha256").update(lock).digest("hex");
}

function ensureInstalled() {
    const want = lockHash();
    const have = fs.existsSync(stamp) ? fs.readFileSync(stamp, "utf8").trim() : "";
    if (want === have && fs.existsSync(path.join(bin, "node"))) return;
    console.log("Installing the locked npm dependencies (npm ci); later runs reuse them...");
    const npm = process.platform === "win32" ? "npm.cmd" : "npm";
    const r = spawnSync(npm, ["ci", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" });
    if (r.status !== 0) {
        console.error(
            "npm ci failed (see above). Check the npm registry is reachable, then re-run.",
        );
        process.exit(r.status || 1);
    }
    fs.writeFileSync(stamp, `${want}\n`);
}

function main() {
    const [command, ...args] = process.argv.slice(2);
    if (!command) {
        console.error("usage: node tools/bootstrap.cjs <node_modules/.bin command> [args...]");
        process.exit(2);
    }
    ensureInstalled();
    const env = { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH || ""}` };
    // Ctrl-C reaches the command too (the terminal signals the whole process group): let it stop
    // what it started and exit, and wait for it here instead of dying first and returning the
    // prompt while it is still cleaning up.
    process.on("SIGINT", () => undefined);
    const r = spawnSync(path.join(bin, command), args, { cwd: root, stdio: "inherit", env });
    if (r.error) {
        console.error(`could not run ${command}: ${r.error.message}`);
        process.exit(1);
    }
    process.exit(r.status === null ? 1 : r.status);
}

main();
