import { strict as assert } from "node:assert";
import { ConfigError, parseConfig } from "./config";

/** A complete, valid set of raw values (as the engine passes them). */
const VALID: Record<string, string> = {
    environment: "dev",
    gcpProject: "acme-taxi-dev",
    gcpRegion: "europe-west1",
    awsRegion: "eu-west-1",
    masterAuthorizedNetworks: '["203.0.113.0/24"]',
    domain: "dev.data.example.com",
};

const parseWith = (connections: string | undefined) =>
    parseConfig("dev", (k) => (k === "airflowConnections" ? connections : VALID[k]));

function problemOf(connections: string): string {
    try {
        parseWith(connections);
    } catch (err) {
        assert.ok(err instanceof ConfigError, String(err));
        return err.message;
    }
    assert.fail(`airflowConnections ${connections} was accepted`);
}

describe("stack config: airflowConnections", () => {
    it("defaults to none and accepts Airflow connection ids", () => {
        assert.deepEqual(parseWith(undefined).airflowConnections, []);
        assert.deepEqual(
            parseWith('["dbt_cloud_default","databricks_default"]').airflowConnections,
            ["dbt_cloud_default", "databricks_default"],
        );
    });

    for (const [value, why] of [
        ['["Prod-DBT"]', '"Prod-DBT" at index 0'],
        ['["dbt cloud"]', '"dbt cloud" at index 0'],
        ['["1dbt"]', '"1dbt" at index 0'],
        ['[""]', '"" at index 0'],
        ['["a/../b"]', '"a/../b" at index 0'],
        ['"dbt_cloud_default"', "a list of 0 to 20 items"],
        [JSON.stringify(Array.from({ length: 21 }, (_, i) => `c${i}`)), "a list of 0 to 20 items"],
        ['["dbt_cloud_default","dbt_cloud_default"]', "dbt_cloud_default appears more than once"],
    ] as const) {
        it(`refuses ${value.slice(0, 40)} with the key, the value and the fix`, () => {
            const message = problemOf(value);
            assert.match(message, /taxi-platform:airflowConnections/);
            assert.ok(message.includes(why), message);
            assert.match(message, /stacks\/Pulumi\.dev\.yaml|pulumi config set/);
        });
    }
});
