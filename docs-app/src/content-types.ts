/**
 * Content types by file extension (the same for every backend, so a file served from GCS and
 * from a local folder gets the same header), and which of them are worth gzip-compressing.
 */
const TYPES: Record<string, string> = {
    html: "text/html; charset=utf-8",
    htm: "text/html; charset=utf-8",
    css: "text/css; charset=utf-8",
    js: "text/javascript; charset=utf-8",
    mjs: "text/javascript; charset=utf-8",
    json: "application/json; charset=utf-8",
    map: "application/json; charset=utf-8",
    txt: "text/plain; charset=utf-8",
    md: "text/markdown; charset=utf-8",
    csv: "text/csv; charset=utf-8",
    xml: "application/xml; charset=utf-8",
    svg: "image/svg+xml",
    png: "image/png",
    jpg: "image/jpeg",
    jpeg: "image/jpeg",
    gif: "image/gif",
    webp: "image/webp",
    avif: "image/avif",
    ico: "image/vnd.microsoft.icon",
    woff: "font/woff",
    woff2: "font/woff2",
    ttf: "font/ttf",
    otf: "font/otf",
    eot: "application/vnd.ms-fontobject",
    pdf: "application/pdf",
    wasm: "application/wasm",
    parquet: "application/vnd.apache.parquet",
    gz: "application/gzip",
    zip: "application/zip",
};

export const OCTET_STREAM = "application/octet-stream";

/** Content type for `key`: by extension, else the stored type, else octet-stream. */
export function contentTypeFor(key: string, stored?: string): string {
    const base = key.slice(key.lastIndexOf("/") + 1);
    const dot = base.lastIndexOf(".");
    const ext = dot > 0 ? base.slice(dot + 1).toLowerCase() : "";
    const known = TYPES[ext];
    if (known !== undefined) return known;
    // A stored type is only trusted when it is a plain media type (no header injection).
    if (stored !== undefined && /^[\w.+-]+\/[\w.+-]+(?:; ?charset=[\w-]+)?$/.test(stored)) {
        return stored;
    }
    return OCTET_STREAM;
}

/** Whether a response of this type should be gzip-compressed when the client accepts it. */
export function isCompressible(contentType: string): boolean {
    const type = contentType.split(";")[0]!.trim();
    return (
        type.startsWith("text/") ||
        type === "application/json" ||
        type === "application/xml" ||
        type === "image/svg+xml" ||
        type === "application/wasm" ||
        type === "image/vnd.microsoft.icon"
    );
}

/** Whether the `Accept-Encoding` header value allows gzip (q > 0, explicitly or via `*`). */
export function acceptsGzip(header: string | undefined): boolean {
    if (header === undefined) return false;
    let gzip: number | undefined;
    let star: number | undefined;
    for (const item of header.split(",")) {
        const [name, ...params] = item.trim().toLowerCase().split(";");
        let q = 1;
        for (const p of params) {
            const m = /^\s*q=([01](?:\.\d{0,3})?)\s*$/.exec(p);
            if (m) q = Number(m[1]);
        }
        if (name === "gzip" || name === "x-gzip") gzip = q;
        else if (name === "*") star = q;
    }
    return (gzip ?? star ?? 0) > 0;
}
