// Two results of the same run, compared where a run is a pure function of
// its inputs: the outcome, every counting violation with its step and CPU,
// the schedule, the step and switch counts, the final state, and -- when
// both recorded them -- every scheduling decision and timeline event. What
// the in-thread engine's confirmation on threads and the engines'
// equivalence test rest on.

import type { RunResult } from './result.ts';

const EV_NAMES = ['', 'enter', 'leave', 'acquire', 'release', 'wait', 'switch', 'report', 'decision'];

/** The first difference between two results of one run, in words; null when they agree. */
export function runDifference(a: RunResult, b: RunResult, names: readonly [string, string] = ['in-thread', 'threads']): string | null {
  const field = (what: string, x: unknown, y: unknown): string | null =>
    JSON.stringify(x) === JSON.stringify(y) ? null : `${what}: ${names[0]} ${JSON.stringify(x)}, ${names[1]} ${JSON.stringify(y)}`;
  if (a.events && b.events) {
    const n = Math.min(a.events.length, b.events.length);
    for (let i = 0; i < n; i += 4) {
      if (a.events[i] !== b.events[i] || a.events[i + 1] !== b.events[i + 1] || a.events[i + 2] !== b.events[i + 2] || a.events[i + 3] !== b.events[i + 3]) {
        const ev = (e: number[]): string => `step ${e[i]}, entity ${e[i + 1]}: ${EV_NAMES[e[i + 2]!] ?? e[i + 2]} ${e[i + 3]}`;
        return `first diverging event (#${i / 4}): ${names[0]} ${ev(a.events)}; ${names[1]} ${ev(b.events)}`;
      }
    }
    if (a.events.length !== b.events.length) return `events: ${names[0]} recorded ${a.events.length / 4}, ${names[1]} ${b.events.length / 4} (the same up to the shorter)`;
  }
  const violations = (r: RunResult): string[] => r.violations.map((v) => `${v.kind} at step ${v.step} on cpu ${v.cpu}: ${v.title}${v.known ? ` (known: ${v.known})` : ''}${v.suppressed ? ' (suppressed)' : ''}`);
  return field('status', a.status, b.status) ?? field('violations', violations(a), violations(b)) ?? field('schedule', a.schedule, b.schedule) ??
    field('steps', a.steps, b.steps) ?? field('switches', a.switches, b.switches) ?? field('final state hash', a.stateHash, b.stateHash) ??
    field('operations', a.ops, b.ops) ?? field('kernel log', a.log, b.log);
}
