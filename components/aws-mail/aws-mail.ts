/**
 * AwsMail: the platform's outgoing email, Amazon SES v2 in the AWS account of the landing bucket.
 *
 * - a verified sending identity (`identity`: a domain, whose DKIM records SES gives as outputs,
 *   or one address, which gets a verification mail);
 * - a configuration set (TLS required, reputation metrics, bounces and complaints suppressed)
 *   whose event destination publishes bounces, complaints, rejects and delivery delays to an SNS
 *   topic (encrypted with the AWS-managed key; its policy lets only SES of this account and this
 *   configuration set publish);
 * - the role `<env>-report-sender`, assumable only by web identity from Google
 *   (`accounts.google.com`) for the listed Google service accounts (their unique ids as `sub`
 *   and `aud`, the token's `azp`; the token's audience, `oaud`, must be `sts.amazonaws.com`), and
 *   allowed only `ses:SendEmail` / `ses:SendRawEmail` on the identity and the configuration set,
 *   with `ses:FromAddress` equal to the sender. No IAM user, no access key, no SMTP password.
 *
 * The run report notifier (`dags/common/notify.py`, `REPORT_TRANSPORT=ses`) and the alert relay
 * use it from GKE: metadata-server ID token → STS AssumeRoleWithWebIdentity → SES v2 SendEmail.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { platformLabels } from "../shared/labels";
import { assertArgs } from "../shared/validation";

export interface AwsMailArgs {
    /** Environment name (`dev`, …): resource names. Required. */
    environment: string;
    /** Verified sending identity: a domain (`example.com`) or one address. Required. */
    identity: string;
    /** The From address: the identity itself, or an address of the identity's domain. Required. */
    sender: string;
    /** Unique ids (21 digits) of the Google service accounts allowed to send. Required. */
    senderSubjects: pulumi.Input<string>[];
}

const EMAIL = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)$/;
const DOMAIN = /^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;

/** The event types published to the topic: what a person must act on. */
export const MAIL_EVENT_TYPES = ["BOUNCE", "COMPLAINT", "REJECT", "DELIVERY_DELAY"];

/** Problems of an identity/sender pair, as messages (empty when valid). */
export function mailProblems(identity: string, sender: string): string[] {
    const problems: string[] = [];
    const isAddress = EMAIL.test(identity);
    if (!isAddress && !DOMAIN.test(identity)) {
        problems.push(
            `identity ${JSON.stringify(identity)} is neither a domain (example.com) nor an email address`,
        );
    }
    const senderDomain = EMAIL.exec(sender)?.[1];
    if (!senderDomain) {
        problems.push(`sender ${JSON.stringify(sender)} is not an email address`);
    } else if (isAddress && sender.toLowerCase() !== identity.toLowerCase()) {
        problems.push(
            `sender ${sender} must be the verified address ${identity} (SES sends only from verified identities)`,
        );
    } else if (!isAddress && senderDomain.toLowerCase() !== identity.toLowerCase()) {
        problems.push(`sender ${sender} is not an address of the verified domain ${identity}`);
    }
    return problems;
}

/** Trust: web identity from Google for exactly the listed service accounts. */
export function senderTrustPolicy(subjects: string[]) {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "GoogleServiceAccountsOfTheNotifier",
                Effect: "Allow",
                Principal: { Federated: "accounts.google.com" },
                Action: "sts:AssumeRoleWithWebIdentity",
                Condition: {
                    StringEquals: {
                        "accounts.google.com:sub": subjects,
                        "accounts.google.com:aud": subjects,
                        "accounts.google.com:oaud": "sts.amazonaws.com",
                    },
                },
            },
        ],
    };
}

/** Permission: send, only from `sender`, only through the identity and the configuration set. */
export function sendOnlyPolicy(identityArn: string, configurationSetArn: string, sender: string) {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "SendRunReportsAndAlerts",
                Effect: "Allow",
                Action: ["ses:SendEmail", "ses:SendRawEmail"],
                Resource: [identityArn, configurationSetArn],
                Condition: { StringEquals: { "ses:FromAddress": sender } },
            },
        ],
    };
}

/** SNS topic policy: only SES of this account, for this configuration set, may publish. */
export function topicPolicy(topicArn: string, accountId: string, configurationSetArn: string) {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "SesMailEvents",
                Effect: "Allow",
                Principal: { Service: "ses.amazonaws.com" },
                Action: "sns:Publish",
                Resource: topicArn,
                Condition: {
                    StringEquals: {
                        "AWS:SourceAccount": accountId,
                        "AWS:SourceArn": configurationSetArn,
                    },
                },
            },
        ],
    };
}

export class AwsMail extends pulumi.ComponentResource {
    /** Role the notifier assumes (REPORT_SES_ROLE_ARN). */
    public readonly senderRoleArn: pulumi.Output<string>;
    public readonly configurationSetName: pulumi.Output<string>;
    public readonly eventsTopicArn: pulumi.Output<string>;
    public readonly identityArn: pulumi.Output<string>;
    /** DKIM CNAME tokens of a domain identity (publish `<token>._domainkey.<domain>`). */
    public readonly dkimTokens: pulumi.Output<string[]>;
    public readonly sender: string;

    /** Pass the AWS provider in `opts.providers`. */
    constructor(name: string, args: AwsMailArgs, opts: pulumi.ComponentResourceOptions = {}) {
        super("taxi:platform:AwsMail", name, {}, opts);
        assertArgs("AwsMail", [
            ...mailProblems(args.identity, args.sender),
            args.senderSubjects.length === 0 &&
                "senderSubjects is empty: list the Google service accounts that send mail",
        ]);
        const o = { parent: this };
        const env = args.environment;
        const tags = platformLabels(env);
        this.sender = args.sender;

        const configurationSet = new aws.sesv2.ConfigurationSet(
            `${name}-config`,
            {
                configurationSetName: `${env}-taxi-mail`,
                deliveryOptions: { tlsPolicy: "REQUIRE" },
                reputationOptions: { reputationMetricsEnabled: true },
                sendingOptions: { sendingEnabled: true },
                suppressionOptions: { suppressedReasons: ["BOUNCE", "COMPLAINT"] },
                tags,
            },
            o,
        );
        const identity = new aws.sesv2.EmailIdentity(
            `${name}-identity`,
            {
                emailIdentity: args.identity,
                configurationSetName: configurationSet.configurationSetName,
                tags,
            },
            o,
        );
        const topic = new aws.sns.Topic(
            `${name}-events`,
            { name: `${env}-taxi-mail-events`, kmsMasterKeyId: "alias/aws/sns", tags },
            o,
        );
        // The account id is the configuration set ARN's fifth field (no extra lookup).
        const accountId = configurationSet.arn.apply((arn) => arn.split(":")[4] ?? "");
        const policy = new aws.sns.TopicPolicy(
            `${name}-events`,
            {
                arn: topic.arn,
                policy: pulumi
                    .all([topic.arn, accountId, configurationSet.arn])
                    .apply(([t, a, c]) => JSON.stringify(topicPolicy(t, a, c))),
            },
            o,
        );
        new aws.sesv2.ConfigurationSetEventDestination(
            `${name}-events`,
            {
                configurationSetName: configurationSet.configurationSetName,
                eventDestinationName: "bounces-and-complaints",
                eventDestination: {
                    enabled: true,
                    matchingEventTypes: MAIL_EVENT_TYPES,
                    snsDestination: { topicArn: topic.arn },
                },
            },
            // SES checks that it may publish when the destination is created.
            { ...o, dependsOn: [policy] },
        );
        const role = new aws.iam.Role(
            `${name}-sender`,
            {
                name: `${env}-report-sender`,
                description: "Run reports and alerts: SES SendEmail from GKE by web identity",
                assumeRolePolicy: pulumi
                    .all(args.senderSubjects)
                    .apply((subjects) => JSON.stringify(senderTrustPolicy([...subjects].sort()))),
                maxSessionDuration: 3600,
                tags,
            },
            o,
        );
        new aws.iam.RolePolicy(
            `${name}-sender`,
            {
                role: role.name,
                policy: pulumi
                    .all([identity.arn, configurationSet.arn])
                    .apply(([i, c]) => JSON.stringify(sendOnlyPolicy(i, c, args.sender))),
            },
            o,
        );
        this.senderRoleArn = role.arn;
        this.configurationSetName = configurationSet.configurationSetName;
        this.eventsTopicArn = topic.arn;
        this.identityArn = identity.arn;
        this.dkimTokens = identity.dkimSigningAttributes.apply((d) => d?.tokens ?? []);
        this.registerOutputs({
            senderRoleArn: this.senderRoleArn,
            configurationSetName: this.configurationSetName,
            eventsTopicArn: this.eventsTopicArn,
        });
    }
}
