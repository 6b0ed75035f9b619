/** The images component's public surface: the image builds and the catalog of what is built. */
export * from "./catalog";
export {
    PlatformImageBuilds,
    byDigest,
    mirrorName,
    type PlatformImageBuildsArgs,
    type UpstreamName,
} from "./images";
