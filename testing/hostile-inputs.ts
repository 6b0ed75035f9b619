/**
 * Hostile and careless values, per class, that must fail before anything is created: the stack
 * config refuses each with a message naming the key, the value and the reason (the regex here,
 * stacks/config.test.ts), and the Postgres scripts refuse the same entries on a real server
 * without changing anything (components/postgres/scripts.test.ts).
 *
 * `HOSTILE_DATABASE_ENTRIES`: `extraDatabases` / `DATABASES` entries ("db" or "db:owner").
 */
export const HOSTILE_DATABASE_ENTRIES: Record<string, [string, RegExp][]> = {
    "reserved or administrative owner role": [
        [
            "reports:postgres",
            /owner "postgres" is the superuser: making it a database owner would take SUPERUSER away/,
        ],
        ["postgres_reports:postgres", /owner "postgres" is the superuser/],
        ["reports:monitoring", /owner "monitoring" is the monitoring role/],
        ["monitoring", /owner "monitoring" is the monitoring role/],
        ["reports:pg_monitor", /owner "pg_monitor" starts with pg_/],
        ["reports:pg_read_all_data", /owner "pg_read_all_data" starts with pg_/],
        ["pg_signal_backend", /owner "pg_signal_backend" starts with pg_/],
        ["reports:public", /owner "public" is PostgreSQL's PUBLIC pseudo-role/],
    ],
    "owner of another platform database": [
        [
            "reports:airflow",
            /airflow already owns database airflow \(its password would be replaced\)/,
        ],
        ["reports:grafana", /grafana already owns database grafana/],
        ["reports:mlflow", /mlflow already owns database mlflow/],
    ],
    "system or template database": [
        ["postgres", /database "postgres" is a system database of every PostgreSQL server/],
        ["template0", /database "template0" is a system database/],
        ["template1:reports", /database "template1" is a system database/],
    ],
    "path traversal": [
        ["../x", /database "..\/x" contains the character "."/],
        ["reports/../../etc", /contains the character "\/"/],
        ["reports:..", /owner ".." contains the character "."/],
    ],
    "connection-string injection": [
        ["dbname=postgres", /database "dbname=postgres" contains the character "="/],
        ["reports:host=evil", /owner "host=evil" contains the character "="/],
        ["postgresql://postgres@x/postgres", /contains the character "\/"|has more than one ":"/],
    ],
    quotes: [
        ["rep'orts", /contains the character "'"/],
        ['rep"orts', /contains the character "\\""/],
        ["reports:an'alyst", /owner "an'alyst" contains the character "'"/],
    ],
    semicolon: [
        ["reports;drop", /contains the character ";"/],
        ["reports:a;alter role postgres password 'x'", /owner .* contains the character ";"/],
    ],
    "command substitution": [
        ["$(id)", /contains the character "\$"/],
        ["reports:$(touch_pwned)", /contains the character "\$"/],
        ["`id`", /contains the character "`"/],
    ],
    "newline and whitespace": [
        ["reports\npostgres", /contains the character "\\n"/],
        ["reports:a\nb", /owner "a\\u\{000A\}b" contains the character "\\n"/],
        ["reports postgres", /contains the character " "/],
        ["reports\t", /contains the character "\\t"/],
    ],
    "too long (over 63 bytes)": [
        ["r".repeat(64), /is 64 bytes long; PostgreSQL truncates names to 63 bytes/],
        [`reports:${"a".repeat(100)}`, /owner "a{100}" is 100 bytes long/],
        ["é".repeat(40), /is 80 bytes long/],
    ],
    "unicode look-alike": [
        ["\u0430irflow", /contains the non-ASCII character U\+0430 \(a look-alike/],
        [
            "reports:p\u043Estgres",
            /owner "p\\u\{043E\}stgres" contains the non-ASCII character U\+043E/,
        ],
        ["\uFF52eports", /U\+FF52/],
        ["reports\u200B", /U\+200B/],
    ],
    "glob characters": [
        ["*", /contains the character "\*"/],
        ["reports:*", /owner "\*" contains the character "\*"/],
        ["report?", /contains the character "\?"/],
    ],
    "malformed or duplicate": [
        ["a:b:c", /has more than one ":"/],
        ["Reports", /must start with a lower-case letter|contains the character "R"/],
        ["1reports", /must start with a lower-case letter/],
        ["", /is empty/],
        ["airflow", /database names not already declared/],
    ],
};

export const HOSTILE_AUTHORIZED_NETWORKS: [string, RegExp][] = [
    ["0.0.0.0/0", /is the whole internet: it opens the Kubernetes API to anyone/],
    ["0.0.0.0/1", /public range of 2,147,483,648 addresses, wider than \/16/],
    ["128.0.0.0/1", /public range of 2,147,483,648 addresses/],
    ["8.0.0.0/8", /public range of 16,777,216 addresses/],
    ["52.0.0.0/10", /public range of 4,194,304 addresses/],
    ["203.0.0.0/15", /public range of 131,072 addresses/],
];
