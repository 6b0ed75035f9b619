import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { NAMESPACES } from "../components/namespaces/namespaces";
import { checkMatrix, type JobRow } from "./access-matrix";
import { renderStack, type Rendered } from "./render";
import { listStacks } from "./stack-files";

const ROOT = path.resolve(__dirname, "..");
const DAGS_PYTHON = path.join(ROOT, "dags", ".venv", "bin", "python");

/** The job table's declared accesses (`python -m common.jobs` in dags/). */
function jobTable(): JobRow[] {
    if (!fs.existsSync(DAGS_PYTHON)) {
        throw new Error(
            `${DAGS_PYTHON} is missing: create it with \`npx tsx tools/python-suites.ts --prepare dags\``,
        );
    }
    const r = spawnSync(DAGS_PYTHON, ["-m", "common.jobs"], {
        cwd: path.join(ROOT, "dags"),
        encoding: "utf8",
        env: { ...process.env, PYTHONPATH: ".", PYTHONDONTWRITEBYTECODE: "1" },
    });
    if (r.status !== 0) throw new Error(`python -m common.jobs failed:\n${r.stderr}`);
    return JSON.parse(r.stdout) as JobRow[];
}

function landingBucketOf(r: Rendered): string {
    const cm = r.kubernetes.find(
        (o: any) => o.kind === "ConfigMap" && o.metadata?.name === "pipeline-env",
    ) as any;
    return String(cm?.data?.S3_LANDING_BUCKET ?? "");
}

describe("data access matrix: each job's declared accesses = its identity's grants", function () {
    this.timeout(600000);
    const rendered = new Map<string, Rendered>();
    let jobs: JobRow[];

    before(async () => {
        jobs = jobTable();
        for (const stack of listStacks()) rendered.set(stack, await renderStack(stack));
    });

    it("the job table declares accesses for every job", () => {
        assert.ok(jobs.length >= 11);
        for (const j of jobs) assert.ok(j.accesses.length > 0, `${j.dag}.${j.task}`);
    });

    for (const stack of listStacks()) {
        it(`${stack}: every declared access is granted and every job grant is used`, () => {
            const r = rendered.get(stack)!;
            const report = checkMatrix(r.resources, jobs, {
                jobsNamespace: NAMESPACES.jobs,
                landingBucket: landingBucketOf(r),
            });
            assert.deepEqual(report.problems, []);
            assert.ok(report.rows.length > 0);
        });
    }

    it("fails on a missing grant, an unused grant and a broader-than-needed role", () => {
        const r = rendered.get("dev")!;
        const opts = { jobsNamespace: NAMESPACES.jobs, landingBucket: landingBucketOf(r) };
        // publish_docs suddenly writes the staging bucket: dbt holds no grant there.
        const more = jobs.map((j) =>
            j.task === "publish_docs"
                ? {
                      ...j,
                      accesses: [
                          ...j.accesses,
                          {
                              kind: "gcs" as const,
                              mode: "write" as const,
                              target: "staging",
                              prefix: "",
                          },
                      ],
                  }
                : j,
        );
        assert.ok(
            checkMatrix(r.resources, more, opts).problems.some((p) =>
                /publish_docs .*needs gcs write staging: not granted/.test(p),
            ),
        );
        // copy_to_staging no longer reads S3: the landing-reader role is unused.
        const less = jobs.map((j) =>
            j.task === "copy_to_staging"
                ? { ...j, accesses: j.accesses.filter((a) => a.kind !== "s3") }
                : j,
        );
        assert.ok(
            checkMatrix(r.resources, less, opts).problems.some((p) =>
                /jobs\/transfer .*landing-reader .*s3:GetObject, which no job uses/.test(p),
            ),
        );
        // validate only reads docs: spark's objectUser on docs is broader than needed... but
        // validate writes data docs; with that write gone, objectViewer would do.
        const readOnly = jobs.map((j) =>
            j.task === "validate"
                ? {
                      ...j,
                      accesses: j.accesses.map((a) =>
                          a.target === "docs" ? { ...a, mode: "read" as const } : a,
                      ),
                  }
                : j,
        );
        assert.ok(
            checkMatrix(r.resources, readOnly, opts).problems.some((p) =>
                /jobs\/spark .*bucket docs roles\/storage.objectUser .*objectViewer would do/.test(
                    p,
                ),
            ),
        );
    });

    it("prints the matrix of dev (job → identity → accesses)", () => {
        const r = rendered.get("dev")!;
        const report = checkMatrix(r.resources, jobs, {
            jobsNamespace: NAMESPACES.jobs,
            landingBucket: landingBucketOf(r),
        });
        if (process.env.ACCESS_MATRIX_PRINT) {
            for (const row of report.rows) {
                console.log(
                    `| ${row.job} | ${row.ksa} → ${row.gsa} | ${row.access} | ${row.grantedBy} |`,
                );
            }
        }
        assert.ok(report.rows.some((row) => row.access.startsWith("s3 read landing")));
    });
});
