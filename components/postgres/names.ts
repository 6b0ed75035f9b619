/**
 * The rules for PostgreSQL database and role names the platform manages, in one place: the stack
 * config (`extraDatabases`), the Postgres component and, in shell, `scripts/names.sh` (the last
 * line of defence when the scripts run by hand) apply the same ones.
 *
 * A managed name is lower-case ASCII letters, digits and `_`, starting with a letter, at most 63
 * bytes (PostgreSQL silently truncates longer identifiers, so two long names could collide).
 * That alone keeps quotes, `;`, `$(...)`, `=` (a `dbname=` connection string), `/` and `..`
 * (paths), whitespace, newlines and Unicode look-alikes out of SQL, shell and file names.
 * On top of it, some names are reserved: the server's own databases and the administrative
 * roles, which the reconcile script would otherwise demote and re-password.
 */

/** Lower-case ASCII letter first, then letters, digits or _, 63 bytes at most. */
export const PG_NAME_RE = /^[a-z][a-z0-9_]{0,62}$/;

/** The superuser the server is initialised with (the image's POSTGRES_USER default). */
export const SUPERUSER = "postgres";
/** The role postgres-exporter logs in as (pg_monitor only). */
export const MONITORING_ROLE = "monitoring";

/** Databases every PostgreSQL server has: never managed, renamed or re-owned by the platform. */
export const SYSTEM_DATABASES = ["postgres", "template0", "template1"] as const;

/**
 * Roles that must never own a platform database: the superuser, the monitoring role and the
 * `public` pseudo-role; every `pg_*` name is reserved by PostgreSQL for its predefined roles.
 */
export const RESERVED_ROLES = [SUPERUSER, MONITORING_ROLE, "public"] as const;
export const RESERVED_ROLE_PREFIX = "pg_";

/** How a name is shown in messages: quoted, with invisible and non-ASCII characters escaped. */
export function showName(name: string): string {
    const escaped = [...name]
        .map((ch) => {
            const code = ch.codePointAt(0)!;
            if (ch === '"' || ch === "\\") return `\\${ch}`;
            if (code >= 0x20 && code < 0x7f) return ch;
            return `\\u{${code.toString(16).toUpperCase().padStart(4, "0")}}`;
        })
        .join("");
    return `"${escaped}"`;
}

/** Why `name` is not a well-formed managed name, or undefined when it is. */
export function nameShapeProblem(name: string): string | undefined {
    if (name === "") return "is empty";
    const bytes = Buffer.byteLength(name, "utf8");
    if (bytes > 63) {
        return `is ${bytes} bytes long; PostgreSQL truncates names to 63 bytes, so use at most 63`;
    }
    const bad = [...name].find((ch) => !/[a-z0-9_]/.test(ch));
    if (bad !== undefined) {
        const code = bad.codePointAt(0)!;
        const what =
            code > 0x7f
                ? `the non-ASCII character U+${code.toString(16).toUpperCase().padStart(4, "0")} (a look-alike of an ASCII letter is still another name)`
                : `the character ${JSON.stringify(bad)}`;
        return `contains ${what}; use lower-case ASCII letters, digits and _ only`;
    }
    if (!/^[a-z]/.test(name)) return "must start with a lower-case letter";
    return undefined;
}

/** Why `name` cannot be a managed database, or undefined. */
export function databaseNameProblem(name: string): string | undefined {
    const shape = nameShapeProblem(name);
    if (shape) return shape;
    if ((SYSTEM_DATABASES as readonly string[]).includes(name)) {
        return `is a system database of every PostgreSQL server (${SYSTEM_DATABASES.join(", ")}); the platform never manages those`;
    }
    return undefined;
}

/** Why `role` cannot own a managed database, or undefined. */
export function ownerRoleProblem(role: string): string | undefined {
    const shape = nameShapeProblem(role);
    if (shape) return shape;
    if (role === SUPERUSER) {
        return "is the superuser: making it a database owner would take SUPERUSER away from it and replace its password, leaving the server without an administrator";
    }
    if (role === MONITORING_ROLE) {
        return "is the monitoring role (pg_monitor only, used by postgres-exporter); give the database its own owner";
    }
    if (role === "public") return "is PostgreSQL's PUBLIC pseudo-role";
    if (role.startsWith(RESERVED_ROLE_PREFIX)) {
        return `starts with ${RESERVED_ROLE_PREFIX}, which PostgreSQL reserves for its predefined roles`;
    }
    return undefined;
}
