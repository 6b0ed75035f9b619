/**
 * The monthly files `npm start` delivers: TLC-shaped yellow-taxi Parquet files written by
 * `taxi_spark.testdata` (the generator every pipeline test uses: real schema drift by month,
 * optional bad rows with one defect each). Output is a pure function of the parameters, so the
 * files are generated once into `<state>/generated/` and reused while the parameters match
 * (`manifest.json`, written last: a half-generated folder is never taken for a complete one).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { runPython } from "./python";
import { writeFileAtomic } from "./state";

export const SEED = 42;

export interface GeneratedFile {
    month: string;
    /** File name, e.g. `yellow_tripdata_2023-01.parquet`. */
    name: string;
    /** Absolute path in the generated folder. */
    path: string;
    rows: number;
    /** Bad rows injected, by kind (`negative_amount`, `zero_distance`, …). */
    injected: Record<string, number>;
}

export interface Manifest {
    seed: number;
    rows: number;
    badFraction: number;
    files: GeneratedFile[];
}

export function fileName(month: string): string {
    return `yellow_tripdata_${month}.parquet`;
}

function readManifest(file: string): Manifest | undefined {
    try {
        return JSON.parse(fs.readFileSync(file, "utf8")) as Manifest;
    } catch {
        return undefined;
    }
}

/** The generated files for these months, generating what is missing or stale. */
export async function ensureTestData(
    dir: string,
    months: string[],
    rows: number,
    badFraction: number,
): Promise<{ files: GeneratedFile[]; reused: boolean }> {
    const manifestFile = path.join(dir, "manifest.json");
    const have = readManifest(manifestFile);
    const matches =
        have !== undefined &&
        have.seed === SEED &&
        have.rows === rows &&
        have.badFraction === badFraction &&
        months.every((m) => {
            const f = have.files.find((x) => x.month === m);
            return f !== undefined && fs.existsSync(f.path);
        });
    if (matches) {
        return { files: months.map((m) => have.files.find((x) => x.month === m)!), reused: true };
    }

    // Generate into a fresh temporary folder, then swap it in.
    const tmp = path.join(path.dirname(dir), `.generated-${process.pid}`);
    fs.rmSync(tmp, { recursive: true, force: true });
    const out = path.join(tmp, "trip data");
    fs.mkdirSync(out, { recursive: true });
    const r = await runPython("spark", [
        "-m",
        "taxi_spark.testdata",
        "--out",
        `file://${out}`,
        "--months",
        months.join(","),
        "--rows",
        String(rows),
        "--seed",
        String(SEED),
        "--bad-fraction",
        String(badFraction),
    ]);
    if (r.code !== 0) {
        fs.rmSync(tmp, { recursive: true, force: true });
        throw new Error(
            `generating the monthly files failed (python -m taxi_spark.testdata, exit ${r.code}):\n${r.stderr.trim().split("\n").slice(-15).join("\n")}`,
        );
    }
    const written = (JSON.parse(r.stdout) as { files: Record<string, Record<string, number>> })
        .files;
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
    const files = months.map((month) => {
        const name = fileName(month);
        const injected = Object.entries(written).find(([uri]) => uri.endsWith(`/${name}`))?.[1];
        if (injected === undefined) {
            throw new Error(
                `taxi_spark.testdata did not report ${name}; got ${Object.keys(written).join(", ")}`,
            );
        }
        return { month, name, path: path.join(dir, "trip data", name), rows, injected };
    });
    writeFileAtomic(
        manifestFile,
        `${JSON.stringify({ seed: SEED, rows, badFraction, files } satisfies Manifest, null, 2)}\n`,
    );
    return { files, reused: false };
}

export function injectedTotal(f: GeneratedFile): number {
    return Object.values(f.injected).reduce((a, b) => a + b, 0);
}

/**
 * The publisher's correction of `file`'s month: the same month and row count generated without
 * injected defects (a republished file whose content differs, as after a TLC correction), kept
 * in `<generated>/corrected/` beside the originals.
 */
export async function ensureCorrected(
    generatedDir: string,
    file: GeneratedFile,
): Promise<GeneratedFile> {
    const { files } = await ensureTestData(
        path.join(generatedDir, "corrected"),
        [file.month],
        file.rows,
        0,
    );
    return files[0]!;
}
