import { ConfigError } from '../shm/config.ts';

// Bad input of any kind (flags, scenario files, repro files, trace input,
// output paths): the CLI prints its message as one line and exits 2.
export class UsageError extends Error {}

/**
 * A bug of percpu-stress the tool caught itself (the in-thread engine and
 * the threads engine disagree on a run): no verdict comes of it. The CLI
 * prints it as one line and exits 3.
 */
export class HarnessError extends Error {}

/** A user-given name, echoed safely: at most 40 characters, quoted and escaped (no control characters). */
export function quote(s: unknown): string {
  const str = String(s);
  return JSON.stringify(str.length > 40 ? `${str.slice(0, 40)}…` : str);
}

/** The message of an error that is the user's input's fault (exit 2), or null for one of ours. */
export function inputErrorOf(e: unknown): string | null {
  return e instanceof UsageError || e instanceof ConfigError ? e.message : null;
}

/**
 * A message as one line of stderr: control characters (a newline in a file
 * name) shown escaped, and the line ended.
 */
export function oneLine(s: string): string {
  return `${s.replace(/\n+$/, '').replace(/[\u0000-\u001f\u007f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`))}\n`;
}
