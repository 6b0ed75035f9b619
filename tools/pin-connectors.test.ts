/**
 * The connector pinning against a loopback Maven repository (127.0.0.1:28904): the sha256 of
 * what was served lands in the stack file, and a failed download (404, empty body, truncated
 * body) pins nothing and changes no file.
 */
import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import YAML from "yaml";
import { connectors, parseArgs, pin, sha256OfDownload } from "./pin-connectors";
import { stackFilePath } from "../offline/stack-files";

const PORT = 28904;
const BASE = `http://127.0.0.1:${PORT}/maven2`;

describe("tools/pin-connectors", () => {
    const jars = new Map<string, Buffer>();
    let mode: "ok" | "404" | "empty" | "truncated" = "ok";
    const server = http.createServer((req, res) => {
        const body = jars.get(req.url ?? "");
        if (mode === "404" || body === undefined) {
            res.writeHead(404).end("<html>not found</html>");
        } else if (mode === "empty") {
            res.writeHead(200, { "content-length": "0" }).end();
        } else if (mode === "truncated") {
            res.writeHead(200, { "content-length": String(body.length + 10) });
            res.write(body);
            res.destroy();
        } else {
            res.writeHead(200, { "content-length": String(body.length) }).end(body);
        }
    });
    let dir: string;
    let file: string;

    before(async () => {
        for (const c of connectors()) jars.set(`/maven2/${c.path}`, Buffer.from(`jar ${c.path}`));
        await new Promise<void>((resolve) => server.listen(PORT, "127.0.0.1", resolve));
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    beforeEach(() => {
        mode = "ok";
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "taxi-pin-"));
        file = path.join(dir, "Pulumi.dev.yaml");
        fs.copyFileSync(stackFilePath("dev"), file);
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    const run = (dryRun = false) => {
        const lines: string[] = [];
        return pin(
            { stacks: ["dev"], dryRun, repository: BASE },
            (l) => lines.push(l),
            () => file,
        )
            .then((values) => ({ values, lines }))
            .catch((err: Error) => ({ error: err, lines }));
    };

    it("reads the versions from spark/Dockerfile's ARG defaults", () => {
        const dockerfile = fs.readFileSync(
            path.join(__dirname, "..", "spark", "Dockerfile"),
            "utf8",
        );
        for (const c of connectors())
            assert.ok(dockerfile.includes(`ARG ${c.versionArg}=${c.version}\n`), c.versionArg);
    });

    it("writes the sha256 of each served jar into the stack file, keeping its comments", async () => {
        const r = await run();
        assert.ok("values" in r, String((r as { error?: Error }).error));
        const config = (
            YAML.parse(fs.readFileSync(file, "utf8")) as { config: Record<string, string> }
        ).config;
        for (const c of connectors()) {
            const want = createHash("sha256")
                .update(jars.get(`/maven2/${c.path}`)!)
                .digest("hex");
            assert.equal(config[`taxi-platform:${c.configKey}`], want);
        }
        assert.ok(fs.readFileSync(file, "utf8").includes("# placeholder"), "comments kept");
        assert.match(r.lines.join("\n"), /updated .*Pulumi\.dev\.yaml/);
        assert.match(
            r.lines.join("\n"),
            /Commit stacks\/Pulumi\.dev\.yaml\. Every stack builds the spark image: repeat for staging, prod/,
        );
        const again = await run();
        assert.match(again.lines.join("\n"), /unchanged /, "idempotent");
    });

    for (const failure of ["404", "empty", "truncated"] as const) {
        it(`pins nothing when the download is ${failure}`, async () => {
            const before = fs.readFileSync(file, "utf8");
            mode = failure;
            const r = await run();
            assert.ok("error" in r, "must fail");
            assert.match(
                r.error.message,
                /^download of http:\/\/127\.0\.0\.1:28904\/.* nothing pinned/,
            );
            assert.equal(fs.readFileSync(file, "utf8"), before, "stack file untouched");
        });
    }

    it("--dry-run downloads nothing and changes nothing", async () => {
        const before = fs.readFileSync(file, "utf8");
        mode = "404";
        const r = await run(true);
        assert.ok("values" in r);
        assert.match(
            r.lines[0]!,
            new RegExp(`^would download ${BASE}/com/google/cloud/bigdataoss/gcs-connector/`),
        );
        assert.equal(fs.readFileSync(file, "utf8"), before);
    });

    it("names a failed download's URL and status", async () => {
        mode = "404";
        await assert.rejects(
            sha256OfDownload(`${BASE}/x.jar`),
            /x\.jar answered HTTP 404: nothing pinned/,
        );
        assert.throws(() => parseArgs(["qa"], ["dev"]), /no stack qa/);
        assert.deepEqual(parseArgs(["--all", "--dry-run"], ["dev", "prod"]).stacks, [
            "dev",
            "prod",
        ]);
    });
});
