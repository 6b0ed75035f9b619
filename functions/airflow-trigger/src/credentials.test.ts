import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import {
    CredentialError,
    FileCredentialSource,
    SecretsManagerCredentialSource,
    parseCredentials,
} from "./credentials";
import { fakeSecretsManager } from "../test/fake-secrets-manager";

const PORT = 28101;
const SECRET_ID = "arn:aws:secretsmanager:us-east-1:123456789012:secret:airflow-api-AbCdEf";

describe("functions/airflow-trigger: credential sources", () => {
    const state = { value: undefined as string | undefined, calls: [] as string[] };
    const server = fakeSecretsManager(state, SECRET_ID);
    const client = new SecretsManagerClient({
        region: "us-east-1",
        endpoint: `http://127.0.0.1:${PORT}`,
        // The loopback fake does not check signatures; these are not AWS keys.
        credentials: () =>
            Promise.resolve({ accessKeyId: "loopback-fake", secretAccessKey: "loopback-fake" }),
        maxAttempts: 1,
    });

    before((done) => {
        server.listen(PORT, "127.0.0.1", done);
    });
    after((done) => {
        client.destroy();
        server.closeAllConnections();
        server.close(() => done());
    });
    beforeEach(() => {
        state.calls.length = 0;
    });

    it("reads the secret once and caches it until the TTL or a refresh", async () => {
        state.value = JSON.stringify({ username: "trigger-fn", password: "pw-1" });
        let now = 1_000_000;
        const source = new SecretsManagerCredentialSource(SECRET_ID, {
            client,
            ttlMs: 60_000,
            now: () => now,
        });
        assert.deepEqual(await source.get(), { username: "trigger-fn", password: "pw-1" });
        state.value = JSON.stringify({ username: "trigger-fn", password: "pw-2" });
        assert.equal((await source.get()).password, "pw-1", "cached");
        assert.equal(state.calls.length, 1);
        assert.equal((await source.get({ refresh: true })).password, "pw-2", "refresh re-reads");
        now += 60_001;
        await source.get();
        assert.deepEqual(state.calls, Array(3).fill(`secretsmanager.GetSecretValue ${SECRET_ID}`));
    });

    it("explains a missing secret value and a malformed one without printing it", async () => {
        state.value = undefined;
        const source = new SecretsManagerCredentialSource(SECRET_ID, { client });
        await assert.rejects(
            source.get(),
            /cannot read Secrets Manager secret .*ResourceNotFoundException.*needs secretsmanager:GetSecretValue/,
        );
        state.value = JSON.stringify({ username: "trigger-fn", passwd: "leaky-value" });
        await assert.rejects(source.get(), (err: unknown) => {
            assert.ok(err instanceof CredentialError);
            assert.match(err.message, /lacks password/);
            assert.ok(!err.message.includes("leaky-value"));
            return true;
        });
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
