/**
 * The S3 → Airflow trigger Lambda: a supported Node.js runtime (docs/architecture.md#versions: Node.js 22+)
 * and an on-failure destination for asynchronous invocations (S3 events are asynchronous: an
 * event that fails after its retries must land somewhere, not vanish).
 */
import * as aws from "@pulumi/aws";
import { type PolicyResource, validateResourceOfType } from "@pulumi/policy";
import { type PlatformPolicy, label, obj, refersTo, str } from "./common";

/** Oldest Node.js major the platform's functions may run on. */
export const MIN_LAMBDA_NODE_MAJOR = 22;

export const lambdaNodeRuntime: PlatformPolicy = {
    name: "lambda-node-runtime",
    description: `Every Lambda function runs on a managed Node.js runtime, nodejs${MIN_LAMBDA_NODE_MAJOR}.x or newer.`,
    enforcementLevel: "mandatory",
    remediationSteps:
        `Set runtime to "nodejs${MIN_LAMBDA_NODE_MAJOR}.x" or a newer nodejs<major>.x that AWS ` +
        "supports (components/aws-trigger), rebuild the bundle for that Node version.",
    validateResource: validateResourceOfType(aws.lambda.Function, (fn, args, report) => {
        const runtime = str(fn.runtime);
        const major = /^nodejs(\d+)\.x$/.exec(runtime ?? "")?.[1];
        if (!runtime) {
            report(
                `${label(args)} has no runtime (a container-image function's runtime cannot be ` +
                    `checked): package it as a zip on nodejs${MIN_LAMBDA_NODE_MAJOR}.x or newer.`,
            );
        } else if (major === undefined) {
            report(
                `${label(args)} runs on "${runtime}", not Node.js: the platform's functions are ` +
                    `TypeScript on nodejs${MIN_LAMBDA_NODE_MAJOR}.x or newer.`,
            );
        } else if (Number(major) < MIN_LAMBDA_NODE_MAJOR) {
            report(
                `${label(args)} runs on "${runtime}", older than nodejs${MIN_LAMBDA_NODE_MAJOR}.x ` +
                    "(deprecated or soon to be): move to a supported nodejs<major>.x.",
            );
        }
    }),
};

/** The on-failure destination ARN of an event-invoke config, if any. */
function onFailureDestination(props: Record<string, unknown>): string | undefined {
    return str(obj(obj(props.destinationConfig)?.onFailure)?.destination);
}

/** True when an event-invoke config's functionName names `fn` (name, ARN, or ARN with qualifier). */
function configures(config: PolicyResource, fn: PolicyResource): boolean {
    const name = str(fn.props.name);
    const arn = str(fn.props.arn);
    if (refersTo(config, "functionName", fn, [name, arn, str(fn.props.id)])) return true;
    const target = str(config.props.functionName);
    if (!target || !name) return false;
    return (
        target.endsWith(`:function:${name}`) ||
        target.includes(`:function:${name}:`) ||
        target.startsWith(`${name}:`)
    );
}

export const lambdaOnFailureDestination: PlatformPolicy = {
    name: "lambda-on-failure-destination",
    description:
        "Every Lambda function has an event-invoke config whose asynchronous invocations go to " +
        "an on-failure destination after their retries.",
    enforcementLevel: "mandatory",
    remediationSteps:
        "Add an aws.lambda.FunctionEventInvokeConfig for the function with " +
        "destinationConfig.onFailure.destination set to a queue or topic ARN (and an alarm on " +
        "it), plus maximumRetryAttempts / maximumEventAgeInSeconds.",
    validateResource: validateResourceOfType(
        aws.lambda.FunctionEventInvokeConfig,
        (config, args, report) => {
            if (!str(config.destinationConfig?.onFailure?.destination)) {
                report(
                    `${label(args)} has no destinationConfig.onFailure.destination: set it to ` +
                        "the ARN of the failure queue so failed events are kept.",
                );
            }
        },
    ),
    validateStack: (args, report) => {
        const configs = args.resources.filter((r) =>
            r.isType(aws.lambda.FunctionEventInvokeConfig),
        );
        for (const fn of args.resources.filter((r) => r.isType(aws.lambda.Function))) {
            const mine = configs.filter((c) => configures(c, fn));
            if (!mine.some((c) => onFailureDestination(c.props))) {
                report(
                    `${label(fn)} has no event-invoke config with an on-failure destination: add ` +
                        "an aws.lambda.FunctionEventInvokeConfig for it with " +
                        "destinationConfig.onFailure.destination.",
                    fn.urn,
                );
            }
        }
    },
};

export const lambdaPolicies: PlatformPolicy[] = [lambdaNodeRuntime, lambdaOnFailureDestination];
