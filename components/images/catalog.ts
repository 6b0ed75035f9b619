/**
 * The container images the stack builds and pushes to Artifact Registry: one entry per folder
 * with a Dockerfile. Data only (no Pulumi resources): the stack turns each entry into a
 * `@pulumi/docker-build` Image and wires its digest into the Deployments and `pipeline-env`.
 *
 * Build contract (every image): the build context is the REPOSITORY ROOT (`BUILD_CONTEXT`), the
 * Dockerfile is `-f <dockerfile>`, and the context is filtered by `<dockerfile>.dockerignore`
 * (BuildKit reads the ignore file next to the Dockerfile in preference to the context's
 * `.dockerignore`). Each ignore file is an allow-list, so only `contentPaths` are sent.
 *
 * `testing/dockerfiles.test.ts` checks this table against the repository: the set of
 * Dockerfiles, the paths each context sends, the build args each Dockerfile declares, and the
 * rules every Dockerfile follows (pinned bases, numeric non-root user, no build tools left).
 */

/** Build context of every image, relative to the repository root. */
export const BUILD_CONTEXT = ".";

export interface ImageBuild {
    /** Image name in the registry (`<registry>/<name>`); equals its key in `IMAGE_BUILDS`. */
    readonly name: string;
    /** Repository folder whose code the image carries. */
    readonly folder: string;
    /** Dockerfile, relative to the repository root (the build context). */
    readonly dockerfile: string;
    /** Ignore file BuildKit applies to the context for this Dockerfile: `<dockerfile>.dockerignore`. */
    readonly dockerignore: string;
    /**
     * Repository paths (files, folders ending in `/`, or `*` globs) whose content the build
     * context sends, i.e. what a change must touch to change the image. Caches (`__pycache__`,
     * `*.pyc`) are never sent.
     */
    readonly contentPaths: readonly string[];
    /** Build args the stack passes as they are; empty when the Dockerfile defaults suffice. */
    readonly buildArgs: Readonly<Record<string, string>>;
    /**
     * Build args that have no usable default in the Dockerfile: the build fails (closed) unless
     * the stack supplies them.
     */
    readonly requiredBuildArgs: readonly string[];
    /** `pipeline-env` key that carries this image's reference to the task pods, if any. */
    readonly pipelineEnvKey: "IMAGE_SPARK" | "IMAGE_DBT" | "IMAGE_ML" | null;
    /** What runs the image. */
    readonly usedBy: string;
}

export const IMAGE_BUILDS = {
    airflow: {
        name: "airflow",
        folder: "dags",
        dockerfile: "dags/Dockerfile",
        dockerignore: "dags/Dockerfile.dockerignore",
        contentPaths: [
            "dags/requirements.txt",
            "dags/constraints.txt",
            "dags/*.py",
            "dags/.airflowignore",
            "dags/datasets.yaml",
            "dags/common/",
            "dags/templates/",
        ],
        buildArgs: {},
        requiredBuildArgs: [],
        pipelineEnvKey: null,
        usedBy: "the Airflow Deployment (scheduler, api-server, dag-processor, triggerer)",
    },
    spark: {
        name: "spark",
        folder: "spark",
        dockerfile: "spark/Dockerfile",
        dockerignore: "spark/Dockerfile.dockerignore",
        contentPaths: [
            "spark/requirements.txt",
            "spark/conf/",
            "spark/src/",
            "libs/python/taxi_common/",
        ],
        buildArgs: {},
        // The connector jars are verified by sha256; no published digest could be pinned yet
        // (see spark/Dockerfile), so the stack must pass both.
        requiredBuildArgs: ["GCS_CONNECTOR_SHA256", "BIGQUERY_CONNECTOR_SHA256"],
        pipelineEnvKey: "IMAGE_SPARK",
        usedBy: "SparkApplications (driver and executors) and the Spark-image Jobs of the DAGs",
    },
    dbt: {
        name: "dbt",
        folder: "dbt",
        dockerfile: "dbt/Dockerfile",
        dockerignore: "dbt/Dockerfile.dockerignore",
        contentPaths: [
            "dbt/requirements.txt",
            "dbt/requirements-cloud.txt",
            "dbt/constraints-image.txt",
            "dbt/dbt_project.yml",
            "dbt/profiles.yml",
            "dbt/packages.cloud.yml",
            "dbt/macros/",
            "dbt/models/",
            "dbt/seeds/",
            "dbt/data-tests/",
            "dbt/src/",
            "libs/python/taxi_common/",
        ],
        buildArgs: {},
        requiredBuildArgs: [],
        pipelineEnvKey: "IMAGE_DBT",
        usedBy: "the dbt build and docs-publish Jobs of the DAGs",
    },
    ml: {
        name: "ml",
        folder: "ml",
        dockerfile: "ml/Dockerfile",
        dockerignore: "ml/Dockerfile.dockerignore",
        contentPaths: [
            "ml/requirements.txt",
            "ml/constraints.txt",
            "ml/src/",
            "libs/python/taxi_common/",
        ],
        buildArgs: {},
        requiredBuildArgs: [],
        pipelineEnvKey: "IMAGE_ML",
        usedBy: "the train/retrain Jobs, the fare-model service and the MLflow tracking server",
    },
    "docs-app": {
        name: "docs-app",
        folder: "docs-app",
        dockerfile: "docs-app/Dockerfile",
        dockerignore: "docs-app/Dockerfile.dockerignore",
        contentPaths: [
            "package.json",
            "package-lock.json",
            "tsconfig.json",
            "docs-app/package.json",
            "docs-app/src/",
            "functions/airflow-trigger/package.json",
        ],
        buildArgs: {},
        requiredBuildArgs: [],
        pipelineEnvKey: null,
        usedBy: "the docs-site Deployment",
    },
} as const satisfies Record<string, ImageBuild>;

export type ImageName = keyof typeof IMAGE_BUILDS;

/** The entries in a stable order (the order of `IMAGE_BUILDS`). */
export function imageBuilds(): ImageBuild[] {
    return Object.values(IMAGE_BUILDS);
}
