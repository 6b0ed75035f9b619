/**
 * `npm run config:sync`: regenerate Pulumi.yaml's config block from the spec in stacks/config.ts
 * (offline/project-file.ts).
 */
import * as path from "node:path";
import { PROJECT_FILE, writeProjectFile } from "../offline/project-file";

if (require.main === module) {
    const keys = writeProjectFile();
    console.log(`wrote ${path.relative(process.cwd(), PROJECT_FILE)} (${keys} config keys)`);
}
