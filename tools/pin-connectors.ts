/**
 * Pin the sha256 of the two connector jars the spark image downloads (spark/Dockerfile verifies
 * them and fails closed without them) into a stack file, before that stack's first `pulumi up`.
 *
 * Usage:
 *   npm run pin:connectors -- <stack> [<stack> ...] | --all  [--dry-run] [--repository <maven url>]
 *
 * The versions and URLs come from spark/Dockerfile's ARG defaults. Each jar is downloaded once and
 * hashed as it streams; a non-200 answer, a network error, an empty body or a body shorter than
 * its Content-Length fails the command and writes nothing (no hash of an error page or of an
 * empty file). The values go to `taxi-platform:sparkGcsConnectorSha256` and
 * `taxi-platform:sparkBigqueryConnectorSha256` in stacks/Pulumi.<stack>.yaml (plain config: the
 * same as `pulumi config set`), comments kept. Commit the stack files; every stack needs them.
 * `--dry-run` prints the downloads and the keys it would set, and changes nothing.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { listStacks, stackFilePath } from "../offline/stack-files";

const ROOT = path.resolve(__dirname, "..");
export const DEFAULT_REPOSITORY = "https://repo1.maven.org/maven2";

export interface Connector {
    /** The stack config key (without the project namespace). */
    configKey: "sparkGcsConnectorSha256" | "sparkBigqueryConnectorSha256";
    /** The Dockerfile ARG holding its version. */
    versionArg: string;
    version: string;
    /** Path under the Maven repository. */
    path: string;
}

/** The connectors and their versions, read from spark/Dockerfile's ARG defaults. */
export function connectors(dockerfile = path.join(ROOT, "spark", "Dockerfile")): Connector[] {
    const text = fs.readFileSync(dockerfile, "utf8");
    const arg = (name: string) => {
        const m = new RegExp(`^ARG ${name}=(\\S+)$`, "m").exec(text);
        if (!m) throw new Error(`${dockerfile}: no "ARG ${name}=<version>" line`);
        return m[1]!;
    };
    const gcs = arg("GCS_CONNECTOR_VERSION");
    const bq = arg("BIGQUERY_CONNECTOR_VERSION");
    return [
        {
            configKey: "sparkGcsConnectorSha256",
            versionArg: "GCS_CONNECTOR_VERSION",
            version: gcs,
            path: `com/google/cloud/bigdataoss/gcs-connector/${gcs}/gcs-connector-${gcs}-shaded.jar`,
        },
        {
            configKey: "sparkBigqueryConnectorSha256",
            versionArg: "BIGQUERY_CONNECTOR_VERSION",
            version: bq,
            path: `com/google/cloud/spark/spark-4.0-bigquery/${bq}/spark-4.0-bigquery-${bq}.jar`,
        },
    ];
}

/** sha256 of a download; throws naming the URL unless it is a complete 200 response. */
export async function sha256OfDownload(url: string): Promise<{ sha256: string; bytes: number }> {
    let res: Response;
    try {
        res = await fetch(url, { redirect: "follow" });
    } catch (err) {
        throw new Error(`download of ${url} failed (${(err as Error).message}): nothing pinned`, {
            cause: err,
        });
    }
    if (res.status !== 200 || res.body === null) {
        throw new Error(
            `download of ${url} answered HTTP ${res.status}: nothing pinned (check the version in spark/Dockerfile, or --repository for a Maven mirror)`,
        );
    }
    const hash = createHash("sha256");
    let bytes = 0;
    try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            hash.update(chunk);
            bytes += chunk.length;
        }
    } catch (err) {
        throw new Error(
            `download of ${url} broke off after ${bytes} bytes (${(err as Error).message}): nothing pinned`,
            { cause: err },
        );
    }
    const expected = Number(res.headers.get("content-length") ?? NaN);
    if (bytes === 0) throw new Error(`download of ${url} was empty: nothing pinned`);
    if (Number.isFinite(expected) && expected !== bytes)
        throw new Error(
            `download of ${url} stopped at ${bytes} of ${expected} bytes: nothing pinned`,
        );
    return { sha256: hash.digest("hex"), bytes };
}

/** Set the keys in a stack file's `config:` map, keeping its comments. True when it changed. */
export function writeStackValues(file: string, values: Record<string, string>): boolean {
    const before = fs.readFileSync(file, "utf8");
    const doc = YAML.parseDocument(before);
    const config = doc.get("config");
    if (!YAML.isMap(config)) throw new Error(`${file} has no config: map`);
    for (const [k, v] of Object.entries(values)) config.set(`taxi-platform:${k}`, v);
    const after = doc.toString();
    if (after === before) return false;
    fs.writeFileSync(file, after);
    return true;
}

export function parseArgs(argv: string[], known: string[] = listStacks()) {
    const stacks: string[] = [];
    let dryRun = false;
    let repository = DEFAULT_REPOSITORY;
    for (let k = 0; k < argv.length; k++) {
        const a = argv[k]!;
        if (a === "--dry-run") dryRun = true;
        else if (a === "--all") stacks.push(...known);
        else if (a === "--repository") repository = (argv[++k] ?? "").replace(/\/+$/, "");
        else if (a.startsWith("-")) throw new Error(`unknown option ${a}`);
        else if (!known.includes(a))
            throw new Error(`no stack ${a} (stacks/Pulumi.${a}.yaml); known: ${known.join(", ")}`);
        else stacks.push(a);
    }
    if (stacks.length === 0)
        throw new Error(
            "usage: npm run pin:connectors -- <stack> [<stack> ...] | --all [--dry-run] [--repository <maven url>]",
        );
    if (!/^https?:\/\/\S+$/.test(repository))
        throw new Error(`--repository ${JSON.stringify(repository)} is not an http(s) URL`);
    return { stacks: [...new Set(stacks)], dryRun, repository };
}

export async function pin(
    args: { stacks: string[]; dryRun: boolean; repository: string },
    log: (line: string) => void = console.log,
    fileOf: (stack: string) => string = stackFilePath,
): Promise<Record<string, string>> {
    const list = connectors();
    const values: Record<string, string> = {};
    for (const c of list) {
        const url = `${args.repository}/${c.path}`;
        if (args.dryRun) {
            log(`would download ${url} (${c.versionArg}=${c.version}) and set ${c.configKey}`);
            continue;
        }
        const { sha256, bytes } = await sha256OfDownload(url);
        log(`${c.configKey}: ${sha256}  (${url}, ${bytes} bytes)`);
        values[c.configKey] = sha256;
    }
    for (const stack of args.stacks) {
        const file = fileOf(stack);
        const rel = path.relative(ROOT, file);
        if (args.dryRun) {
            log(`would set ${list.map((c) => c.configKey).join(" and ")} in ${rel}`);
            continue;
        }
        log(`${writeStackValues(file, values) ? "updated" : "unchanged"} ${rel}`);
    }
    if (!args.dryRun) {
        const missing = listStacks().filter((s) => !args.stacks.includes(s));
        log(
            `Commit ${args.stacks.map((s) => `stacks/Pulumi.${s}.yaml`).join(", ")}.` +
                (missing.length > 0
                    ? ` Every stack builds the spark image: repeat for ${missing.join(", ")} (or run with --all).`
                    : ""),
        );
    }
    return values;
}

if (require.main === module) {
    (async () => {
        await pin(parseArgs(process.argv.slice(2)));
    })().catch((err: unknown) => {
        console.error((err as Error).message);
        process.exit(1);
    });
}
