// A variant of a kernel generation's port: a historical bug's pre-fix
// functions (history/) or a later kernel's fix (later/), each in a file of
// its own, booted in place of the port's functions through the
// generation's table of function pointers (`O`: src/percpu/<kernel>/core.ts
// PcpuOps). Each generation lists its variants in its variants.ts.

import type { ViolationKind } from '../report/violation.ts';

export interface Variant<O> {
  /** What --inject (a bug) or a fix-verification replay (a fix) calls it. */
  name: string;
  /** The kernel commit that fixed the bug or that is the fix ('' for a classic bug with no one commit). */
  commit: string;
  /** The commit's subject line, or what the classic bug is. */
  subject: string;
  summary: string;
  /** The functions it replaces. */
  ops: Partial<O>;
  /** History: the scenario that exposes it best, and what must catch it (any of these kinds). */
  scenario?: string;
  expect?: ViolationKind[];
  /** Later: the known issue this fix removes. */
  fixes?: string;
}

/** A historical bug: where it shows best and what must catch it. */
export interface HistoricalBug<O> extends Variant<O> {
  scenario: string;
  expect: ViolationKind[];
}

/** A later kernel's fix of a known issue. */
export interface LaterFix<O> extends Variant<O> {
  fixes: string;
  /**
   * Fixes this one makes unnecessary: it replaces their functions with its
   * own, which fix their issues too. Booted together, it alone is booted.
   */
  supersedes?: string[];
  /** The backend whose functions it replaces (percpu-km's fix is nothing on a percpu-vm machine). */
  backend?: 'vm' | 'km';
}
