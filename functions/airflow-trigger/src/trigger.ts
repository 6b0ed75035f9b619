/**
 * The handler logic, built from its dependencies so tests and local runs construct it with their
 * own credential source and logger. `handler.ts` builds it once per Lambda container.
 *
 * For each new object with the configured suffix under a route's key prefix: one run of that
 * route's DAG (routing.ts: one route per dataset), with a deterministic id and `conf.uri`.
 * Every record is attempted even when one fails or an earlier one is malformed; then, if any
 * failed or was malformed, the invocation throws naming them (Lambda's async retries and the
 * on-failure destination take over; records already triggered answer 409 on the retry and
 * count as done).
 */
import { AirflowClient, AirflowError, type TriggerOutcome } from "./airflow";
import type { TriggerConfig } from "./config";
import { credentialSourceFromConfig, type CredentialSource } from "./credentials";
import { dagRunId, objectUri, parseS3Event, type InvalidRecord } from "./events";
import { createLogger, type Logger } from "./log";
import { routeKey } from "./routing";

export interface TriggerResult {
    uri: string;
    /** The DAG the object's key prefix routed to. */
    dagId: string;
    dagRunId: string;
    outcome: TriggerOutcome;
}

export interface TriggerSummary {
    /** True for `s3:TestEvent`. */
    testEvent: boolean;
    runs: TriggerResult[];
    /** Keys skipped by the prefix/suffix filter or because the record is not a creation. */
    ignored: { key: string; reason: string }[];
}

export class TriggerFailedError extends Error {
    constructor(
        public readonly failures: { uri: string; dagRunId: string; error: string }[],
        /** True when at least one failure is transient. */
        public readonly retryable: boolean,
        /** Malformed records of the event (index in `Records`, what is wrong). */
        public readonly invalid: InvalidRecord[] = [],
    ) {
        const lines = [
            ...invalid.map((r) => `malformed ${r.reason}`),
            ...failures.map((f) => `${f.uri} (run ${f.dagRunId}): ${f.error}`),
        ];
        const what = [
            invalid.length > 0 ? `${invalid.length} malformed record(s)` : "",
            failures.length > 0 ? `${failures.length} object(s) could not be triggered` : "",
        ]
            .filter(Boolean)
            .join(" and ");
        super(`${what}${retryable ? " (transient; retry)" : ""}:\n  - ${lines.join("\n  - ")}`);
        this.name = "TriggerFailedError";
    }
}

export interface TriggerDeps {
    config: TriggerConfig;
    /** Default: from `config.credentials`. */
    credentials?: CredentialSource;
    /** Default: JSON lines on stdout at `config.logLevel`. */
    logger?: Logger;
}

/** Minimal view of the Lambda context (the handler also runs outside Lambda). */
export interface InvocationContext {
    awsRequestId?: string;
}

export type TriggerHandler = (
    event: unknown,
    context?: InvocationContext,
) => Promise<TriggerSummary>;

export function createTriggerHandler(deps: TriggerDeps): TriggerHandler {
    const { config } = deps;
    const logger = deps.logger ?? createLogger({ level: config.logLevel });
    const credentials = deps.credentials ?? credentialSourceFromConfig(config.credentials);
    const client = new AirflowClient({
        baseUrl: config.airflowUrl,
        credentials,
        logger,
        timeoutMs: config.requestTimeoutMs,
    });

    return async (event, context) => {
        const log = logger.child(
            context?.awsRequestId === undefined ? {} : { request_id: context.awsRequestId },
        );
        const parsed = parseS3Event(event);
        const summary: TriggerSummary = { testEvent: false, runs: [], ignored: [] };
        if (parsed.kind === "test") {
            log.info("s3_test_event_ignored", { bucket: parsed.bucket });
            summary.testEvent = true;
            return summary;
        }
        for (const other of parsed.otherEvents) {
            const reason = `event ${other.eventName} is not an object creation`;
            log.info("object_ignored", { bucket: other.bucket, key: other.key, reason });
            summary.ignored.push({ key: other.key, reason });
        }
        const failures: { uri: string; dagRunId: string; error: string }[] = [];
        let retryable = false;
        for (const o of parsed.objects) {
            const routed = routeKey(o.key, config.routes, config.keySuffix);
            if ("reason" in routed) {
                const { reason } = routed;
                log.info("object_ignored", { bucket: o.bucket, key: o.key, reason });
                summary.ignored.push({ key: o.key, reason });
                continue;
            }
            const dagId = routed.route.dagId;
            const uri = objectUri(o, config.landingUriBase);
            const runId = dagRunId(o);
            const conf: Record<string, unknown> = { uri };
            if (o.versionId !== undefined) conf.version_id = o.versionId;
            const fields = { dag_id: dagId, dag_run_id: runId, uri, s3_event: o.eventName };
            try {
                const outcome = await client.triggerDagRun(dagId, runId, conf);
                summary.runs.push({ uri, dagId, dagRunId: runId, outcome });
                log.info(outcome === "created" ? "dag_run_created" : "dag_run_exists", fields);
            } catch (err) {
                const e = err instanceof Error ? err : new Error(String(err));
                const isRetryable = !(e instanceof AirflowError) || e.retryable;
                retryable ||= isRetryable;
                failures.push({ uri, dagRunId: runId, error: e.message });
                log.error("dag_run_failed", {
                    ...fields,
                    error: e.name,
                    message: e.message,
                    status: e instanceof AirflowError ? e.status : undefined,
                    retryable: isRetryable,
                });
            }
        }
        // Malformed records were skipped above; the invocation still fails, naming them, so
        // the retry and the on-failure destination see the event.
        for (const bad of parsed.invalid) {
            log.error("record_invalid", { record: bad.index, message: bad.reason });
        }
        if (failures.length > 0 || parsed.invalid.length > 0) {
            throw new TriggerFailedError(failures, retryable, parsed.invalid);
        }
        return summary;
    };
}
