// Types of bin/build.js for the TypeScript sources that call it.
export function sourceHash(): string;
export function build(): Promise<string>;
export function ensureBuilt(): Promise<boolean>;
export const DIST_DIR: string;
