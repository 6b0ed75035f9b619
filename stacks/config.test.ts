import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import YAML from "yaml";
import { CONFIG_SPEC, ConfigError, PROJECT, parseConfig } from "./config";
import { expectedProjectFile, PROJECT_FILE } from "../offline/project-file";
import {
    Declaration,
    checkAgainstDeclarations,
    listStacks,
    projectKeys,
    readStackFile,
    toEngineConfig,
} from "../offline/stack-files";

/** A complete, valid set of raw values (as the engine passes them). */
const VALID: Record<string, string> = {
    environment: "dev",
    gcpProject: "acme-taxi-dev",
    gcpRegion: "europe-west1",
    awsRegion: "eu-west-1",
    masterAuthorizedNetworks: '["203.0.113.0/24"]',
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
        assert.equal(cfg.domain, "");
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
