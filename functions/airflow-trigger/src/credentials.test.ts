import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
    CreateSecretCommand,
    DeleteSecretCommand,
    PutSecretValueCommand,
    SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { startAwsEmulator, type Emulator } from "../../../tools/local/emulators";
import {
    CredentialError,
    FileCredentialSource,
    SecretsManagerCredentialSource,
    parseCredentials,
} from "./credentials";

/** Secrets Manager is moto's server on loopback (tools/local/emulators.ts). */
describe("functions/airflow-trigger: credential sources", function () {
    this.timeout(60_000);
    let aws: Emulator;
    let client: SecretsManagerClient;
    /** Every command the client sent, by name (a middleware on the real client). */
    const calls: string[] = [];
    const put = (SecretId: string, value: object) =>
        client.send(new PutSecretValueCommand({ SecretId, SecretString: JSON.stringify(value) }));

    before(async () => {
        aws = await startAwsEmulator();
        client = new SecretsManagerClient({
            region: "us-east-1",
            endpoint: aws.endpoint,
            // The emulator accepts any keys; these are not AWS keys.
            credentials: () =>
                Promise.resolve({ accessKeyId: "emulator", secretAccessKey: "emulator" }),
            maxAttempts: 1,
        });
        client.middlewareStack.add(
            (next, context) => (args) => {
                calls.push(String(context.commandName));
                return next(args);
            },
            { step: "initialize", name: "countCalls" },
        );
    });
    after(async () => {
        client?.destroy();
        await aws?.stop();
    });
    beforeEach(() => {
        calls.length = 0;
    });

    it("reads the secret once and caches it until the TTL or a refresh", async () => {
        const { ARN } = await client.send(
            new CreateSecretCommand({
                Name: "airflow-api-cache",
                SecretString: JSON.stringify({ username: "trigger-fn", password: "pw-1" }),
            }),
        );
        calls.length = 0;
        let now = 1_000_000;
        const source = new SecretsManagerCredentialSource(ARN!, {
            client,
            ttlMs: 60_000,
            now: () => now,
        });
        assert.deepEqual(await source.get(), { username: "trigger-fn", password: "pw-1" });
        await put(ARN!, { username: "trigger-fn", password: "pw-2" });
        assert.equal((await source.get()).password, "pw-1", "cached");
        assert.deepEqual(calls, ["GetSecretValueCommand", "PutSecretValueCommand"]);
        assert.equal((await source.get({ refresh: true })).password, "pw-2", "refresh re-reads");
        now += 60_001;
        await source.get();
        assert.deepEqual(
            calls.filter((c) => c === "GetSecretValueCommand"),
            Array(3).fill("GetSecretValueCommand"),
        );
    });

    it("explains a missing secret, a secret without value and a malformed one without printing it", async () => {
        const missing = new SecretsManagerCredentialSource("no-such-secret", { client });
        await assert.rejects(
            missing.get(),
            /cannot read Secrets Manager secret no-such-secret: ResourceNotFoundException.*needs secretsmanager:GetSecretValue/,
        );
        // Created without a value (as the stack creates it before the first PutSecretValue).
        const { ARN } = await client.send(new CreateSecretCommand({ Name: "airflow-api-empty" }));
        const source = new SecretsManagerCredentialSource(ARN!, { client });
        await assert.rejects(
            source.get(),
            /cannot read Secrets Manager secret .*ResourceNotFoundException/,
        );
        await put(ARN!, { username: "trigger-fn", passwd: "leaky-value" });
        await assert.rejects(source.get(), (err: unknown) => {
            assert.ok(err instanceof CredentialError);
            assert.match(err.message, /lacks password/);
            assert.ok(!err.message.includes("leaky-value"));
            return true;
        });
        await client.send(
            new DeleteSecretCommand({ SecretId: ARN!, ForceDeleteWithoutRecovery: true }),
        );
        await assert.rejects(source.get({ refresh: true }), /cannot read Secrets Manager secret/);
    });

    it("reads a local JSON file, re-reading it on refresh", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "trigger-creds-"));
        try {
            const file = path.join(dir, "airflow.json");
            fs.writeFileSync(file, JSON.stringify({ username: "u", password: "p1" }));
            const source = new FileCredentialSource(file);
            assert.equal((await source.get()).password, "p1");
            fs.writeFileSync(file, JSON.stringify({ username: "u", password: "p2" }));
            assert.equal((await source.get()).password, "p1");
            assert.equal((await source.get({ refresh: true })).password, "p2");
            await assert.rejects(
                new FileCredentialSource(path.join(dir, "nope.json")).get(),
                /cannot read credentials file .*ENOENT/,
            );
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("rejects text that is not JSON", () => {
        assert.throws(() => parseCredentials("user:pw", "X"), /X is not JSON/);
    });
});
