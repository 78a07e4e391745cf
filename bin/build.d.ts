// Types of bin/build.js for the TypeScript sources that call it.
import type { SuspendingForm } from './suspend.js';

export function sourceHash(): string;
export function build(): Promise<string>;
export function ensureBuilt(): Promise<boolean>;
export const DIST_DIR: string;
export const SUSPENDING_DIR: string;
/** The in-thread engine's bundle, built but not written (tests: `forget` leaves the calls at those "file:line" places unconverted). */
export function buildSuspending(o?: { outdir?: string; forget?: string[]; name?: string }): Promise<{ outputs: { path: string; contents: Uint8Array }[]; form: SuspendingForm }>;
