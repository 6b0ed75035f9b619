/**
 * Where the function gets the Airflow user name and password.
 *
 * One small interface, three sources: Secrets Manager in Lambda, a JSON file or environment
 * variables for local runs (`npm start`), so the handler code is the same everywhere. Values
 * are cached; `get({ refresh: true })` re-reads the source (after Airflow rejected the cached
 * credentials, e.g. because the secret was rotated). Errors name the source, never the value.
 */
import * as fs from "node:fs";
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { CredentialConfig } from "./config";

export interface AirflowCredentials {
    username: string;
    password: string;
}

export interface CredentialSource {
    /** Human-readable origin for error messages and logs (never the value). */
    readonly description: string;
    get(options?: { refresh?: boolean }): Promise<AirflowCredentials>;
}

export class CredentialError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "CredentialError";
    }
}

/** Parse `{"username": "...", "password": "..."}`; the message names the source, not the text. */
export function parseCredentials(text: string, description: string): AirflowCredentials {
    let value: unknown;
    try {
        value = JSON.parse(text);
    } catch {
        throw new CredentialError(
            `${description} is not JSON: store {"username": "<airflow user>", "password": "<password>"}`,
        );
    }
    const o = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
    const missing = ["username", "password"].filter((k) => typeof o[k] !== "string" || o[k] === "");
    if (missing.length > 0) {
        throw new CredentialError(
            `${description} lacks ${missing.join(" and ")}: store {"username": "<airflow user>", "password": "<password>"}`,
        );
    }
    return { username: o.username as string, password: o.password as string };
}

export class StaticCredentialSource implements CredentialSource {
    constructor(
        private readonly credentials: AirflowCredentials,
        public readonly description = "AIRFLOW_USERNAME/AIRFLOW_PASSWORD",
    ) {}

    get(): Promise<AirflowCredentials> {
        return Promise.resolve(this.credentials);
    }
}

export class FileCredentialSource implements CredentialSource {
    public readonly description: string;
    private cached: AirflowCredentials | undefined;

    constructor(private readonly path: string) {
        this.description = `credentials file ${path}`;
    }

    get(options: { refresh?: boolean } = {}): Promise<AirflowCredentials> {
        if (this.cached && !options.refresh) return Promise.resolve(this.cached);
        let text: string;
        try {
            text = fs.readFileSync(this.path, "utf8");
        } catch (err) {
            const code = (err as NodeJS.ErrnoException).code ?? "error";
            return Promise.reject(
                new CredentialError(`cannot read ${this.description} (${code}): check the path`),
            );
        }
        this.cached = parseCredentials(text, this.description);
        return Promise.resolve(this.cached);
    }
}

export interface SecretsManagerSourceOptions {
    /** How long a fetched value is reused (default 5 minutes). */
    ttlMs?: number;
    /** A configured client (tests point one at a loopback endpoint); default: from the Lambda environment. */
    client?: SecretsManagerClient;
    now?: () => number;
}

export class SecretsManagerCredentialSource implements CredentialSource {
    public readonly description: string;
    private cached: { value: AirflowCredentials; until: number } | undefined;
    private client: SecretsManagerClient | undefined;
    private readonly ttlMs: number;
    private readonly now: () => number;

    constructor(
        private readonly secretId: string,
        options: SecretsManagerSourceOptions = {},
    ) {
        this.description = `Secrets Manager secret ${secretId}`;
        this.client = options.client;
        this.ttlMs = options.ttlMs ?? 300_000;
        this.now = options.now ?? Date.now;
    }

    async get(options: { refresh?: boolean } = {}): Promise<AirflowCredentials> {
        if (this.cached && !options.refresh && this.now() < this.cached.until) {
            return this.cached.value;
        }
        // Loaded on first use: local runs never pay for the SDK.
        const sdk = await import("@aws-sdk/client-secrets-manager");
        this.client ??= new sdk.SecretsManagerClient({});
        let secretString: string | undefined;
        try {
            const out = await this.client.send(
                new sdk.GetSecretValueCommand({ SecretId: this.secretId }),
            );
            secretString = out.SecretString;
        } catch (err) {
            const name = err instanceof Error ? err.name : "Error";
            const message = err instanceof Error ? err.message : String(err);
            throw new CredentialError(
                `cannot read ${this.description}: ${name}: ${message} (the function's role needs secretsmanager:GetSecretValue on it, and the secret needs a value)`,
            );
        }
        if (secretString === undefined) {
            throw new CredentialError(
                `${this.description} has no string value: set it with aws secretsmanager put-secret-value --secret-string '{"username":…,"password":…}'`,
            );
        }
        const value = parseCredentials(secretString, this.description);
        this.cached = { value, until: this.now() + this.ttlMs };
        return value;
    }
}

export function credentialSourceFromConfig(config: CredentialConfig): CredentialSource {
    switch (config.kind) {
        case "secrets-manager":
            return new SecretsManagerCredentialSource(config.secretId, {
                ttlMs: config.cacheTtlMs,
            });
        case "file":
            return new FileCredentialSource(config.path);
        case "env":
            return new StaticCredentialSource({
                username: config.username,
                password: config.password,
            });
    }
}
