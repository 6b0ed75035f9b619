/**
 * The emulator launcher: both emulators answer on loopback with the pinned versions, and
 * stop() leaves no process of theirs alive.
 */
import * as assert from "node:assert/strict";

import { startAwsEmulator, startGcsEmulator, type Emulator } from "./emulators";
import { procInfo } from "./proctree";

describe("cloud emulators (tools/local/emulators.ts)", function () {
    this.timeout(120_000);

    for (const [start, version] of [
        [startGcsEmulator, "fake-gcs-server v1.54.0"],
        [startAwsEmulator, "moto 5.2.5"],
    ] as const) {
        it(`${version}: starts on a loopback port, answers, stops with nothing left`, async () => {
            const emulator: Emulator = await start();
            const pid = emulator.service.child.pid!;
            try {
                assert.equal(emulator.version, version);
                assert.match(emulator.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
                const res = await fetch(
                    `${emulator.endpoint}${version.startsWith("moto") ? "/moto-api/" : "/storage/v1/b"}`,
                );
                assert.equal(res.status, 200);
                await res.arrayBuffer();
            } finally {
                await emulator.stop();
            }
            assert.equal(procInfo(pid), undefined, `${emulator.name} (pid ${pid}) outlived stop()`);
            await assert.rejects(fetch(emulator.endpoint), /fetch failed/);
        });
    }
});
