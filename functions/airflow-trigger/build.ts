/**
 * Bundle the Lambda with esbuild: one minified CommonJS file, `dist/index.js`, exporting
 * `handler` (Lambda handler setting `index.handler`), platform node, target node22.
 *
 * The AWS SDK v3 is NOT bundled: the `nodejs22.x`/`nodejs24.x` runtimes ship it (on their
 * `NODE_PATH`), and the bundle's only non-builtin import is `@aws-sdk/client-secrets-manager`
 * ({@link RUNTIME_PROVIDED}), required when the first secret is read. The build fails if any other
 * package would be imported at run time, or if AWS SDK v2 (`aws-sdk`) would end up in it.
 * `bundleAwsSdk: true` bundles the pinned client instead (460 KB; the previous layout).
 *
 *   tsx functions/airflow-trigger/build.ts        builds and prints the size as one JSON line
 *
 * The stack calls `bundleForDeploy()` (one build per process) and passes `new pulumi.asset.FileArchive(result.dir)` to the
 * AwsTrigger component.
 */
import * as fs from "node:fs";
import { builtinModules } from "node:module";
import * as path from "node:path";
import { deflateRawSync } from "node:zlib";
import { build } from "esbuild";

export const FUNCTION_DIR = __dirname;

/**
 * Packages the bundle leaves to the Lambda runtime: the AWS SDK v3 clients the Node.js runtimes
 * ship. The function uses only `SecretsManagerClient` and `GetSecretValueCommand`, stable since
 * SDK 3.0; tests and local runs use the version pinned in package.json.
 */
export const RUNTIME_PROVIDED = ["@aws-sdk/client-secrets-manager"] as const;

export interface BundleResult {
    /** Directory holding only the bundle: zip it (or FileArchive it) as the Lambda code. */
    dir: string;
    /** The bundle file, `<dir>/index.js`. */
    file: string;
    bytes: number;
    /** Deflated size: roughly what the Lambda zip weighs. */
    deflatedBytes: number;
    /** Bundled input bytes per npm package (or `(function)` for our own sources). */
    inputsByPackage: Record<string, number>;
    /** Packages the bundle requires at run time (Node builtins left out), sorted. */
    externalImports: string[];
}

export interface BundleOptions {
    /** Output directory (default `functions/airflow-trigger/dist`). It is emptied first. */
    outdir?: string;
    /** Default true. */
    minify?: boolean;
    /** Bundle the pinned AWS SDK instead of using the runtime's (default false). */
    bundleAwsSdk?: boolean;
}

function packageOf(input: string): string {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
    return m?.[1] ?? "(function)";
}

export async function buildBundle(options: BundleOptions = {}): Promise<BundleResult> {
    const dir = path.resolve(options.outdir ?? path.join(FUNCTION_DIR, "dist"));
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, "index.js");
    const result = await build({
        entryPoints: [path.join(FUNCTION_DIR, "src", "handler.ts")],
        outfile: file,
        bundle: true,
        platform: "node",
        target: "node22",
        format: "cjs",
        minify: options.minify ?? true,
        legalComments: "none",
        metafile: true,
        logLevel: "silent",
        external: options.bundleAwsSdk === true ? [] : [...RUNTIME_PROVIDED],
        // `import()` becomes `require()`: CommonJS resolution honours the runtime's NODE_PATH
        // (/var/runtime/node_modules holds the SDK); ES module resolution ignores NODE_PATH.
        supported: { "dynamic-import": false },
    });
    const output = result.metafile.outputs[path.relative(process.cwd(), file)];
    const builtins = new Set(builtinModules);
    const externalImports = [
        ...new Set(
            (output?.imports ?? [])
                .filter((i) => i.external && !i.path.startsWith("node:") && !builtins.has(i.path))
                .map((i) => i.path),
        ),
    ].sort();
    const unexpected = externalImports.filter(
        (i) => !(RUNTIME_PROVIDED as readonly string[]).includes(i),
    );
    if (unexpected.length > 0) {
        throw new Error(
            `the bundle would require ${unexpected.join(", ")} at run time, which the Lambda ` +
                `runtime does not provide: bundle it, or add it to RUNTIME_PROVIDED if it does`,
        );
    }
    const inputsByPackage: Record<string, number> = {};
    for (const [input, info] of Object.entries(output?.inputs ?? {})) {
        const pkg = packageOf(input);
        inputsByPackage[pkg] = (inputsByPackage[pkg] ?? 0) + info.bytesInOutput;
    }
    const v2 = Object.keys(result.metafile.inputs).filter((i) => /node_modules\/aws-sdk\//.test(i));
    if (v2.length > 0) {
        throw new Error(
            `the bundle would include AWS SDK v2 (${v2[0]}): import only @aws-sdk/* v3 clients`,
        );
    }
    const content = fs.readFileSync(file);
    return {
        dir,
        file,
        bytes: content.length,
        deflatedBytes: deflateRawSync(content, { level: 9 }).length,
        inputsByPackage,
        externalImports,
    };
}

let deployBundle: Promise<BundleResult> | undefined;

/**
 * The bundle for a deployment, built once per process: the stack program asks for it once per
 * stack, and an offline render of every stack should not run esbuild three times.
 */
export function bundleForDeploy(): Promise<BundleResult> {
    deployBundle ??= buildBundle();
    return deployBundle;
}

if (require.main === module) {
    buildBundle()
        .then((r) => {
            console.log(
                JSON.stringify({
                    event: "bundle_built",
                    file: path.relative(process.cwd(), r.file),
                    bytes: r.bytes,
                    kib: Math.round((r.bytes / 1024) * 10) / 10,
                    deflated_kib: Math.round((r.deflatedBytes / 1024) * 10) / 10,
                    by_package: r.inputsByPackage,
                    runtime_provided: r.externalImports,
                }),
            );
        })
        .catch((err: unknown) => {
            console.error(err instanceof Error ? err.message : String(err));
            process.exit(1);
        });
}
