import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { dagRunId, decodeS3Key, encodeS3Key, objectCreatedEvent, parseS3Event } from "./events";

describe("functions/airflow-trigger: S3 events", () => {
    it("decodes keys as S3 encodes them in notifications", () => {
        assert.equal(
            decodeS3Key("trip+data/yellow_tripdata_2024-01.parquet"),
            "trip data/yellow_tripdata_2024-01.parquet",
        );
        assert.equal(decodeS3Key("a%2Bb%20c%C3%A9.parquet"), "a+b cé.parquet");
        assert.throws(() => decodeS3Key("bad%E0%A4%A.parquet"), /not valid URL encoding/);
        for (const key of ["trip data/x.parquet", "a+b/c d&e=é.parquet"]) {
            assert.equal(decodeS3Key(encodeS3Key(key)), key);
        }
    });

    it("derives a readable, deterministic run id in Airflow's run id alphabet", () => {
        const o = {
            bucket: "acme.landing-1",
            key: "trip data/y.parquet",
            versionId: "v1",
            eTag: "e",
        };
        const expected = createHash("sha256")
            .update("acme.landing-1/trip data/y.parquet/v1")
            .digest("hex")
            .slice(0, 32);
        assert.equal(dagRunId(o), `s3__acme.landing-1__${expected}`);
        assert.equal(dagRunId(o), dagRunId({ ...o }));
        assert.notEqual(dagRunId(o), dagRunId({ ...o, versionId: "v2" }));
        assert.notEqual(
            dagRunId({ ...o, versionId: undefined }),
            dagRunId({ ...o, versionId: undefined, eTag: "f" }),
        );
        assert.match(dagRunId(o), /^[A-Za-z0-9_.~:+-]+$/);
        assert.ok(dagRunId({ ...o, bucket: "b".repeat(63) }).length < 250);
        assert.throws(
            () => dagRunId({ ...o, versionId: undefined, eTag: undefined }),
            /need a versionId or an eTag/,
        );
    });

    it("strips ETag quotes and keeps the version id", () => {
        const e = objectCreatedEvent([
            { bucket: "b", key: "k.parquet", eTag: '"abc"', versionId: "v9", size: 5 },
        ]);
        const parsed = parseS3Event(e);
        assert.equal(parsed.kind, "records");
        if (parsed.kind === "records") {
            assert.equal(parsed.objects[0]?.eTag, "abc");
            assert.equal(parsed.objects[0]?.versionId, "v9");
            assert.equal(parsed.objects[0]?.size, 5);
        }
    });

    it("reports malformed records by index and still parses the others", () => {
        const good = objectCreatedEvent([{ bucket: "b", key: "k.parquet", eTag: "e1" }])
            .Records[0]!;
        const parsed = parseS3Event({
            Records: [
                { s3: {} },
                good,
                {
                    eventName: "ObjectCreated:Put",
                    s3: { bucket: { name: "b" }, object: { key: "%E0%A4%A", eTag: "x" } },
                },
                {
                    eventName: "ObjectCreated:Put",
                    s3: { bucket: { name: "b" }, object: { key: "n.parquet" } },
                },
            ],
        });
        assert.equal(parsed.kind, "records");
        if (parsed.kind !== "records") return;
        assert.deepEqual(
            parsed.objects.map((o) => o.key),
            ["k.parquet"],
        );
        assert.deepEqual(
            parsed.invalid.map((r) => r.index),
            [0, 2, 3],
        );
        assert.match(parsed.invalid[0]!.reason, /^record 0 lacks eventName/);
        assert.match(
            parsed.invalid[1]!.reason,
            /^record 2 \(bucket b\): object key "%E0%A4%A" is not valid URL encoding/,
        );
        assert.match(
            parsed.invalid[2]!.reason,
            /^record 3 \(s3:\/\/b\/n\.parquet\) has neither versionId nor eTag/,
        );
    });
});
