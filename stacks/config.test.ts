import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import YAML from "yaml";
import { CONFIG_SPEC, ConfigError, PROJECT, parseConfig } from "./config";
import { HOSTILE_AUTHORIZED_NETWORKS, HOSTILE_DATABASE_ENTRIES } from "../testing/hostile-inputs";
import { expectedProjectFile, PROJECT_FILE } from "../offline/project-file";
import {
    Declaration,
    checkAgainstDeclarations,
    listStacks,
    parseStackFile,
    projectKeys,
    readStackFile,
    StackFileError,
    toEngineConfig,
} from "../offline/stack-files";

/** A complete, valid set of raw values (as the engine passes them). */
const VALID: Record<string, string> = {
    environment: "dev",
    gcpProject: "acme-taxi-dev",
    gcpRegion: "europe-west1",
    awsRegion: "eu-west-1",
    masterAuthorizedNetworks: '["203.0.113.0/24"]',
    domain: "dev.data.example.com",
};

function parseWith(overrides: Record<string, string | undefined>, stack = "dev") {
    const raw = { ...VALID, ...overrides };
    return parseConfig(stack, (k) => raw[k]);
}

function problemOf(overrides: Record<string, string | undefined>, stack = "dev"): string {
    try {
        parseWith(overrides, stack);
    } catch (err) {
        assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
        return err.message;
    }
    assert.fail(`config ${JSON.stringify(overrides)} was accepted`);
}

describe("stack config (stacks/config.ts)", () => {
    it("parses a minimal valid config and applies every default", () => {
        const cfg = parseWith({});
        assert.equal(cfg.environment, "dev");
        assert.equal(cfg.jobsPoolMinNodes, 0);
        assert.equal(cfg.jobsPoolMaxNodes, 3);
        assert.equal(cfg.jobsPoolSpot, false);
        assert.equal(cfg.releaseChannel, "REGULAR");
        assert.equal(cfg.domain, "dev.data.example.com");
        assert.deepEqual(cfg.mlflowIapMembers, [], "MLflow internal only by default");
        assert.deepEqual(cfg.masterAuthorizedNetworks, ["203.0.113.0/24"]);
        assert.equal(
            cfg.datasetLocation,
            "europe-west1",
            "BigQuery location defaults to the region",
        );
    });

    it("parses typed values: integers, booleans, lists, enums", () => {
        const cfg = parseWith({
            jobsPoolMaxNodes: "12",
            jobsPoolSpot: "true",
            releaseChannel: "STABLE",
            masterAuthorizedNetworks: '["203.0.113.0/24","198.51.100.7/32"]',
            bigqueryLocation: "EU",
        });
        assert.equal(cfg.jobsPoolMaxNodes, 12);
        assert.equal(cfg.jobsPoolSpot, true);
        assert.equal(cfg.releaseChannel, "STABLE");
        assert.equal(cfg.masterAuthorizedNetworks.length, 2);
        assert.equal(cfg.datasetLocation, "EU");
    });

    // Each bad config: what the user wrote, and the parts the single message must contain
    // (the key, the value seen, and what is expected).
    const BAD: [string, Record<string, string | undefined>, string[]][] = [
        [
            "missing required key",
            { gcpProject: undefined },
            ["taxi-platform:gcpProject", "missing", "Google Cloud project id"],
        ],
        [
            "unknown environment",
            { environment: "production" },
            ["taxi-platform:environment", '"production"', "one of dev, staging, prod"],
        ],
        [
            "environment not matching the stack",
            { environment: "prod" },
            ["taxi-platform:environment", '"prod"', '"dev" for the stack named dev'],
        ],
        [
            "integer given as text",
            { jobsPoolMaxNodes: "three" },
            ["taxi-platform:jobsPoolMaxNodes", '"three"', "whole number from 1 to 100"],
        ],
        [
            "integer with a fraction",
            { systemPoolNodes: "1.5" },
            ["taxi-platform:systemPoolNodes", '"1.5"', "whole number from 1 to 10"],
        ],
        [
            "size above range",
            { jobsPoolMaxNodes: "500" },
            ["taxi-platform:jobsPoolMaxNodes", "500", "from 1 to 100"],
        ],
        [
            "size below range",
            { systemPoolNodes: "0" },
            ["taxi-platform:systemPoolNodes", "got 0", "from 1 to 10"],
        ],
        [
            "negative size",
            { jobsPoolMinNodes: "-1" },
            ["taxi-platform:jobsPoolMinNodes", "-1", "from 0 to 100"],
        ],
        [
            "max below min",
            { jobsPoolMinNodes: "5", jobsPoolMaxNodes: "2" },
            ["taxi-platform:jobsPoolMaxNodes", "got 2", "at least jobsPoolMinNodes (5)"],
        ],
        [
            "boolean misspelt",
            { jobsPoolSpot: "yes" },
            ["taxi-platform:jobsPoolSpot", '"yes"', "true or false"],
        ],
        [
            "unknown release channel",
            { releaseChannel: "stable" },
            ["taxi-platform:releaseChannel", '"stable"', "RAPID, REGULAR, STABLE"],
        ],
        [
            "zone instead of region",
            { gcpRegion: "europe-west1-b" },
            ["taxi-platform:gcpRegion", '"europe-west1-b"', "not a zone"],
        ],
        [
            "made-up region",
            { gcpRegion: "moon-base1" },
            ["taxi-platform:gcpRegion", '"moon-base1"', "GCP region"],
        ],
        [
            "bad AWS region",
            { awsRegion: "eu-west" },
            ["taxi-platform:awsRegion", '"eu-west"', "AWS region"],
        ],
        [
            "malformed CIDR",
            { nodesCidr: "10.10.0.0" },
            ["taxi-platform:nodesCidr", '"10.10.0.0"', "IPv4 CIDR"],
        ],
        [
            "CIDR octet out of range",
            { podsCidr: "10.300.0.0/16" },
            ["taxi-platform:podsCidr", '"10.300.0.0/16"', "IPv4 CIDR"],
        ],
        [
            "CIDR with host bits",
            { servicesCidr: "10.30.0.1/20" },
            ["taxi-platform:servicesCidr", '"10.30.0.1/20"', "zero host bits"],
        ],
        [
            "control-plane range not a /28",
            { masterCidr: "172.16.0.0/24" },
            ["taxi-platform:masterCidr", '"172.16.0.0/24"', "/28"],
        ],
        [
            "overlapping ranges",
            { podsCidr: "10.10.0.0/16" },
            ["taxi-platform:podsCidr", "overlaps nodesCidr", "disjoint"],
        ],
        [
            "authorized networks empty",
            { masterAuthorizedNetworks: "[]" },
            ["taxi-platform:masterAuthorizedNetworks", "[]", "1 to 50 items"],
        ],
        [
            "authorized network not a CIDR",
            { masterAuthorizedNetworks: '["203.0.113.0/24","office"]' },
            ["taxi-platform:masterAuthorizedNetworks", '"office" at index 1', "IPv4 CIDR"],
        ],
        [
            "list given as a string",
            { masterAuthorizedNetworks: "203.0.113.0/24" },
            ["taxi-platform:masterAuthorizedNetworks", '"203.0.113.0/24"', "a list of"],
        ],
        [
            "project id with capitals",
            { gcpProject: "Acme-Taxi" },
            ["taxi-platform:gcpProject", '"Acme-Taxi"', "GCP project id"],
        ],
        [
            "domain with a scheme",
            { domain: "https://data.example.com" },
            ["taxi-platform:domain", '"https://data.example.com"', "DNS name"],
        ],
        [
            "bad machine type",
            { jobsPoolMachineType: "large" },
            ["taxi-platform:jobsPoolMachineType", '"large"', "machine type"],
        ],
        [
            "retention of zero days",
            { stagingRetentionDays: "0" },
            ["taxi-platform:stagingRetentionDays", "got 0", "from 1 to 3650"],
        ],
    ];

    for (const [title, overrides, parts] of BAD) {
        it(`rejects ${title}`, () => {
            const message = problemOf(overrides);
            for (const part of parts) {
                assert.ok(
                    message.includes(part),
                    `message lacks ${JSON.stringify(part)}:\n${message}`,
                );
            }
            assert.ok(message.includes("pulumi config set"), "message says how to fix it");
        });
    }

    it("rejects a stack without a domain: logins and the trigger password need HTTPS", () => {
        const message = problemOf({ domain: undefined });
        assert.match(message, /taxi-platform:domain: got nothing \(the key is missing\)/);
        assert.match(message, /never cross the internet over plain HTTP/);
    });

    it("accepts IAM members for MLflow's Identity-Aware Proxy and refuses other shapes", () => {
        const cfg = parseWith({
            mlflowIapMembers: '["user:ana@example.com","group:ml@example.com"]',
        });
        assert.equal(cfg.mlflowIapMembers.length, 2);
        for (const bad of ["allUsers", "allAuthenticatedUsers", "ana@example.com", "user:"]) {
            const message = problemOf({ mlflowIapMembers: JSON.stringify([bad]) });
            assert.match(
                message,
                /taxi-platform:mlflowIapMembers: got .* at index 0; expected each item an IAM member/,
            );
        }
    });

    it("run report recipients: empty by default, validated addresses, a sender of the identity", () => {
        const dflt = parseWith({});
        assert.deepEqual(dflt.reportRecipients, [], "no email unless recipients are configured");
        const cfg = parseWith({
            reportRecipients: '["data-team@example.com","oncall@example.org"]',
            mailIdentity: "example.com",
            reportSender: "reports@example.com",
        });
        assert.deepEqual(cfg.reportRecipients, ["data-team@example.com", "oncall@example.org"]);
        for (const bad of ["data-team", "a@b", "two@example.com,three@example.com"]) {
            assert.match(
                problemOf({ reportRecipients: JSON.stringify([bad]) }),
                /taxi-platform:reportRecipients: got .* at index 0; expected each item an email address/,
            );
        }
        assert.match(
            problemOf({ mailIdentity: "example.com", reportSender: "reports@other.org" }),
            /taxi-platform:reportSender: got "reports@other.org".*not an address of the verified domain example.com/,
        );
        assert.match(
            problemOf({ mailIdentity: "ops@example.com", reportSender: "x@example.com" }),
            /taxi-platform:reportSender: .*must be the verified address ops@example.com/,
        );
    });

    it("reports every problem at once in one message", () => {
        const message = problemOf({
            jobsPoolSpot: "maybe",
            gcpRegion: "nowhere",
            gcpProject: undefined,
        });
        assert.match(message, /\(3 problems\)/);
        for (const key of ["jobsPoolSpot", "gcpRegion", "gcpProject"])
            assert.ok(message.includes(`${PROJECT}:${key}`));
    });

    it("disposable: off by default, on for a stack without deletion protection only", () => {
        assert.equal(parseWith({}).disposable, false);
        assert.equal(
            parseWith({ disposable: "true", deletionProtection: "false" }).disposable,
            true,
        );
        assert.match(
            problemOf({ disposable: "true", deletionProtection: "true" }),
            /taxi-platform:disposable: got true; expected false while deletionProtection is true/,
        );
    });

    it("rejects keys that are not declared (typos)", () => {
        assert.throws(
            () => parseConfig("dev", (k) => VALID[k], ["jobsPoolMaxNode"]),
            (e: Error) => e.message.includes("taxi-platform:jobsPoolMaxNode: got an unknown key"),
        );
    });
});

describe("Pulumi.yaml and the stack files", () => {
    const project = YAML.parse(fs.readFileSync(PROJECT_FILE, "utf8")) as {
        main: string;
        stackConfigDir: string;
        config: Record<string, Declaration>;
    };

    it("Pulumi.yaml is what the config spec generates (run `npm run config:sync` if not)", () => {
        assert.equal(fs.readFileSync(PROJECT_FILE, "utf8"), expectedProjectFile());
        assert.equal(project.main, "stacks/index.ts");
        assert.equal(project.stackConfigDir, "stacks");
    });

    it("declares every key with a type and a description", () => {
        assert.deepEqual(Object.keys(project.config).sort(), Object.keys(CONFIG_SPEC).sort());
        for (const [key, decl] of Object.entries(project.config)) {
            assert.ok(["string", "integer", "boolean", "array"].includes(decl.type), key);
            assert.ok((decl.description ?? "").length > 10, `${key} has no description`);
            if (decl.type === "array") assert.ok(decl.items, `${key} lacks items`);
        }
    });

    it("has the three environments' stack files", () => {
        assert.deepEqual(listStacks().slice(0, 3), ["dev", "staging", "prod"]);
    });

    for (const stack of listStacks()) {
        it(`stacks/Pulumi.${stack}.yaml conforms to the schema declared in Pulumi.yaml`, () => {
            assert.deepEqual(
                checkAgainstDeclarations(stack, readStackFile(stack), project.config),
                [],
            );
        });

        it(`stacks/Pulumi.${stack}.yaml passes the program's validation`, () => {
            const values = readStackFile(stack);
            const { config } = toEngineConfig(values);
            const cfg = parseConfig(stack, (k) => config[`${PROJECT}:${k}`], projectKeys(values));
            assert.equal(cfg.environment, stack);
        });
    }

    it("the schema check catches wrong types, undeclared and missing keys", () => {
        const problems = checkAgainstDeclarations(
            "x",
            {
                "taxi-platform:environment": "dev",
                "taxi-platform:jobsPoolMaxNodes": "3",
                "taxi-platform:masterAuthorizedNetworks": ["203.0.113.0/24", 7],
                "taxi-platform:unknownKey": true,
                "gcp:project": "ignored-provider-key",
            },
            project.config,
        );
        assert.ok(
            problems.includes('x: taxi-platform:jobsPoolMaxNodes is "3", not of type integer'),
            problems.join("\n"),
        );
        assert.ok(
            problems.includes("x: taxi-platform:masterAuthorizedNetworks[1] is 7, not string"),
        );
        assert.ok(problems.includes("x: taxi-platform:unknownKey is not declared in Pulumi.yaml"));
        assert.ok(
            problems.includes("x: taxi-platform:gcpProject is required (no default) but not set"),
        );
        assert.ok(!problems.some((p) => p.includes("gcp:project")));
    });
});

describe("stack config: hostile values fail before anything is created", () => {
    for (const [cls, cases] of Object.entries(HOSTILE_DATABASE_ENTRIES)) {
        it(`refuses extraDatabases entries: ${cls} (${cases.length})`, () => {
            for (const [entry, why] of cases) {
                const message = problemOf({ extraDatabases: JSON.stringify([entry]) });
                assert.ok(
                    message.includes("taxi-platform:extraDatabases: got "),
                    `names the key for ${JSON.stringify(entry)}:\n${message}`,
                );
                assert.match(message, why, `reason for ${JSON.stringify(entry)}`);
                assert.match(message, /pulumi config set --path 'extraDatabases\[0\]'/);
            }
        });
    }

    it("refuses an owner shared by two extra databases, in either order", () => {
        for (const list of [
            ["reports:analyst", "audit:analyst"],
            ["analyst", "reports:analyst"],
            ["reports:analyst", "analyst"],
        ]) {
            const message = problemOf({ extraDatabases: JSON.stringify(list) });
            assert.match(
                message,
                /analyst already owns database (reports|analyst)/,
                list.join(" "),
            );
        }
    });

    it("accepts well-formed names up to 63 bytes with their own owners", () => {
        const long = `r${"e".repeat(62)}`;
        const cfg = parseWith({
            extraDatabases: JSON.stringify(["reports:analyst", long, "audit_2026:auditor"]),
        });
        assert.deepEqual(cfg.extraDatabases, ["reports:analyst", long, "audit_2026:auditor"]);
    });

    it(`refuses an open or very wide public control plane (${HOSTILE_AUTHORIZED_NETWORKS.length})`, () => {
        for (const [cidr, why] of HOSTILE_AUTHORIZED_NETWORKS) {
            const message = problemOf({
                masterAuthorizedNetworks: JSON.stringify(["203.0.113.0/24", cidr]),
            });
            assert.ok(
                message.includes(
                    `taxi-platform:masterAuthorizedNetworks: got "${cidr}" at index 1`,
                ),
                message,
            );
            assert.match(message, why, cidr);
        }
    });

    it("accepts narrow public ranges and private ranges of any width", () => {
        const ok = [
            "203.0.113.0/24",
            "198.51.0.0/16",
            "192.0.2.7/32",
            "10.0.0.0/8",
            "172.16.0.0/12",
        ];
        const cfg = parseWith({ masterAuthorizedNetworks: JSON.stringify(ok) });
        assert.deepEqual(cfg.masterAuthorizedNetworks, ok);
    });
});

describe("stack files: syntax, key names and secrets in messages", () => {
    const FILE = "stacks/Pulumi.bad.yaml";
    // Fake credentials, built at run time so no scanner mistakes this file for a leak.
    const TOKEN = ["ghp", "_", "Zq8".repeat(12)].join("");
    const PASSWORD = ["Corr3ct", "-Horse-", "Battery!"].join("");

    function problemsOf(text: string): string {
        try {
            parseStackFile(text, FILE);
        } catch (err) {
            assert.ok(err instanceof StackFileError, `expected StackFileError, got ${String(err)}`);
            return err.message;
        }
        assert.fail("the stack file was accepted");
    }

    /** Assert without ever printing the message (it would carry the secret on a failure). */
    function assertHidden(message: string, ...secrets: string[]): void {
        for (const s of secrets) {
            assert.ok(!message.includes(s), "a secret value appears in the message");
            assert.ok(!message.includes(s.slice(0, 12)), "part of a secret appears in the message");
        }
    }

    it("an unclosed quote names the file, the line and column where the quote opens, never the value", () => {
        const msg = problemsOf(
            [
                "config:",
                "  taxi-platform:environment: dev",
                `  taxi-platform:airflowGitRepo: "https://git:${TOKEN}@github.com/acme/dags.git`,
                "  taxi-platform:gcpRegion: europe-west1",
                "",
            ].join("\n"),
        );
        assertHidden(msg, TOKEN);
        assert.match(msg, /^stacks\/Pulumi\.bad\.yaml: 1 problem; nothing was read from it:/);
        assert.match(
            msg,
            /stacks\/Pulumi\.bad\.yaml:3:33: unclosed double quote: .* Close it with " on the same line/,
        );
    });

    it("a tab used for indentation names the file, line and column", () => {
        const msg = problemsOf(
            "config:\n  taxi-platform:environment: dev\n\ttaxi-platform:gcpRegion: europe-west1\n",
        );
        assert.match(
            msg,
            /stacks\/Pulumi\.bad\.yaml:3:1: a tab is used for indentation; YAML allows only spaces\. Indent with spaces/,
        );
    });

    it("a tab is the one problem listed, not the misaligned lines after it", () => {
        const msg = problemsOf(
            [
                "config:",
                "  taxi-platform:environment: dev",
                "\ttaxi-platform:gcpRegion: europe-west1",
                "  taxi-platform:awsRegion: eu-west-1",
                "  taxi-platform:systemPoolNodes: 1",
                "",
            ].join("\n"),
        );
        assert.match(msg, /^stacks\/Pulumi\.bad\.yaml: 1 problem; nothing was read from it:/);
        assert.match(
            msg,
            /Pulumi\.bad\.yaml:3:1: a tab is used for indentation; .* \(the rest of the file is checked once the tabs are fixed\)$/,
        );
    });

    it("a duplicate key names the file, line and column, the key and its first line", () => {
        const msg = problemsOf(
            [
                "config:",
                "  taxi-platform:environment: dev",
                "  taxi-platform:gcpRegion: europe-west1",
                `  taxi-platform:environment: ${PASSWORD}`,
                "",
            ].join("\n"),
        );
        assertHidden(msg, PASSWORD);
        assert.match(
            msg,
            /stacks\/Pulumi\.bad\.yaml:4:3: duplicate key "taxi-platform:environment" \(first set on line 2\); YAML keys must be unique\. Keep one/,
        );
    });

    it("a key without the project's namespace is an error naming the key and the fix, as the CLI treats it", () => {
        const msg = problemsOf(
            [
                "config:",
                "  environment: dev", // no namespace: the Pulumi CLI rejects it
                "  taxi-platfrom:gcpRegion: europe-west1", // a misspelt project name
                "  taxi-platform:a:b: c",
                "  gcp:project: acme-taxi-dev", // provider config: fine
                "  taxi-platform:config:awsRegion: eu-west-1", // the CLI's compat form: fine
                "",
            ].join("\n"),
        );
        assert.match(msg, /3 problems/);
        assert.match(
            msg,
            /Pulumi\.bad\.yaml:2:3: config key "environment" has no namespace; the Pulumi CLI rejects it .*\. Write it as taxi-platform:environment\./,
        );
        assert.match(
            msg,
            /Pulumi\.bad\.yaml:3:3: config key "taxi-platfrom:gcpRegion" is in namespace "taxi-platfrom", which is neither this project \(taxi-platform\) .*never reads it\. Write it as taxi-platform:gcpRegion\./,
        );
        assert.match(
            msg,
            /Pulumi\.bad\.yaml:4:3: config key "taxi-platform:a:b" has more than one colon/,
        );
        assert.ok(!/gcp:project|awsRegion/.test(msg), "provider keys and the compat form are fine");
        assert.deepEqual(
            parseStackFile("config:\n  taxi-platform:environment: dev\n  gcp:project: p\n", FILE),
            { "taxi-platform:environment": "dev", "gcp:project": "p" },
        );
    });

    it("the program rejects keys in a namespace it never reads (what the engine passes)", () => {
        assert.equal(parseConfig("dev", (k) => VALID[k], [], ["gcp:project"]).stack, "dev");
        try {
            parseConfig("dev", (k) => VALID[k], [], ["taxi-platfrom:gcpRegion", "gcp:project"]);
            assert.fail("accepted");
        } catch (err) {
            assert.ok(err instanceof ConfigError);
            assert.match(
                err.message,
                /- taxi-platfrom:gcpRegion: got a key that is in namespace "taxi-platfrom".*Write it as taxi-platform:gcpRegion in stacks\/Pulumi\.dev\.yaml/,
            );
            assert.ok(!err.message.includes("gcp:project"));
        }
    });

    it("never shows a credential in a bad value: URL userinfo, tokens, a secret name that is the secret", () => {
        const repo = problemOf({
            airflowDagSource: "git",
            airflowGitRepo: `https://git:${TOKEN}@github.com/acme/dags.git`,
        });
        assertHidden(repo, TOKEN);
        assert.match(
            repo,
            /taxi-platform:airflowGitRepo: got "https:\/\/<credentials: 44 characters, not shown>@github\.com\/acme\/dags\.git"; expected an https:\/\/ repository URL without credentials/,
        );
        const token = problemOf({ airflowGitCredentialsSecret: TOKEN });
        assertHidden(token, TOKEN);
        assert.match(
            token,
            /taxi-platform:airflowGitCredentialsSecret: got a 40-character string \(not shown: this key must not hold a credential/,
        );
        const password = problemOf({ airflowGitCredentialsSecret: PASSWORD });
        assertHidden(password, PASSWORD);
        assert.match(password, /got a 22-character string \(not shown/);
        const listed = problemOf({ masterAuthorizedNetworks: JSON.stringify([TOKEN]) });
        assertHidden(listed, TOKEN);
        assert.match(listed, /got a GitHub token \(40 characters, not shown\) at index 0/);
        const domain = problemOf({ domain: `${TOKEN}.example.com` });
        assertHidden(domain, TOKEN);
        assert.match(
            domain,
            /taxi-platform:domain: got a GitHub token \(52 characters, not shown\)/,
        );
    });

    it("the schema check never shows a plain-text value of a secret key, nor a token", () => {
        const problems = checkAgainstDeclarations(
            "x",
            {
                "taxi-platform:environment": "dev",
                "taxi-platform:dbPassword": 12345678,
                "taxi-platform:gcpProject": TOKEN,
                "taxi-platform:masterAuthorizedNetworks": [PASSWORD.length, TOKEN],
            },
            {
                environment: { type: "string" },
                dbPassword: { type: "string", secret: true },
                gcpProject: { type: "integer" },
                masterAuthorizedNetworks: { type: "array", items: { type: "integer" } },
            },
        ).join("\n");
        assertHidden(problems, TOKEN, "12345678");
        assert.match(
            problems,
            /x: taxi-platform:dbPassword is declared secret but stored in plain text; set it with pulumi config set --secret dbPassword/,
        );
        assert.match(
            problems,
            /dbPassword is a plain-text value \(8 characters, not shown\), not of type string/,
        );
        assert.match(
            problems,
            /gcpProject is a GitHub token \(40 characters, not shown\), not of type integer/,
        );
        assert.match(
            problems,
            /masterAuthorizedNetworks\[1\] is a GitHub token \(40 characters, not shown\), not integer/,
        );
    });
});
