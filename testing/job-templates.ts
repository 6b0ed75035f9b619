/**
 * The TypeScript side of the job-template parity test: render `dags/templates/*.yaml.j2` with
 * nunjucks exactly as `dags/common/templates.py` renders them with Jinja2, and validate the
 * results (Jobs with kubernetes-models, SparkApplications with our v1beta2 CRD plus their
 * embedded core types as a Pod).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { DAGS_PYTHON, ROOT, render as renderTemplate } from "../offline/job-templates";
import { K8sObject, validateK8sObject } from "./k8s-validate";

export const FIXTURES_DIR = path.join(__dirname, "fixtures", "job-templates");
export const SPARK_CRD_FILE = path.join(__dirname, "fixtures", "sparkapplication-v1beta2-crd.yaml");

export {
    DAGS_PYTHON,
    ROOT,
    TEMPLATES_DIR,
    jinjaToJson,
    pythonJsonDumps,
    renderText,
    templatesEnvironment,
} from "../offline/job-templates";

export function render(template: string, values: Record<string, unknown>): K8sObject {
    return renderTemplate(template, values) as K8sObject;
}

export interface ParityCase {
    template: string;
    values: Record<string, unknown>;
    /** The same case rendered by Jinja2 (dags/common/templates.py) and parsed. */
    rendered: K8sObject;
}

function runDagsPython(args: string[], input?: string): string {
    if (!fs.existsSync(DAGS_PYTHON)) {
        throw new Error(
            `${DAGS_PYTHON} is missing: create it with \`npx tsx tools/python-suites.ts --prepare dags\``,
        );
    }
    const r = spawnSync(DAGS_PYTHON, args, {
        cwd: path.join(ROOT, "dags"),
        encoding: "utf8",
        input,
        env: { ...process.env, PYTHONPATH: ".", PYTHONDONTWRITEBYTECODE: "1" },
        maxBuffer: 64 * 1024 * 1024,
    });
    if (r.status !== 0) throw new Error(`dags python ${args.join(" ")} failed:\n${r.stderr}`);
    return r.stdout;
}

/** Every fixture plus every job of the job table, with its Jinja2 rendering. */
export function jinjaCases(): Record<string, ParityCase> {
    return JSON.parse(runDagsPython(["-m", "common.templates", FIXTURES_DIR])) as Record<
        string,
        ParityCase
    >;
}

/** Jinja2's own `tojson` output for each value (to compare the filter text for text). */
export function jinjaToJsonOf(values: unknown[]): string[] {
    const code =
        "import json, sys, jinja2\n" +
        "t = jinja2.Environment(autoescape=False).from_string('{{ v | tojson }}')\n" +
        "print(json.dumps([t.render(v=v) for v in json.load(sys.stdin)]))\n";
    return JSON.parse(runDagsPython(["-c", code], JSON.stringify(values))) as string[];
}

let sparkCrd: K8sObject | undefined;
export function sparkApplicationCrd(): K8sObject {
    sparkCrd ??= YAML.parse(fs.readFileSync(SPARK_CRD_FILE, "utf8")) as K8sObject;
    return sparkCrd;
}

/** The driver's or executor's embedded core types, as a Pod kubernetes-models can validate. */
export function podOf(app: K8sObject, role: "driver" | "executor"): K8sObject {
    const spec = (app.spec ?? {}) as Record<string, unknown>;
    const pod = (spec[role] ?? {}) as Record<string, unknown>;
    const container: Record<string, unknown> = {
        name: `spark-kubernetes-${role}`,
        image: spec.image,
    };
    for (const key of ["env", "envFrom", "volumeMounts", "securityContext"]) {
        if (pod[key] !== undefined) container[key] = pod[key];
    }
    const podSpec: Record<string, unknown> = { containers: [container] };
    if (spec.volumes !== undefined) podSpec.volumes = spec.volumes;
    if (pod.tolerations !== undefined) podSpec.tolerations = pod.tolerations;
    if (pod.nodeSelector !== undefined) podSpec.nodeSelector = pod.nodeSelector;
    if (pod.serviceAccount !== undefined) podSpec.serviceAccountName = pod.serviceAccount;
    return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
            name: `${app.metadata?.name ?? "app"}-${role}`,
            labels: pod.labels as Record<string, string> | undefined,
            annotations: pod.annotations as Record<string, string> | undefined,
        },
        spec: podSpec,
    };
}

/** Validate a rendered template: a Job, or a SparkApplication and its two pods' core types. */
export async function validateRendered(obj: K8sObject): Promise<void> {
    if (obj.kind === "SparkApplication") {
        await validateK8sObject(obj, [sparkApplicationCrd()]);
        await validateK8sObject(podOf(obj, "driver"));
        await validateK8sObject(podOf(obj, "executor"));
        return;
    }
    await validateK8sObject(obj);
}
