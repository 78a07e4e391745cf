// Shrinking a failing controlled run to a reproducer a person can read:
// first the programs (whole CPUs, then delta debugging over operations),
// re-running under the same strategy and seed; then the schedule (a shorter
// prefix, then fewer context switches), replaying. A candidate is kept only
// if the same finding comes back: the same signature (kind, lock classes,
// function), counting -- a candidate whose violation is a known issue or
// suppressed is not the bug being shrunk. Shrinking has its own budget.

import type { RunOptions, RunResult } from '../run/main/runner.ts';
import type { Engine } from '../run/main/engine.ts';
import { findingWith } from './signature.ts';
import { OP_CPU_WORD, OP_WORDS, checkProgram, type Op } from '../../scenarios/lib/program.ts';
import { Mode } from '../sched/strategy.ts';
import { decodeSchedule, switchesOf, type Schedule } from '../sched/schedule.ts';

export interface ShrinkInput {
  runner: Engine;
  base: RunOptions; // scenario, seed, strategy, depth, inject, backend, expectedSteps
  programs: Int32Array[];
  /** The finding's signature (src/explore/signature.ts). */
  target: string;
  budgetMs: number;
  /** Verify known issues in candidates (needed when the finding's own mechanism fired but its fix did not remove it). */
  verifyKnown?: boolean;
}

export interface ShrinkOutput {
  /** The seed the minimal run needs (a dropped CPU may have taken the original one's interleaving). */
  seed: number;
  programs: Int32Array[];
  schedule: Schedule;
  result: RunResult;
  runs: number;
}

function hit(r: RunResult, target: string, strictKnown = false): boolean {
  return findingWith(r, target, strictKnown) !== undefined;
}

/**
 * Drop CPU j: every op that names a CPU (OP_CPU_WORD: interrupt frees, phys
 * lookups, anything added later) is renumbered, the CPUs above j moving down,
 * and an op aimed at j itself turns to its own CPU (a free becomes local, a
 * lookup reads its own copy).
 */
export function dropCpu(programs: Int32Array[], j: number): Int32Array[] {
  const out: Int32Array[] = [];
  programs.forEach((p, i) => {
    if (i === j) return;
    const self = out.length;
    const q = p.slice();
    for (let o = 0; o < q.length; o += OP_WORDS) {
      const cw = OP_CPU_WORD[q[o] as Op];
      if (cw === undefined) continue;
      const t = q[o + cw]!;
      q[o + cw] = t === j ? self : t > j ? t - 1 : t;
    }
    out.push(q);
  });
  return out;
}

/** Would replay accept these programs and this schedule (the checks a repro's programs and schedule go through)? */
export function replayable(programs: Int32Array[], schedule: Schedule = []): boolean {
  try {
    programs.forEach((p, i) => checkProgram(p, programs.length, `programs[${i}]`));
    for (let i = 0; i < schedule.length; i += 2) if (schedule[i]! >> 1 > programs.length) return false;
    return true;
  } catch {
    return false;
  }
}

/** A schedule without entity j's decisions; the entities above it move down by one. */
export function dropEntity(s: Schedule, j: number): Schedule {
  const out: number[] = [];
  for (let p = 0; p < s.length; p += 2) {
    const e = s[p]! >> 1;
    if (e === j) continue;
    const a = ((e > j ? e - 1 : e) << 1) | (s[p]! & 1);
    if (out.length && out[out.length - 2] === a) out[out.length - 1]! += s[p + 1]!;
    else out.push(a, s[p + 1]!);
  }
  return out;
}

function withoutOps(p: Int32Array, from: number, to: number): Int32Array {
  const out = new Int32Array(p.length - (to - from) * OP_WORDS);
  out.set(p.subarray(0, from * OP_WORDS));
  out.set(p.subarray(to * OP_WORDS), from * OP_WORDS);
  return out;
}

export async function shrink(i: ShrinkInput): Promise<ShrinkOutput> {
  const deadline = Date.now() + i.budgetMs;
  let runs = 0;
  const timeLeft = (): boolean => Date.now() < deadline;
  let seed = i.base.seed;
  const tryPrograms = async (programs: Int32Array[], s = seed): Promise<RunResult | null> => {
    // a candidate replay would refuse is never run (nor kept)
    if (!replayable(programs)) return null;
    runs++;
    const r = await i.runner.run({ ...i.base, verifyKnown: i.verifyKnown ?? false, seed: s, cpus: programs.length, programs });
    return hit(r, i.target, i.base.strictKnown) ? r : null;
  };
  let programs = i.programs;
  let last: RunResult | null = await tryPrograms(programs);
  if (!last) throw new Error(`the failure (${i.target}) did not reproduce under the same strategy and seed`);

  // 1. whole CPUs; an idle CPU's absence renumbers the others, so a few
  // other seeds get a chance to find the interleaving again
  for (let j = programs.length - 1; j >= 0 && programs.length > 1 && timeLeft(); j--) {
    const cand = dropCpu(programs, j);
    const seeds = programs[j]!.length === 0 ? [seed, seed + 1, seed + 2, seed + 3, seed + 4] : [seed];
    for (const s of seeds) {
      const r = await tryPrograms(cand, s);
      if (r) {
        programs = cand;
        last = r;
        seed = s;
        break;
      }
    }
  }
  // 2. delta debugging over each CPU's operations: remove chunks, halving their size
  for (let progress = true; progress && timeLeft(); ) {
    progress = false;
    for (let c = 0; c < programs.length && timeLeft(); c++) {
      for (let chunk = Math.max(1, Math.ceil(programs[c]!.length / OP_WORDS / 2)); chunk >= 1 && timeLeft(); chunk = chunk === 1 ? 0 : Math.ceil(chunk / 2)) {
        for (let from = 0; from < programs[c]!.length / OP_WORDS && timeLeft(); ) {
          const n = programs[c]!.length / OP_WORDS;
          const cand = programs.slice();
          cand[c] = withoutOps(programs[c]!, from, Math.min(n, from + chunk));
          const r = await tryPrograms(cand);
          if (r) {
            programs = cand;
            last = r;
            progress = true;
          } else {
            from += chunk;
          }
        }
      }
    }
  }

  // 3. the schedule: replay shorter and calmer versions of what the last failing run did
  let schedule = decodeSchedule(last.schedule ?? '');
  const tryReplay = async (s: Schedule): Promise<RunResult | null> => {
    if (!replayable(programs, s)) return null;
    runs++;
    const r = await i.runner.run({ ...i.base, verifyKnown: i.verifyKnown ?? false, seed, cpus: programs.length, programs, strategy: Mode.replay, schedule: s });
    return hit(r, i.target, i.base.strictKnown) ? r : null;
  };
  let replayed = await tryReplay(schedule);
  if (replayed) {
    last = replayed;
    // shortest prefix that still fails (past it: no preemption)
    let lo = 0;
    let hi = schedule.length / 2;
    while (lo < hi && timeLeft()) {
      const mid = Math.floor((lo + hi) / 2);
      const r = await tryReplay(schedule.slice(0, mid * 2));
      if (r) {
        hi = mid;
        last = r;
      } else {
        lo = mid + 1;
      }
    }
    if (last.schedule !== null) schedule = decodeSchedule(last.schedule);
    // fewer context switches: give a run's steps to the run before it
    for (let p = schedule.length / 2 - 1; p >= 1 && timeLeft(); p--) {
      if (p * 2 >= schedule.length) continue;
      const cand = schedule.slice();
      cand[(p - 1) * 2 + 1] = cand[(p - 1) * 2 + 1]! + cand[p * 2 + 1]!;
      cand.splice(p * 2, 2);
      const r = await tryReplay(cand);
      if (r && r.schedule !== null) {
        const rec = decodeSchedule(r.schedule);
        if (switchesOf(rec) <= switchesOf(schedule)) {
          schedule = rec;
          last = r;
        }
      }
    }
  }
  // 4. CPUs left with nothing to do: drop them from the programs and their
  // decisions from the schedule, renumbering the entities above them
  for (let j = programs.length - 1; j >= 0 && programs.length > 1 && timeLeft(); j--) {
    if (programs[j]!.length !== 0) continue;
    const candPrograms = dropCpu(programs, j);
    const candSchedule = dropEntity(schedule, j);
    if (!replayable(candPrograms, candSchedule)) continue;
    runs++;
    const r = await i.runner.run({ ...i.base, verifyKnown: i.verifyKnown ?? false, seed, cpus: candPrograms.length, programs: candPrograms, strategy: Mode.replay, schedule: candSchedule });
    if (hit(r, i.target, i.base.strictKnown) && r.schedule !== null) {
      programs = candPrograms;
      schedule = decodeSchedule(r.schedule);
      last = r;
    }
  }
  // the result that goes into the repro comes from replaying the final schedule
  replayed = await tryReplay(schedule);
  if (replayed) last = replayed;
  else schedule = decodeSchedule(last.schedule ?? '');
  return { seed, programs, schedule, result: last, runs };
}
