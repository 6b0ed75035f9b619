/**
 * The catalog lists the run reports the batch DAG's notifier publishes
 * (`reports/<dataset>/<month>/index.html`, dags/common/notify.py) as "Run reports", with one
 * entry per dataset, read from real files.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Catalog, siteTitle } from "../src/catalog";
import { FileStorage } from "../src/storage-file";

describe("catalog: run reports", () => {
    let root: string;
    before(() => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), "taxi-docs-reports-"));
        const write = (rel: string) => {
            fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
            fs.writeFileSync(path.join(root, rel), "<!doctype html><title>x</title>");
        };
        write("reports/index.html");
        write("reports/yellow/index.html");
        write("reports/yellow/2024-01/index.html");
        write("reports/yellow/2024-02/index.html");
        write("reports/green/2024-01/index.html"); // no dataset index yet: not an entry
        write("dbt/index.html");
    });
    after(() => fs.rmSync(root, { recursive: true, force: true }));

    it("titles the reports site 'Run reports'", () => {
        assert.equal(siteTitle("reports").title, "Run reports");
        assert.match(siteTitle("reports").description, /reports\/<dataset>\/<month>/);
    });

    it("lists the reports site with one entry per dataset that has an index", async () => {
        const catalog = new Catalog(new FileStorage(root), { ttlSeconds: 0 });
        const site = await catalog.site("reports");
        assert.ok(site, "reports is a published site");
        assert.equal(site.title, "Run reports");
        assert.equal(site.hasIndex, true);
        assert.deepEqual(
            site.entries.map((e) => e.name),
            ["yellow"],
        );
        assert.equal(site.objects, 5);
    });
});
