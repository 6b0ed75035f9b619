/**
 * The bootstrap's plan and its idempotency. gcloud and aws cannot run here (no CLIs, no cloud),
 * so the real-run path is exercised with a fake command runner that keeps the cloud's state
 * (what exists, what was created); the dry-run script is run by bash with the two CLIs replaced by
 * recording stubs, and must issue exactly the commands a real run would.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
    DEPLOY_ROLES,
    PREVIEW_ROLES,
    execute,
    inputFromStack,
    parseArgs,
    plan,
    renderScript,
    type CommandResult,
    type Runner,
} from "./bootstrap-env";
import { readStackFile } from "../offline/stack-files";

const REPO = "acme/taxi-platform";
const PROJECT_NUMBER = "123456789012";
const ACCOUNT = "210987654321";

/** A fake cloud: resources exist once created; lookups answer; every call is recorded. */
function fakeCloud(existing: string[] = []) {
    const exists = new Set(existing);
    const calls: string[][] = [];
    // The resource a describe/get names, and the one a create makes: same key.
    const key = (argv: string[]) => {
        const a = argv.join(" ");
        if (/storage buckets (describe|create) /.test(a)) return `bucket ${argv[4]}`;
        if (/kms keyrings (describe|create) /.test(a)) return `keyring ${argv[4]}`;
        if (/kms keys (describe|create) /.test(a)) return `key ${argv[4]}`;
        if (/workload-identity-pools providers (describe|create-oidc) /.test(a))
            return `provider ${argv[5]}`;
        if (/workload-identity-pools (describe|create) /.test(a)) return `pool ${argv[4]}`;
        if (/service-accounts describe /.test(a)) return `sa ${argv[4]!.split("@")[0]}`;
        if (/service-accounts create /.test(a)) return `sa ${argv[4]}`;
        if (/iam (get-role|create-role) /.test(a)) return `role ${argv[4]}`;
        if (/open-id-connect-provider/.test(a) && !/thumbprint/.test(a)) return "oidc";
        return undefined;
    };
    const runner: Runner = (argv): CommandResult => {
        calls.push(argv);
        const a = argv.join(" ");
        if (a.startsWith("gcloud projects describe"))
            return { status: 0, stdout: `${PROJECT_NUMBER}\n`, stderr: "" };
        if (a.startsWith("aws sts get-caller-identity"))
            return { status: 0, stdout: `${ACCOUNT}\n`, stderr: "" };
        const k = key(argv);
        if (/ (describe|get-role|get-open-id-connect-provider) /.test(` ${a} `) && k) {
            return exists.has(k)
                ? { status: 0, stdout: "{}", stderr: "" }
                : { status: 1, stdout: "", stderr: "NOT_FOUND" };
        }
        if (k) {
            if (exists.has(k)) return { status: 1, stdout: "", stderr: `ALREADY_EXISTS ${k}` };
            exists.add(k);
        }
        return { status: 0, stdout: "", stderr: "" };
    };
    return { runner, calls, exists };
}

const creates = (calls: string[][]) =>
    calls.filter((c) =>
        /^(create|create-oidc|create-role|create-open-id-connect-provider)$/.test(
            c.find((x) => x.startsWith("create")) ?? "",
        ),
    );

describe("tools/bootstrap-env", () => {
    const values = readStackFile("dev");
    const cfg = (k: string) => values[`taxi-platform:${k}`] as string;
    const input = inputFromStack("dev", REPO, undefined, values);
    const steps = plan(input);

    it("reads project and regions from the stack file", () => {
        assert.deepEqual(
            [input.project, input.region, input.awsRegion],
            [cfg("gcpProject"), cfg("gcpRegion"), cfg("awsRegion")],
        );
        const script = renderScript(input, steps);
        const project = cfg("gcpProject");
        for (const s of steps.filter((x) => x.run[0] === "gcloud")) {
            const flat = s.run.join(" ");
            assert.ok(
                flat.includes(`--project=${project}`) ||
                    flat.includes(` ${project}`) ||
                    flat.includes(`gs://${project}-`),
                `not in project ${project}: ${flat}`,
            );
        }
        for (const s of steps.filter((x) => x.run[0] === "aws"))
            assert.deepEqual(s.run.slice(-2), ["--region", cfg("awsRegion")]);
        assert.match(
            script,
            new RegExp(
                `buckets create gs://${project}-pulumi-state --project=${project} --location=${cfg("gcpRegion")} `,
            ),
        );
        assert.match(script, /^set -euo pipefail$/m);
    });

    it("gives each identity exactly its roles, and trusts one GitHub environment each", () => {
        const script = renderScript(input, steps);
        const rolesOf = (sa: string) =>
            [
                ...script.matchAll(
                    new RegExp(
                        `--member=serviceAccount:${sa}@[^ ]+ --role=(roles/[\\w.]+) --condition=None`,
                        "g",
                    ),
                ),
            ].map((m) => m[1]);
        assert.deepEqual(rolesOf("pulumi-deploy"), [...DEPLOY_ROLES]);
        assert.deepEqual(rolesOf("pulumi-preview"), [...PREVIEW_ROLES]);
        assert.ok(
            !rolesOf("pulumi-preview").some((r) => /admin|owner|writer/i.test(r!)),
            "preview writes nothing",
        );
        assert.match(script, /subject\/repo:acme\/taxi-platform:environment:dev"/);
        assert.match(script, /subject\/repo:acme\/taxi-platform:environment:preview-dev"/);
        assert.match(script, /attribute-condition=assertion.repository == 'acme\/taxi-platform'/);
        assert.doesNotMatch(
            script,
            /keys create .*iam\.gserviceaccount|create-access-key|service-accounts keys/,
            "no keys",
        );
    });

    it("--dry-run prints exactly the commands a real run issues (bash runs the script with stub CLIs)", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taxi-bootstrap-"));
        try {
            const log = path.join(dir, "calls");
            const stubs = `
record() { local a; for a in "$@"; do printf '%s\\037' "$a"; done; printf '\\036'; } >> "${log}"
answer() {
  case "$*" in
    "gcloud projects describe"*) echo ${PROJECT_NUMBER} ;;
    "aws sts get-caller-identity"*) echo ${ACCOUNT} ;;
    *" describe "*|*" get-role "*|*" get-open-id-connect-provider "*) return 1 ;;
  esac
}
gcloud() { record gcloud "$@"; answer gcloud "$@"; }
aws() { record aws "$@"; answer aws "$@"; }
`;
            const script = renderScript(input, steps).replace(
                "set -euo pipefail",
                `set -euo pipefail\n${stubs}`,
            );
            execFileSync("bash", ["-c", script], { stdio: "pipe" });
            const fromScript = fs
                .readFileSync(log, "utf8")
                .split("\x1e")
                .filter((x) => x !== "")
                .map((c) => c.split("\x1f").slice(0, -1));
            const cloud = fakeCloud();
            execute(steps, cloud.runner);
            assert.deepEqual(fromScript, cloud.calls);
            // The looked-up values reached the commands that need them.
            assert.ok(
                fromScript.some((c) =>
                    c.some((a) =>
                        a.includes(
                            `projects/${PROJECT_NUMBER}/locations/global/workloadIdentityPools/github/subject/`,
                        ),
                    ),
                ),
            );
            assert.ok(
                fromScript.some((c) =>
                    c.some((a) => a.includes(`arn:aws:iam::${ACCOUNT}:oidc-provider/`)),
                ),
            );
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("is idempotent: a second run creates nothing and re-applies the bindings unchanged", () => {
        const cloud = fakeCloud();
        const first = execute(steps, cloud.runner);
        const created = first.filter((o) => o.outcome === "created").map((o) => o.title);
        assert.equal(created.length, 10, created.join("\n"));
        cloud.calls.length = 0;
        const second = execute(steps, cloud.runner);
        assert.deepEqual(
            second.filter((o) => o.outcome === "created"),
            [],
        );
        assert.equal(second.filter((o) => o.outcome === "exists").length, 10);
        assert.deepEqual(creates(cloud.calls), []);
    });

    it("creates only what is missing (a project where someone made the bucket by hand)", () => {
        const bucket = `bucket gs://${cfg("gcpProject")}-pulumi-state`;
        const cloud = fakeCloud([bucket, "oidc"]);
        const out = execute(steps, cloud.runner);
        assert.equal(out.find((o) => o.title.startsWith("Pulumi state bucket"))?.outcome, "exists");
        assert.equal(
            out.find((o) => o.title.startsWith("GitHub OIDC provider (once"))?.outcome,
            "exists",
        );
        assert.equal(out.filter((o) => o.outcome === "created").length, 8);
    });

    it("stops at a failed command, naming the step, the command and the fix", () => {
        const cloud = fakeCloud();
        const failing: Runner = (argv) =>
            argv.includes("keyrings") && argv.includes("create")
                ? { status: 1, stdout: "", stderr: "PERMISSION_DENIED: cloudkms.keyRings.create" }
                : cloud.runner(argv);
        assert.throws(
            () => execute(steps, failing),
            /bootstrap step failed: KMS key ring pulumi\n {2}command: gcloud kms keyrings create pulumi .*\n {2}exit 1: PERMISSION_DENIED.*\nFix the cause and run the bootstrap again/,
        );
    });

    it("splits the clouds with --only and rejects bad arguments clearly", () => {
        const gcpOnly = plan({ ...input, only: "gcp" });
        assert.ok(gcpOnly.every((s) => s.run[0] === "gcloud"));
        const awsOnly = plan({ ...input, only: "aws" });
        assert.ok(awsOnly.every((s) => s.run[0] === "aws"));
        assert.equal(gcpOnly.length + awsOnly.length, steps.length);
        assert.throws(() => parseArgs(["dev"]), /--repo <owner>\/<repository> is required/);
        assert.throws(
            () => parseArgs(["dev", "--repo", REPO, "--bogus"]),
            /unknown option --bogus/,
        );
        assert.deepEqual(parseArgs(["dev", "--repo", REPO, "--dry-run"]), {
            stack: "dev",
            repo: REPO,
            dryRun: true,
            only: undefined,
        });
        assert.throws(
            () => inputFromStack("dev", "not-a-repo", undefined, values),
            /--repo "not-a-repo"/,
        );
        assert.throws(
            () => inputFromStack("dev", REPO, undefined, {}),
            /has no gcpProject\n.*has no gcpRegion/,
        );
    });
});
