/**
 * The environment of every Python process `npm start` and the local Airflow run: their
 * `PYTHONPATH` starts with `tools/local/quick-exit/`, whose `sitecustomize.py` freezes the
 * garbage collector at exit (see there), so a process that imported Airflow, MLflow or PySpark
 * exits in a fraction of a second instead of spending seconds of CPU collecting its heap. Local
 * only: the images do not have it.
 */
import * as path from "node:path";

export const QUICK_EXIT_DIR = path.resolve(__dirname, "quick-exit");

/** `env` with {@link QUICK_EXIT_DIR} first on its `PYTHONPATH` (relative entries keep working). */
export function withQuickExit(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
    const given = env.PYTHONPATH ?? "";
    const rest =
        given === "" ? [] : given.split(path.delimiter).filter((p) => p !== QUICK_EXIT_DIR);
    return { ...env, PYTHONPATH: [QUICK_EXIT_DIR, ...rest].join(path.delimiter) };
}
