/**
 * The alerting rules (`rules.yaml`): promtool's syntax check and unit tests on recorded series
 * (`rules.test.yaml`, with Debian's promtool), every metric they select in the metric catalog,
 * the alerts the platform promises present, and every alert covered by a unit test.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { metricCatalog } from "../metric-catalog";
import { inCatalog, promqlMetricNames } from "../promql";
import { promtool } from "./promtool";
import { ALERT_RULES_FILE, ALERT_RULES_TEST_FILE, loadAlertRules } from "./rules";

const EXPECTED_ALERTS = [
    "AirflowDagRunFailed",
    "BatchNoSuccessWhileFilesArrive",
    "AirflowSchedulerHeartbeatMissing",
    "AirflowDagProcessorHeartbeatMissing",
    "PostgresDown",
    "PostgresNearConnectionLimit",
    "PostgresBackupTooOld",
    "PostgresBackupNeverSucceeded",
    "PersistentVolumeFillingUp",
    "SparkApplicationFailed",
    "FareApiErrorRate",
];

function runPromtool(args: string[], cwd: string): { code: number; out: string } {
    try {
        const out = execFileSync(promtool(), args, { cwd, encoding: "utf8", stdio: "pipe" });
        return { code: 0, out };
    } catch (err) {
        const e = err as { status?: number; stdout?: string; stderr?: string };
        return { code: e.status ?? 1, out: `${e.stdout ?? ""}${e.stderr ?? ""}` };
    }
}

describe("alerting rules (components/monitoring/alerts)", function () {
    this.timeout(300_000); // the first run downloads Debian's prometheus package (~20 MB)
    const dir = path.dirname(ALERT_RULES_FILE);

    it("pass `promtool check rules`", () => {
        const r = runPromtool(["check", "rules", path.basename(ALERT_RULES_FILE)], dir);
        assert.equal(r.code, 0, r.out);
        assert.match(r.out, /SUCCESS: \d+ rules found/);
    });

    it("pass their unit tests on recorded series (`promtool test rules`)", () => {
        const r = runPromtool(["test", "rules", path.basename(ALERT_RULES_TEST_FILE)], dir);
        assert.equal(r.code, 0, r.out);
        assert.match(r.out, /SUCCESS/);
    });

    it("promtool's unit tests can fail: a broken threshold is caught", () => {
        const tmp = mkdtempSync(path.join(tmpdir(), "taxi-rules-"));
        try {
            const rules = readFileSync(ALERT_RULES_FILE, "utf8").replace(
                "> 26 * 3600",
                "> 28 * 3600",
            );
            writeFileSync(path.join(tmp, "rules.yaml"), rules);
            writeFileSync(
                path.join(tmp, "rules.test.yaml"),
                readFileSync(ALERT_RULES_TEST_FILE, "utf8"),
            );
            const r = runPromtool(["test", "rules", "rules.test.yaml"], tmp);
            assert.notEqual(r.code, 0, r.out);
            assert.match(r.out, /PostgresBackupTooOld/);
        } finally {
            rmSync(tmp, { recursive: true, force: true });
        }
    });

    it("cover the alerts the platform promises, each with labels and annotations", () => {
        const rules = loadAlertRules();
        assert.deepEqual(rules.map((r) => r.alert).sort(), [...EXPECTED_ALERTS].sort());
        for (const r of rules) {
            assert.match(r.labels.severity ?? "", /^(page|ticket)$/, r.alert);
            assert.ok(r.labels.component, `${r.alert}: no component label`);
            assert.ok(r.annotations.summary && r.annotations.description, r.alert);
        }
    });

    it("select only metrics of the catalog (or the statsd mapping)", () => {
        const catalog = metricCatalog();
        const problems: string[] = [];
        for (const r of loadAlertRules()) {
            const { names, problems: syntax } = promqlMetricNames(r.expr);
            problems.push(...syntax.map((p) => `${r.alert}: ${p}`));
            for (const n of names) {
                if (!inCatalog(n, catalog))
                    problems.push(`${r.alert}: '${n}' is not in the catalog`);
            }
        }
        assert.deepEqual(problems, []);
        // The check itself can fail.
        const bad = promqlMetricNames("rate(airflow_no_such_metric_total[5m]) > 0").names;
        assert.ok(bad.some((n) => !inCatalog(n, catalog)));
    });

    it("have a firing unit test for every alert", () => {
        const doc = parseYaml(readFileSync(ALERT_RULES_TEST_FILE, "utf8")) as {
            tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
        };
        const firing = new Set(
            doc.tests.flatMap((t) =>
                (t.alert_rule_test ?? [])
                    .filter((a) => a.exp_alerts.length > 0)
                    .map((a) => a.alertname),
            ),
        );
        assert.deepEqual(
            EXPECTED_ALERTS.filter((a) => !firing.has(a)),
            [],
        );
    });
});
