/**
 * Every Dockerfile of the repository against the image rules (`dockerfile-rules.ts` lists them)
 * and against `components/images/catalog.ts`; each rule also has failing fixtures, so a rule
 * that stopped finding problems would fail here.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { execFileSync } from "node:child_process";

import { IMAGE_BUILDS, imageBuilds } from "../components/images/catalog";
import { imageNodeFlags } from "../docs-app/bench/image-flags";
import { DockerIgnore, contextFiles, matchPath } from "../offline/dockerignore";
import {
    checkBasesPinned,
    checkCopySources,
    checkFinalUser,
    checkIgnoreFile,
    checkNoBuildTools,
    declaredArgs,
    finalStage,
    parseDockerfile,
    shellCommands,
    substitute,
} from "./dockerfile-rules";

const ROOT = path.resolve(__dirname, "..");

/** `<dir>/Dockerfile` for every top-level folder and every `functions/<name>/`. */
function discoverDockerfiles(): string[] {
    const found: string[] = [];
    const scan = (dir: string) => {
        for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
            if (!entry.isDirectory() || entry.name.startsWith(".")) continue;
            if (entry.name === "node_modules") continue;
            const rel = dir === "" ? entry.name : `${dir}/${entry.name}`;
            if (fs.existsSync(path.join(ROOT, rel, "Dockerfile"))) found.push(`${rel}/Dockerfile`);
        }
    };
    scan("");
    if (fs.existsSync(path.join(ROOT, "functions"))) scan("functions");
    return found.sort();
}

describe("Dockerfiles of the repository", () => {
    it("the catalog lists exactly the Dockerfiles found in the repository", () => {
        const found = discoverDockerfiles();
        assert.ok(found.length >= 5, `expected at least 5 Dockerfiles, found ${found.join(", ")}`);
        assert.deepEqual(
            imageBuilds()
                .map((b) => b.dockerfile)
                .sort(),
            found,
        );
    });

    it("no folder keeps a .dockerignore that root-context builds would not read", () => {
        for (const b of imageBuilds()) {
            assert.ok(
                !fs.existsSync(path.join(ROOT, b.folder, ".dockerignore")),
                `${b.folder}/.dockerignore is ignored by root-context builds: use ${b.dockerignore}`,
            );
        }
    });

    it("docs-app: npm ci gets the package.json of every npm workspace", () => {
        // npm ci refuses the root lockfile unless every workspace's manifest is present.
        const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
            workspaces?: string[];
        };
        const copied = parseDockerfile(
            fs.readFileSync(path.join(ROOT, IMAGE_BUILDS["docs-app"].dockerfile), "utf8"),
        )
            .stages.flatMap((s) => s.instructions)
            .filter((i) => i.keyword === "COPY" && i.flags.from === undefined)
            .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
        for (const ws of pkg.workspaces ?? []) {
            const manifest = `${ws}/package.json`;
            assert.ok(copied.includes(manifest), `docs-app/Dockerfile does not COPY ${manifest}`);
            assert.ok(
                (IMAGE_BUILDS["docs-app"].contentPaths as readonly string[]).includes(manifest),
                `catalog docs-app contentPaths lacks ${manifest}`,
            );
        }
    });

    it("docs-app: the image's Node flags bound V8's heap well under the pod's 128 MiB", () => {
        const flags = imageNodeFlags(
            fs.readFileSync(path.join(ROOT, IMAGE_BUILDS["docs-app"].dockerfile), "utf8"),
        );
        // A real Node with those flags: V8's own heap limit (young + old generation).
        const limit = (args: string[]): number =>
            Number(
                execFileSync(
                    process.execPath,
                    [...args, "-p", "require('v8').getHeapStatistics().heap_size_limit"],
                    { encoding: "utf8" },
                ).trim(),
            ) /
            2 ** 20;
        const bounded = limit(flags);
        assert.ok(bounded <= 80, `heap limit ${bounded.toFixed(0)} MiB with ${flags.join(" ")}`);
        assert.ok(limit([]) > 2 * bounded, "the flags should lower Node's default heap limit");
    });

    for (const [key, build] of Object.entries(IMAGE_BUILDS)) {
        describe(`${key} (${build.dockerfile})`, () => {
            const df = parseDockerfile(fs.readFileSync(path.join(ROOT, build.dockerfile), "utf8"));
            const ignorePath = path.join(ROOT, build.dockerignore);

            it("catalog entry is consistent: name, folder, Dockerfile and ignore-file paths", () => {
                assert.equal(build.name, key);
                assert.equal(build.dockerfile, `${build.folder}/Dockerfile`);
                assert.equal(build.dockerignore, `${build.dockerfile}.dockerignore`);
            });

            it("every FROM base is pinned to an exact version or a digest", () => {
                assert.deepEqual(checkBasesPinned(df), []);
            });

            it("the final image runs as a numeric non-root USER", () => {
                assert.deepEqual(checkFinalUser(df), []);
            });

            it("the final image keeps no build tools or package caches", () => {
                assert.deepEqual(checkNoBuildTools(df), []);
            });

            it("its Dockerfile.dockerignore keeps VCS, dependencies, venvs and tests out", () => {
                assert.ok(fs.existsSync(ignorePath), `${build.dockerignore} is missing`);
                const ignore = new DockerIgnore(fs.readFileSync(ignorePath, "utf8"));
                const sent = contextFiles(ROOT, ignore);
                assert.ok(sent.length > 0, `${build.dockerignore} sends no file at all`);
                assert.deepEqual(checkIgnoreFile(ignore, build.folder, sent), []);
            });

            it("every COPY source exists and is sent by the context", () => {
                const ignore = new DockerIgnore(fs.readFileSync(ignorePath, "utf8"));
                const sent = contextFiles(ROOT, ignore);
                assert.deepEqual(checkCopySources(df, ignore, ROOT, sent), []);
            });

            it("contentPaths are exactly what the context sends", () => {
                const ignore = new DockerIgnore(fs.readFileSync(ignorePath, "utf8"));
                const sent = contextFiles(ROOT, ignore);
                for (const p of build.contentPaths) {
                    assert.ok(matchPath(p, sent).length > 0, `contentPaths ${p}: nothing sent`);
                }
                const uncovered = sent.filter(
                    (f) => !build.contentPaths.some((p) => matchPath(p, [f]).length > 0),
                );
                assert.deepEqual(uncovered, [], "files sent but not listed in contentPaths");
            });

            it("build args: required ones are the ARGs without a default; passed ones exist", () => {
                const args = declaredArgs(df);
                const required = [...args].filter(([, v]) => v === undefined || v === "");
                assert.deepEqual(
                    required.map(([k]) => k).sort(),
                    [...build.requiredBuildArgs].sort(),
                );
                for (const name of Object.keys(build.buildArgs)) {
                    assert.ok(args.has(name), `buildArgs ${name} is not an ARG of the Dockerfile`);
                }
            });
        });
    }
});

describe("Dockerfile parser", () => {
    it("reads directives, continuations, comments inside them, flags and stage names", () => {
        const df = parseDockerfile(
            [
                "# syntax=docker/dockerfile:1.7",
                "# a comment",
                "ARG BASE=python:3.11.14-slim",
                "ARG TAG",
                "FROM ${BASE} AS Build",
                "RUN a \\",
                "  # dropped comment",
                "",
                "  && b",
                "FROM build",
                'COPY --from=build --chmod=0755 ["/out", "/app"]',
                "USER 10001",
            ].join("\n"),
        );
        assert.deepEqual(df.directives, { syntax: "docker/dockerfile:1.7" });
        assert.equal(df.globalArgs.get("BASE"), "python:3.11.14-slim");
        assert.ok(df.globalArgs.has("TAG"));
        assert.equal(df.globalArgs.get("TAG"), undefined);
        assert.equal(df.stages.length, 2);
        assert.equal(df.stages[0]!.name, "build");
        assert.equal(df.stages[0]!.base, "python:3.11.14-slim");
        assert.equal(df.stages[0]!.instructions[0]!.args, "a   && b");
        assert.equal(df.stages[0]!.instructions[0]!.line, 6);
        assert.equal(df.stages[1]!.parent, 0);
        const copy = df.stages[1]!.instructions[0]!;
        assert.deepEqual(copy.flags, { from: "build", chmod: "0755" });
        assert.deepEqual(copy.json, ["/out", "/app"]);
        assert.equal(finalStage(df).line, 10);
    });

    it("reads heredocs (quoted, <<- with tabs, several per instruction) without parsing their body", () => {
        const df = parseDockerfile(
            [
                "FROM alpine:3.20.3",
                "COPY <<'SH' /bin/x",
                "#!/bin/sh",
                "FROM not-an-instruction",
                "SH",
                "RUN <<-EOF cat <<OTHER",
                "\techo one",
                "\tEOF",
                "two",
                "OTHER",
                "USER 1",
            ].join("\n"),
        );
        assert.equal(df.stages.length, 1);
        const [copy, run, user] = df.stages[0]!.instructions;
        assert.deepEqual(copy!.heredocs, [
            { name: "SH", body: "#!/bin/sh\nFROM not-an-instruction" },
        ]);
        assert.deepEqual(
            run!.heredocs.map((h) => [h.name, h.body]),
            [
                ["EOF", "echo one"],
                ["OTHER", "two"],
            ],
        );
        assert.equal(user!.keyword, "USER");
        assert.throws(() => parseDockerfile("FROM a:1.2.3\nRUN <<EOF\necho\n"), /never closed/);
    });

    it("honours the escape directive and rejects instructions before FROM", () => {
        const df = parseDockerfile("# escape=`\nFROM a:1.2.3\nRUN echo `\n  done\n");
        assert.equal(df.stages[0]!.instructions[0]!.args, "echo   done");
        assert.throws(() => parseDockerfile("RUN x\nFROM a:1.2.3"), /only ARG may come before/);
        assert.throws(() => parseDockerfile("ARG X=1"), /no FROM/);
    });

    it("substitutes $X, ${X}, ${X:-d} and ${X:+a}, naming what has no value", () => {
        const vars = new Map<string, string | undefined>([
            ["A", "1"],
            ["E", ""],
            ["U", undefined],
        ]);
        assert.deepEqual(substitute("$A-${A}-${E:-d}-${A:+a}-${E:+a}-${U}", vars), {
            value: "1-1-d-a--",
            unresolved: ["U"],
        });
        assert.deepEqual(substitute("${MISSING}", vars).unresolved, ["MISSING"]);
    });

    it("splits shell scripts into commands outside quotes", () => {
        assert.deepEqual(shellCommands(`a 'x && y' && b "c;d"; e | f || g\nh`), [
            ["a", "x && y"],
            ["b", "c;d"],
            ["e"],
            ["f"],
            ["g"],
            ["h"],
        ]);
    });
});

describe(".dockerignore matcher", () => {
    const ignore = new DockerIgnore(
        [
            "# comment",
            "*",
            "!dags/*.py",
            "!dags/common/",
            "!/docs-app/src",
            "**/__pycache__",
            "**/*.pyc",
            "!keep/**/*.txt",
            "dags/common/secret.py",
        ].join("\n"),
    );

    it("follows Docker semantics: anchored, parents, ** and last match wins", () => {
        const cases: [string, boolean][] = [
            ["README.md", true],
            ["dags/batch.py", false],
            ["dags/sub/batch.py", true], // * does not cross a /
            ["dags/common/jobs.py", false], // a matched folder covers everything below it
            ["dags/common/deep/x.yaml", false],
            ["dags/common/__pycache__/jobs.cpython-311.pyc", true],
            ["dags/common/secret.py", true], // a later pattern wins
            ["docs-app/src/main.ts", false], // leading / is dropped
            ["keep/a.txt", false], // **/ matches zero folders
            ["keep/a/b/c.txt", false],
            ["keep/a/b/c.md", true],
            [".git/HEAD", true],
        ];
        for (const [p, excluded] of cases) assert.equal(ignore.excludes(p), excluded, p);
    });

    it("enters excluded folders only when a ! pattern can reach below them", () => {
        assert.equal(ignore.mayIncludeBelow("dags"), true);
        assert.equal(ignore.mayIncludeBelow("node_modules"), false);
        assert.equal(ignore.mayIncludeBelow("keep/x/y"), true);
        assert.equal(new DockerIgnore("*\n!**/keep.txt").mayIncludeBelow("any/where"), true);
    });

    it("matches character classes and ? within one segment", () => {
        const m = new DockerIgnore("*\n!file[0-9].txt\n!a?c");
        assert.equal(m.excludes("file1.txt"), false);
        assert.equal(m.excludes("fileX.txt"), true);
        assert.equal(m.excludes("abc"), false);
        assert.equal(m.excludes("a/c"), true);
    });
});

describe("image rules reject bad Dockerfiles (fixtures)", () => {
    const rule = (check: (df: ReturnType<typeof parseDockerfile>) => string[], text: string) =>
        check(parseDockerfile(text));

    it("base pinning", () => {
        const bad: [string, RegExp][] = [
            ["FROM python\nUSER 1", /no tag \(means latest\)/],
            ["FROM python:latest\nUSER 1", /floating tag latest/],
            ["FROM python:3\nUSER 1", /tag 3 is not an exact version/],
            ["FROM python:3.11-slim\nUSER 1", /tag 3.11-slim is not an exact version/],
            ["FROM node:lts\nUSER 1", /tag lts is not an exact version/],
            ["FROM registry:5000/team/img\nUSER 1", /no tag/],
            ["FROM python@sha256:abc\nUSER 1", /digest must be sha256/],
            ["ARG IMG\nFROM ${IMG}\nUSER 1", /uses IMG, which has no default/],
            ["ARG IMG=python:3.12\nFROM $IMG AS b\nFROM b\nUSER 1", /tag 3.12 is not an exact/],
        ];
        for (const [text, message] of bad) {
            const problems = rule(checkBasesPinned, text);
            assert.equal(problems.length, 1, `${text}: ${problems.join("; ")}`);
            assert.match(problems[0]!, message);
        }
        const good = [
            "FROM python:3.11.14-slim-bookworm",
            "FROM apache/airflow:slim-3.3.2-python3.11",
            "FROM registry:5000/team/img:1.2.3",
            "FROM ubuntu:jammy-20240911",
            `FROM python@sha256:${"a".repeat(64)}`,
            `FROM python:3@sha256:${"b".repeat(64)}`,
            "FROM scratch",
            "ARG B=node:24.21.0-bookworm-slim\nFROM ${B} AS build\nFROM build",
        ];
        for (const text of good) assert.deepEqual(rule(checkBasesPinned, text), [], text);
    });

    it("final USER", () => {
        const bad: [string, RegExp][] = [
            ["FROM a:1.2.3\nRUN x", /has no USER/],
            ["FROM a:1.2.3\nUSER app", /"app"; use a numeric uid/],
            ["FROM a:1.2.3\nUSER 10001\nUSER root", /"root"/],
            ["FROM a:1.2.3\nUSER 0:10001", /root \(uid 0\)/],
            ["FROM a:1.2.3\nUSER 10001\nFROM b:1.2.3\nRUN x", /has no USER/], // only the final stage counts
            ["FROM a:1.2.3\nARG UID=0\nUSER ${UID}", /root \(uid 0\)/],
        ];
        for (const [text, message] of bad) {
            const problems = rule(checkFinalUser, text);
            assert.equal(problems.length, 1, text);
            assert.match(problems[0]!, message);
        }
        const good = [
            "FROM a:1.2.3\nUSER 10001",
            "FROM a:1.2.3\nUSER airflow\nRUN pip --version\nUSER 50000",
            "FROM a:1.2.3\nUSER 10001:0",
            "FROM a:1.2.3 AS base\nUSER 185\nFROM base\nRUN echo", // inherited from its parent stage
            "ARG U=10001\nFROM a:1.2.3\nARG U\nUSER ${U}:${U}",
        ];
        for (const text of good) assert.deepEqual(rule(checkFinalUser, text), [], text);
    });

    it("build tools and caches in the final image", () => {
        const bad: [string, RegExp[]][] = [
            [
                "FROM a:1.2.3\nRUN apt-get update && apt-get install -y --no-install-recommends gcc libpq-dev && rm -rf /var/lib/apt/lists/*",
                [/installs gcc/, /installs libpq-dev/],
            ],
            [
                "FROM a:1.2.3\nRUN apt-get update && apt-get install -y tini",
                [/\/var\/lib\/apt\/lists/],
            ],
            [
                "FROM a:1.2.3\nRUN DEBIAN_FRONTEND=noninteractive apt-get -y install git && rm -rf /var/lib/apt/lists/*",
                [/installs git/],
            ],
            ["FROM a:1.2.3\nRUN apk add --no-cache curl", [/apk installs curl/]],
            ["FROM a:1.2.3\nRUN dnf install -y make", [/installs make/]],
            ["FROM a:1.2.3\nRUN pip install -r requirements.txt", [/--no-cache-dir/]],
            ["FROM a:1.2.3\nRUN python3 -m pip install x==1", [/--no-cache-dir/]],
            ["FROM a:1.2.3\nRUN <<EOF\nset -e\npip3 install x\nEOF", [/--no-cache-dir/]],
            [
                // a build stage's tools count when the final stage is built on it
                "FROM a:1.2.3 AS base\nRUN apk add build-base\nFROM base\nUSER 1",
                [/installs build-base/],
            ],
        ];
        for (const [text, messages] of bad) {
            const problems = rule(checkNoBuildTools, text);
            assert.equal(problems.length, messages.length, `${text}\n${problems.join("\n")}`);
            messages.forEach((m, k) => assert.match(problems[k]!, m));
        }
        const good = [
            "FROM a:1.2.3 AS build\nRUN apt-get install -y gcc make\nFROM b:1.2.3\nCOPY --from=build /o /o",
            "FROM a:1.2.3\nRUN apt-get update && apt-get install -y tini && rm -rf /var/lib/apt/lists/*",
            "FROM a:1.2.3\nRUN apt-get install -y gcc && make && apt-get purge -y gcc && rm -rf /var/lib/apt/lists/*",
            "FROM a:1.2.3\nRUN apk add --virtual .build gcc musl-dev && make && apk del .build",
            "FROM a:1.2.3\nRUN --mount=type=cache,target=/var/cache/apt --mount=type=cache,target=/var/lib/apt apt-get install -y tini",
            "FROM a:1.2.3\nRUN pip install --no-cache-dir x==1",
            "FROM a:1.2.3\nENV PIP_NO_CACHE_DIR=1 \\\n    OTHER=x\nRUN python -m pip install x==1",
            "FROM a:1.2.3\nRUN echo 'pip install x' > notes.txt",
        ];
        for (const text of good) assert.deepEqual(rule(checkNoBuildTools, text), [], text);
    });

    describe("ignore file and COPY sources (temporary context)", () => {
        let root: string;
        before(() => {
            root = fs.mkdtempSync(path.join(os.tmpdir(), "dockerfile-rules-"));
            const files = [
                "app/src/main.py",
                "app/src/__pycache__/main.cpython-311.pyc",
                "app/tests/test_main.py",
                "app/.venv/bin/python",
                "app/requirements.txt",
                "app/README.md",
                "node_modules/x/index.js",
                ".git/HEAD",
            ];
            for (const f of files) {
                fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
                fs.writeFileSync(path.join(root, f), "x");
            }
        });
        after(() => fs.rmSync(root, { recursive: true, force: true }));

        const good = "*\n!app/src/\n!app/requirements.txt\n**/__pycache__\n";

        it("an allow-list sends only what is listed", () => {
            const ignore = new DockerIgnore(good);
            const sent = contextFiles(root, ignore);
            assert.deepEqual(sent, ["app/requirements.txt", "app/src/main.py"]);
            assert.deepEqual(checkIgnoreFile(ignore, "app", sent), []);
        });

        it("a deny-list that forgets .venv, tests, node_modules or .git fails", () => {
            const ignore = new DockerIgnore("**/__pycache__\n");
            const sent = contextFiles(root, ignore);
            const problems = checkIgnoreFile(ignore, "app", sent).join("\n");
            for (const p of [
                ".git/HEAD",
                "node_modules/left-pad/package.json",
                "app/.venv/bin/python",
                "app/tests/test_example.py",
            ]) {
                assert.ok(problems.includes(`lets ${p} into`), `${p} not reported:\n${problems}`);
            }
            assert.match(problems, /sends app\/tests\/test_main\.py/);
            assert.match(problems, /sends app\/\.venv\/bin\/python/);
        });

        it("COPY sources must exist and be sent", () => {
            const ignore = new DockerIgnore(good);
            const sent = contextFiles(root, ignore);
            const df = parseDockerfile(
                [
                    "FROM a:1.2.3 AS build",
                    "COPY app/requirements.txt app/src/ /x/",
                    "COPY app/missing.txt /x/",
                    "COPY app/README.md /x/",
                    "COPY app/tests/ /x/",
                    "COPY app/*.md /x/",
                    "COPY --from=build /nothing /x/",
                    "COPY <<EOF /x/inline",
                    "hello",
                    "EOF",
                    "ADD https://example.com/x.jar /x/",
                    `ADD --checksum=sha256:${"c".repeat(64)} https://example.com/y.jar /x/`,
                    "USER 1",
                ].join("\n"),
            );
            const problems = checkCopySources(df, ignore, root, sent);
            assert.equal(problems.length, 5, problems.join("\n"));
            assert.match(problems[0]!, /line 3: COPY source app\/missing\.txt does not exist/);
            assert.match(
                problems[1]!,
                /line 4: COPY app\/README\.md is excluded .* !app\/README\.md/,
            );
            assert.match(problems[2]!, /line 5: COPY app\/tests\/: the ignore file sends nothing/);
            assert.match(problems[3]!, /line 6: COPY app\/\*\.md matches no file/);
            assert.match(problems[4]!, /line 11: ADD https:\/\/example\.com\/x\.jar .*--checksum/);
        });
    });
});
