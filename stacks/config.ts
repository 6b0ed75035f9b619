/**
 * The one place that reads stack configuration.
 *
 * `CONFIG_SPEC` declares every key: its Pulumi.yaml type, description and default, and the check
 * applied to it. `parseConfig` turns the raw values of one stack into a typed, validated
 * `PlatformConfig` or throws one `ConfigError` listing every problem (key, value seen, what is
 * expected, how to fix it). `loadConfig` reads the values from the Pulumi engine.
 *
 * Pulumi.yaml's `config:` block is generated from this spec (`npm run config:sync`) and a test
 * fails when they differ, so the CLI's own checks and ours always agree.
 */
import * as pulumi from "@pulumi/pulumi";
import {
    authorizedNetworkProblem,
    cidrsOverlap,
    databaseNameProblem,
    mailProblems,
    ownerRoleProblem,
    parseCidr,
    showName,
} from "../components";
import {
    Field,
    FieldProblem,
    bool,
    cidrRule,
    int,
    list,
    oneOf,
    showValue,
    str,
} from "./config-schema";

/** The Pulumi project name; config keys are namespaced with it (`taxi-platform:environment`). */
export const PROJECT = "taxi-platform";

/**
 * Namespaces a stack file may use besides the project's: Pulumi's own and the providers the
 * program uses. A key in any other namespace is never read, so it is an error (a misspelt
 * project name would otherwise leave every value at its default).
 */
export const OTHER_NAMESPACES = ["pulumi", "gcp", "aws", "kubernetes", "docker-build", "random"];

/**
 * What is wrong with the name of a config key as written in a stack file (`taxi-platform:x`),
 * or undefined when it is fine. A key without a namespace is rejected by the Pulumi CLI itself
 * ("could not parse … as a configuration key (configuration keys should be of the form
 * `<namespace>:<name>`)"), so it is an error here too, never silently skipped.
 */
export function keyNameProblem(key: string): { problem: string; fix: string } | undefined {
    const parts = key.split(":");
    const name = parts.at(-1)!;
    const ours = name in CONFIG_SPEC;
    const suggest = ours
        ? `Write it as ${PROJECT}:${name}`
        : `Write it as ${PROJECT}:<name> with one of the keys declared in Pulumi.yaml, or remove it`;
    if (parts.length === 1) {
        return {
            problem:
                "has no namespace; the Pulumi CLI rejects it (configuration keys should be of the form <namespace>:<name>)",
            fix: suggest,
        };
    }
    const compat = parts.length === 3 && parts[1] === "config"; // <namespace>:config:<name>
    if (parts.length > 2 && !compat) {
        return {
            problem:
                "has more than one colon; the Pulumi CLI rejects it (configuration keys should be of the form <namespace>:<name>)",
            fix: suggest,
        };
    }
    const ns = parts[0]!;
    if (ns === PROJECT || OTHER_NAMESPACES.includes(ns)) return undefined;
    return {
        problem: `is in namespace "${ns}", which is neither this project (${PROJECT}) nor one of ${OTHER_NAMESPACES.join(", ")}, so the program never reads it`,
        fix: suggest,
    };
}

export const ENVIRONMENTS = ["dev", "staging", "prod"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

const nodesCidr = cidrRule(8, 24, "10.10.0.0/20");
const podsCidr = cidrRule(8, 21, "10.20.0.0/16");
const servicesCidr = cidrRule(8, 24, "10.30.0.0/20");
const masterCidr = cidrRule(28, 28, "172.16.0.0/28");
const authorizedCidr = cidrRule(0, 32, "203.0.113.0/24");

export const CONFIG_SPEC = {
    environment: oneOf(ENVIRONMENTS, {
        description:
            "Environment this stack deploys: dev, staging or prod. Names resources and sets safety defaults.",
    }),
    gcpProject: str({
        description:
            "Google Cloud project id that holds the platform (replace the placeholder with yours).",
        pattern: /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/,
        patternText:
            "a GCP project id: 6-30 lower-case letters, digits or hyphens, starting with a letter (e.g. acme-taxi-dev)",
    }),
    gcpRegion: str({
        description:
            "Google Cloud region for the cluster, buckets and datasets, e.g. europe-west1.",
        pattern:
            /^(africa|asia|australia|europe|me|northamerica|southamerica|us)-[a-z]+[1-9][0-9]?$/,
        patternText:
            "a GCP region such as europe-west1 or us-central1 (a region, not a zone like europe-west1-b)",
    }),
    awsRegion: str({
        description: "AWS region of the S3 landing bucket and the trigger Lambda, e.g. us-east-1.",
        pattern:
            /^(us|eu|ap|sa|ca|me|af|il|mx)-(north|south|east|west|central|northeast|northwest|southeast|southwest)-[1-9]$/,
        patternText: "an AWS region such as us-east-1 or eu-central-1",
    }),
    domain: str({
        description:
            "DNS domain for the UIs (airflow.<domain>, grafana.<domain>, ...), served over HTTPS with a Google-managed certificate. Required: the Airflow and Grafana logins and the S3 trigger's Airflow password must never cross the internet over plain HTTP.",
        pattern: /^(?=.{4,200}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/,
        patternText:
            "a lower-case DNS name such as data.example.com (the UIs carry logins, so there is no plain-HTTP fallback)",
    }),
    mlflowIapMembers: list({
        description:
            "Who may open MLflow from the internet, through Identity-Aware Proxy (IAM members such as user:ana@example.com or group:ml@example.com). Empty: MLflow has no public route; jobs use its in-cluster URL.",
        default: [],
        item: {
            text: "an IAM member: user:<email>, group:<email>, serviceAccount:<email> or domain:<domain>",
            ok: (v) =>
                /^(user|group|serviceAccount):[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[a-z]{2,}$/.test(
                    v,
                ) || /^domain:([a-z0-9-]+\.)+[a-z]{2,}$/.test(v),
        },
        maxItems: 50,
    }),
    reportRecipients: list({
        description:
            "Who gets the run report of every batch run and the platform's alerts by email (addresses). Empty: nothing is mailed (a run_report_not_mailed log line says so); the reports are still published in the docs app.",
        default: [],
        item: {
            text: "an email address such as data-team@example.com",
            ok: (v) => /^[A-Za-z0-9._%+-]+@([A-Za-z0-9-]+\.)+[A-Za-z]{2,63}$/.test(v),
        },
        maxItems: 50,
    }),
    mailIdentity: str({
        description:
            "Amazon SES sending identity verified for the platform's email: a domain you control (DKIM records in the mailDkimTokens output) or one address (SES sends it a verification link). Empty: the domain key's value.",
        default: "",
        pattern:
            /^(([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}|[A-Za-z0-9._%+-]+@([A-Za-z0-9-]+\.)+[A-Za-z]{2,63})$/,
        patternText: "a DNS domain such as example.com or an email address",
    }),
    reportSender: str({
        description:
            "From address of run reports and alerts: an address of mailIdentity (the role may send only from it). Empty: reports@<mailIdentity or domain>.",
        default: "",
        pattern: /^([A-Za-z0-9._%+-]+@([A-Za-z0-9-]+\.)+[A-Za-z]{2,63})?$/,
        patternText: "an email address such as reports@example.com",
    }),
    ciPreviewServiceAccount: str({
        description:
            "Google service account of the CI preview identity (README: Workload Identity Federation). Gets read access to the Helm release records in spark-operator, which a preview needs. Empty: pulumi-preview@<gcpProject>.iam.gserviceaccount.com.",
        default: "",
        pattern:
            /^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com$/,
        patternText:
            "a service-account email such as pulumi-preview@acme-taxi-dev.iam.gserviceaccount.com",
    }),
    nodesCidr: str({
        description: "Primary IPv4 range of the cluster subnet (nodes), /8 to /24.",
        default: "10.10.0.0/20",
        check: (v) => (nodesCidr.ok(v) ? undefined : nodesCidr.text),
    }),
    podsCidr: str({
        description: "Secondary IPv4 range for pods, /8 to /21.",
        default: "10.20.0.0/16",
        check: (v) => (podsCidr.ok(v) ? undefined : podsCidr.text),
    }),
    servicesCidr: str({
        description: "Secondary IPv4 range for Kubernetes services, /8 to /24.",
        default: "10.30.0.0/20",
        check: (v) => (servicesCidr.ok(v) ? undefined : servicesCidr.text),
    }),
    masterCidr: str({
        description: "IPv4 /28 range for the private GKE control plane.",
        default: "172.16.0.0/28",
        check: (v) => (masterCidr.ok(v) ? undefined : masterCidr.text),
    }),
    masterAuthorizedNetworks: list({
        description:
            "CIDR blocks allowed to reach the GKE control plane's IP endpoint (your office or VPN egress). Never 0.0.0.0/0 or a public range wider than /16. CI reaches the cluster through its IAM-authorized DNS endpoint instead. Replace the documentation ranges.",
        item: { ...authorizedCidr, why: authorizedNetworkProblem },
        minItems: 1,
        maxItems: 50,
    }),
    releaseChannel: oneOf(["RAPID", "REGULAR", "STABLE"] as const, {
        description: "GKE release channel: RAPID, REGULAR or STABLE.",
        default: "REGULAR",
    }),
    systemPoolMachineType: str({
        description: "Machine type of the always-on system node pool.",
        default: "e2-standard-4",
        pattern: /^[a-z][a-z0-9]*-[a-z]+(-[0-9]+)?(-[a-z0-9]+)?$/,
        patternText: "a GCE machine type such as e2-standard-4",
    }),
    systemPoolNodes: int({
        description: "Nodes per zone in the system pool.",
        default: 1,
        min: 1,
        max: 10,
    }),
    jobsPoolMachineType: str({
        description: "Machine type of the autoscaling jobs pool where task pods and Spark run.",
        default: "e2-standard-8",
        pattern: /^[a-z][a-z0-9]*-[a-z]+(-[0-9]+)?(-[a-z0-9]+)?$/,
        patternText: "a GCE machine type such as e2-standard-8",
    }),
    jobsPoolMinNodes: int({
        description: "Minimum nodes per zone in the jobs pool (0 lets it scale to zero).",
        default: 0,
        min: 0,
        max: 100,
    }),
    jobsPoolMaxNodes: int({
        description: "Maximum nodes per zone in the jobs pool.",
        default: 3,
        min: 1,
        max: 100,
    }),
    jobsPoolSpot: bool({
        description: "Run the jobs pool on Spot VMs (cheaper, may be preempted; tasks retry).",
        default: false,
    }),
    deletionProtection: bool({
        description: "Protect the cluster, buckets and datasets from deletion by pulumi destroy.",
        default: true,
    }),
    disposable: bool({
        description:
            "The stack is destroyed and re-created (dev): names a cloud keeps reserved after deletion get a per-creation suffix, secrets are deleted without a recovery window. Needs deletionProtection false.",
        default: false,
    }),
    stagingRetentionDays: int({
        description: "Days a copied file stays in the staging bucket before lifecycle deletes it.",
        default: 30,
        min: 1,
        max: 3650,
    }),
    imageTag: str({
        description:
            "Human-readable tag pushed with each image the stack builds (airflow, spark, dbt, ml, docs-app); workloads always use the digest.",
        default: "0.1.0",
        pattern: /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/,
        patternText: "a Docker tag: letters, digits, _, . and -, at most 128 characters",
    }),
    triggerMemoryMb: int({
        description: "Memory in MB of the S3 -> Airflow trigger Lambda.",
        default: 256,
        min: 128,
        max: 10240,
    }),
    triggerTimeoutSeconds: int({
        description: "Timeout in seconds of the S3 -> Airflow trigger Lambda.",
        default: 30,
        min: 5,
        max: 900,
    }),
    extraDatabases: list({
        description:
            "Extra databases of the in-cluster Postgres besides airflow, mlflow and grafana, each as name or name:owner. Reconciled on every update; removing one never drops it. Names: lower-case ASCII letters, digits and _, at most 63 bytes; never postgres/template0/template1, and no owner that is the superuser, the monitoring role, a pg_* role or another database's owner.",
        default: [],
        item: {
            text: 'a database name, optionally with an owner ("reports" or "reports:analyst"): lower-case ASCII letters, digits and _, starting with a letter, at most 63 bytes',
            ok: (v) => /^[a-z][a-z0-9_]{0,62}(:[a-z][a-z0-9_]{0,62})?$/.test(v),
            why: extraDatabaseProblem,
        },
        maxItems: 20,
    }),
    postgresDiskGi: int({
        description: "Size in GiB of the Postgres data volume.",
        default: 20,
        min: 5,
        max: 4096,
    }),
    backupRetentionDays: int({
        description: "Days a daily Postgres dump stays in the backups bucket.",
        default: 14,
        min: 1,
        max: 3650,
    }),
    prometheusRetentionDays: int({
        description: "Days Prometheus keeps metrics.",
        default: 15,
        min: 1,
        max: 400,
    }),
    prometheusDiskGi: int({
        description: "Size in GiB of the Prometheus data volume.",
        default: 20,
        min: 5,
        max: 4096,
    }),
    airflowDagSource: oneOf(["image", "git"] as const, {
        description:
            "Where Airflow reads the DAGs: image (baked into the Airflow image, rolled out by pulumi up) or git (a git DAG bundle tracking airflowGitRepo).",
        default: "image",
    }),
    airflowGitRepo: str({
        description:
            "HTTPS URL of the repository the git DAG bundle tracks (airflowDagSource git). Empty for the image source.",
        default: "",
        pattern: /^https:\/\/[A-Za-z0-9.-]+(:[0-9]+)?\/[A-Za-z0-9._~/-]+$/,
        patternText:
            "an https:// repository URL without credentials, e.g. https://github.com/acme/taxi-platform.git",
    }),
    airflowGitBranch: str({
        description: "Branch the git DAG bundle tracks.",
        default: "main",
        pattern: /^[A-Za-z0-9._/-]{1,200}$/,
        patternText: "a branch name such as main or release/2026-11",
    }),
    airflowGitSubdir: str({
        description: "Folder of the DAGs inside the repository, for the git DAG bundle.",
        default: "dags",
        pattern: /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/,
        patternText: "a relative folder path such as dags",
    }),
    airflowGitCredentialsSecret: str({
        description:
            "Kubernetes Secret in the airflow namespace holding the git connection of a private DAG repository (key connection). Empty for a public repository.",
        default: "",
        // The name of a Secret, easily confused with the credential itself: never echoed.
        sensitive: true,
        pattern: /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/,
        patternText: "a Kubernetes Secret name such as airflow-dags-git",
    }),
    airflowConnections: list({
        description:
            "Airflow connection ids read from Google Secret Manager (e.g. dbt_cloud_default, databricks_default for datasets whose transform or load runs on dbt Cloud or Databricks, dags/datasets.yaml). The stack creates one empty secret airflow-<environment>-connections-<id> per id, readable by Airflow's service account alone; the operator adds the value (docs/operations.md#28-airflow-connections). Empty: no secrets backend.",
        default: [],
        item: {
            text: "an Airflow connection id: lower-case letters, digits and _, starting with a letter, at most 63 characters (e.g. dbt_cloud_default)",
            ok: (v) => /^[a-z][a-z0-9_]{0,62}$/.test(v),
        },
        maxItems: 20,
    }),
    sparkGcsConnectorSha256: str({
        description:
            "sha256 of the GCS connector jar the spark image downloads (spark/Dockerfile). Empty: the spark image build fails closed, naming it.",
        default: "",
        pattern: /^[0-9a-f]{64}$/,
        patternText: "64 lower-case hex digits (sha256sum of the jar)",
    }),
    sparkBigqueryConnectorSha256: str({
        description:
            "sha256 of the spark-bigquery connector jar the spark image downloads (spark/Dockerfile). Empty: the spark image build fails closed, naming it.",
        default: "",
        pattern: /^[0-9a-f]{64}$/,
        patternText: "64 lower-case hex digits (sha256sum of the jar)",
    }),
    bigqueryLocation: str({
        description:
            "BigQuery dataset location: a multi-region (EU, US) or a region. Empty: the GCP region.",
        default: "",
        pattern: /^(EU|US|[a-z]+-[a-z]+[1-9][0-9]?)$/,
        patternText: "EU, US or a region such as europe-west1, or empty for the GCP region",
    }),
} satisfies Record<string, Field<unknown>>;

export type ConfigSpec = typeof CONFIG_SPEC;
export type ConfigKey = keyof ConfigSpec;
type ValueOf<F> = F extends Field<infer T> ? T : never;

/** The validated configuration of one stack, as every component receives it. */
export type PlatformConfig = { readonly [K in ConfigKey]: ValueOf<ConfigSpec[K]> } & {
    /** The Pulumi stack name. */
    readonly stack: string;
    /** BigQuery location with the default applied. */
    readonly datasetLocation: string;
};

/** One problem found in a stack's configuration. */
export interface ConfigProblem extends FieldProblem {
    key: string;
    fix: string;
}

/** Thrown when stack configuration is invalid: one message naming every bad key. */
export class ConfigError extends pulumi.RunError {
    constructor(
        readonly stack: string,
        readonly problems: ConfigProblem[],
    ) {
        const lines = problems.map(
            (p) =>
                `  - ${p.key.includes(":") ? p.key : `${PROJECT}:${p.key}`}: got ${p.seen}; expected ${p.expected}. ${p.fix}`,
        );
        const s = problems.length === 1 ? "" : "s";
        super(
            `Invalid configuration for stack "${stack}" (${problems.length} problem${s}):\n${lines.join("\n")}`,
        );
        this.name = "ConfigError";
    }
}

function setHint(stack: string, key: string): string {
    const isList = (CONFIG_SPEC as Record<string, Field<unknown>>)[key]?.type === "array";
    const set = isList
        ? `pulumi config set --path '${key}[0]' <value>`
        : `pulumi config set ${key} <value>`;
    return `Fix it in stacks/Pulumi.${stack}.yaml or with: ${set} --stack ${stack}`;
}

/**
 * Parse the raw values of one stack (as the engine gives them: strings, arrays as JSON).
 * `read(key)` returns undefined for unset keys. Unknown keys are reported too, and so are the
 * full names of keys outside the project's namespace (`otherKeys`) that the program never
 * reads (see `keyNameProblem`).
 */
export function parseConfig(
    stack: string,
    read: (key: string) => string | undefined,
    setKeys: readonly string[] = [],
    otherKeys: readonly string[] = [],
): PlatformConfig {
    const problems: ConfigProblem[] = [];
    for (const key of otherKeys) {
        const wrong = keyNameProblem(key);
        if (wrong) {
            problems.push({
                key,
                seen: `a key that ${wrong.problem}`,
                expected: `${PROJECT}:<key> for this project's settings`,
                fix: `${wrong.fix} in stacks/Pulumi.${stack}.yaml`,
            });
        }
    }
    const out: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(CONFIG_SPEC) as [string, Field<unknown>][]) {
        const raw = read(key);
        if (raw === undefined) {
            if (field.default === undefined) {
                problems.push({
                    key,
                    seen: "nothing (the key is missing)",
                    expected: field.description.replace(/\.$/, ""),
                    fix: setHint(stack, key),
                });
            } else {
                out[key] = field.default;
            }
            continue;
        }
        const parsed = field.parse(raw);
        if ("problem" in parsed)
            problems.push({ key, ...parsed.problem, fix: setHint(stack, key) });
        else out[key] = parsed.value;
    }
    for (const key of setKeys) {
        if (!(key in CONFIG_SPEC)) {
            problems.push({
                key,
                seen: "an unknown key",
                expected: `one of the keys declared in Pulumi.yaml (${Object.keys(CONFIG_SPEC).join(", ")})`,
                fix: `Remove it or correct its spelling in stacks/Pulumi.${stack}.yaml`,
            });
        }
    }
    if (problems.length === 0) problems.push(...crossChecks(stack, out));
    if (problems.length > 0) throw new ConfigError(stack, problems);
    const cfg = out as Omit<PlatformConfig, "stack" | "datasetLocation">;
    if (cfg.environment !== stack && ENVIRONMENTS.includes(stack as Environment)) {
        throw new ConfigError(stack, [
            {
                key: "environment",
                seen: showValue(cfg.environment),
                expected: `"${stack}" for the stack named ${stack}`,
                fix: setHint(stack, "environment"),
            },
        ]);
    }
    return {
        ...cfg,
        stack,
        datasetLocation: cfg.bigqueryLocation === "" ? cfg.gcpRegion : cfg.bigqueryLocation,
    };
}

/** Databases the platform's own services use (each owned by the role of the same name). */
export const PLATFORM_DATABASES = ["airflow", "mlflow", "grafana"] as const;

/** Why one `extraDatabases` entry ("db" or "db:owner") is refused, or undefined. */
function extraDatabaseProblem(entry: string): string | undefined {
    const parts = entry.split(":");
    if (parts.length > 2) return `${showName(entry)} has more than one ":"`;
    const [db, owner] = [parts[0]!, parts[1] ?? parts[0]!];
    const dbWhy = databaseNameProblem(db);
    if (dbWhy) return `database ${showName(db)} ${dbWhy}`;
    const ownerWhy = ownerRoleProblem(owner);
    if (ownerWhy) return `owner ${showName(owner)} ${ownerWhy}`;
    return undefined;
}

/** Checks that involve more than one key. */
function crossChecks(stack: string, v: Record<string, unknown>): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    if ((v.jobsPoolMaxNodes as number) < (v.jobsPoolMinNodes as number)) {
        problems.push({
            key: "jobsPoolMaxNodes",
            seen: String(v.jobsPoolMaxNodes),
            expected: `at least jobsPoolMinNodes (${String(v.jobsPoolMinNodes)})`,
            fix: setHint(stack, "jobsPoolMaxNodes"),
        });
    }
    if (v.disposable === true && v.deletionProtection === true) {
        problems.push({
            key: "disposable",
            seen: "true",
            expected:
                "false while deletionProtection is true (a protected stack cannot be destroyed and re-created)",
            fix: setHint(stack, "disposable"),
        });
    }
    const identity = (v.mailIdentity as string) || (v.domain as string);
    const sender =
        (v.reportSender as string) || (identity.includes("@") ? identity : `reports@${identity}`);
    const senderProblem = mailProblems(identity, sender).find((p) => p.startsWith("sender"));
    if (senderProblem) {
        problems.push({
            key: "reportSender",
            seen: showValue(sender),
            expected: senderProblem.replace(/^sender \S+ /, "an address that "),
            fix: setHint(stack, "reportSender"),
        });
    }
    if (v.airflowDagSource === "git" && v.airflowGitRepo === "") {
        problems.push({
            key: "airflowGitRepo",
            seen: "nothing",
            expected: "the repository URL, because airflowDagSource is git",
            fix: setHint(stack, "airflowGitRepo"),
        });
    }
    const connections = v.airflowConnections as string[];
    const twice = connections.filter((id, i) => connections.indexOf(id) !== i);
    if (twice.length > 0) {
        problems.push({
            key: "airflowConnections",
            seen: showValue(connections),
            expected: `each connection id once (${[...new Set(twice)].join(", ")} appears more than once)`,
            fix: setHint(stack, "airflowConnections"),
        });
    }
    const seenDbs = new Set<string>(PLATFORM_DATABASES);
    // Each owner role owns exactly one database: the reconcile script resets an owner's
    // password to its database's Secret, so a shared owner would lock the other app out.
    const owners = new Map<string, string>(PLATFORM_DATABASES.map((db) => [db, db]));
    for (const entry of v.extraDatabases as string[]) {
        const [db, owner = db] = entry.split(":") as [string, string?];
        if (seenDbs.has(db)) {
            problems.push({
                key: "extraDatabases",
                seen: showValue(entry),
                expected: `database names not already declared (the platform's own are ${PLATFORM_DATABASES.join(", ")})`,
                fix: setHint(stack, "extraDatabases"),
            });
        } else if (owners.has(owner)) {
            problems.push({
                key: "extraDatabases",
                seen: JSON.stringify(entry),
                expected: `an owner role of its own: ${owner} already owns database ${owners.get(owner)!} (its password would be replaced); write ${db}:<new role> or just ${db}`,
                fix: setHint(stack, "extraDatabases"),
            });
        }
        seenDbs.add(db);
        owners.set(owner, owners.get(owner) ?? db);
    }
    const ranges = ["nodesCidr", "podsCidr", "servicesCidr", "masterCidr"] as const;
    for (let i = 0; i < ranges.length; i++) {
        for (let j = i + 1; j < ranges.length; j++) {
            const [a, b] = [ranges[i]!, ranges[j]!];
            const ca = parseCidr(v[a] as string);
            const cb = parseCidr(v[b] as string);
            if (ca && cb && cidrsOverlap(ca, cb)) {
                problems.push({
                    key: b,
                    seen: `${showValue(v[b])}, which overlaps ${a} ${showValue(v[a])}`,
                    expected: "a range disjoint from the other cluster ranges",
                    fix: setHint(stack, b),
                });
            }
        }
    }
    return problems;
}

/** Read and validate the running stack's configuration from the Pulumi engine. */
export function loadConfig(): PlatformConfig {
    const cfg = new pulumi.Config(PROJECT);
    const all = Object.keys(pulumi.runtime.allConfig());
    const setKeys = all
        .filter((k) => k.startsWith(`${PROJECT}:`))
        .map((k) => k.slice(PROJECT.length + 1));
    const otherKeys = all.filter((k) => !k.startsWith(`${PROJECT}:`));
    return parseConfig(pulumi.getStack(), (key) => cfg.get(key), setKeys, otherKeys);
}
