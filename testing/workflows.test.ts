/**
 * The GitHub Actions workflows (`.github/workflows/`) and the local action they share
 * (`.github/actions/pulumi-stack/`), read as GitHub reads them (YAML) and checked against their
 * contract: triggers, job graph, least-privilege permissions, pinned actions, timeouts,
 * checkout credentials, the README's test command and the policy pack on every preview and
 * update. GitHub is not here to run them, so every check also runs on a broken inline fixture
 * and must report it.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import YAML from "yaml";
import { listStacks } from "../offline/stack-files";
import { UPSTREAM_IMAGES } from "../components/shared/versions";

const ROOT = path.resolve(__dirname, "..");

// --- model -----------------------------------------------------------------------------------

/** `permissions:` as parsed: a map, `read-all`/`write-all`, or null when left empty. */
type Permissions = Record<string, string> | string | null | undefined;

interface Step {
    name?: string;
    id?: string;
    uses?: string;
    run?: string;
    if?: string;
    with?: Record<string, unknown>;
    env?: Record<string, unknown>;
}

interface Job {
    name?: string;
    if?: string;
    needs?: string | string[];
    permissions?: Permissions;
    environment?: string | { name: string; url?: string };
    concurrency?: string | { group: string; "cancel-in-progress"?: boolean | string };
    "timeout-minutes"?: number;
    "runs-on"?: unknown;
    strategy?: { matrix?: Record<string, unknown> };
    services?: Record<string, { image?: string; env?: Record<string, unknown>; ports?: unknown[] }>;
    uses?: string;
    steps?: Step[];
}

interface Workflow {
    file: string;
    text: string;
    name?: string;
    /** Triggers, normalised to a map (`on: push` becomes `{ push: null }`). */
    on: Record<string, unknown>;
    permissions?: Permissions;
    jobs: Record<string, Job>;
}

interface LocalAction {
    /** How workflows refer to it: `./.github/actions/<name>`. */
    ref: string;
    file: string;
    text: string;
    inputs: Record<string, { default?: unknown; required?: boolean }>;
    steps: Step[];
}

interface Repo {
    workflows: Workflow[];
    actions: Map<string, LocalAction>;
}

/** Repository-relative path → text of every workflow and local action file. */
function readRepoFiles(): Record<string, string> {
    const files: Record<string, string> = {};
    const wfDir = path.join(ROOT, ".github", "workflows");
    for (const f of fs
        .readdirSync(wfDir)
        .filter((n) => /\.ya?ml$/.test(n))
        .sort())
        files[`.github/workflows/${f}`] = fs.readFileSync(path.join(wfDir, f), "utf8");
    const actDir = path.join(ROOT, ".github", "actions");
    for (const d of fs.existsSync(actDir) ? fs.readdirSync(actDir).sort() : []) {
        for (const n of ["action.yml", "action.yaml"]) {
            const p = path.join(actDir, d, n);
            if (fs.existsSync(p)) files[`.github/actions/${d}/${n}`] = fs.readFileSync(p, "utf8");
        }
    }
    return files;
}

function parseRepo(files: Record<string, string>): Repo {
    const repo: Repo = { workflows: [], actions: new Map() };
    for (const [file, text] of Object.entries(files)) {
        // `yaml` parses YAML 1.2, as GitHub does: `on` stays a string key, never `true`.
        const doc = (YAML.parse(text) ?? {}) as Record<string, any>;
        if (file.startsWith(".github/workflows/")) {
            const on = doc.on as unknown;
            const triggers: Record<string, unknown> =
                typeof on === "string"
                    ? { [on]: null }
                    : Array.isArray(on)
                      ? Object.fromEntries(on.map((t: string) => [t, null]))
                      : ((on ?? {}) as Record<string, unknown>);
            repo.workflows.push({
                file,
                text,
                name: doc.name,
                on: triggers,
                permissions: doc.permissions,
                jobs: (doc.jobs ?? {}) as Record<string, Job>,
            });
        } else {
            const ref = `./${path.posix.dirname(file)}`;
            repo.actions.set(ref, {
                ref,
                file,
                text,
                inputs: doc.inputs ?? {},
                steps: (doc.runs?.steps ?? []) as Step[],
            });
        }
    }
    return repo;
}

const actionName = (uses: string | undefined) => uses?.split("@")[0] ?? "";
const isCheckout = (s: Step) => actionName(s.uses) === "actions/checkout";
const isCloudAuth = (s: Step) =>
    ["google-github-actions/auth", "aws-actions/configure-aws-credentials"].includes(
        actionName(s.uses),
    );
const isPulumi = (s: Step) => actionName(s.uses) === "pulumi/actions";
const truthy = (v: unknown) => v === true || v === "true";

/** `${{ inputs.x }}` in a local action's step, replaced by what the caller passes (or the default). */
function resolveInputs(value: unknown, action: LocalAction, caller: Step): unknown {
    if (typeof value !== "string") return value;
    const m = /^\$\{\{\s*inputs\.([\w-]+)\s*\}\}$/.exec(value.trim());
    if (!m) return value;
    const name = m[1]!;
    return caller.with?.[name] ?? action.inputs[name]?.default;
}

/**
 * The steps a job really runs: its own, with each local action (`uses: ./...`) expanded into
 * its steps, their `${{ inputs.* }}` values resolved from the caller's `with:`.
 */
function effectiveSteps(repo: Repo, job: Job): Step[] {
    const out: Step[] = [];
    for (const step of job.steps ?? []) {
        const action = step.uses?.startsWith("./") ? repo.actions.get(step.uses) : undefined;
        if (!action) {
            out.push(step);
            continue;
        }
        for (const inner of action.steps) {
            const w = inner.with
                ? Object.fromEntries(
                      Object.entries(inner.with).map(([k, v]) => [
                          k,
                          resolveInputs(v, action, step),
                      ]),
                  )
                : undefined;
            out.push({ ...inner, ...(w ? { with: w } : {}) });
        }
    }
    return out;
}

/** Every workflow job, with the names used in messages (`pr.yml:test`). */
function allJobs(repo: Repo): { wf: Workflow; id: string; job: Job; label: string }[] {
    return repo.workflows.flatMap((wf) =>
        Object.entries(wf.jobs).map(([id, job]) => ({
            wf,
            id,
            job,
            label: `${path.basename(wf.file)}:${id}`,
        })),
    );
}

/** Every step of every workflow and local action, with where it is. */
function allSteps(repo: Repo): { where: string; text: string; step: Step }[] {
    const out: { where: string; text: string; step: Step }[] = [];
    for (const { wf, job, label } of allJobs(repo))
        for (const step of job.steps ?? []) out.push({ where: label, text: wf.text, step });
    for (const a of repo.actions.values())
        for (const step of a.steps) out.push({ where: a.file, text: a.text, step });
    return out;
}

const permissionsOf = (job: Job): Record<string, string> =>
    job.permissions !== null && typeof job.permissions === "object" ? job.permissions : {};

const needsOf = (job: Job): string[] =>
    job.needs === undefined ? [] : Array.isArray(job.needs) ? job.needs : [job.needs];

const environmentOf = (job: Job): string | undefined =>
    typeof job.environment === "string" ? job.environment : job.environment?.name;

// --- generic checks (any workflow) ----------------------------------------------------------

/** `pull_request_target` runs fork code with a write token and secrets: never. */
function checkNoPullRequestTarget(repo: Repo): string[] {
    return repo.workflows
        .filter((wf) => "pull_request_target" in wf.on)
        .map((wf) => `${wf.file}: uses the pull_request_target trigger; use pull_request`);
}

const SHA = /^[0-9a-f]{40}$/;
const EXACT_TAG = /^v\d+\.\d+\.\d+$/;

/** Every `uses:` is local, or pinned to a full commit SHA (with a `# vX.Y.Z` comment) or an exact tag. */
function checkPinnedActions(repo: Repo): string[] {
    const problems: string[] = [];
    const uses = [
        ...allSteps(repo).map(({ where, text, step }) => ({ where, text, uses: step.uses })),
        ...allJobs(repo).map(({ wf, job, label }) => ({
            where: label,
            text: wf.text,
            uses: job.uses,
        })),
    ];
    for (const { where, text, uses: u } of uses) {
        if (u === undefined || u.startsWith("./")) continue;
        if (u.startsWith("docker://")) {
            if (!u.includes("@sha256:")) problems.push(`${where}: ${u} is not pinned by digest`);
            continue;
        }
        const ref = u.split("@")[1];
        if (ref === undefined) {
            problems.push(`${where}: ${u} has no version; pin a commit SHA or an exact vX.Y.Z tag`);
        } else if (SHA.test(ref)) {
            const line = text.split("\n").find((l) => l.includes(u));
            if (!line || !/#\s*v\d+\.\d+\.\d+\b/.test(line))
                problems.push(`${where}: ${u} needs a "# vX.Y.Z" comment naming the release`);
        } else if (!EXACT_TAG.test(ref)) {
            problems.push(
                `${where}: ${u} is not pinned (a branch or a moving tag); pin a commit SHA or an exact vX.Y.Z tag`,
            );
        }
    }
    return problems;
}

/** Top level grants nothing (or contents: read); each job grants what it needs, never more. */
function checkPermissions(repo: Repo): string[] {
    const problems: string[] = [];
    for (const wf of repo.workflows) {
        const p = wf.permissions;
        const minimal =
            p !== undefined &&
            p !== null &&
            typeof p === "object" &&
            Object.entries(p).every(([k, v]) => k === "contents" && v === "read");
        if (!minimal)
            problems.push(
                `${wf.file}: top-level permissions must be {} or { contents: read } (got ${JSON.stringify(p)})`,
            );
    }
    for (const { job, label } of allJobs(repo)) {
        if (job.permissions === null || typeof job.permissions !== "object") {
            problems.push(
                `${label}: declare the job's permissions explicitly (got ${JSON.stringify(job.permissions)})`,
            );
            continue;
        }
        for (const [scope, level] of Object.entries(job.permissions)) {
            if (!["read", "write", "none"].includes(level))
                problems.push(`${label}: permission ${scope}: ${level} is not read, write or none`);
            if (scope === "contents" && level === "write")
                problems.push(`${label}: contents: write is not needed by any job here`);
        }
    }
    return problems;
}

/** `id-token: write` exactly where a job signs in to a cloud; nowhere else. */
function checkIdToken(repo: Repo): string[] {
    const problems: string[] = [];
    for (const { job, label } of allJobs(repo)) {
        const signsIn = effectiveSteps(repo, job).some(isCloudAuth);
        const granted = permissionsOf(job)["id-token"] === "write";
        if (signsIn && !granted)
            problems.push(`${label}: signs in to a cloud but lacks id-token: write`);
        if (!signsIn && granted)
            problems.push(`${label}: has id-token: write but signs in to no cloud`);
    }
    return problems;
}

/**
 * `pull-requests: write` only for jobs that comment on pull requests: the comment workflow
 * (triggered by workflow_run, runs no PR code) and the Pulumi previews (comment-on-pr).
 */
function checkPullRequestWrite(repo: Repo): string[] {
    const problems: string[] = [];
    for (const { wf, job, label } of allJobs(repo)) {
        if (permissionsOf(job)["pull-requests"] !== "write") continue;
        const steps = effectiveSteps(repo, job);
        const previewComment = steps.some(
            (s) => isPulumi(s) && s.with?.command === "preview" && truthy(s.with["comment-on-pr"]),
        );
        const commentWorkflow =
            Object.keys(wf.on).length === 1 && "workflow_run" in wf.on && !steps.some(isCheckout);
        if (!previewComment && !commentWorkflow)
            problems.push(
                `${label}: has pull-requests: write but neither posts a Pulumi preview comment nor is the workflow_run comment job`,
            );
    }
    return problems;
}

function checkTimeouts(repo: Repo): string[] {
    return allJobs(repo)
        .filter(({ job }) => {
            const t = job["timeout-minutes"];
            return typeof t !== "number" || t < 1 || t > 180;
        })
        .map(({ job, label }) => {
            const t = job["timeout-minutes"];
            return `${label}: timeout-minutes must be a number from 1 to 180 (got ${JSON.stringify(t)})`;
        });
}

/** The checkout token must not stay in .git/config for later steps (and PR code) to read. */
function checkCheckoutCredentials(repo: Repo): string[] {
    return allSteps(repo)
        .filter(({ step }) => isCheckout(step) && step.with?.["persist-credentials"] !== false)
        .map(({ where }) => `${where}: actions/checkout without persist-credentials: false`);
}

/** Expressions are expanded into the script text before bash runs it: pass values through env. */
function checkNoExpressionsInRun(repo: Repo): string[] {
    return allSteps(repo)
        .filter(({ step }) => step.run?.includes("${{"))
        .map(
            ({ where, step }) =>
                `${where}: step "${step.name ?? step.run?.split("\n")[0]}" expands \${{ }} inside run:; pass the value through env:`,
        );
}

/** A workflow_run workflow holds a write token: it must never check out or run PR code. */
function checkWorkflowRunIsolation(repo: Repo): string[] {
    const problems: string[] = [];
    for (const { wf, job, label } of allJobs(repo)) {
        if (!("workflow_run" in wf.on)) continue;
        for (const step of job.steps ?? []) {
            if (isCheckout(step)) problems.push(`${label}: a workflow_run job checks out code`);
            if (step.uses?.startsWith("./"))
                problems.push(`${label}: a workflow_run job runs a local action (${step.uses})`);
        }
    }
    return problems;
}

/** Cloud sign-in on pull requests only for branches of this repository, in an environment. */
function checkCloudJobsOnPullRequests(repo: Repo): string[] {
    const problems: string[] = [];
    for (const { wf, job, label } of allJobs(repo)) {
        if (!effectiveSteps(repo, job).some(isCloudAuth)) continue;
        if (environmentOf(job) === undefined)
            problems.push(`${label}: signs in to a cloud outside a GitHub environment`);
        if (
            "pull_request" in wf.on &&
            !/github\.event\.pull_request\.head\.repo\.full_name\s*==\s*github\.repository/.test(
                job.if ?? "",
            )
        )
            problems.push(
                `${label}: signs in to a cloud on pull requests without the same-repository condition`,
            );
    }
    return problems;
}

/** Every Pulumi run enforces the policy pack with the CLI matching the SDK in package.json. */
function checkPulumiSteps(repo: Repo): string[] {
    const problems: string[] = [];
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
        dependencies: Record<string, string>;
    };
    const sdk = pkg.dependencies["@pulumi/pulumi"];
    for (const { where, step } of allSteps(repo).filter(({ step }) => isPulumi(step))) {
        const packs = (typeof step.with?.policyPacks === "string" ? step.with.policyPacks : "")
            .split(/[\n,]/)
            .map((s) => s.trim());
        if (!packs.includes("policy"))
            problems.push(`${where}: pulumi/actions without policyPacks: policy`);
        if (step.with?.["pulumi-version"] !== sdk)
            problems.push(
                `${where}: pulumi-version ${JSON.stringify(step.with?.["pulumi-version"])} differs from @pulumi/pulumi ${sdk} in package.json`,
            );
    }
    return problems;
}

const GENERIC_CHECKS = {
    checkNoPullRequestTarget,
    checkPinnedActions,
    checkPermissions,
    checkIdToken,
    checkPullRequestWrite,
    checkTimeouts,
    checkCheckoutCredentials,
    checkNoExpressionsInRun,
    checkWorkflowRunIsolation,
    checkCloudJobsOnPullRequests,
    checkPulumiSteps,
};

// --- this repository's workflows --------------------------------------------------------------

function workflowFile(repo: Repo, file: string): Workflow {
    const wf = repo.workflows.find((w) => w.file === `.github/workflows/${file}`);
    if (!wf) throw new Error(`.github/workflows/${file} is missing`);
    return wf;
}

/** Pulumi invocations of a job, after expanding local actions: command and stack name. */
function pulumiRuns(repo: Repo, job: Job) {
    const runs: { command: unknown; stack: unknown; commentOnPr: boolean }[] = [];
    for (const step of job.steps ?? []) {
        const action = step.uses?.startsWith("./") ? repo.actions.get(step.uses) : undefined;
        const inner = action ? action.steps.filter(isPulumi) : isPulumi(step) ? [step] : [];
        for (const p of inner) {
            const get = (k: string) =>
                action ? resolveInputs(p.with?.[k], action, step) : p.with?.[k];
            runs.push({
                command: get("command"),
                stack: action ? step.with?.stack : p.with?.["stack-name"],
                commentOnPr: truthy(get("comment-on-pr")),
            });
        }
    }
    return runs;
}

function checkPullRequestWorkflow(repo: Repo, readme: string): string[] {
    const problems: string[] = [];
    const wf = workflowFile(repo, "pr.yml");
    if (JSON.stringify(Object.keys(wf.on)) !== JSON.stringify(["pull_request"]))
        problems.push(
            `pr.yml: must run on pull_request only (got ${Object.keys(wf.on).join(", ")})`,
        );
    const { test, preview } = wf.jobs;
    const renderDiff = wf.jobs["render-diff"];
    if (!test || !renderDiff || !preview)
        return [...problems, `pr.yml: needs the jobs test, render-diff and preview`];

    // test: the README's test command, with the machine the suites expect.
    if (!/^npm test(\s|$)/m.test(readme))
        problems.push("README.md: no `npm test` line: the test job runs the README's test command");
    if (!(test.steps ?? []).some((s) => s.run?.trim() === "npm test"))
        problems.push("pr.yml:test: no step runs exactly `npm test`");
    const uses = (job: Job, name: string) =>
        (job.steps ?? []).find((s) => actionName(s.uses) === name);
    if (String(uses(test, "actions/setup-python")?.with?.["python-version"]) !== "3.11")
        problems.push("pr.yml:test: needs actions/setup-python with python-version 3.11");
    const java = uses(test, "actions/setup-java")?.with;
    if (java?.distribution !== "temurin" || String(java["java-version"]) !== "17")
        problems.push("pr.yml:test: needs actions/setup-java temurin 17");
    const pg = test.services?.postgres;
    if (pg?.env?.POSTGRES_HOST_AUTH_METHOD !== "trust" || !(pg.ports ?? []).includes("5432:5432"))
        problems.push("pr.yml:test: needs a postgres service on 5432 with trust auth");
    const cacheKeys = (test.steps ?? [])
        .filter((s) => actionName(s.uses) === "actions/cache")
        .map((s) => (typeof s.with?.key === "string" ? s.with.key : ""));
    if (!cacheKeys.some((k) => k.includes("hashFiles('package-lock.json')")))
        problems.push("pr.yml:test: no npm cache keyed on package-lock.json");
    if (!cacheKeys.some((k) => k.includes("requirements*.txt") && k.includes("python-version")))
        problems.push(
            "pr.yml:test: no venv cache keyed on the requirements and the Python version",
        );

    // render-diff: every stack against the PR base, uploaded for the comment workflow.
    const script = (renderDiff.steps ?? []).map((s) => s.run ?? "").join("\n");
    if (!/render:diff -- "\$stack" --base/.test(script) || !script.includes("listStacks()"))
        problems.push(
            "pr.yml:render-diff: must run render:diff --base for every stack (listStacks)",
        );
    const upload = uses(renderDiff, "actions/upload-artifact");
    if (upload?.with?.name !== "render-diff")
        problems.push("pr.yml:render-diff: must upload the artifact named render-diff");

    // preview: one per stack whose cloud CI is on (cloud-stacks), with its PR comment.
    const matrix = preview.strategy?.matrix?.stack;
    const cloudStacks = wf.jobs["cloud-stacks"];
    if (
        !cloudStacks ||
        !needsOf(preview).includes("cloud-stacks") ||
        matrix !== "${{ fromJSON(needs.cloud-stacks.outputs.stacks) }}"
    )
        problems.push(
            `pr.yml:preview: matrix.stack ${JSON.stringify(matrix)} must come from the cloud-stacks job (the stacks whose CLOUD_CI_<STACK> is true)`,
        );
    if (!/needs\.cloud-stacks\.outputs\.stacks != '\[\]'/.test(preview.if ?? ""))
        problems.push("pr.yml:preview: must be skipped when no stack has cloud CI on");
    const runs = pulumiRuns(repo, preview);
    if (
        runs.length !== 1 ||
        runs[0]!.command !== "preview" ||
        !runs[0]!.commentOnPr ||
        runs[0]!.stack !== "${{ matrix.stack }}"
    )
        problems.push(
            `pr.yml:preview: must run one pulumi preview of \${{ matrix.stack }} with comment-on-pr (got ${JSON.stringify(runs)})`,
        );
    return problems;
}

function checkCommentWorkflow(repo: Repo): string[] {
    const problems: string[] = [];
    const wf = workflowFile(repo, "pr-comment.yml");
    const pr = workflowFile(repo, "pr.yml");
    const run = wf.on.workflow_run as { workflows?: string[]; types?: string[] } | undefined;
    if (Object.keys(wf.on).length !== 1 || !run)
        problems.push("pr-comment.yml: must run on workflow_run only");
    if (JSON.stringify(run?.workflows) !== JSON.stringify([pr.name]))
        problems.push(
            `pr-comment.yml: workflow_run.workflows ${JSON.stringify(run?.workflows)} must name pr.yml ("${pr.name}")`,
        );
    if (JSON.stringify(run?.types) !== JSON.stringify(["completed"]))
        problems.push("pr-comment.yml: workflow_run.types must be [completed]");
    const jobs = Object.values(wf.jobs);
    if (jobs.length !== 1) problems.push("pr-comment.yml: must have exactly one job");
    const perms = jobs[0] ? permissionsOf(jobs[0]) : {};
    if (JSON.stringify(perms) !== JSON.stringify({ actions: "read", "pull-requests": "write" }))
        problems.push(
            `pr-comment.yml: the job needs exactly actions: read and pull-requests: write (got ${JSON.stringify(perms)})`,
        );
    const script = (jobs[0]?.steps ?? []).map((s) => s.run ?? "").join("\n");
    if (!script.includes("--name render-diff"))
        problems.push("pr-comment.yml: must download the render-diff artifact");
    if (!/RUN_HEAD_SHA/.test(script))
        problems.push("pr-comment.yml: must check the PR head against the run's head commit");
    return problems;
}

/** Every variable and secret the workflows read is documented (README or docs/operations.md). */
function checkVariablesDocumented(repo: Repo, docs: string): string[] {
    const names = new Set<string>();
    for (const wf of repo.workflows)
        for (const m of wf.text.matchAll(/\b(?:vars|secrets)\.([A-Z][A-Z0-9_]*)/g))
            names.add(m[1]!);
    return [...names]
        .sort()
        .filter((n) => !docs.includes(`\`${n}\``))
        .map(
            (n) => `README.md/docs/operations.md: the workflows read ${n} but neither documents it`,
        );
}

/** The repository variable that turns a stack's cloud jobs on: `CLOUD_CI_<STACK>`. */
export function cloudCiVariable(stack: string): string {
    return `CLOUD_CI_${stack.toUpperCase().replace(/-/g, "_")}`;
}

/**
 * Run the cloud-stacks step's script as GitHub would (bash, the repository as working
 * directory, `VARS` = toJSON(vars)) and return the stacks it enables.
 */
function enabledStacks(repo: Repo, vars: Record<string, string>): string[] {
    const job = workflowFile(repo, "pr.yml").jobs["cloud-stacks"];
    const step = (job?.steps ?? []).find((s) => s.id === "enabled");
    if (!step?.run) throw new Error("pr.yml:cloud-stacks has no step with id enabled");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taxi-cloud-stacks-"));
    try {
        const output = path.join(dir, "output");
        execFileSync("bash", ["-c", step.run], {
            cwd: ROOT,
            env: {
                PATH: process.env.PATH,
                VARS: JSON.stringify(vars),
                GITHUB_OUTPUT: output,
                GITHUB_STEP_SUMMARY: path.join(dir, "summary"),
            },
        });
        const line = fs
            .readFileSync(output, "utf8")
            .split("\n")
            .find((l) => l.startsWith("stacks="));
        return JSON.parse(line?.slice("stacks=".length) ?? "null") as string[];
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** The Cloud SDK the CI installs is the release the platform's gcloud image mirrors. */
function checkOneCloudSdk(repo: Repo): string[] {
    const want = /google-cloud-cli:(\d+\.\d+\.\d+)/.exec(UPSTREAM_IMAGES.cloudSdk)?.[1];
    return allSteps(repo)
        .filter(({ step }) => actionName(step.uses) === "google-github-actions/setup-gcloud")
        .filter(({ step }) => String(step.with?.version) !== want)
        .map(
            ({ where, step }) =>
                `${where}: setup-gcloud version ${JSON.stringify(step.with?.version)} differs from the cloudSdk image ${want} (components/shared/versions.ts): pin one Cloud SDK release`,
        );
}

function checkDeployWorkflow(repo: Repo): string[] {
    const problems: string[] = [];
    const wf = workflowFile(repo, "deploy.yml");
    const push = wf.on.push as { branches?: string[] } | undefined;
    if (
        JSON.stringify(Object.keys(wf.on).sort()) !==
            JSON.stringify(["push", "workflow_dispatch"]) ||
        JSON.stringify(push?.branches) !== JSON.stringify(["main"])
    )
        problems.push("deploy.yml: must run on push to main and workflow_dispatch only");
    const stacks = listStacks();
    const ids = stacks.map((s) => `up-${s}`);
    if (JSON.stringify(Object.keys(wf.jobs)) !== JSON.stringify(ids))
        problems.push(
            `deploy.yml: jobs must be ${ids.join(", ")} in that order (got ${Object.keys(wf.jobs).join(", ")})`,
        );
    const groups = new Set<string>();
    stacks.forEach((stack, i) => {
        const id = `up-${stack}`;
        const job = wf.jobs[id];
        if (!job) return;
        const want = i === 0 ? [] : [`up-${stacks[i - 1]}`];
        if (JSON.stringify(needsOf(job)) !== JSON.stringify(want))
            problems.push(
                `deploy.yml:${id}: needs ${JSON.stringify(needsOf(job))}; expected ${JSON.stringify(want)}`,
            );
        if (environmentOf(job) !== stack)
            problems.push(
                `deploy.yml:${id}: environment ${JSON.stringify(environmentOf(job))}; expected ${stack} (approvals live there)`,
            );
        const c = job.concurrency;
        const group = typeof c === "string" ? c : c?.group;
        const cancels = typeof c === "object" ? c["cancel-in-progress"] : undefined;
        if (!group?.includes(stack) || cancels !== false)
            problems.push(
                `deploy.yml:${id}: needs concurrency with a group of its stack and cancel-in-progress: false`,
            );
        if (group !== undefined) {
            if (groups.has(group))
                problems.push(`deploy.yml:${id}: concurrency group ${group} reused`);
            groups.add(group);
        }
        // One switch per environment; later stacks still run when an earlier one is off
        // (skipped), never after one failed or was cancelled.
        const cond = job.if ?? "";
        if (!cond.includes(`vars.${cloudCiVariable(stack)} == 'true'`))
            problems.push(
                `deploy.yml:${id}: must run only when vars.${cloudCiVariable(stack)} == 'true' (got ${JSON.stringify(cond)})`,
            );
        if (i > 0 && !(cond.includes("!cancelled()") && cond.includes("!failure()")))
            problems.push(
                `deploy.yml:${id}: needs !cancelled() && !failure() so it runs after a skipped (off) stack but not after a failed one`,
            );
        const runs = pulumiRuns(repo, job);
        if (runs.length !== 1 || runs[0]!.command !== "up" || runs[0]!.stack !== stack)
            problems.push(
                `deploy.yml:${id}: must run one pulumi up of stack ${stack} (got ${JSON.stringify(runs)})`,
            );
    });
    return problems;
}

// --- tests -----------------------------------------------------------------------------------

/** Replace `from` (which must occur exactly once) in one file of a copy of `files`. */
function patch(
    files: Record<string, string>,
    file: string,
    from: string,
    to: string,
): Record<string, string> {
    const text = files[file];
    assert.ok(text !== undefined, `fixture: no file ${file}`);
    assert.equal(
        text.split(from).length - 1,
        1,
        `fixture: ${JSON.stringify(from)} not once in ${file}`,
    );
    return { ...files, [file]: text.replace(from, to) };
}

function assertReports(problems: string[], expected: RegExp): void {
    assert.ok(
        problems.some((p) => expected.test(p)),
        `expected a problem matching ${expected}, got:\n${problems.join("\n") || "(none)"}`,
    );
}

describe("GitHub Actions workflows", () => {
    const files = readRepoFiles();
    const repo = parseRepo(files);
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    const operations = fs.readFileSync(path.join(ROOT, "docs", "operations.md"), "utf8");
    const docs = `${readme}\n${operations}`;

    it("has the three workflows and the shared Pulumi action", () => {
        assert.deepEqual(repo.workflows.map((w) => w.file).sort(), [
            ".github/workflows/deploy.yml",
            ".github/workflows/pr-comment.yml",
            ".github/workflows/pr.yml",
        ]);
        assert.ok(repo.actions.has("./.github/actions/pulumi-stack"));
    });

    for (const [name, check] of Object.entries(GENERIC_CHECKS)) {
        it(`${name}: no problems`, () => {
            assert.deepEqual(check(repo), []);
        });
    }

    it("pull request workflow: test, render diff, previews", () => {
        assert.deepEqual(checkPullRequestWorkflow(repo, readme), []);
    });

    it("comment workflow: one sticky comment from the artifact, nothing else", () => {
        assert.deepEqual(checkCommentWorkflow(repo), []);
    });

    it("deploy workflow: up dev → staging → prod in their environments", () => {
        assert.deepEqual(checkDeployWorkflow(repo), []);
    });

    it("previews exactly the stacks whose CLOUD_CI_<STACK> is true, none by default", () => {
        assert.deepEqual(enabledStacks(repo, {}), []);
        assert.deepEqual(enabledStacks(repo, { CLOUD_CI_DEV: "true", CLOUD_CI_PROD: "false" }), [
            "dev",
        ]);
        const all = Object.fromEntries(listStacks().map((s) => [cloudCiVariable(s), "true"]));
        assert.deepEqual(enabledStacks(repo, all).sort(), [...listStacks()].sort());
        assert.deepEqual(enabledStacks(repo, { CLOUD_CI: "true" }), [], "the old switch is gone");
    });

    it("installs the one Cloud SDK release the platform's gcloud image uses", () => {
        assert.deepEqual(checkOneCloudSdk(repo), []);
    });

    it("README documents every variable and secret the workflows read", () => {
        assert.deepEqual(checkVariablesDocumented(repo, docs), []);
    });

    it("grants id-token: write only to the preview and up jobs, pull-requests: write only to preview and the comment", () => {
        const grants = (scope: string) =>
            allJobs(repo)
                .filter(({ job }) => permissionsOf(job)[scope] === "write")
                .map(({ label }) => label)
                .sort();
        assert.deepEqual(grants("id-token"), [
            "deploy.yml:up-dev",
            "deploy.yml:up-prod",
            "deploy.yml:up-staging",
            "pr.yml:preview",
        ]);
        assert.deepEqual(grants("pull-requests"), ["pr-comment.yml:comment", "pr.yml:preview"]);
    });

    describe("reports broken fixtures", () => {
        // One workflow that gets everything wrong at once.
        const BAD = `
name: bad
on:
  pull_request_target:
    branches: [main]
permissions: write-all
jobs:
  build:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-node@de0fac2e4500dabe0009e67214ff5f5447ce83dd
      - uses: google-github-actions/auth@main
      - run: echo "\${{ github.event.pull_request.title }}"
  comment:
    runs-on: ubuntu-24.04
    timeout-minutes: 5
    permissions:
      contents: write
      id-token: write
      pull-requests: write
    steps:
      - run: echo hi
`;
        const bad = parseRepo({ ".github/workflows/bad.yml": BAD });
        const cases: [keyof typeof GENERIC_CHECKS, RegExp][] = [
            ["checkNoPullRequestTarget", /pull_request_target/],
            ["checkPinnedActions", /actions\/checkout@v4 is not pinned/],
            ["checkPinnedActions", /google-github-actions\/auth@main is not pinned/],
            ["checkPinnedActions", /setup-node@de0fac2e.* needs a "# vX\.Y\.Z" comment/],
            ["checkPermissions", /bad\.yml: top-level permissions must be/],
            ["checkPermissions", /bad\.yml:build: declare the job's permissions/],
            ["checkPermissions", /bad\.yml:comment: contents: write/],
            ["checkIdToken", /bad\.yml:build: signs in to a cloud but lacks id-token/],
            ["checkIdToken", /bad\.yml:comment: has id-token: write but signs in to no cloud/],
            ["checkPullRequestWrite", /bad\.yml:comment: has pull-requests: write/],
            ["checkTimeouts", /bad\.yml:build: timeout-minutes/],
            [
                "checkCheckoutCredentials",
                /bad\.yml:build: actions\/checkout without persist-credentials/,
            ],
            ["checkNoExpressionsInRun", /expands \$\{\{ \}\} inside run/],
            [
                "checkCloudJobsOnPullRequests",
                /bad\.yml:build: signs in to a cloud outside a GitHub environment/,
            ],
        ];
        for (const [check, expected] of cases) {
            it(`${check}: ${expected.source}`, () => {
                assertReports(GENERIC_CHECKS[check](bad), expected);
            });
        }

        const PR = ".github/workflows/pr.yml";
        const COMMENT = ".github/workflows/pr-comment.yml";
        const DEPLOY = ".github/workflows/deploy.yml";
        const ACTION = ".github/actions/pulumi-stack/action.yml";
        const broken = (file: string, from: string, to: string) =>
            parseRepo(patch(files, file, from, to));

        it("a preview without the same-repository condition", () => {
            const r = broken(
                PR,
                "needs.cloud-stacks.outputs.stacks != '[]' &&\n      github.event.pull_request.head.repo.full_name == github.repository &&",
                "needs.cloud-stacks.outputs.stacks != '[]' &&",
            );
            assertReports(checkCloudJobsOnPullRequests(r), /pr\.yml:preview: .*same-repository/);
        });

        it("the policy pack dropped from the shared action", () => {
            const r = broken(ACTION, "        policyPacks: policy\n", "");
            assertReports(checkPulumiSteps(r), /without policyPacks: policy/);
        });

        it("a Pulumi CLI that differs from the SDK", () => {
            const r = broken(ACTION, "pulumi-version: 3.270.0", "pulumi-version: 3.100.0");
            assertReports(checkPulumiSteps(r), /pulumi-version "3\.100\.0" differs/);
        });

        it("the test job running something else than npm test", () => {
            const r = broken(PR, "        run: npm test\n", "        run: npm run test:unit\n");
            assertReports(checkPullRequestWorkflow(r, readme), /no step runs exactly `npm test`/);
        });

        it("a README without the test command", () => {
            assertReports(
                checkPullRequestWorkflow(repo, readme.replace(/^npm test/gm, "npm run test:unit")),
                /README\.md: no `npm test` line/,
            );
        });

        it("a preview matrix that ignores the per-environment switch", () => {
            const r = broken(
                PR,
                "stack: ${{ fromJSON(needs.cloud-stacks.outputs.stacks) }}",
                "stack: [dev, staging, prod]",
            );
            assertReports(
                checkPullRequestWorkflow(r, readme),
                /matrix\.stack .* must come from the cloud-stacks job/,
            );
        });

        it("a cloud-stacks script that enables every stack", () => {
            const r = broken(
                PR,
                `if [[ "$(jq -r --arg n "$name" '.[$n] // ""' <<< "$VARS")" == "true" ]]; then`,
                "if true; then",
            );
            assert.deepEqual(enabledStacks(r, {}).sort(), [...listStacks()].sort());
        });

        it("a staging deploy that ignores its switch or runs after a failed dev", () => {
            const r = broken(DEPLOY, "vars.CLOUD_CI_STAGING == 'true'", "true");
            assertReports(
                checkDeployWorkflow(r),
                /up-staging: must run only when vars\.CLOUD_CI_STAGING/,
            );
            const r2 = broken(
                DEPLOY,
                "      !cancelled() && !failure() &&\n      vars.CLOUD_CI_PROD",
                "      vars.CLOUD_CI_PROD",
            );
            assertReports(checkDeployWorkflow(r2), /up-prod: needs !cancelled\(\) && !failure\(\)/);
        });

        it("a CI Cloud SDK that differs from the platform's", () => {
            const r = broken(ACTION, "version: 537.0.0", "version: 522.0.0");
            assertReports(checkOneCloudSdk(r), /setup-gcloud version "522\.0\.0" differs/);
        });

        it("id-token granted to the test job", () => {
            const r = broken(
                PR,
                "    permissions:\n      contents: read\n    concurrency:\n      group: pr-${{ github.event.pull_request.number }}-test",
                "    permissions:\n      contents: read\n      id-token: write\n    concurrency:\n      group: pr-${{ github.event.pull_request.number }}-test",
            );
            assertReports(
                checkIdToken(r),
                /pr\.yml:test: has id-token: write but signs in to no cloud/,
            );
        });

        it("pull-requests: write on the render-diff job", () => {
            const r = broken(
                PR,
                "    permissions:\n      contents: read\n    concurrency:\n      group: pr-${{ github.event.pull_request.number }}-render-diff",
                "    permissions:\n      contents: read\n      pull-requests: write\n    concurrency:\n      group: pr-${{ github.event.pull_request.number }}-render-diff",
            );
            assertReports(
                checkPullRequestWrite(r),
                /pr\.yml:render-diff: has pull-requests: write/,
            );
        });

        it("a comment workflow that checks out the pull request", () => {
            const r = broken(
                COMMENT,
                "    steps:\n",
                "    steps:\n      - uses: actions/checkout@de0fac2e4500dabe0009e67214ff5f5447ce83dd # v6.0.2\n        with:\n          persist-credentials: false\n",
            );
            assertReports(checkWorkflowRunIsolation(r), /workflow_run job checks out code/);
            assertReports(
                checkPullRequestWrite(r),
                /pr-comment\.yml:comment: has pull-requests: write/,
            );
        });

        it("a comment workflow listening to the wrong workflow", () => {
            const r = broken(COMMENT, 'workflows: ["pull request"]', 'workflows: ["ci"]');
            assertReports(checkCommentWorkflow(r), /must name pr\.yml/);
        });

        it("prod deployed right after dev (staging skipped)", () => {
            const r = broken(DEPLOY, "    needs: up-staging\n", "    needs: up-dev\n");
            assertReports(
                checkDeployWorkflow(r),
                /up-prod: needs \["up-dev"\]; expected \["up-staging"\]/,
            );
        });

        it("a deploy job outside its environment", () => {
            const r = broken(DEPLOY, "    environment: staging\n", "");
            assertReports(
                checkDeployWorkflow(r),
                /up-staging: environment undefined; expected staging/,
            );
            assertReports(
                checkCloudJobsOnPullRequests(r),
                /up-staging: signs in to a cloud outside a GitHub environment/,
            );
        });

        it("a deploy that cancels a running update", () => {
            const r = broken(
                DEPLOY,
                "      group: pulumi-prod\n      cancel-in-progress: false",
                "      group: pulumi-prod\n      cancel-in-progress: true",
            );
            assertReports(
                checkDeployWorkflow(r),
                /up-prod: needs concurrency .* cancel-in-progress: false/,
            );
        });

        it("a deploy job that previews instead of updating", () => {
            const r = broken(
                DEPLOY,
                "          command: up\n          stack: dev",
                "          command: preview\n          stack: dev",
            );
            assertReports(checkDeployWorkflow(r), /up-dev: must run one pulumi up of stack dev/);
        });

        it("a variable the README does not mention", () => {
            assertReports(
                checkVariablesDocumented(repo, docs.split("`CLOUD_CI_STAGING`").join("STAGING")),
                /workflows read CLOUD_CI_STAGING but neither documents it/,
            );
        });

        it("a deploy on every branch", () => {
            const r = broken(DEPLOY, "    branches: [main]", "    branches: ['**']");
            assertReports(checkDeployWorkflow(r), /push to main and workflow_dispatch only/);
        });
    });
});
