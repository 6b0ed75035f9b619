/**
 * Strict validation of Kubernetes objects, offline.
 *
 * Built-in kinds are checked twice, by two maintained npm packages generated from the Kubernetes
 * OpenAPI spec:
 *  - `kubernetes-models`: JSON-schema validation (required fields, types, enums, formats);
 *  - `@kubernetes/client-node`: its model metadata lists every field each type has, which we use
 *    to reject unknown fields (a typo such as `imagePullPolicy` → `imagePulPolicy` is silently
 *    dropped by the API server, so it must fail here).
 *
 * Custom resources are validated against their CRD's own `openAPIV3Schema` with ajv, with
 * unknown fields rejected wherever the CRD does not say `x-kubernetes-preserve-unknown-fields`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import Ajv, { type ValidateFunction } from "ajv";
/* eslint-disable @typescript-eslint/no-require-imports, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-explicit-any */
const clientNode: Record<string, any> = require("@kubernetes/client-node");

export interface K8sObject {
    apiVersion: string;
    kind: string;
    metadata?: { name?: string; namespace?: string; [k: string]: unknown };
    [k: string]: unknown;
}

export class K8sValidationError extends Error {
    constructor(
        readonly object: string,
        readonly problems: string[],
    ) {
        super(`${object} is invalid:\n  - ${problems.join("\n  - ")}`);
    }
}

function describe(obj: K8sObject): string {
    const ns = obj.metadata?.namespace ? `${obj.metadata.namespace}/` : "";
    return `${obj.apiVersion} ${obj.kind} ${ns}${obj.metadata?.name ?? "<unnamed>"}`;
}

/** `apps/v1` → { group: "apps", version: "v1" }; `v1` → core group. */
function splitApiVersion(apiVersion: string): { group: string; version: string } {
    const i = apiVersion.lastIndexOf("/");
    return i < 0
        ? { group: "", version: apiVersion }
        : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

const modelModules = new Map<string, Promise<Record<string, any>>>();

/**
 * Custom-resource groups whose CRD schemas come as generated validators in a maintained npm
 * package. Their objects are built in TypeScript against the same package's interfaces, so
 * unknown fields are caught by the compiler; here they get the schema's runtime checks.
 */
export const CRD_MODEL_PACKAGES: Record<string, string> = {
    "gateway.networking.k8s.io": "@kubernetes-models/gateway-api/gateway.networking.k8s.io",
};

async function kubernetesModel(apiVersion: string, kind: string): Promise<any> {
    const { group, version } = splitApiVersion(apiVersion);
    const crdPackage = CRD_MODEL_PACKAGES[group];
    const spec = crdPackage
        ? `${crdPackage}/${version}`
        : group === ""
          ? `kubernetes-models/${version}`
          : `kubernetes-models/${group}/${version}`;
    let mod = modelModules.get(spec);
    if (!mod) {
        // kubernetes-models is ESM-only: load it with a real dynamic import.
        mod = (import(spec) as Promise<Record<string, any>>).catch(() => ({}));
        modelModules.set(spec, mod);
    }
    return (await mod)[kind];
}

/** The client-node model class for a kind, e.g. apps/v1 Deployment → V1Deployment. */
function clientModel(apiVersion: string, kind: string): any {
    const { version } = splitApiVersion(apiVersion);
    return clientNode[`${version[0]!.toUpperCase()}${version.slice(1)}${kind}`];
}

const PRIMITIVES = new Set(["string", "number", "boolean", "Date", "object", "any", "IntOrString"]);

/** Paths of fields that the client-node model of `type` does not declare. */
function unknownFields(value: unknown, type: string, path: string, out: string[]): void {
    if (value === null || value === undefined) return;
    const arrayOf = /^Array<(.+)>$/.exec(type);
    if (arrayOf) {
        if (Array.isArray(value))
            value.forEach((v, i) => unknownFields(v, arrayOf[1]!, `${path}[${i}]`, out));
        return;
    }
    const mapOf = /^\{ \[key: string\]: (.+); \}$/.exec(type);
    if (mapOf) {
        if (typeof value === "object") {
            for (const [k, v] of Object.entries(value))
                unknownFields(v, mapOf[1]!, `${path}.${k}`, out);
        }
        return;
    }
    if (PRIMITIVES.has(type)) return;
    const model = clientNode[type];
    if (!model?.getAttributeTypeMap || typeof value !== "object") return;
    const attrs: { baseName: string; type: string }[] = model.getAttributeTypeMap();
    const known = new Map(attrs.map((a) => [a.baseName, a.type]));
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        const t = known.get(k);
        if (t === undefined)
            out.push(`${path ? `${path}.` : ""}${k}: unknown field (not in ${type})`);
        else unknownFields(v, t, path ? `${path}.${k}` : k, out);
    }
}

const crdValidators = new WeakMap<object, Map<string, ValidateFunction>>();

/**
 * CRDs of cloud-provided custom resources the platform declares (no npm package carries their
 * schema): our own strict schemas, written from the provider's API reference, in testing/fixtures.
 */
export const BUNDLED_CRDS: K8sObject[] = [
    "healthcheckpolicy-v1-crd.yaml",
    "gcpbackendpolicy-v1-crd.yaml",
].map((f) => YAML.parse(fs.readFileSync(path.join(__dirname, "fixtures", f), "utf8")) as K8sObject);

/** Validate a built-in Kubernetes object; throws K8sValidationError listing every problem. */
export async function validateK8sObject(obj: K8sObject, given: K8sObject[] = []): Promise<void> {
    const crds = [...given, ...BUNDLED_CRDS];
    if (typeof obj?.apiVersion !== "string" || typeof obj?.kind !== "string") {
        throw new K8sValidationError(JSON.stringify(obj).slice(0, 80), [
            "apiVersion and kind are required",
        ]);
    }
    const { group } = splitApiVersion(obj.apiVersion);
    const crd = crds.find(
        (c) => (c.spec as any)?.group === group && (c.spec as any)?.names?.kind === obj.kind,
    );
    if (crd) return validateCustomResource(obj, crd);

    const Model = await kubernetesModel(obj.apiVersion, obj.kind);
    const isPackagedCrd = CRD_MODEL_PACKAGES[group] !== undefined;
    const ClientModel = isPackagedCrd ? undefined : clientModel(obj.apiVersion, obj.kind);
    if (!Model || (!ClientModel && !isPackagedCrd)) {
        throw new K8sValidationError(describe(obj), [
            `no schema for ${obj.apiVersion} ${obj.kind}: not a built-in kind, and no CRD given for it`,
        ]);
    }
    const problems: string[] = [];
    try {
        new Model(obj).validate();
    } catch (err) {
        problems.push(...formatAjvLike(err));
    }
    if (ClientModel) unknownFields(obj, ClientModel.name as string, "", problems);
    if (problems.length > 0) throw new K8sValidationError(describe(obj), problems);
}

function formatAjvLike(err: unknown): string[] {
    // kubernetes-models joins ajv's messages with ", " ("data/spec/... must have ...").
    const text = String((err as Error).message ?? err);
    return text
        .split(/, (?=data\/|data )/)
        .map((m) => m.replace(/^data\/?/, "").replace(/\//g, "."));
}

/**
 * Make a CRD's structural schema strict for ajv: objects with declared properties reject other
 * fields unless the CRD preserves unknown fields; Kubernetes-only keywords are dropped.
 */
export function strictCrdSchema(schema: any): any {
    if (Array.isArray(schema)) return schema.map(strictCrdSchema);
    if (schema === null || typeof schema !== "object") return schema;
    const out: Record<string, any> = {};
    for (const [k, v] of Object.entries(schema as Record<string, unknown>)) {
        if (k.startsWith("x-kubernetes-")) continue;
        if (k === "properties" || k === "patternProperties") {
            out[k] = Object.fromEntries(
                Object.entries(v as object).map(([p, s]) => [p, strictCrdSchema(s)]),
            );
        } else if (k === "default" || k === "example" || k === "enum") {
            out[k] = v;
        } else {
            out[k] = strictCrdSchema(v);
        }
    }
    // int-or-string fields accept both.
    if (schema["x-kubernetes-int-or-string"]) {
        delete out.type;
        out.anyOf = [{ type: "integer" }, { type: "string" }];
    }
    if (
        schema.properties &&
        schema.additionalProperties === undefined &&
        !schema["x-kubernetes-preserve-unknown-fields"]
    ) {
        out.additionalProperties = false;
    }
    return out;
}

/** Validate a custom resource against the served version's schema in its CRD. */
export function validateCustomResource(obj: K8sObject, crd: K8sObject): void {
    const { version } = splitApiVersion(obj.apiVersion);
    const spec = crd.spec as any;
    const versions = (spec?.versions ?? []) as { name: string; served: boolean; schema?: any }[];
    const served = versions.find((v) => v.name === version && v.served);
    if (!served?.schema?.openAPIV3Schema) {
        throw new K8sValidationError(describe(obj), [
            `CRD ${crd.metadata?.name} does not serve version ${version} with a schema`,
        ]);
    }
    let byVersion = crdValidators.get(crd);
    if (!byVersion) {
        byVersion = new Map();
        crdValidators.set(crd, byVersion);
    }
    let validate = byVersion.get(version);
    if (!validate) {
        const schema = strictCrdSchema(served.schema.openAPIV3Schema);
        // metadata is validated by the API server itself, not by the CRD schema.
        if (schema.properties) schema.properties.metadata = { type: "object" };
        const ajv = new Ajv({ allErrors: true, strict: false });
        validate = ajv.compile(schema);
        byVersion.set(version, validate);
    }
    if (!validate(obj)) {
        throw new K8sValidationError(
            describe(obj),
            (validate.errors ?? []).map((e) => {
                const extra =
                    e.keyword === "additionalProperties"
                        ? ` (${(e.params as { additionalProperty: string }).additionalProperty})`
                        : "";
                return `${e.instancePath || "(root)"}: ${e.message ?? "invalid"}${extra}`;
            }),
        );
    }
}

/**
 * Validate an object as recorded by the offline harness, where a Secret's payload is redacted
 * as a whole ("[secret]"): the payload is checked as a string map, everything else strictly.
 */
export async function validateRecorded(obj: K8sObject, crds: K8sObject[] = []): Promise<void> {
    const o = obj as K8sObject & { stringData?: unknown; data?: unknown };
    const redacted = (v: unknown) => (v === "[secret]" ? { redacted: "x" } : v);
    const checked =
        o.kind === "Secret"
            ? {
                  ...o,
                  ...(o.stringData !== undefined ? { stringData: redacted(o.stringData) } : {}),
                  ...(o.data !== undefined ? { data: redacted(o.data) } : {}),
              }
            : o;
    await validateK8sObject(checked, crds);
}
