/**
 * One-time bootstrap of an environment, before its first `pulumi up` (docs/operations.md, day 0):
 *
 *   Google Cloud  the APIs, the Pulumi state bucket and its Cloud KMS key, a Workload Identity
 *                 pool and GitHub OIDC provider restricted to this repository, the deploying and
 *                 the preview service accounts (each usable only by its GitHub environment) and
 *                 their roles;
 *   AWS           the GitHub OIDC provider and the two roles (deploy, read-only preview), each
 *                 trusting one GitHub environment.
 *
 * Usage:
 *   npm run bootstrap:env -- <stack> --repo <owner>/<repository> [--dry-run] [--only gcp|aws]
 *
 * Project, region and AWS region come from stacks/Pulumi.<stack>.yaml (replace the placeholders
 * first). `--dry-run` prints exactly the commands it would run, as a bash script (the project
 * number and the AWS account are looked up by the first commands and used as variables). A real
 * run is idempotent: each resource is described first and created only when missing; bindings
 * and policies are set every time (setting an existing one changes nothing). No keys are created.
 */
import { spawnSync } from "node:child_process";
import { readStackFile, stackFilePath } from "../offline/stack-files";

export interface BootstrapInput {
    stack: string;
    project: string;
    region: string;
    awsRegion: string;
    /** GitHub `<owner>/<repository>` whose workflows may sign in. */
    repo: string;
    only?: "gcp" | "aws";
}

/** A command and, for resources, the read-only command that tells whether it already exists. */
export interface Step {
    title: string;
    run: string[];
    /** Exit status 0 = the resource exists: `run` is skipped. */
    exists?: string[];
    /** Capture stdout (trimmed) into this variable; later args use `${NAME}`. */
    capture?: string;
}

/** Roles of the deploying identity: what the stack creates (network, GKE, buckets, IAM, …). */
export const DEPLOY_ROLES = [
    "roles/compute.networkAdmin",
    "roles/compute.securityAdmin",
    "roles/container.admin",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.serviceAccountUser",
    "roles/resourcemanager.projectIamAdmin",
    "roles/storage.admin",
    "roles/bigquery.admin",
    "roles/artifactregistry.admin",
    "roles/certificatemanager.owner",
    "roles/storagetransfer.admin",
    "roles/serviceusage.serviceUsageConsumer",
    // The empty secrets of Airflow's connections and their per-secret IAM (components/airflow).
    "roles/secretmanager.admin",
] as const;

/** Roles of the preview identity: read everything the stack manages, write nothing. */
export const PREVIEW_ROLES = [
    "roles/viewer",
    "roles/iam.securityReviewer",
    "roles/container.viewer",
    "roles/artifactregistry.reader",
] as const;

/** The APIs the stack and the CI sign-in use. */
export const APIS = [
    "compute.googleapis.com",
    "container.googleapis.com",
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "storage.googleapis.com",
    "storagetransfer.googleapis.com",
    "certificatemanager.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "sts.googleapis.com",
    "cloudkms.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "secretmanager.googleapis.com",
    // Artifact Analysis scans every pushed image (the cluster's own vulnerability scanning is
    // off: VULNERABILITY_BASIC is no longer accepted, components/cluster).
    "containerscanning.googleapis.com",
] as const;

/**
 * The DNS-based control-plane endpoint (the stack's kubeconfig) admits only callers with
 * `container.clusters.connect`; the deploying identity has it through `roles/container.admin`,
 * the preview identity gets exactly this custom role.
 */
export const DNS_CONNECT_ROLE = {
    id: "gkeDnsConnect",
    title: "GKE DNS endpoint connect",
    permissions: ["container.clusters.connect", "container.clusters.get"],
} as const;

const GITHUB_ISSUER = "https://token.actions.githubusercontent.com";
const POOL = "github";
const KEYRING = "pulumi";
const KEY = "state";

/** Names the bootstrap creates, for the plan and for the summary printed afterwards. */
export function names(i: BootstrapInput) {
    const sa = (n: string) => `${n}@${i.project}.iam.gserviceaccount.com`;
    return {
        stateBucket: `gs://${i.project}-pulumi-state`,
        secretsProvider: `gcpkms://projects/${i.project}/locations/${i.region}/keyRings/${KEYRING}/cryptoKeys/${KEY}`,
        pool: `projects/\${PROJECT_NUMBER}/locations/global/workloadIdentityPools/${POOL}`,
        provider: `projects/\${PROJECT_NUMBER}/locations/global/workloadIdentityPools/${POOL}/providers/${POOL}`,
        deploySa: sa("pulumi-deploy"),
        previewSa: sa("pulumi-preview"),
        deployRole: `pulumi-deploy-${i.stack}`,
        previewRole: `pulumi-preview-${i.stack}`,
        /** GitHub environments whose tokens each identity trusts. */
        deployEnv: i.stack,
        previewEnv: `preview-${i.stack}`,
    };
}

/** Trust policy of an AWS role: the GitHub OIDC token of one environment of one repository. */
export function githubTrustPolicy(repo: string, environment: string): string {
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [
            {
                Effect: "Allow",
                Principal: {
                    Federated:
                        "arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com",
                },
                Action: "sts:AssumeRoleWithWebIdentity",
                Condition: {
                    StringEquals: {
                        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                        "token.actions.githubusercontent.com:sub": `repo:${repo}:environment:${environment}`,
                    },
                },
            },
        ],
    });
}

/**
 * PowerUserAccess has no IAM: the deploying role may manage the stack's own roles only
 * (`<env>-airflow-trigger`, `<env>-gcp-storage-transfer`); `pulumi-deploy-<env>` does not match
 * `<env>-*`, so it cannot widen itself.
 */
export function stackRolesPolicy(stack: string): string {
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [
            {
                Effect: "Allow",
                Action: [
                    "iam:CreateRole",
                    "iam:DeleteRole",
                    "iam:GetRole",
                    "iam:UpdateRole",
                    "iam:UpdateAssumeRolePolicy",
                    "iam:TagRole",
                    "iam:UntagRole",
                    "iam:PutRolePolicy",
                    "iam:GetRolePolicy",
                    "iam:DeleteRolePolicy",
                    "iam:ListRolePolicies",
                    "iam:ListAttachedRolePolicies",
                    "iam:ListInstanceProfilesForRole",
                    "iam:PassRole",
                ],
                Resource: `arn:aws:iam::\${ACCOUNT}:role/${stack}-*`,
            },
        ],
    });
}

function gcpSteps(i: BootstrapInput): Step[] {
    const n = names(i);
    const p = `--project=${i.project}`;
    const principal = (env: string) =>
        `principal://iam.googleapis.com/${n.pool}/subject/repo:${i.repo}:environment:${env}`;
    const steps: Step[] = [
        {
            title: "enable the APIs the stack and the CI sign-in use",
            run: ["gcloud", "services", "enable", p, ...APIS],
        },
        {
            title: "project number (the Workload Identity principals name it)",
            run: ["gcloud", "projects", "describe", i.project, "--format=value(projectNumber)"],
            capture: "PROJECT_NUMBER",
        },
        {
            title: `Pulumi state bucket ${n.stateBucket}`,
            exists: ["gcloud", "storage", "buckets", "describe", n.stateBucket, p],
            run: [
                "gcloud",
                "storage",
                "buckets",
                "create",
                n.stateBucket,
                p,
                `--location=${i.region}`,
                "--uniform-bucket-level-access",
                "--public-access-prevention",
            ],
        },
        {
            title: "versioning on the state bucket (every checkpoint kept)",
            run: ["gcloud", "storage", "buckets", "update", n.stateBucket, "--versioning"],
        },
        {
            title: `KMS key ring ${KEYRING}`,
            exists: ["gcloud", "kms", "keyrings", "describe", KEYRING, p, `--location=${i.region}`],
            run: ["gcloud", "kms", "keyrings", "create", KEYRING, p, `--location=${i.region}`],
        },
        {
            title: `KMS key ${KEY} (the stack's secrets provider)`,
            exists: [
                "gcloud",
                "kms",
                "keys",
                "describe",
                KEY,
                p,
                `--location=${i.region}`,
                `--keyring=${KEYRING}`,
            ],
            run: [
                "gcloud",
                "kms",
                "keys",
                "create",
                KEY,
                p,
                `--location=${i.region}`,
                `--keyring=${KEYRING}`,
                "--purpose=encryption",
            ],
        },
        {
            title: `Workload Identity pool ${POOL}`,
            exists: [
                "gcloud",
                "iam",
                "workload-identity-pools",
                "describe",
                POOL,
                p,
                "--location=global",
            ],
            run: [
                "gcloud",
                "iam",
                "workload-identity-pools",
                "create",
                POOL,
                p,
                "--location=global",
                "--display-name=GitHub Actions",
            ],
        },
        {
            title: `GitHub OIDC provider, only for ${i.repo}`,
            exists: [
                "gcloud",
                "iam",
                "workload-identity-pools",
                "providers",
                "describe",
                POOL,
                p,
                "--location=global",
                `--workload-identity-pool=${POOL}`,
            ],
            run: [
                "gcloud",
                "iam",
                "workload-identity-pools",
                "providers",
                "create-oidc",
                POOL,
                p,
                "--location=global",
                `--workload-identity-pool=${POOL}`,
                "--display-name=GitHub Actions OIDC",
                `--issuer-uri=${GITHUB_ISSUER}`,
                "--attribute-mapping=google.subject=assertion.sub,attribute.repository=assertion.repository",
                `--attribute-condition=assertion.repository == '${i.repo}'`,
            ],
        },
    ];
    steps.push({
        title: `custom role ${DNS_CONNECT_ROLE.id} (${DNS_CONNECT_ROLE.permissions.join(", ")})`,
        exists: ["gcloud", "iam", "roles", "describe", DNS_CONNECT_ROLE.id, p],
        run: [
            "gcloud",
            "iam",
            "roles",
            "create",
            DNS_CONNECT_ROLE.id,
            p,
            `--title=${DNS_CONNECT_ROLE.title}`,
            `--permissions=${DNS_CONNECT_ROLE.permissions.join(",")}`,
        ],
    });
    for (const [sa, env, roles] of [
        [n.deploySa, n.deployEnv, DEPLOY_ROLES],
        [
            n.previewSa,
            n.previewEnv,
            [...PREVIEW_ROLES, `projects/${i.project}/roles/${DNS_CONNECT_ROLE.id}`],
        ],
    ] as const) {
        const account = sa.split("@")[0]!;
        steps.push(
            {
                title: `service account ${account}`,
                exists: ["gcloud", "iam", "service-accounts", "describe", sa, p],
                run: ["gcloud", "iam", "service-accounts", "create", account, p],
            },
            {
                title: `${account}: only GitHub jobs of environment ${env} may act as it`,
                run: [
                    "gcloud",
                    "iam",
                    "service-accounts",
                    "add-iam-policy-binding",
                    sa,
                    p,
                    "--role=roles/iam.workloadIdentityUser",
                    `--member=${principal(env)}`,
                ],
            },
            ...roles.map((role): Step => ({
                title: `${account}: ${role}`,
                run: [
                    "gcloud",
                    "projects",
                    "add-iam-policy-binding",
                    i.project,
                    `--member=serviceAccount:${sa}`,
                    `--role=${role}`,
                    "--condition=None",
                ],
            })),
            // Previews take the stack lock too: both read and write the state, both use the key.
            {
                title: `${account}: the state bucket`,
                run: [
                    "gcloud",
                    "storage",
                    "buckets",
                    "add-iam-policy-binding",
                    n.stateBucket,
                    `--member=serviceAccount:${sa}`,
                    "--role=roles/storage.objectUser",
                ],
            },
            {
                title: `${account}: the state key`,
                run: [
                    "gcloud",
                    "kms",
                    "keys",
                    "add-iam-policy-binding",
                    KEY,
                    p,
                    `--location=${i.region}`,
                    `--keyring=${KEYRING}`,
                    `--member=serviceAccount:${sa}`,
                    "--role=roles/cloudkms.cryptoKeyEncrypterDecrypter",
                ],
            },
        );
    }
    return steps;
}

function awsSteps(i: BootstrapInput): Step[] {
    const n = names(i);
    // IAM and STS are global; the region only picks the endpoint (the stack's awsRegion).
    const aws = (...args: string[]) => ["aws", ...args, "--region", i.awsRegion];
    const providerArn = "arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com";
    const role = (name: string, env: string, policyArn: string): Step[] => [
        {
            title: `role ${name}, trusting GitHub environment ${env}`,
            exists: aws("iam", "get-role", "--role-name", name),
            run: aws(
                "iam",
                "create-role",
                "--role-name",
                name,
                "--max-session-duration",
                "7200",
                "--assume-role-policy-document",
                githubTrustPolicy(i.repo, env),
            ),
        },
        {
            title: `${name}: trust policy (kept current on re-runs)`,
            run: aws(
                "iam",
                "update-assume-role-policy",
                "--role-name",
                name,
                "--policy-document",
                githubTrustPolicy(i.repo, env),
            ),
        },
        {
            title: `${name}: ${policyArn.split("/").pop()}`,
            run: aws("iam", "attach-role-policy", "--role-name", name, "--policy-arn", policyArn),
        },
    ];
    return [
        {
            title: "AWS account (the role ARNs name it)",
            run: aws("sts", "get-caller-identity", "--query", "Account", "--output", "text"),
            capture: "ACCOUNT",
        },
        {
            title: "GitHub OIDC provider (once per account)",
            exists: aws(
                "iam",
                "get-open-id-connect-provider",
                "--open-id-connect-provider-arn",
                providerArn,
            ),
            run: aws(
                "iam",
                "create-open-id-connect-provider",
                "--url",
                GITHUB_ISSUER,
                "--client-id-list",
                "sts.amazonaws.com",
            ),
        },
        ...role(n.deployRole, n.deployEnv, "arn:aws:iam::aws:policy/PowerUserAccess"),
        {
            title: `${n.deployRole}: manage only the stack's own roles (${i.stack}-*)`,
            run: aws(
                "iam",
                "put-role-policy",
                "--role-name",
                n.deployRole,
                "--policy-name",
                "stack-roles",
                "--policy-document",
                stackRolesPolicy(i.stack),
            ),
        },
        ...role(n.previewRole, n.previewEnv, "arn:aws:iam::aws:policy/ReadOnlyAccess"),
    ];
}

/** Every step, in an order that works (lookups before the commands that use them). */
export function plan(i: BootstrapInput): Step[] {
    return [...(i.only === "aws" ? [] : gcpSteps(i)), ...(i.only === "gcp" ? [] : awsSteps(i))];
}

const VARIABLE = /\$\{(PROJECT_NUMBER|ACCOUNT)\}/g;

/** One argument for bash: single-quoted, or double-quoted when it uses a looked-up variable. */
export function shellWord(arg: string): string {
    if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
    if (!VARIABLE.test(arg))
        return /'/.test(arg) && !/[\\"$`!]/.test(arg)
            ? `"${arg}"`
            : `'${arg.replace(/'/g, `'\\''`)}'`;
    VARIABLE.lastIndex = 0;
    const parts = arg.split(VARIABLE);
    // split with a capture group: even indexes are text, odd ones variable names.
    const body = parts
        .map((part, k) => (k % 2 === 1 ? `\${${part}}` : part.replace(/[\\"$`]/g, (c) => `\\${c}`)))
        .join("");
    return `"${body}"`;
}

/** The plan as the bash script a dry run prints. */
export function renderScript(i: BootstrapInput, steps: Step[]): string {
    const lines = [
        "#!/usr/bin/env bash",
        `# Bootstrap of stack ${i.stack}: project ${i.project} (${i.region}), AWS ${i.awsRegion}, GitHub ${i.repo}.`,
        "# A real run (without --dry-run) runs each `exists` check first and skips what is there.",
        "set -euo pipefail",
    ];
    for (const s of steps) {
        lines.push("", `# ${s.title}`);
        const cmd = s.run.map(shellWord).join(" ");
        if (s.capture) lines.push(`${s.capture}=$(${cmd})`);
        else if (s.exists)
            lines.push(`${s.exists.map(shellWord).join(" ")} > /dev/null 2>&1 || \\`, `  ${cmd}`);
        else lines.push(cmd);
    }
    return `${lines.join("\n")}\n`;
}

export interface CommandResult {
    status: number;
    stdout: string;
    stderr: string;
}

export type Runner = (argv: string[]) => CommandResult;

/** Runs a command without a shell, output captured. */
export const spawnRunner: Runner = (argv) => {
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8" });
    if (r.error) {
        const missing = (r.error as NodeJS.ErrnoException).code === "ENOENT";
        return {
            status: 127,
            stdout: "",
            stderr: missing
                ? `${argv[0]} is not installed or not on PATH (docs/operations.md "What the deploying machine needs")`
                : r.error.message,
        };
    }
    return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
};

export interface StepOutcome {
    title: string;
    outcome: "created" | "exists" | "applied" | "captured";
}

/** Run the plan: lookups fill the variables; existing resources are left alone. */
export function execute(
    steps: Step[],
    runner: Runner,
    log: (line: string) => void = () => undefined,
): StepOutcome[] {
    const vars: Record<string, string> = {};
    const resolve = (argv: string[]) =>
        argv.map((a) =>
            a.replace(VARIABLE, (_m, name: string) => {
                const v = vars[name];
                if (v === undefined) throw new Error(`\${${name}} is used before it is looked up`);
                return v;
            }),
        );
    const outcomes: StepOutcome[] = [];
    for (const s of steps) {
        if (s.exists && runner(resolve(s.exists)).status === 0) {
            log(`exists   ${s.title}`);
            outcomes.push({ title: s.title, outcome: "exists" });
            continue;
        }
        const argv = resolve(s.run);
        const r = runner(argv);
        if (r.status !== 0) {
            throw new Error(
                `bootstrap step failed: ${s.title}\n  command: ${argv.map(shellWord).join(" ")}\n  exit ${r.status}: ${r.stderr.trim() || r.stdout.trim()}\nFix the cause and run the bootstrap again: finished steps are skipped or re-applied unchanged.`,
            );
        }
        if (s.capture) {
            const value = r.stdout.trim();
            if (value === "")
                throw new Error(`bootstrap step "${s.title}" printed nothing; expected a value`);
            vars[s.capture] = value;
            log(`found    ${s.title}: ${value}`);
            outcomes.push({ title: s.title, outcome: "captured" });
        } else {
            const outcome = s.exists ? "created" : "applied";
            log(`${outcome.padEnd(8)} ${s.title}`);
            outcomes.push({ title: s.title, outcome });
        }
    }
    return outcomes;
}

/** What to do next: the stack init, the GitHub environments and variables. */
export function nextSteps(i: BootstrapInput): string {
    const n = names(i);
    return [
        "Next (docs/operations.md, day 0):",
        `  pulumi login ${n.stateBucket}`,
        `  pulumi stack init ${i.stack} --secrets-provider="${n.secretsProvider}"   # commit the secretsprovider/encryptedkey lines it adds to stacks/Pulumi.${i.stack}.yaml`,
        `  GitHub environment ${n.deployEnv}: GCP_WORKLOAD_IDENTITY_PROVIDER=${n.provider}`,
        `      GCP_SERVICE_ACCOUNT=${n.deploySa} AWS_ROLE_ARN=arn:aws:iam::\${ACCOUNT}:role/${n.deployRole}`,
        `  GitHub environment ${n.previewEnv}: the same provider, GCP_SERVICE_ACCOUNT=${n.previewSa}`,
        `      AWS_ROLE_ARN=arn:aws:iam::\${ACCOUNT}:role/${n.previewRole}`,
        `  both: PULUMI_BACKEND_URL=${n.stateBucket} PULUMI_SECRETS_PROVIDER=${n.secretsProvider}`,
        `  repository variable CLOUD_CI_${i.stack.toUpperCase().replace(/-/g, "_")}=true turns this environment's previews and deploys on`,
    ].join("\n");
}

/** Read the stack file's project and regions, refusing the checked-in placeholders. */
export function inputFromStack(
    stack: string,
    repo: string,
    only?: "gcp" | "aws",
    values: Record<string, unknown> = readStackFile(stack),
): BootstrapInput {
    const get = (key: string) => values[`taxi-platform:${key}`];
    const file = `stacks/Pulumi.${stack}.yaml`;
    const problems: string[] = [];
    const str = (key: string) => {
        const v = get(key);
        if (typeof v !== "string" || v === "") problems.push(`${file} has no ${key}`);
        return typeof v === "string" ? v : "";
    };
    const project = str("gcpProject");
    const region = str("gcpRegion");
    const awsRegion = str("awsRegion");
    if (!/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(project) && project !== "")
        problems.push(`${file}: gcpProject ${JSON.stringify(project)} is not a project id`);
    if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repo))
        problems.push(
            `--repo ${JSON.stringify(repo)}: expected <owner>/<repository> of this repository on GitHub`,
        );
    if (problems.length > 0) throw new Error(problems.join("\n"));
    return { stack, project, region, awsRegion, repo, ...(only ? { only } : {}) };
}

const USAGE =
    "usage: npm run bootstrap:env -- <stack> --repo <owner>/<repository> [--dry-run] [--only gcp|aws]";

export function parseArgs(argv: string[]) {
    let stack: string | undefined;
    let repo: string | undefined;
    let dryRun = false;
    let only: "gcp" | "aws" | undefined;
    for (let k = 0; k < argv.length; k++) {
        const a = argv[k]!;
        if (a === "--dry-run") dryRun = true;
        else if (a === "--repo") repo = argv[++k];
        else if (a === "--only") {
            const v = argv[++k];
            if (v !== "gcp" && v !== "aws") throw new Error(`--only takes gcp or aws\n${USAGE}`);
            only = v;
        } else if (a === "--help" || a === "-h") throw new Error(USAGE);
        else if (a.startsWith("-")) throw new Error(`unknown option ${a}\n${USAGE}`);
        else if (stack === undefined) stack = a;
        else throw new Error(`one stack at a time (got ${stack} and ${a})\n${USAGE}`);
    }
    if (stack === undefined) throw new Error(`name the stack\n${USAGE}`);
    if (repo === undefined) throw new Error(`--repo <owner>/<repository> is required\n${USAGE}`);
    return { stack, repo, dryRun, only };
}

function main(): void {
    const args = parseArgs(process.argv.slice(2));
    const input = inputFromStack(args.stack, args.repo, args.only);
    const steps = plan(input);
    if (args.dryRun) {
        process.stdout.write(renderScript(input, steps));
        process.stdout.write(`\n${nextSteps(input).replace(/^/gm, "# ")}\n`);
        return;
    }
    if (input.project.startsWith("acme-taxi-"))
        throw new Error(
            `stacks/Pulumi.${args.stack}.yaml still has the placeholder project ${input.project}: set gcpProject (and the regions) to yours first; --dry-run shows the plan without running it`,
        );
    console.log(
        `Bootstrapping ${args.stack} from ${stackFilePath(args.stack)}: ${input.project} (${input.region}), AWS ${input.awsRegion}`,
    );
    execute(steps, spawnRunner, (l) => console.log(l));
    console.log(`\n${nextSteps(input)}`);
}

if (require.main === module) {
    try {
        main();
    } catch (err) {
        console.error((err as Error).message);
        process.exit(1);
    }
}
