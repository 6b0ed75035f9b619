import { strict as assert } from "node:assert";
import { evaluate } from "../../offline/engine";
import { AwsMail, type AwsMailArgs, mailProblems } from "./aws-mail";

const ACCOUNT = "123456789012";
const AIRFLOW = "109876543210987654321";
const RELAY = "101010101010101010101";
const ARGS: AwsMailArgs = {
    environment: "dev",
    identity: "example.com",
    sender: "reports@example.com",
    senderSubjects: [RELAY, AIRFLOW],
};

function build(args: Partial<AwsMailArgs> = {}) {
    const arn = (service: string, what: string) =>
        `arn:aws:${service}:eu-west-1:${ACCOUNT}:${what}`;
    return evaluate(() => new AwsMail("dev-mail", { ...ARGS, ...args }), {
        outputs: {
            "aws:iam/role:Role": (_n, i) => ({
                arn: `arn:aws:iam::${ACCOUNT}:role/${String(i.name)}`,
            }),
            "aws:sns/topic:Topic": (_n, i) => ({ arn: arn("sns", String(i.name)) }),
            "aws:sesv2/configurationSet:ConfigurationSet": (_n, i) => ({
                arn: arn("ses", `configuration-set/${String(i.configurationSetName)}`),
            }),
            "aws:sesv2/emailIdentity:EmailIdentity": (_n, i) => ({
                arn: arn("ses", `identity/${String(i.emailIdentity)}`),
                dkimSigningAttributes: { tokens: ["t1", "t2", "t3"] },
            }),
        },
    });
}

type Inputs = Record<string, any>;

describe("components/aws-mail", () => {
    it("creates the identity, configuration set, events topic and the sender role, no user or key", async () => {
        const r = await build();
        assert.deepEqual(r.countsByType(), {
            "aws:iam/role:Role": 1,
            "aws:iam/rolePolicy:RolePolicy": 1,
            "aws:sesv2/configurationSet:ConfigurationSet": 1,
            "aws:sesv2/configurationSetEventDestination:ConfigurationSetEventDestination": 1,
            "aws:sesv2/emailIdentity:EmailIdentity": 1,
            "aws:sns/topic:Topic": 1,
            "aws:sns/topicPolicy:TopicPolicy": 1,
            "taxi:platform:AwsMail": 1,
        });
        assert.equal(r.ofType("aws:iam/accessKey:AccessKey").length, 0);
        assert.equal(r.ofType("aws:iam/user:User").length, 0);
        const identity = r.get("aws:sesv2/emailIdentity:EmailIdentity", "dev-mail-identity")
            .inputs as Inputs;
        assert.equal(identity.emailIdentity, "example.com");
        assert.equal(identity.configurationSetName, "dev-taxi-mail");
        const set = r.get("aws:sesv2/configurationSet:ConfigurationSet", "dev-mail-config")
            .inputs as Inputs;
        assert.deepEqual(set.deliveryOptions, { tlsPolicy: "REQUIRE" });
        assert.deepEqual(set.suppressionOptions, { suppressedReasons: ["BOUNCE", "COMPLAINT"] });
    });

    it("publishes bounces and complaints to the topic, which only this configuration set may use", async () => {
        const r = await build();
        const dest = r.get(
            "aws:sesv2/configurationSetEventDestination:ConfigurationSetEventDestination",
            "dev-mail-events",
        );
        const d = dest.inputs as Inputs;
        assert.deepEqual(d.eventDestination.matchingEventTypes, [
            "BOUNCE",
            "COMPLAINT",
            "REJECT",
            "DELIVERY_DELAY",
        ]);
        assert.equal(
            d.eventDestination.snsDestination.topicArn,
            `arn:aws:sns:eu-west-1:${ACCOUNT}:dev-taxi-mail-events`,
        );
        const policy = r.get("aws:sns/topicPolicy:TopicPolicy", "dev-mail-events");
        assert.ok(
            dest.dependencies.includes(policy.urn),
            "the destination waits for the topic policy",
        );
        assert.deepEqual(JSON.parse((policy.inputs as Inputs).policy).Statement[0].Condition, {
            StringEquals: {
                "AWS:SourceAccount": ACCOUNT,
                "AWS:SourceArn": `arn:aws:ses:eu-west-1:${ACCOUNT}:configuration-set/dev-taxi-mail`,
            },
        });
        const topic = r.get("aws:sns/topic:Topic", "dev-mail-events").inputs as Inputs;
        assert.equal(topic.kmsMasterKeyId, "alias/aws/sns");
    });

    it("lets only the listed Google service accounts assume the sender role, by web identity", async () => {
        const r = await build();
        const role = r.get("aws:iam/role:Role", "dev-mail-sender").inputs as Inputs;
        assert.equal(role.name, "dev-report-sender");
        assert.deepEqual(JSON.parse(role.assumeRolePolicy).Statement, [
            {
                Sid: "GoogleServiceAccountsOfTheNotifier",
                Effect: "Allow",
                Principal: { Federated: "accounts.google.com" },
                Action: "sts:AssumeRoleWithWebIdentity",
                Condition: {
                    StringEquals: {
                        "accounts.google.com:sub": [RELAY, AIRFLOW].sort(),
                        "accounts.google.com:aud": [RELAY, AIRFLOW].sort(),
                        "accounts.google.com:oaud": "sts.amazonaws.com",
                    },
                },
            },
        ]);
    });

    it("allows the role only to send, from the sender address, through the identity", async () => {
        const r = await build();
        const p = r.get("aws:iam/rolePolicy:RolePolicy", "dev-mail-sender").inputs as Inputs;
        assert.equal(p.role, "dev-report-sender");
        assert.deepEqual(JSON.parse(p.policy).Statement, [
            {
                Sid: "SendRunReportsAndAlerts",
                Effect: "Allow",
                Action: ["ses:SendEmail", "ses:SendRawEmail"],
                Resource: [
                    `arn:aws:ses:eu-west-1:${ACCOUNT}:identity/example.com`,
                    `arn:aws:ses:eu-west-1:${ACCOUNT}:configuration-set/dev-taxi-mail`,
                ],
                Condition: { StringEquals: { "ses:FromAddress": "reports@example.com" } },
            },
        ]);
    });

    it("rejects a sender outside the identity and malformed values, naming them", () => {
        assert.deepEqual(mailProblems("example.com", "reports@example.com"), []);
        assert.deepEqual(mailProblems("ops@example.com", "ops@example.com"), []);
        assert.match(
            mailProblems("example.com", "reports@other.org").join(),
            /not an address of the verified domain example.com/,
        );
        assert.match(
            mailProblems("ops@example.com", "x@example.com").join(),
            /must be the verified address ops@example.com/,
        );
        assert.match(mailProblems("not a domain", "a@b.com").join(), /neither a domain/);
        assert.throws(
            () => new AwsMail("x", { ...ARGS, senderSubjects: [] }),
            /senderSubjects is empty/,
        );
    });
});
