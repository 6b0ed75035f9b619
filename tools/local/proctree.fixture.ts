/**
 * Processes for `proctree.test.ts`, run as `node --require tsx/cjs proctree.fixture.ts <mode>`:
 *
 *   owner <record> <pids> <port>   a stand-in for `npm start`: a RunRecord and a ProcessRegistry
 *                                  that starts one `service`; prints "ready" and waits (the test
 *                                  kills it with SIGKILL)
 *   service <pids> <port>          starts `escaped` in a new session (setsid), then waits
 *   escaped <pids> <port>          ignores SIGTERM, listens on 127.0.0.1:<port>, starts `noenv`
 *                                  in yet another session with an empty environment
 *   noenv                          waits
 *
 * Each appends `<mode> <pid>` to the pids file once it is set up.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { ProcessRegistry } from "./processes";
import { RunRecord } from "./proctree";

const [mode, ...args] = process.argv.slice(2);
const self = (m: string, a: string[], env?: NodeJS.ProcessEnv) =>
    spawn(process.execPath, ["--require", require.resolve("tsx/cjs"), __filename, m, ...a], {
        detached: true,
        stdio: "ignore",
        ...(env ? { env } : {}),
    });
const note = (pidsFile: string, what: string) =>
    fs.appendFileSync(pidsFile, `${what} ${process.pid}\n`);
const forever = () => setInterval(() => undefined, 60_000);

if (mode === "owner") {
    const [recordFile, pidsFile, port] = args as [string, string, string];
    const registry = new ProcessRegistry({ record: new RunRecord(recordFile), snapshotMs: 200 });
    registry.start(
        "service",
        process.execPath,
        ["--require", require.resolve("tsx/cjs"), __filename, "service", pidsFile, port],
        path.join(path.dirname(recordFile), "service.log"),
    );
    console.log("ready");
    forever();
} else if (mode === "service") {
    const [pidsFile, port] = args as [string, string];
    self("escaped", [pidsFile, port]).unref();
    note(pidsFile, "service");
    forever();
} else if (mode === "escaped") {
    const [pidsFile, port] = args as [string, string];
    process.on("SIGTERM", () => undefined);
    // An empty environment: no marker; found through its parent, or the record's snapshot.
    const noenv = self("noenv", [pidsFile], { PATH: process.env.PATH ?? "/usr/bin:/bin" });
    noenv.unref();
    net.createServer()
        .listen(Number(port), "127.0.0.1", () => note(pidsFile, "escaped"))
        .unref();
    forever();
} else if (mode === "noenv") {
    note(args[0]!, "noenv");
    forever();
} else {
    console.error(`unknown mode ${String(mode)}`);
    process.exit(2);
}
