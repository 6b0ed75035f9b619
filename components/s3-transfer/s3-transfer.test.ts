import { strict as assert } from "node:assert";
import { evaluate } from "../../offline/engine";
import { S3Transfer, type S3TransferArgs, SINK_ROLES } from "./s3-transfer";

const AGENT = "project-123456789@storage-transfer-service.iam.gserviceaccount.com";
const SUBJECT = "109876543210987654321";
const ACCOUNT = "123456789012";
const INVOKE = "gcp:storage/getTransferProjectServiceAccount:getTransferProjectServiceAccount";

const ARGS: S3TransferArgs = {
    environment: "dev",
    project: "acme-taxi-dev",
    sourceBucketName: "acme-taxi-dev-landing",
    sourceBucketArn: "arn:aws:s3:::acme-taxi-dev-landing",
    sinkBucketName: "acme-taxi-dev-staging",
    datasets: [
        { name: "yellow", landingPrefix: "trip data/", filePrefix: "yellow_tripdata_" },
        { name: "green", landingPrefix: "trip data/", filePrefix: "green_tripdata_" },
    ],
};

function build(args: Partial<S3TransferArgs> = {}) {
    const seen: Record<string, unknown>[] = [];
    return evaluate(() => new S3Transfer("dev-transfer", { ...ARGS, ...args }), {
        invokes: {
            [INVOKE]: (inputs) => {
                seen.push(inputs);
                return {
                    email: AGENT,
                    member: `serviceAccount:${AGENT}`,
                    subjectId: SUBJECT,
                    id: "x",
                };
            },
        },
        outputs: {
            "aws:iam/role:Role": (_n, i) => ({
                arn: `arn:aws:iam::${ACCOUNT}:role/${String(i.name)}`,
            }),
            // What the random provider returns for byteLength 4.
            "random:index/randomId:RandomId": () => ({ hex: "0a1b2c3d" }),
        },
    }).then((r) => ({ ...r, invokeInputs: seen }));
}

type Inputs = Record<string, any>;

describe("components/s3-transfer", () => {
    it("creates a federated role, its read-only policy, the sink grants and one transfer job per dataset", async () => {
        const r = await build();
        assert.deepEqual(r.countsByType(), {
            "aws:iam/role:Role": 1,
            "aws:iam/rolePolicy:RolePolicy": 1,
            "gcp:storage/bucketIAMMember:BucketIAMMember": 2,
            "gcp:storage/transferJob:TransferJob": 2,
            "taxi:platform:S3Transfer": 1,
        });
        assert.equal(r.childrenOf("taxi:platform:S3Transfer", "dev-transfer").length, 6);
        assert.deepEqual(r.invokeInputs, [{ project: "acme-taxi-dev" }]);
        assert.equal(r.ofType("aws:iam/accessKey:AccessKey").length, 0);
        assert.equal(r.ofType("aws:iam/user:User").length, 0);
    });

    it("names the jobs once per creation when uniqueName is set (Storage Transfer keeps deleted names)", async () => {
        const fixed = await build();
        assert.deepEqual(
            fixed.ofType("gcp:storage/transferJob:TransferJob").map((j) => j.inputs.name),
            ["transferJobs/dev-s3-full-refresh-yellow", "transferJobs/dev-s3-full-refresh-green"],
        );
        const r = await build({ uniqueName: true });
        const suffix = r.get("random:index/randomId:RandomId", "dev-transfer-job-suffix");
        const jobs = r.ofType("gcp:storage/transferJob:TransferJob");
        for (const j of jobs) {
            // The name comes from the random id (a property dependency), one suffix for all.
            assert.ok(j.propertyDependencies.name!.includes(suffix.urn), j.name);
            assert.match(
                String(j.inputs.name),
                /^transferJobs\/dev-s3-full-refresh-[0-9a-f]{8}-(yellow|green)$/,
            );
        }
        const prefix = String(jobs[0]!.inputs.name).replace(/-yellow$/, "");
        assert.deepEqual(
            jobs.map((j) => j.inputs.name),
            [`${prefix}-yellow`, `${prefix}-green`],
        );
    });

    it("lets only the project's transfer service agent assume the role, by web identity", async () => {
        const r = await build();
        const role = r.get("aws:iam/role:Role", "dev-transfer-sts").inputs as Inputs;
        assert.equal(role.name, "dev-gcp-storage-transfer");
        assert.deepEqual(JSON.parse(role.assumeRolePolicy), {
            Version: "2012-10-17",
            Statement: [
                {
                    Sid: "GoogleStorageTransferService",
                    Effect: "Allow",
                    Principal: { Federated: "accounts.google.com" },
                    Action: "sts:AssumeRoleWithWebIdentity",
                    Condition: { StringEquals: { "accounts.google.com:sub": SUBJECT } },
                },
            ],
        });
    });

    it("grants the role read-only access to the datasets' monthly files in the landing bucket", async () => {
        const r = await build();
        const p = r.get("aws:iam/rolePolicy:RolePolicy", "dev-transfer-sts").inputs as Inputs;
        assert.equal(p.role, "dev-gcp-storage-transfer");
        assert.deepEqual(JSON.parse(p.policy).Statement, [
            {
                Sid: "ListLandingBucket",
                Effect: "Allow",
                Action: ["s3:ListBucket", "s3:GetBucketLocation"],
                Resource: "arn:aws:s3:::acme-taxi-dev-landing",
            },
            {
                Sid: "ReadLandingObjects",
                Effect: "Allow",
                Action: "s3:GetObject",
                Resource: [
                    "arn:aws:s3:::acme-taxi-dev-landing/trip data/yellow_tripdata_*",
                    "arn:aws:s3:::acme-taxi-dev-landing/trip data/green_tripdata_*",
                ],
            },
        ]);
        assert.ok(!/s3:(Put|Delete)/.test(String(p.policy)), "read-only");
    });

    it("adds the ingest role only when given its Google account: trusted for that account alone, write-only on the monthly files", async () => {
        const INGEST_SUBJECT = "104242424242424242424";
        const without = await build();
        assert.equal(without.ofType("aws:iam/role:Role").length, 1);
        const r = await build({ landingWriterSubject: INGEST_SUBJECT });
        const role = r.get("aws:iam/role:Role", "dev-transfer-writer").inputs as Inputs;
        assert.equal(role.name, "dev-landing-ingest");
        assert.equal(role.maxSessionDuration, 3600);
        assert.deepEqual(JSON.parse(role.assumeRolePolicy).Statement, [
            {
                Sid: "TaxiIngestJobIdentity",
                Effect: "Allow",
                Principal: { Federated: "accounts.google.com" },
                Action: "sts:AssumeRoleWithWebIdentity",
                Condition: { StringEquals: { "accounts.google.com:sub": INGEST_SUBJECT } },
            },
        ]);
        const p = r.get("aws:iam/rolePolicy:RolePolicy", "dev-transfer-writer").inputs as Inputs;
        assert.equal(p.role, "dev-landing-ingest");
        const statements = JSON.parse(p.policy).Statement;
        assert.deepEqual(statements, [
            {
                Sid: "WriteLandingObjects",
                Effect: "Allow",
                // What the download job calls: put_object / create_multipart_upload /
                // upload_part / complete_multipart_upload (s3:PutObject), abort_multipart_upload,
                // and head_object (s3:GetObject) for the unchanged check.
                Action: [
                    "s3:PutObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                    "s3:GetObject",
                ],
                Resource: [
                    "arn:aws:s3:::acme-taxi-dev-landing/trip data/yellow_tripdata_*",
                    "arn:aws:s3:::acme-taxi-dev-landing/trip data/green_tripdata_*",
                ],
            },
        ]);
        assert.ok(!/s3:(Delete|List(Bucket|AllMyBuckets)|PutBucket|\*)/.test(String(p.policy)));
        assert.equal(r.ofType("aws:iam/accessKey:AccessKey").length, 0);
    });

    it("copies each dataset's files under its own staging folder, with roleArn and no access keys, unscheduled", async () => {
        const r = await build();
        const green = r.get("gcp:storage/transferJob:TransferJob", "dev-transfer-job-green")
            .inputs as Inputs;
        assert.equal(green.name, "transferJobs/dev-s3-full-refresh-green");
        assert.deepEqual(green.transferSpec.objectConditions, {
            includePrefixes: ["green_tripdata_"],
        });
        assert.deepEqual(green.transferSpec.gcsDataSink, {
            bucketName: "acme-taxi-dev-staging",
            path: "green/",
        });
        const job = r.get("gcp:storage/transferJob:TransferJob", "dev-transfer-job-yellow")
            .inputs as Inputs;
        assert.equal(job.name, "transferJobs/dev-s3-full-refresh-yellow");
        assert.deepEqual(job.transferSpec.objectConditions, {
            includePrefixes: ["yellow_tripdata_"],
        });
        assert.equal(job.project, "acme-taxi-dev");
        assert.equal(job.schedule, undefined, "runs only when the full_refresh DAG starts it");
        assert.equal(job.eventStream, undefined);
        assert.deepEqual(job.transferSpec.awsS3DataSource, {
            bucketName: "acme-taxi-dev-landing",
            path: "trip data/",
            roleArn: `arn:aws:iam::${ACCOUNT}:role/dev-gcp-storage-transfer`,
        });
        assert.equal(job.transferSpec.awsS3DataSource.awsAccessKey, undefined);
        assert.equal(job.transferSpec.awsS3DataSource.credentialsSecret, undefined);
        assert.deepEqual(job.transferSpec.gcsDataSink, {
            bucketName: "acme-taxi-dev-staging",
            path: "yellow/",
        });
        assert.equal(job.transferSpec.transferOptions.deleteObjectsFromSourceAfterTransfer, false);
        assert.deepEqual(
            r
                .ofType("gcp:storage/bucketIAMMember:BucketIAMMember")
                .map(
                    (m) =>
                        `${String(m.inputs.bucket)} ${String(m.inputs.role)} ${String(m.inputs.member)}`,
                )
                .sort(),
            SINK_ROLES.map(
                (role) => `acme-taxi-dev-staging ${role} serviceAccount:${AGENT}`,
            ).sort(),
        );
    });

    it("rejects malformed datasets, naming each", async () => {
        await assert.rejects(
            build({
                datasets: [
                    { name: "yellow", landingPrefix: "trip data", filePrefix: "yellow_tripdata_" },
                    { name: "yellow", landingPrefix: "trip data/", filePrefix: "a/b" },
                ],
            }),
            (err: Error) => {
                for (const part of [
                    "datasets: names repeat (yellow, yellow)",
                    'dataset yellow: landingPrefix "trip data" must be "" or a folder ending with "/"',
                    'dataset yellow: filePrefix "a/b" must be a non-empty file-name prefix',
                ])
                    assert.ok(err.message.includes(part), `${part} in: ${err.message}`);
                return true;
            },
        );
        await assert.rejects(build({ datasets: [] }), /datasets is empty: enable at least one/);
    });
});
