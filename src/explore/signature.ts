// What makes two findings the same finding: the kind of violation (with the
// check, invariant or field it is about), the lock classes held when it was
// reported, and the function it was reported in. A deadlock is named by the
// locks waited for, not by whichever CPU noticed. --keep-going groups
// findings by it, shrinking keeps it, merge combines by it.

import { counts, type Violation } from '../report/violation.ts';
import type { RunResult } from '../report/result.ts';

/**
 * "kind[:what] [locks] function", e.g. "lockdep-circular [pcpu_lock]
 * pcpu_reclaim", "spec:first-fit [pcpu_alloc_mutex,pcpu_lock] pcpu_alloc",
 * "deadlock [pcpu_alloc_mutex,pcpu_lock] wait-for cycle"; never empty parts.
 */
export function signatureOf(v: Violation): string {
  const d = (v.details ?? {}) as { function?: unknown; check?: unknown; invariant?: unknown; field?: unknown; waitLocks?: unknown; cycle?: unknown };
  if (v.kind === 'deadlock' && Array.isArray(d.waitLocks)) return `deadlock [${d.waitLocks.join(',') || 'no locks'}] ${d.cycle ? 'wait-for cycle' : 'waits'}`;
  const what = [d.check, d.invariant, d.field].find((x) => typeof x === 'string');
  // the class name only: "(pcpu_lock){-.+.}" -> "pcpu_lock" (the usage bits vary with the run)
  const locks = [...new Set(v.held.map((h) => h.lock.replace(/\{[^}]*\}$/, '').replace(/^\((.*)\)$/, '$1')))].sort().join(',');
  const fn = v.stack[0] ?? (typeof d.function === 'string' ? d.function : v.cpu < 0 ? 'quiescence' : 'cpu_program');
  return `${v.kind}${what ? `:${what}` : ''} [${locks || 'no locks'}] ${fn}`;
}

/** The finding of a run with this signature that counts (not suppressed; not known, unless --strict-known makes known issues count), if any. */
export function findingWith(r: RunResult, signature: string, strictKnown = false): Violation | undefined {
  return r.violations.find((v) => (counts(v) || (strictKnown && !v.suppressed)) && signatureOf(v) === signature);
}
