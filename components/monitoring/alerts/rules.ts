/**
 * The alerting rules file Prometheus loads (`rules.yaml`, mounted from the ConfigMap
 * `prometheus-rules`) and a typed reader of it for the tests and the component.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";

export const ALERT_RULES_FILE = path.join(__dirname, "rules.yaml");
export const ALERT_RULES_TEST_FILE = path.join(__dirname, "rules.test.yaml");

export interface AlertRule {
    group: string;
    alert: string;
    expr: string;
    for?: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
}

/** The file's exact text (the ConfigMap's content). */
export function alertRulesText(file = ALERT_RULES_FILE): string {
    return readFileSync(file, "utf8");
}

/** Every alerting rule, with its group; throws naming the rule when one is malformed. */
export function loadAlertRules(file = ALERT_RULES_FILE): AlertRule[] {
    const doc = parseYaml(alertRulesText(file)) as {
        groups?: { name: string; rules?: Record<string, unknown>[] }[];
    };
    if (!doc || !Array.isArray(doc.groups)) throw new Error(`${file}: expected 'groups:'`);
    return doc.groups.flatMap((g) =>
        (g.rules ?? []).map((r, i) => {
            if (typeof r.alert !== "string" || typeof r.expr !== "string") {
                throw new Error(`${file}: group ${g.name} rule #${i + 1} needs 'alert' and 'expr'`);
            }
            return {
                group: g.name,
                alert: r.alert,
                expr: r.expr,
                for: typeof r.for === "string" ? r.for : undefined,
                labels: (r.labels ?? {}) as Record<string, string>,
                annotations: (r.annotations ?? {}) as Record<string, string>,
            };
        }),
    );
}
