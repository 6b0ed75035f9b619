// mocha's configuration. `mocha` alone runs every suite below; `mocha <file>...` runs only the
// files given (mocha would otherwise add them to this list and run everything).
"use strict";

const given = process.argv.slice(2).some((a) => /\.test\.ts$/.test(a));

module.exports = {
    require: ["tsx/cjs"],
    extension: ["ts"],
    spec: given
        ? []
        : [
              "stacks/**/*.test.ts",
              "components/**/*.test.ts",
              "offline/**/*.test.ts",
              "tools/**/*.test.ts",
              "testing/**/*.test.ts",
              "docs-app/**/*.test.ts",
              "functions/**/*.test.ts",
              "policy/**/*.test.ts",
          ],
    timeout: 60000,
    reporter: "spec",
    // The end-to-end run is the last step of `npm test` (tools/test-all.ts), not one of the
    // suites above; `mocha tools/local/e2e.test.ts` runs it alone.
    ignore: given ? ["**/node_modules/**"] : ["**/node_modules/**", "tools/local/e2e.test.ts"],
};
