/**
 * Buckets: Cloud Storage buckets enforce public access prevention and uniform access and are
 * never granted to allUsers; every S3 bucket has a full public access block, default
 * encryption and versioning.
 */
import * as aws from "@pulumi/aws";
import * as gcp from "@pulumi/gcp";
import type { PolicyResource, ReportViolation } from "@pulumi/policy";
import { type PlatformPolicy, type ResourceClass, arr, label, obj, refersTo, str } from "./common";

const PUBLIC_MEMBERS = ["allUsers", "allAuthenticatedUsers"];

/** The public principals among a GCS IAM member/binding/policy's members. */
function publicMembers(props: Record<string, unknown>): string[] {
    const members = [props.member, ...arr(props.members)].filter(
        (m): m is string => typeof m === "string",
    );
    const inPolicy = str(props.policyData) ?? "";
    return PUBLIC_MEMBERS.filter((p) => members.includes(p) || inPolicy.includes(`"${p}"`));
}

const GCS_BUCKET_GRANTS: ResourceClass[] = [
    gcp.storage.BucketIAMMember,
    gcp.storage.BucketIAMBinding,
    gcp.storage.BucketIAMPolicy,
];

export const gcsPublicAccessPrevention: PlatformPolicy = {
    name: "gcs-public-access-prevention",
    description:
        "Cloud Storage buckets enforce public access prevention and uniform bucket-level " +
        "access, and no bucket is granted to allUsers or allAuthenticatedUsers.",
    enforcementLevel: "mandatory",
    remediationSteps:
        "Set publicAccessPrevention: 'enforced' and uniformBucketLevelAccess: true on the bucket " +
        "(components/data-lake sets both) and grant roles to service accounts only. Public docs " +
        "are served by the docs app, never from a public bucket.",
    validateResource: (args, report) => {
        if (args.isType(gcp.storage.Bucket)) {
            if (args.props.publicAccessPrevention !== "enforced") {
                report(
                    `${label(args)} has publicAccessPrevention ` +
                        `${JSON.stringify(args.props.publicAccessPrevention ?? null)}: set it to "enforced".`,
                );
            }
            if (args.props.uniformBucketLevelAccess !== true) {
                report(
                    `${label(args)} does not set uniformBucketLevelAccess: true (object ACLs could ` +
                        "make single objects public): set it.",
                );
            }
            return;
        }
        if (GCS_BUCKET_GRANTS.some((cls) => args.isType(cls))) {
            const found = publicMembers(args.props);
            if (found.length > 0) {
                report(
                    `${label(args)} grants ${found.join(" and ")} access to a bucket: grant the ` +
                        "role to the service account that needs it instead.",
                );
            }
            return;
        }
        args.notApplicable("applies to Cloud Storage buckets and their IAM grants");
    },
};

const S3_BUCKETS: ResourceClass[] = [aws.s3.Bucket, aws.s3.BucketV2];
const PUBLIC_ACLS = ["public-read", "public-read-write", "authenticated-read"];
const PAB_FLAGS = [
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
];
const SSE_ALGORITHMS = ["AES256", "aws:kms", "aws:kms:dsse"];

function isS3Bucket(r: PolicyResource): boolean {
    return S3_BUCKETS.some((cls) => r.isType(cls));
}

/** The companion resources (`bucket` input) that configure `bucket`. */
function companionsOf(
    bucket: PolicyResource,
    all: PolicyResource[],
    classes: ResourceClass[],
): PolicyResource[] {
    const values = [str(bucket.props.id), str(bucket.props.bucket), str(bucket.props.arn)];
    return all.filter(
        (r) => classes.some((cls) => r.isType(cls)) && refersTo(r, "bucket", bucket, values),
    );
}

function forEachS3Bucket(
    resources: PolicyResource[],
    check: (bucket: PolicyResource, report: (message: string) => void) => void,
    report: ReportViolation,
): void {
    for (const bucket of resources.filter(isS3Bucket)) {
        check(bucket, (message) => report(message, bucket.urn));
    }
}

export const s3PublicAccessBlock: PlatformPolicy = {
    name: "s3-public-access-block",
    description:
        "Every S3 bucket has a public access block with all four settings on, and no public ACL.",
    enforcementLevel: "mandatory",
    remediationSteps:
        "Add an aws.s3.BucketPublicAccessBlock for the bucket with blockPublicAcls, " +
        "blockPublicPolicy, ignorePublicAcls and restrictPublicBuckets all true " +
        "(components/aws-trigger does), and remove any public-read ACL.",
    validateResource: (args, report) => {
        if (args.isType(aws.s3.BucketPublicAccessBlock)) {
            const off = PAB_FLAGS.filter((f) => args.props[f] !== true);
            if (off.length > 0) {
                report(`${label(args)} does not turn on ${off.join(", ")}: set each to true.`);
            }
        } else if (S3_BUCKETS.some((cls) => args.isType(cls))) {
            const acl = str(args.props.acl);
            if (acl && PUBLIC_ACLS.includes(acl)) {
                report(`${label(args)} has the public ACL "${acl}": remove it (use "private").`);
            }
        } else {
            args.notApplicable("applies to S3 buckets and their public access blocks");
        }
    },
    validateStack: (args, report) => {
        forEachS3Bucket(
            args.resources,
            (bucket, fail) => {
                const blocks = companionsOf(bucket, args.resources, [
                    aws.s3.BucketPublicAccessBlock,
                ]);
                if (blocks.length === 0) {
                    fail(
                        `${label(bucket)} has no aws.s3.BucketPublicAccessBlock: add one with all ` +
                            "four settings true.",
                    );
                }
            },
            report,
        );
    },
};

const SSE_CONFIGS: ResourceClass[] = [
    aws.s3.BucketServerSideEncryptionConfiguration,
    aws.s3.BucketServerSideEncryptionConfigurationV2,
];

/** The algorithms of an SSE configuration's rules (inline on a bucket or its own resource). */
function sseAlgorithms(config: Record<string, unknown> | undefined): unknown[] {
    const rules = [...arr(config?.rules), ...arr(config?.rule), obj(config?.rule)].filter(Boolean);
    return rules.map((r) => obj(obj(r)?.applyServerSideEncryptionByDefault)?.sseAlgorithm);
}

export const s3Encryption: PlatformPolicy = {
    name: "s3-encryption",
    description: "Every S3 bucket declares default server-side encryption (SSE-S3 or SSE-KMS).",
    enforcementLevel: "mandatory",
    remediationSteps:
        "Add an aws.s3.BucketServerSideEncryptionConfiguration for the bucket with a rule " +
        "applyServerSideEncryptionByDefault.sseAlgorithm = 'AES256' (or 'aws:kms' with a key).",
    validateResource: (args, report) => {
        if (!SSE_CONFIGS.some((cls) => args.isType(cls))) {
            args.notApplicable("applies to S3 server-side encryption configurations");
        }
        const algorithms = sseAlgorithms(args.props);
        if (
            algorithms.length === 0 ||
            algorithms.some((a) => !SSE_ALGORITHMS.includes(String(a)))
        ) {
            report(
                `${label(args)} has no default encryption rule with sseAlgorithm ` +
                    `${SSE_ALGORITHMS.join(" | ")} (found ${JSON.stringify(algorithms)}): add one.`,
            );
        }
    },
    validateStack: (args, report) => {
        forEachS3Bucket(
            args.resources,
            (bucket, fail) => {
                const inline = sseAlgorithms(obj(bucket.props.serverSideEncryptionConfiguration));
                const configs = companionsOf(bucket, args.resources, SSE_CONFIGS);
                if (inline.length === 0 && configs.length === 0) {
                    fail(
                        `${label(bucket)} has no default encryption: add an ` +
                            "aws.s3.BucketServerSideEncryptionConfiguration for it.",
                    );
                }
            },
            report,
        );
    },
};

const VERSIONINGS: ResourceClass[] = [aws.s3.BucketVersioning, aws.s3.BucketVersioningV2];

export const s3Versioning: PlatformPolicy = {
    name: "s3-versioning",
    description: "Every S3 bucket has versioning enabled (a landed file can be recovered).",
    enforcementLevel: "mandatory",
    remediationSteps:
        "Add an aws.s3.BucketVersioning for the bucket with versioningConfiguration.status = " +
        "'Enabled'; expire old versions with a lifecycle rule instead of suspending versioning.",
    validateResource: (args, report) => {
        if (!VERSIONINGS.some((cls) => args.isType(cls))) {
            args.notApplicable("applies to S3 bucket versioning configurations");
        }
        const status = obj(args.props.versioningConfiguration)?.status;
        if (status !== "Enabled") {
            report(
                `${label(args)} sets versioning status ${JSON.stringify(status ?? null)}: set ` +
                    'versioningConfiguration.status = "Enabled".',
            );
        }
    },
    validateStack: (args, report) => {
        forEachS3Bucket(
            args.resources,
            (bucket, fail) => {
                const inline = obj(bucket.props.versioning)?.enabled === true;
                const configs = companionsOf(bucket, args.resources, VERSIONINGS);
                if (!inline && configs.length === 0) {
                    fail(
                        `${label(bucket)} has no versioning: add an aws.s3.BucketVersioning with ` +
                            'status "Enabled" for it.',
                    );
                }
            },
            report,
        );
    },
};

export const storagePolicies: PlatformPolicy[] = [
    gcsPublicAccessPrevention,
    s3PublicAccessBlock,
    s3Encryption,
    s3Versioning,
];
