/**
 * Argument validation shared by every component: problems are collected and thrown together,
 * before any child resource is created, naming the component and each bad argument.
 */
export class ComponentArgsError extends Error {
    constructor(component: string, problems: string[]) {
        super(`${component}: invalid arguments:\n  - ${problems.join("\n  - ")}`);
        this.name = "ComponentArgsError";
    }
}

/** Throw a ComponentArgsError when `problems` is not empty. */
export function assertArgs(component: string, problems: (string | false | undefined)[]): void {
    const real = problems.filter((p): p is string => typeof p === "string");
    if (real.length > 0) throw new ComponentArgsError(component, real);
}
