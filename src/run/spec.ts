// A run as a value. RunOptions is what a command asks for; specOf turns it
// into a RunSpec, plain data that any engine can take (the threads engine
// on the main thread, the in-thread engine in a pool thread, after a
// postMessage): the machine's config, the programs, the strategy and its
// parameters, the checks. setUpRun boots a machine's shared memory for it,
// the same way whichever engine then plays it.

import type { Scenario } from '../../scenarios/lib/scenario.ts';
import { generatePrograms } from '../../scenarios/lib/scenario.ts';
import type { SizeMix } from '../../scenarios/lib/sizes.ts';
import { externalPath, scenarioId } from '../../scenarios/index.ts';
import { DEFAULT_KERNEL, type Backend, type Config, type KernelVersion } from '../shm/config.ts';
import type { Shm } from '../shm/layout.ts';
import type { FailSpec } from '../mm/fail.ts';
import type { Lock } from '../sync/locks.ts';
import { X, X_SIZE } from '../sync/records.ts';
import { CpuState } from '../sync/cpu.ts';
import { COV_WORDS } from '../shm/coverage.ts';
import type { Suppression } from '../check/known.ts';
import { Mode } from '../sched/strategy.ts';
import { decodeSchedule, type Schedule } from '../sched/schedule.ts';
import { initSched, STEPS_PER_OP } from '../sched/setup.ts';
import { bugId, conflicts, fixesToVerify } from './kernels.ts';
import type { RunResult } from '../report/result.ts';
import { bootMachine, type MachineSpec } from './machine.ts';
import { UsageError } from '../report/errors.ts';
import { EV_POINTS, RUN } from './records.ts';

export interface RunOptions {
  scenario: Scenario;
  cpus: number;
  seed: number;
  /** Ops per CPU (default when no duration: 2000; controlled: 40). */
  ops?: number;
  /** Free-running: run this long (start-up included). */
  durationMs?: number;
  /** The absolute time (Date.now()) by which the run must end, start-up and epilogue included. */
  deadline?: number;
  backend?: Backend;
  /** The kernel generation to boot (default 2.6.35). */
  kernel?: KernelVersion;
  /** A historical bug to boot instead of the kernel's own code (its name, src/percpu/2.6.35/variants.ts). */
  inject?: string | null;
  /** Later fixes to boot (a bit per entry of FIXES; fix-verification replays). */
  fixes?: number;
  checks?: boolean;
  /** A running CPU that passes no scheduling point for this much host time is a soft lockup (default 5000 ms). */
  watchdogMs?: number;
  /** Explicit per-CPU programs (controlled runs, replay, tests). */
  programs?: Int32Array[];
  /** Test-only: a lock whose acquire does not exclude. */
  brokenLock?: Lock;
  onProgress?: (fraction: number) => void;
  /** Scheduling (default os: free running). */
  strategy?: Mode;
  /** PCT depth (default 3). */
  depth?: number;
  /** The schedule to follow (replay). */
  schedule?: Schedule;
  /** Controlled runs: scheduling points before a run counts as a livelock. */
  maxSteps?: number;
  /** PCT: expected scheduling points of a run (default: estimated from the ops). */
  expectedSteps?: number;
  /** A size mix replacing the scenarios' standard sizes. */
  sizes?: SizeMix;
  /** Acknowledged findings (see src/report/known.ts). */
  suppressions?: readonly Suppression[];
  /** Known issues of the baseline count as violations unless suppressed. */
  strictKnown?: boolean;
  /** Controlled runs: record the timeline (RunResult.timeline). */
  timeline?: boolean;
  /** Controlled runs: record every scheduling decision too (RunResult.points; the engines' equivalence test). */
  points?: boolean;
  /** Export the lockdep graph, /proc/lockdep and /proc/lockdep_chains (RunResult.lockdep). */
  lockdepExport?: boolean;
  /** Record coverage for novelty feedback (RunResult.coverage). */
  coverage?: boolean;
  /** Replay controlled runs whose findings a known issue claims, with its fix (default true). */
  verifyKnown?: boolean;
  /** The caller no longer wants the run (a campaign's run started ahead, after the campaign ended): an engine that has not started it drops it (the run rejects). */
  signal?: AbortSignal;
}

/** Ops per CPU generated for a free-running --duration run of a scenario loaded from a file (it ends when they do). */
export const EXTERNAL_DURATION_OPS = 20_000;
/** Most scheduling points a controlled run may take (the step counter is a 32-bit word). */
export const MAX_STEP_BUDGET = 0x7fff_0000;
/** Scheduling points allowed per op before a controlled run counts as a livelock. */
export const STEPS_PER_OP_BUDGET = 2000;

/** What a run is, as plain data (it crosses to the thread that plays it). */
export interface RunSpec {
  /** The scenario's number (scenarios/index.ts: a file's scenario is EXTERNAL_ID, its programs given). */
  scenarioId: number;
  scenarioName: string;
  /** The machine's config (scenarioConfig). */
  config: Partial<Config>;
  fail: FailSpec | undefined;
  /** The scenario has an early-boot program for CPU 0. */
  booting: boolean;
  /** Ops at the start of each program no deadline cuts (the scenario's directed set-up). */
  setupOps: number;
  cpus: number;
  seed: number;
  /** Ops per CPU (0: free-running until the duration ends). */
  ops: number;
  inject: string | null;
  fixes: number;
  checks: boolean;
  strategy: Mode;
  depth: number;
  schedule: Schedule | undefined;
  maxSteps: number;
  expectedSteps: number;
  /** Every CPU's program; undefined only for free-running runs of built-in scenarios (the threads generate them). */
  programs: Int32Array[] | undefined;
  sizes: SizeMix | undefined;
  suppressions: readonly Suppression[] | undefined;
  strictKnown: boolean;
  timeline: boolean;
  points: boolean;
  lockdepExport: boolean;
  coverage: boolean;
  brokenLock: Lock | undefined;
}

export function scenarioConfig(s: Scenario, cpus: number, seed: number, backend?: Backend, kernel: KernelVersion = DEFAULT_KERNEL): Partial<Config> {
  const cfg: Partial<Config> = kernel === DEFAULT_KERNEL ? s.config(cpus, seed) : { ...s.config(cpus, seed), kernel };
  if (backend === 'km' && cfg.backend !== 'km') {
    // km cannot serve NUMA groups or the page first chunk: the closest km machine
    return { ...cfg, backend: 'km', firstChunk: 'embed', nodes: undefined } as Partial<Config>;
  }
  return backend ? { ...cfg, backend } : cfg;
}

/**
 * The machine a scenario's config() gives must be the one the command asked
 * for: as many CPUs as threads will play them, the backend asked, a first
 * chunk that backend can have. Anything else would run threads the machine
 * does not know (phantom leaks and lockups): bad input, before any run.
 */
export function machineAsAsked(o: { scenario: Scenario; cpus: number; seed: number; backend?: Backend; programs?: Int32Array[] }, cfg: Config): void {
  const who = `scenario ${o.scenario.name}: config(${o.cpus}, ${o.seed})`;
  if (cfg.cpus !== o.cpus) throw new UsageError(`${who} gives a machine of ${cfg.cpus} CPU${cfg.cpus === 1 ? '' : 's'}, the command asked for ${o.cpus} (a scenario's config must use the cpus it is given)`);
  if (o.backend !== undefined && cfg.backend !== o.backend) throw new UsageError(`${who} gives the ${cfg.backend} backend, the command asked for ${o.backend}`);
  if (cfg.backend === 'km' && cfg.firstChunk !== 'embed') throw new UsageError(`${who} gives a ${cfg.firstChunk} first chunk with the km backend, which serves only an embedded one`);
  if (o.programs !== undefined && o.programs.length !== o.cpus) throw new UsageError(`${o.programs.length} programs for a machine of ${o.cpus} CPUs`);
}

/** The run a command asks for, as a value. */
export function specOf(o: RunOptions): RunSpec {
  const mode = o.strategy ?? Mode.os;
  const controlled = mode !== Mode.os;
  // a directed set-up is never cut short: its completions would never come
  const ops = o.durationMs && !controlled ? 0 : Math.max(o.ops ?? (controlled ? 40 : 2000), o.programs ? 0 : o.scenario.minOps ?? 0);
  // a scenario loaded from a file exists only on this thread: its programs are generated here, even free-running
  const external = externalPath(o.scenario) !== undefined;
  const programs = o.programs ?? (controlled || external ? generatePrograms(o.scenario, o.cpus, o.seed, ops || EXTERNAL_DURATION_OPS, o.sizes) : undefined);
  let maxSteps = 0;
  let expectedSteps = 1;
  if (controlled) {
    const totalOps = programs!.reduce((n, p) => n + p.length / 4, 0);
    maxSteps = o.maxSteps ?? Math.max(200_000, totalOps * STEPS_PER_OP_BUDGET);
    if (maxSteps > MAX_STEP_BUDGET) throw new RangeError(`a step budget of ${maxSteps} does not fit the 32-bit step counter`);
    expectedSteps = o.expectedSteps ?? Math.max(100, totalOps * STEPS_PER_OP);
  }
  return {
    scenarioId: scenarioId(o.scenario), scenarioName: o.scenario.name, config: scenarioConfig(o.scenario, o.cpus, o.seed, o.backend, o.kernel),
    fail: o.scenario.fail?.(o.seed), booting: !!o.scenario.boot, setupOps: o.scenario.minOps ?? 0,
    cpus: o.cpus, seed: o.seed, ops, inject: o.inject ?? null, fixes: o.fixes ?? 0, checks: o.checks ?? true,
    strategy: mode, depth: o.depth ?? 3, schedule: o.schedule, maxSteps, expectedSteps, programs, sizes: o.sizes,
    suppressions: o.suppressions, strictKnown: o.strictKnown === true, timeline: o.timeline === true, points: o.points === true,
    lockdepExport: o.lockdepExport === true, coverage: o.coverage === true, brokenLock: o.brokenLock,
  };
}

/**
 * The run `s` replayed along its recorded schedule with later fixes switched
 * on, as nothing but a witness: no timeline, points, lockdep export or
 * coverage (Engine.verifyKnown; the in-thread engine's thread plays it ahead).
 */
function fixReplaySpec(s: RunSpec, schedule: Schedule, fixes: number): RunSpec {
  return { ...s, strategy: Mode.replay, schedule, fixes: s.fixes | fixes, timeline: false, points: false, lockdepExport: false, coverage: false };
}

/**
 * Whether the findings of run `r` (played from `s`) that a known issue's
 * mechanism claims can be verified by replaying it with those issues'
 * later fixes, and the replay if so (or why not, with the fixes' bits).
 * null: nothing to verify (no fix for any claim, or no recorded run).
 * One decision for Engine.verifyKnown and for the in-thread engine's
 * thread, which plays the same replay ahead.
 */
export type FixReplayPlan = { spec: RunSpec } | { cannot: 'schedule-overflow' | 'fix-conflicts-with-bug'; fixes: number } | null;

export function planFixReplay(s: RunSpec, r: RunResult): FixReplayPlan {
  if (!s.programs || r.schedule === null) return null;
  const kernel = specKernel(s);
  const fixes = fixesToVerify(kernel, r.violations);
  if (fixes === 0) return null;
  if (r.scheduleOverflow) return { cannot: 'schedule-overflow', fixes };
  if (conflicts(kernel, bugId(kernel, s.inject), fixes)) return { cannot: 'fix-conflicts-with-bug', fixes };
  return { spec: fixReplaySpec(s, decodeSchedule(r.schedule), fixes) };
}

/** The kernel a run boots. */
export function specKernel(s: RunSpec): KernelVersion {
  return s.config.kernel ?? DEFAULT_KERNEL;
}

/**
 * Boot the machine's shared memory for the run and set its scheduler up:
 * what every engine does before the entities start. Returns the boot log.
 */
export function setUpRun(s: RunSpec, spec: MachineSpec, shm: Shm): string[] {
  const bootLog = bootMachine(spec, shm, { bug: bugId(spec.cfg.kernel, s.inject), fixes: s.fixes, fail: s.fail, booting: s.booting, brokenLock: s.brokenLock });
  const controlled = s.strategy !== Mode.os;
  if (controlled) {
    const programs = s.programs!;
    const totalOps = programs.reduce((n, p) => n + p.length / 4, 0);
    // URW: each CPU's share of the expected steps follows its program's length; the kworker gets an even share
    const entitySteps = programs.map((p) => (s.expectedSteps * (p.length / 4)) / Math.max(1, totalOps));
    entitySteps.push(s.expectedSteps / spec.L.nrEntities);
    initSched(shm, s.strategy, { seed: s.seed, entities: spec.L.nrEntities, depth: s.depth, expectedSteps: s.expectedSteps, entitySteps }, s.maxSteps, s.schedule);
    if (s.timeline || s.points) {
      shm.w[shm.L.run + RUN.EV_LEN] = 0;
      shm.w[shm.L.run + RUN.EVLOG] = s.points ? EV_POINTS : 1;
    }
    // every CPU is runnable from the first step on, whenever its entity starts
    for (let e = 0; e < s.cpus; e++) shm.w[shm.L.cpus + e * X_SIZE + X.STATE] = CpuState.running;
  } else {
    initSched(shm, Mode.os, { seed: s.seed, entities: spec.L.nrEntities, depth: 1, expectedSteps: 1 }, 0);
  }
  if (s.coverage) {
    shm.w.fill(0, shm.L.cov, shm.L.cov + COV_WORDS);
    shm.w[shm.L.run + RUN.COVERAGE] = 1;
  }
  return bootLog;
}
