/**
 * Bundle size and cold require time of the trigger Lambda: the current bundle (AWS SDK left to
 * the runtime) against the previous layout (the pinned SDK bundled, `bundleAwsSdk: true`), built
 * in the same run. Each sample is a fresh Node process that times `require(bundle)` (what Lambda's
 * init phase does with `index.js`), interleaved, medians. It also times the first secret read's
 * module load, `require("@aws-sdk/client-secrets-manager")` from node_modules (in Lambda, from
 * the runtime's /var/runtime/node_modules), which the current bundle pays on its first invocation
 * that reads the secret and the bundled one pays on first use of its bundled copy. Figures, not
 * assertions.
 *
 *   tsx functions/airflow-trigger/bench/cold-start.ts [--samples 15]
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { buildBundle } from "../build";

const NODE_PATH = path.resolve(__dirname, "..", "..", "..", "node_modules");

function samplesOption(): number {
    const i = process.argv.indexOf("--samples");
    const n = i >= 0 ? Number(process.argv[i + 1]) : 15;
    if (!Number.isInteger(n) || n < 3) throw new Error("--samples needs a whole number >= 3");
    return n;
}

/**
 * Milliseconds to require `file` in a fresh process; with `firstSecret`, also to load the Secrets
 * Manager client the way the handler does on its first secret read.
 */
function timeRequire(file: string, firstSecret: boolean): { require: number; sdk: number } {
    const script = `
        const t0 = process.hrtime.bigint();
        const m = require(${JSON.stringify(file)});
        const t1 = process.hrtime.bigint();
        if (typeof m.handler !== "function") throw new Error("no handler");
        let t2 = t1;
        if (${firstSecret}) {
            require("@aws-sdk/client-secrets-manager");
            t2 = process.hrtime.bigint();
        }
        console.log(JSON.stringify({ require: Number(t1 - t0) / 1e6, sdk: Number(t2 - t1) / 1e6 }));`;
    const out = execFileSync(process.execPath, ["-e", script], {
        encoding: "utf8",
        env: {
            PATH: process.env.PATH ?? "",
            NODE_PATH,
            // A valid configuration, so the module's cold-start code runs as in Lambda.
            AIRFLOW_API_URL: "http://127.0.0.1:28790",
            AIRFLOW_DAG_ID: "batch",
            AIRFLOW_CREDENTIALS_SECRET_ID: "airflow-api",
            LOG_LEVEL: "error",
        },
    });
    return JSON.parse(out.trim().split("\n").pop()!) as { require: number; sdk: number };
}

function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
    const samples = samplesOption();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "trigger-bench-"));
    try {
        // For scale: a module that only exports a handler (what any cold require costs here).
        const floor = path.join(dir, "floor.js");
        fs.writeFileSync(floor, "exports.handler = async () => ({});\n");
        const floorBundle = {
            file: floor,
            bytes: fs.statSync(floor).size,
            deflatedBytes: 0,
            externalImports: [] as string[],
        };
        const variants = [
            {
                name: "SDK from the runtime (current)",
                bundle: await buildBundle({ outdir: path.join(dir, "external") }),
                // Its first secret read loads the runtime's client; the bundled variant has its
                // own copy inside the bundle, whose module code runs on first use (not timed).
                firstSecret: true,
            },
            {
                name: "SDK bundled (before)",
                bundle: await buildBundle({
                    outdir: path.join(dir, "bundled"),
                    bundleAwsSdk: true,
                }),
                firstSecret: false,
            },
            { name: "empty handler module (floor)", bundle: floorBundle, firstSecret: false },
        ];
        const times = variants.map(() => ({ require: [] as number[], sdk: [] as number[] }));
        for (const v of variants) timeRequire(v.bundle.file, v.firstSecret); // warm the disk cache
        for (let i = 0; i < samples; i++) {
            for (let j = 0; j < variants.length; j++) {
                const k = (i + j) % variants.length; // alternate which goes first
                const t = timeRequire(variants[k]!.bundle.file, variants[k]!.firstSecret);
                times[k]!.require.push(t.require);
                times[k]!.sdk.push(t.sdk);
            }
        }
        const cpus = os.cpus();
        console.log(
            `airflow-trigger cold start: ${samples} fresh processes per variant, interleaved; ` +
                `node ${process.version}; ${cpus.length} x ${cpus[0]?.model ?? "cpu"}, load ` +
                `average ${os.loadavg()[0]!.toFixed(1)} (shared machine)\n`,
        );
        const header = ["variant", "bundle bytes", "deflated", "require ms (median)", "min..max"];
        const rows = variants.map((v, k) => [
            v.name,
            String(v.bundle.bytes),
            String(v.bundle.deflatedBytes),
            median(times[k]!.require).toFixed(1),
            `${Math.min(...times[k]!.require).toFixed(1)}..${Math.max(...times[k]!.require).toFixed(1)}`,
        ]);
        const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
        for (const row of [header, ...rows]) {
            console.log(
                row
                    .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
                    .join("  "),
            );
        }
        console.log(
            `\nfirst secret read, current bundle: + ${median(times[0]!.sdk).toFixed(1)} ms to ` +
                `load @aws-sdk/client-secrets-manager from node_modules (once per execution ` +
                `environment, in the first invocation, not in init)`,
        );
        console.log(
            `runtime-provided imports of the current bundle: ${variants[0]!.bundle.externalImports.join(", ")}`,
        );
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
});
