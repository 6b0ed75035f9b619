/**
 * The fare model's prediction API in `npm start` (`ml/src/taxi_ml/serve.py` from ml/.venv on
 * 127.0.0.1), as the FareApi component runs it in the cluster: it asks the MLflow server which
 * version holds `champion` and reads that version's files straight from the server's artifact
 * folder (MODEL_ARTIFACTS_DESTINATION). It starts once the first champion exists, and follows
 * each promotion through its alias poll, without a restart.
 */
import * as path from "node:path";
import { REPO_ROOT } from "./options";
import { portInUse, sleep, waitForHttp, type ProcessRegistry, type Service } from "./processes";
import { venvBin } from "./python";

export const MODEL_NAME = "fare-model";
/** How often the local service checks the alias (the cluster uses 30 s). */
export const LOCAL_POLL_SECONDS = 2;

/** One real trip: Midtown to the Upper East Side, a weekday evening. */
export const EXAMPLE_TRIP = {
    pickup_location_id: 161,
    dropoff_location_id: 236,
    pickup_borough: "Manhattan",
    dropoff_borough: "Manhattan",
    trip_distance: 2.5,
    pickup_hour: 18,
    pickup_day_of_week: 3,
};

/** The version behind `<model>@champion` in the MLflow server at `mlflowUrl`, if any. */
export async function registryChampion(mlflowUrl: string): Promise<string | undefined> {
    const res = await fetch(
        `${mlflowUrl}/api/2.0/mlflow/registered-models/alias?name=${MODEL_NAME}&alias=champion`,
        { signal: AbortSignal.timeout(10_000) },
    );
    if (res.status === 404) return undefined;
    if (!res.ok) throw new Error(`MLflow answered HTTP ${res.status} for the champion alias`);
    return ((await res.json()) as { model_version: { version: string } }).model_version.version;
}

export interface Prediction {
    status: number;
    version: string | undefined;
    fares: number[];
}

/** POST one or more trips to `/predict`. */
export async function predict(url: string, trips: object[] = [EXAMPLE_TRIP]): Promise<Prediction> {
    const res = await fetch(`${url}/predict`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ trips }),
        signal: AbortSignal.timeout(30_000),
    });
    const body = (await res.json()) as { model_version?: string; predictions?: number[] };
    return {
        status: res.status,
        version: body.model_version ?? res.headers.get("x-model-version") ?? undefined,
        fares: body.predictions ?? [],
    };
}

/** The one-line curl command that asks `url` for the example trip's fare. */
export function curlExample(url: string): string {
    return `curl -s -X POST ${url}/predict -H 'Content-Type: application/json' -d '${JSON.stringify({ trips: [EXAMPLE_TRIP] })}'`;
}

/** The version `/health` reports, or undefined while no model is loaded. */
export async function servedVersion(url: string): Promise<string | undefined> {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5000) });
    if (res.status !== 200) return undefined;
    return ((await res.json()) as { model_version?: string }).model_version;
}

/** The process environment of the local service (the component's env, with local values). */
export function fareApiEnv(
    mlflowUrl: string,
    artifactsDir: string,
    extra: Record<string, string> = {},
): Record<string, string> {
    return {
        PYTHONPATH: `src${path.delimiter}../libs/python`,
        PYTHONUNBUFFERED: "1",
        MLFLOW_TRACKING_URI: mlflowUrl,
        MODEL_NAME,
        MODEL_POLL_SECONDS: String(LOCAL_POLL_SECONDS),
        MODEL_ARTIFACTS_DESTINATION: `file://${artifactsDir}`,
        OMP_NUM_THREADS: "1",
        MLFLOW_DISABLE_TELEMETRY: "true",
        DO_NOT_TRACK: "true",
        // --storage emulated: MODEL_ARTIFACTS_DESTINATION gs://… and the emulator's endpoint.
        ...extra,
    };
}

export class LocalFareApi {
    readonly url: string;
    private service: Service | undefined;
    private version: string | undefined;

    constructor(
        private readonly registry: ProcessRegistry,
        private readonly o: {
            port: number;
            mlflowUrl: string;
            artifactsDir: string;
            logFile: string;
            env?: Record<string, string>;
        },
    ) {
        this.url = `http://127.0.0.1:${o.port}`;
    }

    get started(): boolean {
        return this.service !== undefined;
    }

    /** The champion version it serves (after the last `sync`). */
    get served(): string | undefined {
        return this.version;
    }

    /**
     * Start the service when a champion exists and it is not running yet, or wait until it
     * serves the registry's current champion. What changed, for the progress output.
     */
    async sync(
        timeoutMs = 180_000,
    ): Promise<{ change: "none" | "started" | "reloaded"; version?: string; previous?: string }> {
        const champion = await registryChampion(this.o.mlflowUrl);
        if (champion === undefined) return { change: "none" };
        if (this.service === undefined) {
            if (await portInUse(this.o.port)) {
                throw new Error(
                    `127.0.0.1:${this.o.port} (fare API) is already in use: another \`npm start\` or test run? Stop it, or pass --port-base with a free range`,
                );
            }
            this.service = this.registry.start(
                "fare API",
                venvBin("ml", "python"),
                ["-m", "taxi_ml.serve", "--host", "127.0.0.1", "--port", String(this.o.port)],
                this.o.logFile,
                {
                    cwd: path.join(REPO_ROOT, "ml"),
                    env: {
                        ...process.env,
                        ...fareApiEnv(this.o.mlflowUrl, this.o.artifactsDir, this.o.env),
                    },
                },
            );
            // /health is 200 only once a model is loaded.
            await waitForHttp(this.service, `${this.url}/health`, timeoutMs);
        }
        const previous = this.version;
        const deadline = Date.now() + timeoutMs;
        let served = await servedVersion(this.url);
        while (served !== champion) {
            if (Date.now() > deadline) {
                throw new Error(
                    `the fare API still serves version ${served ?? "none"} ${Math.round(timeoutMs / 1000)} s after champion moved to ${champion}; see ${this.o.logFile}`,
                );
            }
            await sleep(500);
            served = await servedVersion(this.url);
        }
        this.version = served;
        if (previous === undefined) return { change: "started", version: served };
        return previous === served
            ? { change: "none", version: served }
            : { change: "reloaded", version: served, previous };
    }
}
