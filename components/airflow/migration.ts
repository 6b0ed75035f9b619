/**
 * Airflow's migration Job: `airflow db migrate` and the user bootstrap (admin + the S3 trigger's
 * API user) as explicit steps, one container each, so a failure names the step. The Job is named
 * after the image and a fingerprint of the user passwords: a new image or password means a new
 * Job, which `pulumi up` runs to completion before rolling the Airflow pod. No Helm hooks.
 */
import { createHash } from "node:crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { container, resources } from "../shared/workload";
import {
    envFrom,
    fromSecret,
    podSpecBase,
    tmpMount,
    tmpVolumes,
    type EnvVar,
    type ResolvedAirflowArgs,
} from "./environment";
import { USERS_SECRET } from "./secrets";

/** Name of the migration Job: follows the image and the user passwords (a fingerprint, not the values). */
export function migrationJobName(image: string, usersFingerprint: string): string {
    const h = createHash("sha256").update(image).update("\n").update(usersFingerprint);
    return `airflow-migrate-${h.digest("hex").slice(0, 10)}`;
}
/**
 * The command of a step that runs `airflow <airflowArgs>` with the password from the environment
 * variable `passwordEnv` on its stdin (twice: FAB's prompt asks for a confirmation). The script
 * text names the variable, never its value; `printf` is a bash builtin, so no process carries
 * the password in its arguments, and `airflow` is started with `airflowArgs` only.
 */
export function withPasswordOnStdin(passwordEnv: string, airflowArgs: string[]): string[] {
    if (!/^[A-Z][A-Z0-9_]*$/.test(passwordEnv)) {
        throw new Error(
            `withPasswordOnStdin: ${JSON.stringify(passwordEnv)} is not an env var name`,
        );
    }
    return [
        "bash",
        "-c",
        `set -euo pipefail; printf '%s\\n%s\\n' "$${passwordEnv}" "$${passwordEnv}" | exec airflow "$@"`,
        "airflow-with-password-on-stdin",
        ...airflowArgs,
    ];
}

/** Create the migration Job (after the pipeline-env ConfigMaps); returns it and its name. */
export function migrationJob(
    name: string,
    args: ResolvedAirflowArgs,
    inputs: {
        env: EnvVar[];
        adminPassword: pulumi.Output<string>;
        triggerPassword: pulumi.Output<string>;
        labels: Record<string, string>;
        selector: Record<string, string>;
        dependsOn: pulumi.Resource[];
    },
    parent: pulumi.Resource,
): { job: k8s.batch.v1.Job; name: pulumi.Output<string> } {
    const { labels, selector } = inputs;
    const usersFingerprint = pulumi.unsecret(
        pulumi.all([inputs.adminPassword, inputs.triggerPassword]).apply((pws) =>
            createHash("sha256")
                .update([args.adminUser, args.triggerUser, ...pws].join("\n"))
                .digest("hex")
                .slice(0, 16),
        ),
    );
    const jobName = pulumi
        .all([args.image, usersFingerprint])
        .apply(([image, fp]) => migrationJobName(image, fp));
    const cli = (cname: string, command: string[], extraEnv: EnvVar[] = []) => ({
        name: cname,
        spec: container({
            name: cname,
            image: args.image,
            command,
            env: [...inputs.env, ...extraEnv],
            envFrom,
            resources: resources("250m", "768Mi", { cpu: "1" }),
            volumeMounts: [tmpMount(cname)],
        }),
    });
    // The passwords never reach a command line (the process list, or the Job's args after
    // Kubernetes expands `$(VAR)`): Airflow's FAB CLI prompts for the password when none is
    // given, and without a terminal its getpass reads stdin, so a bash builtin (printf) pipes
    // it from the Secret-backed environment variable. See `withPasswordOnStdin`.
    const userArgs = (user: string, role: string) => [
        "users",
        "create",
        `--username=${user}`,
        `--role=${role}`,
        `--firstname=${user}`,
        "--lastname=taxi-platform",
        `--email=${user}@taxi-platform.invalid`,
    ];
    const resetArgs = (user: string) => ["users", "reset-password", `--username=${user}`];
    const adminEnv = [fromSecret("ADMIN_PASSWORD", USERS_SECRET, "admin-password")];
    const triggerEnv = [fromSecret("TRIGGER_PASSWORD", USERS_SECRET, "trigger-password")];
    const migrationSteps = [
        cli("migrate", ["airflow", "db", "migrate"]),
        // `users create` leaves an existing user alone (exit 0) ...
        cli(
            "create-admin",
            withPasswordOnStdin("ADMIN_PASSWORD", userArgs(args.adminUser, "Admin")),
            adminEnv,
        ),
        cli(
            "create-trigger-user",
            withPasswordOnStdin("TRIGGER_PASSWORD", userArgs(args.triggerUser, "User")),
            triggerEnv,
        ),
        // ... so the passwords are set from the Secret explicitly.
        cli(
            "set-admin-password",
            withPasswordOnStdin("ADMIN_PASSWORD", resetArgs(args.adminUser)),
            adminEnv,
        ),
        cli(
            "set-trigger-password",
            withPasswordOnStdin("TRIGGER_PASSWORD", resetArgs(args.triggerUser)),
            triggerEnv,
        ),
    ];
    const job = new k8s.batch.v1.Job(
        `${name}-migrate`,
        {
            metadata: {
                name: jobName,
                namespace: args.namespace,
                labels: { ...labels, "app.kubernetes.io/component": "migrate" },
            },
            spec: {
                backoffLimit: 3,
                activeDeadlineSeconds: 1800,
                template: {
                    metadata: {
                        labels: { ...selector, "app.kubernetes.io/component": "migrate" },
                    },
                    spec: {
                        ...podSpecBase(args),
                        // Migrations and user bootstrap talk to PostgreSQL only.
                        automountServiceAccountToken: false,
                        restartPolicy: "Never",
                        // Steps in order, each its own command: a failure names the step.
                        initContainers: migrationSteps.slice(0, -1).map((c) => c.spec),
                        containers: migrationSteps.slice(-1).map((c) => c.spec),
                        volumes: tmpVolumes(migrationSteps.map((c) => c.name)),
                    },
                },
            },
        },
        { parent, dependsOn: inputs.dependsOn },
    );
    return { job, name: jobName };
}
