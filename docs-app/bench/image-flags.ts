/**
 * The Node flags the docs-app image runs the app with: the options of the Dockerfile's final
 * `CMD ["node", <flags>, "/app/main.js"]`. The benchmark (nginx.ts) runs the app with them, so
 * it measures what ships; testing/dockerfiles.test.ts checks what they do to V8's heap.
 */
export function imageNodeFlags(dockerfile: string): string[] {
    const cmd = [...dockerfile.matchAll(/^CMD\s+(\[.*\])\s*$/gm)].pop()?.[1];
    const argv: unknown = cmd === undefined ? undefined : JSON.parse(cmd);
    if (!Array.isArray(argv) || argv[0] !== "node" || argv.length < 2) {
        throw new Error('docs-app/Dockerfile: expected a final CMD ["node", <flags>, <script>]');
    }
    return (argv as string[]).slice(1, -1);
}
