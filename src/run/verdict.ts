// The end of a run, whichever engine played it: what each entity reported
// (its counters, its violations, whether it oopsed or was stopped), the
// quiescence checks on the machine's final state (invariants, leaks, the
// warn limit), and the run's result as data. The threads engine computes it
// on the main thread, the in-thread engine in the pool thread that played
// the run; both from the same shared memory, so both say the same.

import type { Shm } from '../shm/layout.ts';
import { LK } from '../sync/records.ts';
import { Lock, lockName } from '../sync/locks.ts';
import { SC } from '../sched/records.ts';
import { Mode, MODE_NAMES } from '../sched/strategy.ts';
import { encodeSchedule } from '../sched/schedule.ts';
import { recordedSchedule } from '../sched/setup.ts';
import { Lockdep } from '../lockdep/lockdep.ts';
import { MAX_CLASSES } from '../lockdep/records.ts';
import { lockdepChains, lockdepDot, lockdepProc } from '../lockdep/export.ts';
import { Cov, covBits, covSet } from '../shm/coverage.ts';
import { newCounters, type CpuCounters, type LockStats, type RunResult, type RunStatus } from '../report/result.ts';
import { entityName } from '../report/timeline.ts';
import type { Violation } from '../report/violation.ts';
import { classify } from '../check/known.ts';
import { invariantViolation, leakViolation } from '../check/verdict.ts';
import { stateHash } from '../check/state-hash.ts';
import { chunkCounters, percpuStats } from '../percpu/stats.ts';
import { RUN, STOP_BUDGET, STOP_INTERRUPT, STOP_TERMINATE } from './records.ts';
import { rawEvents, readTimeline } from './timeline.ts';
import type { RunSpec } from './spec.ts';
import type { Kernel } from './machine.ts';

/** What one entity's part of a run left. */
export interface PartOutcome {
  counters: CpuCounters;
  oops: boolean;
  stopped: boolean;
  reclaimRuns: number;
  activeMs: number;
  violations: Violation[];
  log: string[];
}

/** How the run ended, as the engine saw it. */
export interface RunEnd {
  /** The watchdog's report (threads engine), if it made one. */
  hang: Violation | null;
  /** RUN.STOP_REASON at the end. */
  stopReason: number;
  /** The engine had to terminate the threads that played it. */
  terminated: boolean;
  /** Notes of the engine (threads terminated, the host stalled). */
  notes: string[];
  /** Wall time of the run, start-up included. */
  ms: number;
  /** A run cut by its budget: every CPU's state then. */
  cpuStates?: string;
}

/** The run's coverage bits, the lockdep edges (with both classes' irq usage) added from the graph. */
function runCoverage(shm: Shm): number[] {
  const ld = new Lockdep(shm);
  for (const e of ld.edges()) covSet(shm.w, shm.L, Cov.EDGE, e.from, e.to, ld.usage(e.from), ld.usage(e.to));
  return covBits(shm.w, shm.L);
}

/** The lockdep exports; the first lockdep report of the run, if any, is what the DOT graph marks. */
function lockdepFiles(ld: Lockdep, cpus: number, violations: readonly Violation[]): NonNullable<RunResult['lockdepExport']> {
  const classes: number[] = [];
  for (let c = 0; c < MAX_CLASSES; c++) if (ld.usage(c) !== 0) classes.push(c);
  const who = (id: number): string => entityName(id, cpus);
  return {
    dot: lockdepDot(ld, who, violations.find((v) => v.kind.startsWith('lockdep'))?.text), proc: lockdepProc(ld, who), chains: lockdepChains(ld),
    graph: {
      nodes: classes.map((c) => ({ name: lockName(c), usage: ld.usageString(c) })),
      edges: ld.edges().map((e) => ({ from: lockName(e.from), to: lockName(e.to), at: `${e.site} on ${who(e.cpu)}` })),
    },
  };
}

/** Non-fatal reports can repeat across CPUs: keep the first of each title and mechanism (a known issue's report does not hide a new bug's with the same title). */
function dedupe(vs: Violation[]): Violation[] {
  const seen = new Set<string>();
  return vs.filter((v) => {
    const key = `${v.kind}\n${v.title}\n${v.mechanism ?? ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The result of a run from its parts (one per entity, in entity order; none if it could not be played) and the machine's final state. */
export function runVerdict(s: RunSpec, k: Kernel, parts: readonly PartOutcome[], bootLog: string[], end: RunEnd): RunResult {
  k.attach();
  const w = k.shm.w;
  const h = k.shm.L.run;
  const counters = chunkCounters(k.shm);
  const violations: Violation[] = [];
  if (end.hang) violations.push(end.hang);
  for (const r of parts) violations.push(...r.violations);
  const stop = w[h + RUN.STOP]!;
  let checksRun = parts.reduce((n, r) => n + r.counters.checks, 0);
  const notes: string[] = [];
  const controlled = s.strategy !== Mode.os;
  if (stop === 0 && parts.length) {
    // quiescence: every CPU freed what it held and the reclaim work was flushed
    const failures = k.gen.invariants(k).checkAll();
    checksRun++;
    const quiet: Violation[] = [];
    // a violation per invariant broken: each may have a cause of its own (and a known issue's fix proves only its own)
    for (const name of new Set(failures.map((f) => f.invariant))) quiet.push(invariantViolation(failures.filter((f) => f.invariant === name), -1, 0, ' at quiescence'));
    const leaks = k.gen.leakCheck(k, notes, s.checks);
    if (leaks.length) quiet.push(leakViolation(leaks, -1, 0, `every CPU freed everything, the ${k.spec.cfg.kernel === '2.6.35' ? 'reclaim' : 'queued'} work was flushed`));
    for (const v of quiet) {
      const id = k.gen.attributeQuiescent(k.shm, v);
      if (id) v.mechanism = id;
      violations.push(v);
    }
    if (s.checks) {
      const warn = k.gen.warnLimitProblem(k.shm, controlled);
      if (warn) {
        const title = `percpu: warn-limit: the allocator departs from ${k.spec.cfg.kernel}`;
        violations.push({ kind: 'spec', cpu: -1, step: 0, title, text: `${title}\n${warn}\n`, held: [], stack: ['pcpu_alloc'], fatal: false, details: { check: 'warn-limit' } });
      }
    }
  }
  notes.push(...end.notes);
  const ops = newCounters();
  for (const r of parts) for (const key of Object.keys(ops) as (keyof typeof ops)[]) ops[key] += r.counters[key];
  const locks: LockStats[] = [Lock.pcpu_alloc_mutex, Lock.pcpu_lock, Lock.vmap_area_lock, Lock.caller_lock].map((l) => {
    const r = k.shm.L.locks + l * LK.SIZE;
    return { lock: lockName(l), acquisitions: w[r + LK.ACQUIRED]!, contentions: w[r + LK.CONTENDED]!, longestHoldUs: w[r + LK.MAX_HOLD]! };
  });
  const sc = k.shm.L.sched;
  const unique = dedupe(violations);
  const counts = classify(unique, s);
  let status: RunStatus = 'clean';
  if (counts) status = 'violation';
  else if (end.stopReason === STOP_INTERRUPT) status = 'interrupted';
  else if (end.stopReason === STOP_BUDGET || end.stopReason === STOP_TERMINATE || end.terminated) status = 'incomplete';
  else if (unique.length) status = 'known';
  const cpuStates = status === 'incomplete' && end.stopReason === STOP_BUDGET ? end.cpuStates : undefined;
  if (cpuStates !== undefined) notes.push('the run did not finish within its time budget (the host is too slow for it, or the budget too small): nothing was found, and nothing is proven');
  return {
    scenario: s.scenarioName, seed: s.seed, cpus: s.cpus, kernel: k.spec.cfg.kernel, backend: k.spec.cfg.backend, inject: s.inject,
    status,
    // a controlled run is a pure function of its inputs: no wall-clock numbers in it
    ms: controlled ? 0 : end.ms, wallMs: end.ms, activeMs: controlled ? 0 : Math.max(0, ...parts.map((r) => r.activeMs)), ops,
    chunksCreated: counters.created, chunksDestroyed: counters.destroyed, reclaimRuns: counters.reclaimRuns,
    locks, checks: checksRun, violations: unique, stats: percpuStats(k.shm), bootLog,
    log: parts.flatMap((r) => r.log), notes: controlled ? notes.filter((n) => !n.startsWith('the host itself')) : notes,
    strategy: MODE_NAMES[s.strategy], steps: controlled ? w[sc + SC.STEP]! : 0, switches: controlled ? w[sc + SC.SWITCHES]! : 0,
    schedule: controlled ? encodeSchedule(recordedSchedule(k.shm)) : null, scheduleOverflow: controlled && w[sc + SC.REC_OVERFLOW] !== 0, diverged: s.strategy === Mode.replay ? w[sc + SC.DIVERGED]! : 0,
    stateHash: stateHash(k),
    ...(cpuStates ? { cpuStates: cpuStates.replace(/^\n/, '') } : {}),
    ...(controlled && s.timeline ? { timeline: readTimeline(k.shm, s.cpus) } : {}),
    ...(controlled && s.points ? { events: rawEvents(k.shm) } : {}),
    ...(s.lockdepExport ? { lockdepExport: lockdepFiles(new Lockdep(k.shm), s.cpus, unique) } : {}),
    ...(s.coverage ? { coverage: runCoverage(k.shm) } : {}),
  };
}
