/**
 * Bundle size and cold require time of the trigger Lambda: the current bundle (AWS SDK left to
 * the runtime) against the baseline, the previous layout (the pinned SDK bundled,
 * `bundleAwsSdk: true`), and with `--baseline <git ref>` also against that ref's bundle (its
 * `functions/airflow-trigger` built with its own build.ts), all built in the same run. Each sample
 * is a fresh Node process that times `require(bundle)` (what Lambda's init phase does with
 * `index.js`), wall clock and CPU time (user + system: on a shared machine the wall clock also
 * counts time waiting for a core), interleaved, medians. It also times what the first invocation
 * adds once per execution environment: loading `@aws-sdk/client-secrets-manager` from
 * node_modules (in Lambda, from the runtime's /var/runtime/node_modules) on the first secret read,
 * and loading `node:crypto` on the first run id. Figures, not assertions.
 *
 *   tsx functions/airflow-trigger/bench/cold-start.ts [--samples 15] [--baseline main]
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { deflateRawSync } from "node:zlib";

import { buildBundle, type BundleResult } from "../build";

const REPO = path.resolve(__dirname, "..", "..", "..");
const NODE_PATH = path.join(REPO, "node_modules");

function option(name: string): string | undefined {
    const i = process.argv.indexOf(name);
    if (i < 0) return undefined;
    const v = process.argv[i + 1];
    if (v === undefined || v.startsWith("--")) throw new Error(`${name} needs a value`);
    return v;
}

function samplesOption(): number {
    const n = Number(option("--samples") ?? 15);
    if (!Number.isInteger(n) || n < 3) throw new Error("--samples needs a whole number >= 3");
    return n;
}

/**
 * The bundle of `functions/airflow-trigger` at git ref `ref`, built by that ref's own build.ts:
 * its sources are extracted under node_modules/.cache (so they resolve the repository's
 * node_modules), built there, and the bundle copied to `outdir`.
 */
function buildAtRef(ref: string, outdir: string): BundleResult {
    const root = path.join(NODE_PATH, ".cache", `trigger-bench-${process.pid}`);
    fs.rmSync(root, { recursive: true, force: true });
    fs.mkdirSync(root, { recursive: true });
    try {
        const tar = path.join(root, "src.tar");
        try {
            execFileSync(
                "git",
                ["-C", REPO, "archive", "--output", tar, ref, "functions/airflow-trigger"],
                { stdio: ["ignore", "ignore", "pipe"] },
            );
        } catch (err) {
            throw new Error(
                `--baseline ${ref}: git archive failed (${String((err as { stderr?: unknown }).stderr ?? err).trim()}); pass a branch, tag or commit of this repository`,
                { cause: err },
            );
        }
        execFileSync("tar", ["-xf", tar, "-C", root]);
        const fnDir = path.join(root, "functions", "airflow-trigger");
        execFileSync(path.join(NODE_PATH, ".bin", "tsx"), [path.join(fnDir, "build.ts")], {
            cwd: root,
            stdio: ["ignore", "ignore", "inherit"],
        });
        fs.mkdirSync(outdir, { recursive: true });
        const file = path.join(outdir, "index.js");
        fs.copyFileSync(path.join(fnDir, "dist", "index.js"), file);
        const content = fs.readFileSync(file);
        return {
            dir: outdir,
            file,
            bytes: content.length,
            deflatedBytes: deflateRawSync(content, { level: 9 }).length,
            inputsByPackage: {},
            externalImports: [],
        };
    } finally {
        fs.rmSync(root, { recursive: true, force: true });
    }
}

interface Sample {
    /** Wall-clock milliseconds of `require(bundle)`. */
    require: number;
    /** CPU milliseconds (user + system) of the same. */
    cpu: number;
    /** Milliseconds to load the Secrets Manager client afterwards (0 if not asked). */
    sdk: number;
    /** Milliseconds to load node:crypto and hash once afterwards (0 if not asked). */
    crypto: number;
}

/**
 * The sample script: `node sample.js <bundle> <firstSecret 0|1> <firstRunId 0|1>`. A script file,
 * not `node -e`: Node's `-e` path loads node:crypto before the code runs (check
 * `process.moduleLoadList`), which hid that module's cost from a bundle required there. Lambda
 * requires `index.js` from a file, as this does.
 */
const SAMPLE_SCRIPT = `
const [file, firstSecret, firstRunId] = process.argv.slice(2);
const c0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
const m = require(file);
const t1 = process.hrtime.bigint();
const c1 = process.cpuUsage(c0);
if (typeof m.handler !== "function") throw new Error("no handler");
let t2 = t1;
if (firstSecret === "1") {
    require("@aws-sdk/client-secrets-manager");
    t2 = process.hrtime.bigint();
}
let t3 = t2;
if (firstRunId === "1") {
    process.getBuiltinModule("node:crypto").createHash("sha256").update("b/k/e").digest("hex");
    t3 = process.hrtime.bigint();
}
require("node:fs").writeSync(1, "\\n" + JSON.stringify({
    require: Number(t1 - t0) / 1e6,
    cpu: (c1.user + c1.system) / 1e3,
    sdk: Number(t2 - t1) / 1e6,
    crypto: Number(t3 - t2) / 1e6,
}) + "\\n");
`;

/**
 * Milliseconds to require `file` in a fresh process; with `firstSecret`, also to load the Secrets
 * Manager client the way the handler does on its first secret read; with `firstRunId`, also to
 * load node:crypto and hash once (what the first run id costs when the bundle did not load it).
 * The default log level, so the `cold_start` line is written (to a pipe) as in Lambda.
 */
function timeRequire(
    sampleScript: string,
    file: string,
    firstSecret: boolean,
    firstRunId = false,
): Sample {
    const out = execFileSync(
        process.execPath,
        [sampleScript, file, firstSecret ? "1" : "0", firstRunId ? "1" : "0"],
        {
            encoding: "utf8",
            env: {
                PATH: process.env.PATH ?? "",
                NODE_PATH,
                // A valid configuration, so the module's cold-start code runs as in Lambda.
                AIRFLOW_API_URL: "http://127.0.0.1:28790",
                AIRFLOW_DAG_ID: "batch",
                AIRFLOW_CREDENTIALS_SECRET_ID: "airflow-api",
            },
        },
    );
    return JSON.parse(out.trim().split("\n").pop()!) as Sample;
}

function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
    const samples = samplesOption();
    const baselineRef = option("--baseline");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "trigger-bench-"));
    try {
        // For scale: a module that only exports a handler (what any cold require costs here).
        const sampleScript = path.join(dir, "sample.js");
        fs.writeFileSync(sampleScript, SAMPLE_SCRIPT);
        const floor = path.join(dir, "floor.js");
        fs.writeFileSync(floor, "exports.handler = async () => ({});\n");
        const floorBundle: BundleResult = {
            dir,
            file: floor,
            bytes: fs.statSync(floor).size,
            deflatedBytes: 0,
            inputsByPackage: {},
            externalImports: [],
        };
        const current = await buildBundle({ outdir: path.join(dir, "external") });
        const variants: {
            name: string;
            bundle: BundleResult;
            firstSecret: boolean;
            firstRunId: boolean;
        }[] = [
            // Its first secret read loads the runtime's client; the bundled variant has its own
            // copy inside the bundle, whose module code runs on first use (not timed).
            { name: "current", bundle: current, firstSecret: true, firstRunId: false },
        ];
        if (baselineRef !== undefined) {
            console.log(`building the bundle of ${baselineRef} ...`);
            variants.push({
                name: `baseline ${baselineRef}`,
                bundle: buildAtRef(baselineRef, path.join(dir, "baseline")),
                firstSecret: false,
                firstRunId: false,
            });
        }
        variants.push(
            {
                name: "SDK bundled (issue's before)",
                bundle: await buildBundle({
                    outdir: path.join(dir, "bundled"),
                    bundleAwsSdk: true,
                }),
                firstSecret: false,
                firstRunId: false,
            },
            // The floor process also times node:crypto's load, which the current bundle defers
            // to the first run id.
            {
                name: "empty handler module (floor)",
                bundle: floorBundle,
                firstSecret: false,
                firstRunId: true,
            },
        );
        const times = variants.map(() => [] as Sample[]);
        for (const v of variants)
            timeRequire(sampleScript, v.bundle.file, v.firstSecret, v.firstRunId); // warm the disk cache
        for (let i = 0; i < samples; i++) {
            for (let j = 0; j < variants.length; j++) {
                const k = (i + j) % variants.length; // alternate which goes first
                const v = variants[k]!;
                times[k]!.push(
                    timeRequire(sampleScript, v.bundle.file, v.firstSecret, v.firstRunId),
                );
            }
        }
        const cpus = os.cpus();
        console.log(
            `airflow-trigger cold start: ${samples} fresh processes per variant, interleaved; ` +
                `node ${process.version}; ${cpus.length} x ${cpus[0]?.model ?? "cpu"}, load ` +
                `average ${os.loadavg()[0]!.toFixed(1)} (shared machine)\n`,
        );
        const of = (k: number, f: keyof Sample) => times[k]!.map((t) => t[f]);
        const header = [
            "variant",
            "bundle bytes",
            "deflated",
            "require ms (median)",
            "min..max",
            "CPU ms (median)",
        ];
        const rows = variants.map((v, k) => [
            v.name,
            String(v.bundle.bytes),
            String(v.bundle.deflatedBytes),
            median(of(k, "require")).toFixed(1),
            `${Math.min(...of(k, "require")).toFixed(1)}..${Math.max(...of(k, "require")).toFixed(1)}`,
            median(of(k, "cpu")).toFixed(1),
        ]);
        const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
        for (const row of [header, ...rows]) {
            console.log(
                row
                    .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
                    .join("  "),
            );
        }
        const bundled = variants.findIndex((v) => v.name.startsWith("SDK bundled"));
        console.log(
            `\ncurrent / SDK bundled: require ${(median(of(0, "require")) / median(of(bundled, "require"))).toFixed(2)}x, ` +
                `CPU ${(median(of(0, "cpu")) / median(of(bundled, "cpu"))).toFixed(2)}x`,
        );
        if (baselineRef !== undefined) {
            console.log(
                `current / ${baselineRef}: require ${(median(of(0, "require")) / median(of(1, "require"))).toFixed(2)}x, ` +
                    `CPU ${(median(of(0, "cpu")) / median(of(1, "cpu"))).toFixed(2)}x`,
            );
        }
        console.log(
            `first invocation, once per execution environment (not in init): + ` +
                `${median(of(0, "sdk")).toFixed(1)} ms to load @aws-sdk/client-secrets-manager ` +
                `from node_modules (first secret read); + ` +
                `${median(of(variants.length - 1, "crypto")).toFixed(1)} ms to load node:crypto ` +
                `(first run id)`,
        );
        console.log(
            `runtime-provided imports of the current bundle: ${current.externalImports.join(", ")}`,
        );
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
});
