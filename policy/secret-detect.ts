/**
 * Plaintext-secret detection for the `no-plaintext-secrets` policy: by the name a value is
 * stored under (`DB_PASSWORD`, `apiToken`, `fernet_key`, ...) and by the shape of the value
 * itself (PEM private keys, service-account JSON keys, AWS access keys, well-known API-token
 * formats, URIs with a password in them). Pure functions, unit-tested on their own.
 */

/** What the offline engine shows in place of a Pulumi secret (offline/engine.ts). */
export const SECRET_MARKER = "[secret]";

/** Words that make a name sensitive wherever they appear in it (`PGPASSWORD`, `apiToken`). */
const SENSITIVE_SUBSTRINGS = [
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "apikey",
    "privatekey",
    "accesskey",
    "secretkey",
];

/** `<word> key` pairs that name key material (`FERNET_KEY`, `signingKey`, `api-key`). */
const KEY_QUALIFIERS = new Set([
    "api",
    "private",
    "access",
    "secret",
    "signing",
    "encryption",
    "fernet",
    "jwt",
    "master",
    "client",
    "ssh",
    "hmac",
    "account",
    "service",
    "auth",
]);

/**
 * A last word that makes the name describe a secret rather than hold one: `SECRET_ARN`,
 * `PASSWORD_FILE`, `token_ttl`, `AWS_ACCESS_KEY_ID`, `PASSWORD_ENV_PREFIX`, `secretName`.
 */
const REFERENCE_SUFFIXES = new Set([
    "id",
    "ids",
    "arn",
    "name",
    "names",
    "file",
    "files",
    "path",
    "dir",
    "ref",
    "env",
    "var",
    "prefix",
    "suffix",
    "ttl",
    "seconds",
    "timeout",
    "length",
    "size",
    "enabled",
    "required",
    "header",
    "type",
    "mode",
    "version",
    "url",
    "uri",
    "endpoint",
    "field",
    "selector",
    "source",
    "mount",
    "location",
    "expiry",
    "expires",
    "lifetime",
    "count",
    "policy",
    "rotation",
    "algorithm",
    "provider",
    "store",
    "namespace",
]);

/** Split `AIRFLOW__API__SECRET_KEY`, `grafanaAdminPassword`, `db.password` into lower-case words. */
export function nameWords(name: string): string[] {
    return name
        .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
        .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
        .split(/[^A-Za-z0-9]+/)
        .filter((w) => w !== "")
        .map((w) => w.toLowerCase());
}

/** True when a key name says its value is a credential. */
export function isSensitiveName(name: string): boolean {
    const words = nameWords(name);
    if (words.length === 0) return false;
    if (REFERENCE_SUFFIXES.has(words[words.length - 1]!)) return false;
    if (words.some((w) => SENSITIVE_SUBSTRINGS.some((s) => w.includes(s)))) return true;
    if (words.includes("pwd")) return true;
    return words.some((w, i) => w === "key" && i > 0 && KEY_QUALIFIERS.has(words[i - 1]!));
}

/**
 * True when a value only points at a secret kept elsewhere: an environment or template
 * expansion (`$(DB_PASSWORD)`, `${VAR}`, `{{ .Values.x }}`, `%(pw)s`, `$__file{...}`), a
 * file path, or a secret-manager reference.
 */
export function isReference(value: string): boolean {
    const v = value.trim();
    return (
        /^(\$|\{\{|%\(|<)/.test(v) ||
        v.startsWith("/") ||
        /^(file|vault|ref\+[a-z]+|gcp:secretmanager|sm):/i.test(v) ||
        /^arn:aws[a-z-]*:(secretsmanager|ssm|kms):/.test(v) ||
        /^projects\/[^/]+\/secrets\//.test(v)
    );
}

/** Values that never hold a secret even under a sensitive name. */
function isInertValue(value: string): boolean {
    const v = value.trim().toLowerCase();
    return v === "" || ["true", "false", "null", "none", "~", "yes", "no"].includes(v);
}

/** True when `value`, stored under `name`, looks like a literal credential. */
export function isLiteralUnderSensitiveName(name: string, value: string): boolean {
    return isSensitiveName(name) && !isInertValue(value) && !isReference(value);
}

interface Shape {
    what: string;
    pattern: RegExp;
}

/** Value shapes that are credentials whatever they are called. First match wins. */
const SHAPES: Shape[] = [
    {
        what: "a service-account JSON key",
        pattern:
            /"private_key"\s*:\s*"-----BEGIN|"type"\s*:\s*"service_account"[\s\S]*"private_key_id"/,
    },
    { what: "a PEM private key", pattern: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/ },
    { what: "an AWS access key id", pattern: /\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b/ },
    {
        what: "an AWS secret access key",
        pattern: /aws_secret_access_key["']?\s*[:=]\s*["']?[A-Za-z0-9/+=]{40}\b/i,
    },
    { what: "a GitHub token", pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,})\b/ },
    { what: "a Slack token", pattern: /\bxox[abposr]-[A-Za-z0-9-]{10,}/ },
    { what: "a Google API key", pattern: /\bAIza[0-9A-Za-z_-]{35}\b/ },
    { what: "a Pulumi access token", pattern: /\bpul-[0-9a-f]{40}\b/ },
    { what: "a Stripe live key", pattern: /\b[rs]k_live_[0-9a-zA-Z]{20,}\b/ },
    {
        what: "a JSON Web Token",
        pattern: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/,
    },
];

/** `scheme://user:password@host`, capturing the password. */
const URI_WITH_PASSWORD = /\b[a-z][a-z0-9+.-]*:\/\/[^\s:@/]+:([^\s@/]+)@/gi;

/** What credential `value` contains, judged by its shape alone; undefined when none. */
export function credentialShape(value: string): string | undefined {
    for (const s of SHAPES) if (s.pattern.test(value)) return s.what;
    for (const m of value.matchAll(URI_WITH_PASSWORD)) {
        const password = m[1]!;
        if (!isReference(password) && !/^\*+$/.test(password) && password !== SECRET_MARKER) {
            return "a URI with a password in it (user:password@host)";
        }
    }
    return undefined;
}

/** A `key: value` / `key=value` line of a config file or script (YAML, INI, .env, shell). */
const ASSIGNMENT_LINE =
    /^\s*(?:export\s+|-\s+)?["']?([A-Za-z_][A-Za-z0-9_.-]*)["']?\s*[:=]\s*(.*?)\s*$/;
/** `"key": "value"` anywhere (JSON embedded in a line). */
const JSON_PAIR = /"([A-Za-z_][A-Za-z0-9_.-]*)"\s*:\s*"((?:[^"\\]|\\.)*)"/g;

/** The literal value of an assignment's right-hand side (quotes and trailing comment removed). */
function literalOf(rhs: string): string {
    const quoted = /^(["'])(.*?)\1/.exec(rhs);
    if (quoted) return quoted[2]!;
    if (/^[|>][-+]?$/.test(rhs)) return ""; // a YAML block follows: judged line by line
    return rhs.replace(/\s+#.*$/, "").replace(/[,;]$/, "");
}

/**
 * Credentials written into a file-like value (a ConfigMap entry holding YAML, INI, JSON or a
 * script): `password: hunter2` style assignments under a sensitive key, and credential shapes.
 * Returns one description per finding, with its line number.
 */
export function credentialsInText(text: string): string[] {
    const found: string[] = [];
    const lines = text.split("\n");
    lines.forEach((line, i) => {
        const where = lines.length > 1 ? `line ${i + 1}: ` : "";
        const shape = credentialShape(line);
        if (shape) {
            found.push(`${where}${shape}`);
            return;
        }
        const pairs: [string, string][] = [...line.matchAll(JSON_PAIR)].map((m) => [m[1]!, m[2]!]);
        const assignment = ASSIGNMENT_LINE.exec(line);
        if (assignment) pairs.push([assignment[1]!, literalOf(assignment[2]!)]);
        for (const [key, value] of pairs) {
            if (isLiteralUnderSensitiveName(key, value)) {
                found.push(`${where}${key} is set to a literal value`);
                return;
            }
        }
    });
    // A PEM block spans lines; the per-line scan sees its header only when it is on one line.
    if (found.length === 0) {
        const shape = credentialShape(text);
        if (shape) found.push(shape);
    }
    return found;
}
