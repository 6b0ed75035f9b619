/**
 * A real headless Chromium (Debian's package, /usr/bin/chromium or CHROMIUM_PATH) loads the
 * index and a published site from the server on loopback. Screenshots go to
 * test-output/docs-app/ at the repository root.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Browser } from "playwright-core";
import { chromium } from "playwright-core";

import { chromiumPath } from "../../tools/system-packages";
import { FileStorage } from "../src/storage-file";
import type { DocsTree, RunningServer } from "./fixtures";
import { makeDocsTree, startServer } from "./fixtures";

const OUTPUT = path.resolve(__dirname, "..", "..", "test-output", "docs-app");

describe("docs-app in Chromium", function () {
    this.timeout(90_000);
    let tree: DocsTree;
    let srv: RunningServer;
    let browser: Browser;

    before(async function () {
        const executablePath = chromiumPath();
        if (!fs.existsSync(executablePath)) {
            throw new Error(
                `Chromium not found at ${executablePath}; install Debian's package ` +
                    "(sudo apt-get install chromium, or run `npm test`, which does) or set CHROMIUM_PATH.",
            );
        }
        fs.mkdirSync(OUTPUT, { recursive: true });
        tree = makeDocsTree();
        srv = await startServer(new FileStorage(tree.root));
        browser = await chromium.launch({
            executablePath,
            headless: true,
            // Root in CI containers cannot use Chromium's user-namespace sandbox.
            args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        });
    });
    after(async () => {
        await browser?.close();
        await srv?.close();
        tree?.cleanup();
    });

    it("shows the index with every site, then opens the dbt docs with their assets", async () => {
        const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
        const page = await context.newPage();
        const problems: string[] = [];
        page.on("console", (m) => {
            if (m.type() === "error") problems.push(m.text());
        });
        page.on("pageerror", (e) => problems.push(e.message));
        try {
            const response = await page.goto(`${srv.base}/`);
            assert.equal(response?.status(), 200);
            assert.equal(await page.title(), "Taxi platform documentation");
            const rows = await page
                .locator("tbody tr")
                .evaluateAll((trs) =>
                    trs.map((tr) => [
                        tr.getAttribute("data-site"),
                        tr.querySelector("time")?.getAttribute("datetime") ?? null,
                    ]),
                );
            assert.deepEqual(rows, [
                ["data-docs", "2024-03-01T08:30:00.000Z"],
                ["dbt", "2024-03-05T10:00:00.000Z"],
                ["model", "2024-03-04T12:00:00.000Z"],
                ["elementary", null],
                ["reports", null],
            ]);
            assert.match(
                await page.locator('tr[data-site="elementary"]').innerText(),
                /not published yet/,
            );
            await page.screenshot({ path: path.join(OUTPUT, "index.png"), fullPage: true });

            await page.getByRole("link", { name: "dbt docs" }).click();
            await page.waitForURL(`${srv.base}/dbt/`);
            assert.equal(await page.locator("h1").innerText(), "dbt docs fixture");
            // The relative stylesheet loaded through the app and applied (CSP allows it).
            const color = await page
                .locator("h1")
                .evaluate((h) => h.ownerDocument.defaultView!.getComputedStyle(h).color);
            assert.equal(color, "rgb(11, 83, 148)");
            await page.screenshot({ path: path.join(OUTPUT, "dbt.png") });

            await page.goto(`${srv.base}/data-docs/`);
            await page.getByRole("link", { name: "yellow_tripdata_2024-01" }).click();
            await page.waitForURL(`${srv.base}/data-docs/yellow_tripdata_2024-01/`);
            assert.equal(
                await page.locator("h1").innerText(),
                "Validation yellow_tripdata_2024-01",
            );
            await page.screenshot({ path: path.join(OUTPUT, "data-docs.png") });

            const missing = await page.goto(`${srv.base}/elementary/`);
            assert.equal(missing?.status(), 404);
            assert.match(await page.locator("main").innerText(), /has not been published yet/);

            // Only the deliberate 404 above may show up as a console error.
            assert.deepEqual(
                problems.filter((p) => !/404/.test(p)),
                [],
            );
            for (const name of ["index.png", "dbt.png", "data-docs.png"]) {
                const png = fs.readFileSync(path.join(OUTPUT, name));
                assert.equal(png.subarray(1, 4).toString(), "PNG", name);
                assert.ok(png.length > 2000, `${name} is not blank`);
            }
        } finally {
            await context.close();
        }
    });
});
