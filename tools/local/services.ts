/**
 * The two services `npm start` runs besides Airflow, both on 127.0.0.1:
 *   - the MLflow tracking server from ml/.venv: SQLite backend store and a local artifact folder
 *     in the state folder, artifacts proxied by the server (`--serve-artifacts`), as in the
 *     cluster, so the jobs need only MLFLOW_TRACKING_URI; no server-side job execution (the
 *     job runner and its Huey consumers are not started: nothing here submits MLflow jobs);
 *   - the docs app (docs-app/src/main.ts) serving `<state>/docs` over file://.
 */
import * as path from "node:path";
import { REPO_ROOT } from "./options";
import { portInUse, waitForHttp, type ProcessRegistry, type Service } from "./processes";
import { venvBin } from "./python";

/** The same promise, marked handled: it is awaited later, after other start-up steps. */
function handled<T>(p: Promise<T>): Promise<T> {
    p.catch(() => undefined);
    return p;
}

async function requireFreePort(port: number, what: string): Promise<void> {
    if (await portInUse(port)) {
        throw new Error(
            `127.0.0.1:${port} (${what}) is already in use: another \`npm start\` or test run? Stop it, or pass --port-base with a free range`,
        );
    }
}

export async function startMlflow(
    registry: ProcessRegistry,
    o: {
        dir: string;
        port: number;
        logFile: string;
        /** Default `file://<dir>/artifacts`; `gs://…` with `--storage emulated`. */
        artifactsDestination?: string;
        env?: Record<string, string>;
    },
): Promise<{ service: Service; url: string; ready: Promise<void> }> {
    await requireFreePort(o.port, "MLflow");
    const url = `http://127.0.0.1:${o.port}`;
    const service = registry.start(
        "MLflow server",
        venvBin("ml", "mlflow"),
        [
            "server",
            "--backend-store-uri",
            `sqlite:///${path.join(o.dir, "mlflow.db")}`,
            "--artifacts-destination",
            o.artifactsDestination ?? `file://${path.join(o.dir, "artifacts")}`,
            "--serve-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            String(o.port),
            "--workers",
            "1",
        ],
        o.logFile,
        {
            cwd: o.dir,
            env: {
                ...process.env,
                ...o.env,
                MLFLOW_DISABLE_TELEMETRY: "true",
                DO_NOT_TRACK: "true",
                // No server-side job execution: by default the server starts a job runner and
                // Huey consumer processes (for LLM judges, online scoring, prompt optimisation,
                // trace rollups), which the pipeline never uses and which outlived the server.
                MLFLOW_SERVER_ENABLE_JOB_EXECUTION: "false",
            },
        },
    );
    return { service, url, ready: handled(waitForHttp(service, `${url}/health`, 180_000)) };
}

export async function startDocsApp(
    registry: ProcessRegistry,
    o: {
        docsDir: string;
        port: number;
        logFile: string;
        /** Replaces `DOCS_URI=file://<docsDir>` (`--storage emulated`: gs:// and its endpoint). */
        env?: Record<string, string>;
    },
): Promise<{ service: Service; url: string; ready: Promise<void> }> {
    await requireFreePort(o.port, "docs app");
    const url = `http://127.0.0.1:${o.port}`;
    const service = registry.start(
        "docs app",
        process.execPath,
        [
            "--require",
            require.resolve("tsx/cjs"),
            path.join(REPO_ROOT, "docs-app", "src", "main.ts"),
        ],
        o.logFile,
        {
            cwd: REPO_ROOT,
            env: {
                ...process.env,
                DOCS_URI: `file://${o.docsDir}`,
                ...o.env,
                HOST: "127.0.0.1",
                PORT: String(o.port),
                CATALOG_TTL_SECONDS: "2",
                SHUTDOWN_DELAY_SECONDS: "0",
                SHUTDOWN_TIMEOUT_SECONDS: "2",
            },
        },
    );
    return { service, url, ready: handled(waitForHttp(service, `${url}/healthz`, 60_000)) };
}
