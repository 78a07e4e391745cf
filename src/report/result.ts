// Results as data: what a run (or a single-CPU run) produced. The runner
// fills them in; report/ renders them; the CLI picks the exit code.

import type { Timeline } from './timeline.ts';
import type { Backend, KernelVersion } from '../shm/config.ts';
import type { Violation } from './violation.ts';

/** Per-CPU operation counts (summed over CPUs in a RunResult). */
export interface CpuCounters {
  ops: number;
  alloc: number;
  free: number;
  irqfree: number;
  irqsHandled: number;
  failed: number;
  touches: number;
  checks: number;
}

export const COUNTER_NAMES = ['ops', 'alloc', 'free', 'irqfree', 'irqsHandled', 'failed', 'touches', 'checks'] as const satisfies readonly (keyof CpuCounters)[];

export function newCounters(): CpuCounters {
  return { ops: 0, alloc: 0, free: 0, irqfree: 0, irqsHandled: 0, failed: 0, touches: 0, checks: 0 };
}

/** The counters of /sys/kernel/debug/percpu_stats. */
export interface PercpuStats {
  nr_alloc: number;
  nr_dealloc: number;
  nr_cur_alloc: number;
  nr_max_alloc: number;
  nr_chunks: number;
  nr_max_chunks: number;
  min_alloc_size: number;
  max_alloc_size: number;
}

export interface LockStats {
  lock: string;
  acquisitions: number;
  contentions: number;
  longestHoldUs: number;
}
/** incomplete: the run could not finish within its time budget (nothing found, nothing proven). */
/** 'known': every finding is a known issue of the baseline or suppressed (exit 0). */
export type RunStatus = 'clean' | 'known' | 'violation' | 'interrupted' | 'incomplete';
export interface RunResult {
  scenario: string;
  seed: number;
  cpus: number;
  /** The kernel generation the machine booted. */
  kernel: KernelVersion;
  backend: Backend;
  inject: string | null;
  status: RunStatus;
  /** Free-running runs: wall time from the start of the run; 0 for controlled runs (whose reports depend on nothing but their inputs). */
  ms: number;
  /** Wall time of the run, start-up included, controlled or not (for the reports CI reads; never part of a verdict). */
  wallMs: number;
  /** Free-running runs: the longest time a CPU spent on its program (no pool start-up in it). */
  activeMs: number;
  ops: CpuCounters;
  chunksCreated: number;
  chunksDestroyed: number;
  reclaimRuns: number;
  locks: LockStats[];
  checks: number;
  violations: Violation[];
  stats: PercpuStats;
  bootLog: string[];
  log: string[];
  /** Observations that are not violations (e.g. empty chunks the kernel did not ask to reclaim). */
  notes: string[];
  /** Controlled runs: the strategy, its decisions and their count. */
  strategy: string;
  steps: number;
  switches: number;
  schedule: string | null;
  /** The schedule outgrew its recording: it does not replay the run whole. */
  scheduleOverflow?: boolean;
  /** Replay: recorded decisions that no longer applied. */
  diverged: number;
  /** A hash of the final allocator state (see check/state-hash.ts). */
  stateHash: string;
  /** A run that reached its time budget: what every CPU was doing then. */
  cpuStates?: string;
  /** Controlled runs asked for it: who ran what, step by step (not in JSON reports). */
  timeline?: Timeline;
  /** Asked for (--lockdep-out): the dependency graph as DOT, /proc/lockdep and /proc/lockdep_chains. */
  lockdepExport?: {
    dot: string;
    proc: string;
    chains: string;
    /** The dependency graph as data (the HTML report draws it). */
    graph: { nodes: { name: string; usage: string }[]; edges: { from: string; to: string; at: string }[] };
  };
  /** Asked for (novelty feedback): the coverage bits the run set (src/shm/coverage.ts). */
  coverage?: number[];
  /** Asked for (the engines' comparison): every timeline event and scheduling decision, 4 words each (step, entity, kind, argument). */
  events?: number[];
}

export interface SingleResult {
  ops: { alloc: number; free: number; failed: number };
  chunksCreated: number;
  chunksDestroyed: number;
  reclaimRuns: number;
  checks: number;
  violations: Violation[];
  stats: PercpuStats;
  bootLog: string[];
  log: string[];
  ms: number;
}

/** JSON.stringify replacer for reports: timelines and lockdep exports have files of their own. */
// wallMs stays out too: a controlled run's JSON is the same, byte for byte, for the same seed
export function reportJson(key: string, value: unknown): unknown {
  return key === 'timeline' || key === 'lockdepExport' || key === 'wallMs' ? undefined : value;
}
