/**
 * The data access matrix: what each DAG job declares it reads and writes (`dags/common/jobs.py`,
 * `python -m common.jobs`), checked against what the rendered stack grants the identity the
 * job's pods run as: Kubernetes service account (in the jobs namespace) → Google service account
 * (Workload Identity annotation and binding) → bucket / dataset / project roles, and → the AWS
 * role that trusts that Google account (web identity federation) → its S3 policy.
 *
 * Both ways: a declared access that is not granted is a problem (the job would fail with 403),
 * and so is a grant of a job identity that no job uses, or that gives more than the jobs use
 * when a narrower role would do (least privilege).
 */
import type { RecordedResource } from "./engine";

export interface Access {
    kind: "gcs" | "bigquery" | "bigquery-jobs" | "bigquery-read-session" | "s3" | "transfer-jobs";
    mode: "read" | "write" | "run";
    target: string;
    prefix: string;
}

export interface JobRow {
    dag: string;
    task: string;
    serviceAccount: string;
    accesses: Access[];
}

/** What each role lets its holder do, in the matrix's vocabulary (`<kind>:<mode>`). */
export const ROLE_CAPABILITIES: Record<string, string[]> = {
    "roles/storage.objectViewer": ["gcs:read"],
    "roles/storage.objectCreator": ["gcs:create"],
    "roles/storage.objectUser": ["gcs:read", "gcs:write"],
    "roles/storage.objectAdmin": ["gcs:read", "gcs:write", "gcs:iam"],
    "roles/bigquery.dataViewer": ["bigquery:read"],
    "roles/bigquery.dataEditor": ["bigquery:read", "bigquery:write"],
    "roles/bigquery.jobUser": ["bigquery-jobs:run"],
    "roles/bigquery.readSessionUser": ["bigquery-read-session:run"],
    "roles/storagetransfer.user": ["transfer-jobs:run"],
};

/** One grant of a Google service account, resolved to the matrix's targets. */
export interface ResolvedGrant {
    scope: "bucket" | "dataset" | "project" | "aws-role";
    target: string;
    role: string;
    capabilities: string[];
}

export interface IdentityView {
    ksa: string;
    gsa: string | undefined;
    boundByWorkloadIdentity: boolean;
    grants: ResolvedGrant[];
}

const str = (v: unknown): string =>
    v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v);

/** The parts of an IAM policy document the matrix reads. */
interface PolicyDocument {
    Statement?: {
        Effect?: string;
        Principal?: { Federated?: string };
        Action?: string | string[];
        Resource?: string | string[];
        Condition?: { StringEquals?: Record<string, string> };
    }[];
}
const policy = (v: unknown): PolicyDocument => JSON.parse(str(v) || "{}") as PolicyDocument;
const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : [v].flat());
const ofType = (rs: RecordedResource[], t: string) => rs.filter((r) => r.custom && r.type === t);

/** The identity of `<namespace>/<ksa>` and every grant it holds, from the rendered resources. */
export function resolveIdentity(
    resources: RecordedResource[],
    namespace: string,
    ksa: string,
): IdentityView {
    const sa = ofType(resources, "kubernetes:core/v1:ServiceAccount").find((r) => {
        const meta = (r.inputs.metadata ?? {}) as Record<string, unknown>;
        return meta.name === ksa && meta.namespace === namespace;
    });
    const metadata = (sa?.inputs.metadata ?? {}) as { annotations?: Record<string, string> };
    const annotations = metadata.annotations ?? {};
    const gsa = annotations["iam.gke.io/gcp-service-account"];
    const view: IdentityView = {
        ksa: `${namespace}/${ksa}`,
        gsa,
        boundByWorkloadIdentity: false,
        grants: [],
    };
    if (!gsa) return view;
    const project = gsa.split("@")[1]!.split(".")[0]!;
    const account = ofType(resources, "gcp:serviceaccount/account:Account").find(
        (a) => `${str(a.inputs.accountId)}@${project}.iam.gserviceaccount.com` === gsa,
    );
    // Links by data flow: an input whose value came from the account resource.
    const from = (r: RecordedResource, input: string) =>
        account !== undefined && (r.propertyDependencies[input] ?? []).includes(account.urn);
    view.boundByWorkloadIdentity = ofType(resources, "gcp:serviceaccount/iAMMember:IAMMember").some(
        (m) =>
            str(m.inputs.role) === "roles/iam.workloadIdentityUser" &&
            str(m.inputs.member).endsWith(`[${namespace}/${ksa}]`) &&
            from(m, "serviceAccountId"),
    );
    const member = `serviceAccount:${gsa}`;
    const grant = (scope: ResolvedGrant["scope"], target: string, role: string) =>
        view.grants.push({ scope, target, role, capabilities: ROLE_CAPABILITIES[role] ?? [role] });
    for (const m of ofType(resources, "gcp:storage/bucketIAMMember:BucketIAMMember")) {
        if (str(m.inputs.member) !== member) continue;
        grant("bucket", str(m.inputs.bucket).replace(`${project}-`, ""), str(m.inputs.role));
    }
    for (const m of ofType(resources, "gcp:bigquery/datasetIamMember:DatasetIamMember")) {
        if (str(m.inputs.member) !== member) continue;
        grant("dataset", str(m.inputs.datasetId).split("_").pop()!, str(m.inputs.role));
    }
    for (const m of ofType(resources, "gcp:projects/iAMMember:IAMMember")) {
        if (str(m.inputs.member) !== member) continue;
        grant("project", "project", str(m.inputs.role));
    }
    // AWS roles that trust this Google account's ID tokens (the `sub` condition's value came
    // from this account's uniqueId), and what their policies allow.
    for (const role of ofType(resources, "aws:iam/role:Role")) {
        const trust = policy(role.inputs.assumeRolePolicy);
        const trusted =
            from(role, "assumeRolePolicy") &&
            (trust.Statement ?? []).some(
                (s) =>
                    s.Effect === "Allow" &&
                    s.Principal?.Federated === "accounts.google.com" &&
                    s.Action === "sts:AssumeRoleWithWebIdentity" &&
                    /^\d+$/.test(str(s.Condition?.StringEquals?.["accounts.google.com:sub"])),
            );
        if (!trusted) continue;
        for (const attached of ofType(resources, "aws:iam/rolePolicy:RolePolicy")) {
            if (str(attached.inputs.role) !== str(role.inputs.name)) continue;
            for (const s of policy(attached.inputs.policy).Statement ?? []) {
                if (s.Effect !== "Allow") continue;
                const actions = list(s.Action);
                for (const resource of list(s.Resource)) {
                    for (const action of actions) {
                        grant("aws-role", `${str(role.inputs.name)} ${resource}`, action);
                    }
                }
            }
        }
    }
    return view;
}

/** AWS actions an S3 write needs next to s3:PutObject on the same keys. */
const S3_WRITE_COMPANIONS = [
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
    "s3:GetObject",
];

/** Does `g` give `access`? (S3: the role may s3:GetObject, for a write s3:PutObject, on
 * `<landing bucket>/<prefix>*`.) */
function gives(g: ResolvedGrant, a: Access, landingBucket: string): boolean {
    const need = `${a.kind}:${a.mode}`;
    switch (a.kind) {
        case "gcs":
            return g.scope === "bucket" && g.target === a.target && g.capabilities.includes(need);
        case "bigquery":
            return g.scope === "dataset" && g.target === a.target && g.capabilities.includes(need);
        case "s3": {
            const action = a.mode === "write" ? "s3:PutObject" : "s3:GetObject";
            if (g.scope !== "aws-role" || g.role !== action) return false;
            const resource = g.target.slice(g.target.indexOf(" ") + 1);
            const granted = resource.replace(/\*$/, "");
            const wanted = `arn:aws:s3:::${landingBucket}/${a.prefix}`;
            return resource.endsWith("*") && wanted.startsWith(granted);
        }
        default:
            return g.scope === "project" && g.capabilities.includes(need);
    }
}

export interface MatrixReport {
    /** job → identity → accesses, with the grant that allows each. */
    rows: { job: string; ksa: string; gsa: string; access: string; grantedBy: string }[];
    problems: string[];
}

export function describeAccess(a: Access): string {
    const where = a.target ? ` ${a.target}${a.prefix ? `/${a.prefix}` : ""}` : "";
    return `${a.kind} ${a.mode}${where}`;
}

/** Check every job's declared accesses against the render, both ways. */
export function checkMatrix(
    resources: RecordedResource[],
    jobs: JobRow[],
    { jobsNamespace, landingBucket }: { jobsNamespace: string; landingBucket: string },
): MatrixReport {
    const report: MatrixReport = { rows: [], problems: [] };
    const identities = new Map<string, IdentityView>();
    const used = new Map<string, Set<string>>(); // ksa → capabilities used per grant key
    const grantKey = (g: ResolvedGrant) => `${g.scope} ${g.target} ${g.role}`;
    for (const job of jobs) {
        const id = `${job.dag}.${job.task}`;
        if (!identities.has(job.serviceAccount)) {
            identities.set(
                job.serviceAccount,
                resolveIdentity(resources, jobsNamespace, job.serviceAccount),
            );
        }
        const view = identities.get(job.serviceAccount)!;
        if (!view.gsa || !view.boundByWorkloadIdentity) {
            report.problems.push(
                `${id}: service account ${view.ksa} has no Google service account bound by Workload Identity`,
            );
            continue;
        }
        for (const access of job.accesses) {
            const grant = view.grants.find((g) => gives(g, access, landingBucket));
            if (!grant) {
                report.problems.push(
                    `${id} (${view.ksa} → ${view.gsa}) needs ${describeAccess(access)}: not granted`,
                );
                continue;
            }
            // An S3 write also uses what a write needs besides PutObject on the same keys:
            // aborting and listing a multipart upload's parts, HeadObject (s3:GetObject).
            const companions =
                access.kind === "s3" && access.mode === "write"
                    ? view.grants.filter(
                          (g) =>
                              g.scope === "aws-role" &&
                              g.target === grant.target &&
                              S3_WRITE_COMPANIONS.includes(g.role),
                      )
                    : [];
            for (const g of [grant, ...companions]) {
                const key = `${job.serviceAccount}|${grantKey(g)}`;
                if (!used.has(key)) used.set(key, new Set());
                used.get(key)!.add(`${access.kind}:${access.mode}`);
            }
            report.rows.push({
                job: id,
                ksa: view.ksa,
                gsa: view.gsa,
                access: describeAccess(access),
                grantedBy: grantKey(grant),
            });
        }
    }
    for (const [ksa, view] of identities) {
        for (const g of view.grants) {
            const caps = used.get(`${ksa}|${grantKey(g)}`);
            if (!caps) {
                report.problems.push(
                    `${view.ksa} (${view.gsa}) holds ${grantKey(g)}, which no job uses`,
                );
                continue;
            }
            if (g.scope === "aws-role") continue;
            const narrower = Object.entries(ROLE_CAPABILITIES).find(
                ([role, rc]) =>
                    role !== g.role &&
                    rc.length < g.capabilities.length &&
                    [...caps].every((c) => rc.includes(c)),
            );
            if (narrower) {
                report.problems.push(
                    `${view.ksa} (${view.gsa}) holds ${grantKey(g)} but its jobs only need ${[...caps].join(", ")}: ${narrower[0]} would do`,
                );
            }
        }
    }
    return report;
}
