/**
 * The warm workers `npm start` runs next to Airflow (issue 26: a task's fixed cost is mostly a
 * fresh interpreter importing its libraries): one `python -m taxi_common.warmworker` per
 * component venv, each with that component's heavy libraries imported once, running each job
 * in a fork of itself (libs/python/taxi_common/warmworker.py). Tracked services of the
 * {@link ProcessRegistry}: stopped with everything else, jobs included (they inherit the
 * registry's marker).
 *
 * The local Airflow gets `TAXI_WARM_WORKERS=spark=/…/spark.sock,dbt=…,ml=…`; the local runner
 * (dags/common/runners.py) sends a job there when its command line starts with that venv's
 * python, and starts a process as before when a worker is not there. The sockets live in a
 * private temporary folder (mode 0700, each socket 0600), removed when the workers stop: a
 * socket path must stay under 108 bytes, which a state folder deep in a checkout may not.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO_ROOT } from "./options";
import { waitUntil, type ProcessRegistry, type Service } from "./processes";
import { venvBin, type PipelineFolder } from "./python";

/** The component venvs that get a worker; each lists what its worker imports first in its
 * pyproject.toml (`[tool.taxi-warm-worker] preload`). */
export const WARM_FOLDERS = ["spark", "dbt", "ml"] as const satisfies readonly PipelineFolder[];
type WarmFolder = (typeof WARM_FOLDERS)[number];

/**
 * The workers of one `npm start`: their sockets are known at once (for the local Airflow's
 * environment); {@link WarmWorkers.start} starts them once Airflow is up, so their imports
 * (seconds of CPU each) do not compete with Airflow's start on a small machine. A task that
 * runs before its worker is ready starts its own interpreter (the runner falls back).
 */
export class WarmWorkers {
    readonly services: Service[] = [];
    /** `TAXI_WARM_WORKERS` for the local Airflow. */
    readonly env: Record<string, string>;
    private readonly dir: string;
    private readonly sockets: Record<WarmFolder, string>;

    constructor(
        private readonly logDir: string,
        private readonly folders: readonly WarmFolder[] = WARM_FOLDERS,
    ) {
        this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "taxi-warm-"));
        this.sockets = Object.fromEntries(
            folders.map((f) => [f, path.join(this.dir, `${f}.sock`)]),
        ) as Record<WarmFolder, string>;
        this.env = {
            TAXI_WARM_WORKERS: folders.map((f) => `${f}=${this.sockets[f]}`).join(","),
        };
    }

    /** Start every worker; resolves once each listens, rejects (with its log) if one exits. */
    start(registry: ProcessRegistry): Promise<void> {
        const waits = this.folders.map((folder) => {
            const socket = this.sockets[folder];
            const service = registry.start(
                `warm worker (${folder})`,
                venvBin(folder, "python"),
                [
                    "-m",
                    "taxi_common.warmworker",
                    "--socket",
                    socket,
                    "--name",
                    folder,
                    "--preload-from",
                    path.join(REPO_ROOT, folder, "pyproject.toml"),
                ],
                path.join(this.logDir, `warm-worker-${folder}.log`),
                {
                    cwd: path.join(REPO_ROOT, folder),
                    env: {
                        ...process.env,
                        PYTHONPATH: path.join(REPO_ROOT, "libs", "python"),
                        PYTHONUNBUFFERED: "1",
                    },
                },
            );
            this.services.push(service);
            return waitForSocket(service, socket, 300_000);
        });
        return Promise.all(waits).then(() => undefined);
    }

    /** Remove the sockets' folder (after the registry stopped the workers). */
    cleanup(): void {
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

function waitForSocket(service: Service, socket: string, timeoutMs: number): Promise<void> {
    return waitUntil(service, "ready", () => fs.existsSync(socket), { timeoutMs, pollMs: 200 });
}
