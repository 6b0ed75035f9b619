import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

import { REPO_ROOT } from "./options";
import { venvBin } from "./python";
import { WARM_FOLDERS } from "./warm-workers";

describe("npm start: warm workers' preload lists, in each component's own venv", () => {
    for (const folder of WARM_FOLDERS) {
        it(`${folder}: every module of [tool.taxi-warm-worker] preload imports and leaves no thread`, function () {
            this.timeout(180_000);
            const python = venvBin(folder, "python");
            if (!fs.existsSync(python)) this.skip(); // npm test prepares the venvs before mocha
            // The worker's own check (taxi_common.warmworker.preload): a module that fails to
            // import, or starts a thread a forked job would inherit broken, ends the worker,
            // and with it every task of that component in npm start.
            const r = spawnSync(
                python,
                [
                    "-c",
                    [
                        "import json, sys",
                        "from taxi_common.warmworker import preload, preload_list",
                        "print(json.dumps(preload(preload_list(sys.argv[1]))))",
                    ].join("\n"),
                    path.join(REPO_ROOT, folder, "pyproject.toml"),
                ],
                {
                    cwd: path.join(REPO_ROOT, folder),
                    env: {
                        PATH: process.env.PATH,
                        HOME: process.env.HOME,
                        PYTHONPATH: path.join(REPO_ROOT, "libs", "python"),
                    },
                    encoding: "utf8",
                    timeout: 150_000,
                },
            );
            assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
            const seconds = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Record<
                string,
                number
            >;
            assert.ok(Object.keys(seconds).length > 0, "an empty preload list");
        });
    }
});
