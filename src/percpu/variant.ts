// A variant of the 2.6.35 port: a historical bug's pre-fix functions
// (history/) or a later kernel's fix (later/), each in a file of its own,
// booted in place of the 2.6.35 functions through the table of
// PcpuOps (src/percpu/2.6.35/core.ts). The list of variants is src/percpu/2.6.35/variants.ts.

import type { ViolationKind } from '../report/violation.ts';
import type { PcpuOps } from './2.6.35/core.ts';

export interface Variant {
  /** What --inject (a bug) or a fix-verification replay (a fix) calls it. */
  name: string;
  /** The kernel commit that fixed the bug or that is the fix ('' for a classic bug with no one commit). */
  commit: string;
  /** The commit's subject line, or what the classic bug is. */
  subject: string;
  summary: string;
  /** The functions it replaces. */
  ops: Partial<PcpuOps>;
  /** History: the scenario that exposes it best, and what must catch it (any of these kinds). */
  scenario?: string;
  expect?: ViolationKind[];
  /** Later: the known issue of 2.6.35 this fix removes. */
  fixes?: string;
}

/** A historical bug: where it shows best and what must catch it. */
export interface HistoricalBug extends Variant {
  scenario: string;
  expect: ViolationKind[];
}

/** A later kernel's fix of a known issue. */
export interface LaterFix extends Variant {
  fixes: string;
}
