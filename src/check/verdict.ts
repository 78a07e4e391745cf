// Turning checker findings into violations: one wording for the invariant
// checker's failures and the leak check's problems, wherever they are found.

import type { Violation } from '../report/violation.ts';
import type { InvariantFailure } from './invariants.ts';

/** " [name] message" per failure, one line each. */
export function failureLines(f: InvariantFailure[]): string {
  return f.map((x) => ` [${x.invariant}] ${x.message}\n`).join('');
}

/** `when` qualifies the moment, e.g. " at quiescence". */
export function invariantViolation(f: InvariantFailure[], cpu: number, step: number, when = ''): Violation {
  const title = `percpu: invariant violated${when}: ${f[0]!.invariant}`;
  return { kind: 'invariant', cpu, step, title, text: `${title}\n${failureLines(f)}`, held: [], stack: [], fatal: true, details: { invariant: f[0]!.invariant } };
}

/** `how` says what preceded the check, e.g. "every CPU freed everything". */
export function leakViolation(leaks: string[], cpu: number, step: number, how = ''): Violation {
  const title = `percpu: leak at quiescence: ${leaks[0]}`;
  const head = `percpu: leak at quiescence${how ? ` (${how})` : ''}`;
  return { kind: 'leak', cpu, step, title, text: `${head}\n${leaks.map((l) => ` ${l}\n`).join('')}`, held: [], stack: [], fatal: true };
}
