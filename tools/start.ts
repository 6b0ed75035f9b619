/**
 * `npm start`: the main job on the embedded default (no cloud account).
 *
 * Until the pipeline pieces land (DAGs, Spark, dbt, ML, trigger, docs app), the main job is the
 * offline render of the `dev` stack: it evaluates the whole Pulumi program for dev under the
 * offline engine and writes what `pulumi up` would create to render/dev/.
 */
import * as path from "node:path";
import { renderStack, writeRender } from "./render";
import { REPO_ROOT } from "./pulumi-yaml";

async function main(): Promise<void> {
    const stack = "dev";
    console.log(
        `Rendering the desired state of stack "${stack}" offline (no cloud account needed)...`,
    );
    const r = await renderStack(stack);
    const dir = writeRender(r, path.join(REPO_ROOT, "render"));
    const rel = path.relative(process.cwd(), dir);
    console.log(
        `Done in ${r.seconds.toFixed(2)} s: ${r.resources.length} resources, ${r.kubernetes.length} Kubernetes objects.`,
    );
    console.log(`  ${rel}/inventory.md     every resource with its key inputs`);
    console.log(`  ${rel}/resources.json   full inputs (secrets shown as [secret])`);
    console.log(`  ${rel}/kubernetes/      Kubernetes objects as YAML`);
    console.log(`  ${rel}/components.mmd   component tree (Mermaid)`);
    console.log(`Stack outputs: ${JSON.stringify(r.outputs)}`);
    console.log(
        "The local end-to-end pipeline run (Airflow, Spark, dbt, MLflow) replaces this once its pieces land.",
    );
}

main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
});
