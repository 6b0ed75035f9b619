/**
 * Computed values the clouds would return (endpoints, IPs, emails), for offline evaluation.
 * They use documentation IP ranges and `offline` markers so a render can never be mistaken for
 * real state.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { DockerIgnore, contextFiles } from "./dockerignore";
import type { EvaluateOptions } from "./engine";

type Outputs = NonNullable<EvaluateOptions["outputs"]>;
type Invokes = NonNullable<EvaluateOptions["invokes"]>;

/** Data-source lookups the program makes, answered offline. */
export function cloudInvokes(project: string): Invokes {
    return {
        // The project's Storage Transfer service agent (S3Transfer federates an AWS role to it).
        // The deploying identity's short-lived token (registry auth of the image builds).
        "gcp:organizations/getClientConfig:getClientConfig": () => ({
            accessToken: "offline-access-token",
            id: "offline",
            project,
            region: "",
            zone: "",
        }),
        "gcp:storage/getTransferProjectServiceAccount:getTransferProjectServiceAccount": () => ({
            email: `project-000000000000@storage-transfer-service.iam.gserviceaccount.com`,
            subjectId: "100000000000000000000",
            project,
        }),
    };
}

/** This checkout's root: the program's working directory, which relative build paths use. */
const CHECKOUT_ROOT = path.resolve(__dirname, "..");

/** sha256 over what a docker-build Image would build, independent of the checkout's path. */
export function buildDigest(inputs: Record<string, unknown>, root: string = CHECKOUT_ROOT): string {
    const h = createHash("sha256");
    const raw = (inputs.dockerfile ?? {}) as { inline?: string; location?: string };
    const dockerfile = {
        ...raw,
        ...(raw.location ? { location: path.resolve(root, raw.location) } : {}),
    };
    const given = (inputs.context as { location?: string } | undefined)?.location;
    const context = given === undefined ? undefined : path.resolve(root, given);
    if (dockerfile.inline !== undefined) {
        h.update(dockerfile.inline);
    } else if (dockerfile.location && context) {
        h.update(fs.readFileSync(dockerfile.location));
        const own = `${dockerfile.location}.dockerignore`;
        const ignoreFile = fs.existsSync(own) ? own : path.join(context, ".dockerignore");
        const ignore = new DockerIgnore(
            fs.existsSync(ignoreFile) ? fs.readFileSync(ignoreFile, "utf8") : "",
        );
        for (const f of contextFiles(context, ignore)) {
            h.update(`\0${f}\0`);
            h.update(fs.readFileSync(path.join(context, f)));
        }
    }
    h.update(JSON.stringify(inputs.buildArgs ?? {}));
    return h.digest("hex");
}

export function cloudFakes(project: string): Outputs {
    return {
        "gcp:container/cluster:Cluster": (name, inputs) => {
            const endpoints = (inputs.controlPlaneEndpointsConfig ?? {}) as {
                dnsEndpointConfig?: object;
            };
            const clusterName = typeof inputs.name === "string" ? inputs.name : name;
            return {
                name: clusterName,
                endpoint: "203.0.113.10",
                masterAuth: { clusterCaCertificate: "T0ZGTElORS1DQQ==" },
                // GKE reports the DNS endpoint of every cluster (`<id>.<region>.gke.goog`).
                controlPlaneEndpointsConfig: {
                    ...endpoints,
                    dnsEndpointConfig: {
                        ...endpoints.dnsEndpointConfig,
                        endpoint: `gke-0123456789abcdef0123456789abcdef-${clusterName}.europe-west1.gke.goog`,
                    },
                },
            };
        },
        "gcp:compute/globalAddress:GlobalAddress": (name, inputs) => ({
            name: inputs.name ?? name,
            address: "203.0.113.20",
        }),
        "gcp:serviceaccount/account:Account": (_name, inputs) => {
            const email = `${String(inputs.accountId)}@${project}.iam.gserviceaccount.com`;
            // The numeric `sub` of the account's Google ID tokens (AWS roles trust it).
            const uniqueId = `1${BigInt(
                `0x${createHash("sha256").update(email).digest("hex").slice(0, 16)}`,
            )
                .toString()
                .padStart(20, "0")}`;
            return { email, uniqueId, name: `projects/${project}/serviceAccounts/${email}` };
        },
        "gcp:certificatemanager/dnsAuthorization:DnsAuthorization": (_name, inputs) => ({
            dnsResourceRecords: [
                {
                    name: `_acme-challenge.${String(inputs.domain)}.`,
                    type: "CNAME",
                    data: `offline.${String(inputs.domain)}.authorize.certificatemanager.goog.`,
                },
            ],
        }),
        "gcp:certificatemanager/certificateMap:CertificateMap": (name) => ({ name }),
        // Marked secret by the provider; the harness redacts it like any secret.
        "random:index/randomPassword:RandomPassword": (name) => ({
            result: `offline-password-${name}`,
        }),
        // ARNs AWS assigns (account 000000000000 and region `offline` mark them as fakes), so
        // references between AWS resources (bucket policy, Lambda destination, roles) render.
        ...awsArnFakes(),
        // An image build: a digest derived from what would be built (Dockerfile, the files the
        // context sends, build args), never from where the checkout is. So the offline render
        // diff shows a new digest exactly for the images a change touches.
        "docker-build:index:Image": (_name, inputs) => {
            const digest = `sha256:${buildDigest(inputs)}`;
            const tags = (inputs.tags as string[] | undefined) ?? [];
            return { digest, ref: tags[0] ? `${tags[0]}@${digest}` : "", contextHash: "offline" };
        },
        // A random id: deterministic per name, so renders are stable.
        "random:index/randomId:RandomId": (name, inputs) => {
            const bytes = createHash("sha256")
                .update(`offline-id-${name}`)
                .digest()
                .subarray(0, Number(inputs.byteLength ?? 8));
            return { hex: bytes.toString("hex"), b64Url: bytes.toString("base64url") };
        },
        // Deterministic per name (a digest of it), so renders are stable; marked secret too.
        "random:index/randomBytes:RandomBytes": (name, inputs) => {
            const bytes = createHash("sha256")
                .update(`offline-bytes-${name}`)
                .digest()
                .subarray(0, Number(inputs.length ?? 32));
            return { base64: bytes.toString("base64"), hex: bytes.toString("hex") };
        },
    };
}

const AWS_FAKE = { region: "offline", account: "000000000000" };

function awsArnFakes(): Outputs {
    const { region, account } = AWS_FAKE;
    const named = (inputs: Record<string, unknown>, key: string, fallback: string) =>
        typeof inputs[key] === "string" ? inputs[key] : fallback;
    return {
        "aws:s3/bucket:Bucket": (name, inputs) => ({
            arn: `arn:aws:s3:::${named(inputs, "bucket", name)}`,
        }),
        "aws:sqs/queue:Queue": (name, inputs) => ({
            arn: `arn:aws:sqs:${region}:${account}:${named(inputs, "name", name)}`,
        }),
        "aws:secretsmanager/secret:Secret": (name, inputs) => ({
            arn: `arn:aws:secretsmanager:${region}:${account}:secret:${named(inputs, "name", name)}-offln`,
        }),
        "aws:cloudwatch/logGroup:LogGroup": (name, inputs) => ({
            arn: `arn:aws:logs:${region}:${account}:log-group:${named(inputs, "name", name)}`,
        }),
        "aws:iam/role:Role": (name, inputs) => ({
            arn: `arn:aws:iam::${account}:role/${named(inputs, "name", name)}`,
        }),
        "aws:lambda/function:Function": (name, inputs) => ({
            arn: `arn:aws:lambda:${region}:${account}:function:${named(inputs, "name", name)}`,
        }),
        "aws:sns/topic:Topic": (name, inputs) => ({
            arn: `arn:aws:sns:${region}:${account}:${named(inputs, "name", name)}`,
        }),
        "aws:sesv2/configurationSet:ConfigurationSet": (name, inputs) => ({
            arn: `arn:aws:ses:${region}:${account}:configuration-set/${named(inputs, "configurationSetName", name)}`,
        }),
        "aws:sesv2/emailIdentity:EmailIdentity": (name, inputs) => ({
            arn: `arn:aws:ses:${region}:${account}:identity/${named(inputs, "emailIdentity", name)}`,
        }),
    };
}
