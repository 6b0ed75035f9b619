/**
 * A loopback server speaking Secrets Manager's JSON protocol for `GetSecretValue` (no signature
 * check): the credential-source unit tests and the bundle test point an SDK client at it.
 */
import * as http from "node:http";

/** A loopback server speaking Secrets Manager's JSON protocol for GetSecretValue. */
export function fakeSecretsManager(
    state: { value: string | undefined; calls: string[] },
    secretId: string,
): http.Server {
    return http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
            const target = String(req.headers["x-amz-target"]);
            const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { SecretId: string };
            state.calls.push(`${target} ${body.SecretId}`);
            res.setHeader("content-type", "application/x-amz-json-1.1");
            if (
                target !== "secretsmanager.GetSecretValue" ||
                body.SecretId !== secretId ||
                state.value === undefined
            ) {
                res.statusCode = 400;
                res.setHeader("x-amzn-errortype", "ResourceNotFoundException");
                res.end(
                    JSON.stringify({
                        __type: "ResourceNotFoundException",
                        message: "Secrets Manager can't find the specified secret value.",
                    }),
                );
                return;
            }
            res.end(
                JSON.stringify({
                    ARN: secretId,
                    Name: "airflow-api",
                    SecretString: state.value,
                    VersionId: "1",
                }),
            );
        });
    });
}
