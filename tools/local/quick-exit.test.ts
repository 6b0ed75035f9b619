/**
 * The quick exit of the local Python processes (`quick-exit.ts`, `quick-exit/sitecustomize.py`),
 * with the machine's real `python3`: the collector is frozen at exit, and nothing else changes
 * (exit codes, tracebacks, output, a `sitecustomize` further on the path); and real processes
 * started the ways `npm start` starts them (the registry, Airflow's environment, `runPython`,
 * the last two with dags/.venv) import it, with their own `PYTHONPATH` after it.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { airflowEnv } from "../local-airflow";
import { ProcessRegistry } from "./processes";
import { runPython, venvBin } from "./python";
import { QUICK_EXIT_DIR, withQuickExit } from "./quick-exit";

/** A garbage cycle whose `__del__` says when the collector reclaims it. */
const CYCLE = `
import gc, sys
gc.disable()
class Node:
    def __del__(self):
        sys.stdout.write("collected\\n")
        sys.stdout.flush()
a = Node(); b = Node(); a.other = b; b.other = a
del a, b
print("exiting", flush=True)
`;

function python(code: string, env: NodeJS.ProcessEnv) {
    const base = { ...process.env };
    delete base.PYTHONPATH; // only what the test gives
    const r = spawnSync("python3", ["-c", code], {
        env: { ...base, ...env },
        encoding: "utf8",
        timeout: 30_000,
    });
    assert.equal(r.error, undefined, String(r.error));
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("local Python processes exit quickly (quick-exit)", () => {
    it("puts its folder first on PYTHONPATH and keeps the rest as given", () => {
        const d = path.delimiter;
        assert.equal(withQuickExit({}).PYTHONPATH, QUICK_EXIT_DIR);
        assert.equal(withQuickExit({ PYTHONPATH: "" }).PYTHONPATH, QUICK_EXIT_DIR);
        assert.equal(
            withQuickExit({ PYTHONPATH: `src${d}../libs/python`, OTHER: "x" }).PYTHONPATH,
            `${QUICK_EXIT_DIR}${d}src${d}../libs/python`,
        );
        assert.equal(withQuickExit({ OTHER: "x" }).OTHER, "x");
        // Applied twice (a service started with an environment that already has it): once.
        const twice = withQuickExit(withQuickExit({ PYTHONPATH: "src" }));
        assert.equal(twice.PYTHONPATH, `${QUICK_EXIT_DIR}${d}src`);
    });

    it("freezes the collector at exit: a garbage cycle is not collected by the finalisation", () => {
        const plain = python(CYCLE, {});
        assert.equal(plain.code, 0, plain.stderr);
        assert.equal(plain.stdout, "exiting\ncollected\ncollected\n", "the interpreter's own exit");
        const quick = python(CYCLE, withQuickExit({}));
        assert.equal(quick.code, 0, quick.stderr);
        assert.equal(quick.stdout, "exiting\n");
    });

    it("runs after every other exit handler, which still sees a working collector", () => {
        const r = python(
            `import atexit, gc
atexit.register(lambda: print("handler", gc.isenabled(), gc.get_freeze_count() == 0, flush=True))
print("main", flush=True)`,
            withQuickExit({}),
        );
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "main\nhandler True True\n");
    });

    it("leaves exit codes, tracebacks and signals as they were", () => {
        const env = withQuickExit({});
        assert.equal(python("import sys; sys.exit(3)", env).code, 3);
        const failed = python("raise ValueError('boom')", env);
        assert.equal(failed.code, 1);
        assert.match(failed.stderr, /ValueError: boom/);
        const r = spawnSync(
            "python3",
            ["-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"],
            {
                env: { ...process.env, ...env },
            },
        );
        assert.equal(r.signal, "SIGTERM");
    });

    it("still imports a sitecustomize further on the path", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taxi-quick-exit-"));
        try {
            fs.writeFileSync(
                path.join(dir, "sitecustomize.py"),
                'import builtins\nbuiltins.NEXT_SITE = "loaded"\n',
            );
            const r = python("print(NEXT_SITE)", withQuickExit({ PYTHONPATH: dir }));
            assert.equal(r.code, 0, r.stderr);
            assert.equal(r.stdout, "loaded\n");
            // And without one: nothing to import, nothing printed.
            const alone = python("print('ok')", withQuickExit({}));
            assert.equal(alone.stdout + alone.stderr, "ok\n");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    describe("reaches the processes npm start runs, with their own PYTHONPATH kept", () => {
        /** What the interpreter imported as sitecustomize, and its path after ours. */
        const SHOW =
            "import os, sys, sitecustomize\n" +
            "here = os.path.dirname(sitecustomize.__file__)\n" +
            "print(here)\n" +
            "print(sys.path[sys.path.index(here) + 1 : sys.path.index(here) + 3])";
        const quickDir = (out: string) => out.split("\n")[0];

        it("a service started by the registry (the Spark Connect server's PYTHONPATH)", async () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taxi-quick-exit-"));
            const registry = new ProcessRegistry();
            try {
                const logFile = path.join(dir, "service.log");
                const service = registry.start("python", "python3", ["-c", SHOW], logFile, {
                    cwd: dir,
                    env: { ...process.env, PYTHONPATH: `/opt/a${path.delimiter}/opt/b` },
                });
                await new Promise((resolve) => service.child.once("exit", resolve));
                const out = fs.readFileSync(logFile, "utf8");
                assert.equal(quickDir(out), QUICK_EXIT_DIR, out);
                assert.match(out, /\['\/opt\/a', '\/opt\/b'\]/);
            } finally {
                await registry.stopAll();
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });

        it("Airflow's processes (their environment has no PYTHONPATH of its own)", () => {
            const env = airflowEnv({
                home: os.tmpdir(),
                dagsFolder: os.tmpdir(),
                port: 1,
                databaseUrl: "sqlite:////nonexistent",
            });
            const r = spawnSync(venvBin("dags", "python"), ["-c", SHOW], { env, encoding: "utf8" });
            assert.equal(r.status, 0, r.stderr);
            assert.equal(quickDir(r.stdout), QUICK_EXIT_DIR);
        });

        it("a command of runPython (src and libs/python after it)", async () => {
            const r = await runPython("dags", ["-c", SHOW]);
            assert.equal(r.code, 0, r.stderr);
            assert.equal(quickDir(r.stdout), QUICK_EXIT_DIR);
            assert.match(r.stdout, /\/dags\/src', '.*\/libs\/python'\]/);
        });
    });
});
