// The runner: one run of a scenario on real threads. It boots the shared
// memory, starts one long task per CPU plus the kworker on the reused pool,
// watches progress, and after the run checks the quiescent state. Nothing
// here can outlive its budget: a stuck CPU is a reported hang, and threads
// that do not stop when told are terminated.

import { CpuPool } from './pool.ts';
import { Kernel, bootMachine, newShm, planMachine, type MachineSpec } from './machine.ts';
import type { Scenario } from '../../scenarios/lib/scenario.ts';
import type { CpuTask, CpuTaskResult } from './cpu-task.ts';
import { newCounters, type CpuCounters, type LockStats, type RunResult, type PercpuStats } from '../report/result.ts';
export type { RunResult, LockStats } from '../report/result.ts';
import { H, LK, SC, X, type Shm } from '../shm/layout.ts';
import { CpuState } from '../sync/cpu.ts';
import { Lock, lockName } from '../sync/locks.ts';
import { Bug, bugInfo } from '../percpu/inject.ts';
import type { Backend, Config } from '../shm/config.ts';
import type { Violation } from '../report/violation.ts';
import { InvariantChecker } from '../check/invariants.ts';
import { leakCheck } from '../check/leak.ts';
import { invariantViolation, leakViolation } from '../check/verdict.ts';
import { stateHash } from '../check/state-hash.ts';
import { percpuStats } from '../percpu/stats.ts';
import { Mode, MODE_NAMES } from '../sched/strategy.ts';
import { encodeSchedule, type Schedule } from '../sched/schedule.ts';
import { initSched, recordedSchedule, STEPS_PER_OP } from '../sched/setup.ts';
import { generatePrograms } from '../../scenarios/lib/scenario.ts';

export interface RunOptions {
  scenario: Scenario;
  cpus: number;
  seed: number;
  /** Ops per CPU (default when no duration: 2000). */
  ops?: number;
  durationMs?: number;
  backend?: Backend;
  inject?: Bug;
  checks?: boolean;
  /** A CPU without progress for this long is a hang (default 5000 ms). */
  watchdogMs?: number;
  /** Explicit per-CPU programs (replay). */
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
}



const STOP_VIOLATION = 1;
const STOP_HANG = 2;
const STOP_BUDGET = 3;
const STOP_INTERRUPT = 4;
const GRACE_MS = 3000;

export function scenarioConfig(s: Scenario, cpus: number, seed: number, backend?: Backend): Partial<Config> {
  const cfg = s.config(cpus, seed);
  if (backend === 'km' && cfg.backend !== 'km') {
    // km cannot serve NUMA groups or the page first chunk: the closest km machine
    return { ...cfg, backend: 'km', firstChunk: 'embed', nodes: undefined } as Partial<Config>;
  }
  return backend ? { ...cfg, backend } : cfg;
}

export class Runner {
  private pool: CpuPool | null = null;
  private shms = new Map<string, Shm>();
  private active: Shm | null = null;

  private async poolFor(threads: number): Promise<CpuPool> {
    if (this.pool && this.pool.threads >= threads) return this.pool;
    await this.pool?.close();
    this.pool = await CpuPool.create(threads);
    return this.pool;
  }

  private shmFor(spec: MachineSpec): Shm {
    const key = JSON.stringify(spec.L);
    let shm = this.shms.get(key);
    if (!shm) {
      shm = newShm(spec);
      if (this.shms.size > 8) this.shms.clear();
      this.shms.set(key, shm);
    }
    return shm;
  }

  /** Stop the run in progress (SIGINT): it ends with a partial report. */
  interrupt(): void {
    if (this.active) {
      Atomics.compareExchange(this.active.w, this.active.L.header + H.STOP, 0, STOP_INTERRUPT);
      Atomics.store(this.active.w, this.active.L.header + H.STOP_REASON, STOP_INTERRUPT);
    }
  }

  async run(o: RunOptions): Promise<RunResult> {
    const t0 = Date.now();
    const spec = planMachine(scenarioConfig(o.scenario, o.cpus, o.seed, o.backend));
    const shm = this.shmFor(spec);
    const bootLog = bootMachine(spec, shm, { inject: o.inject ?? Bug.none, fail: o.scenario.fail?.(o.seed), booting: !!o.scenario.boot, brokenLock: o.brokenLock });
    const pool = await this.poolFor(o.cpus + 1);
    const mode = o.strategy ?? Mode.os;
    const controlled = mode !== Mode.os;
    const ops = o.durationMs && !controlled ? 0 : o.ops ?? (controlled ? 40 : 2000);
    const deadline = o.durationMs && !controlled ? t0 + o.durationMs : 0;
    const checks = o.checks ?? true;
    const programs = o.programs ?? (controlled ? generatePrograms(o.scenario, o.cpus, o.seed, ops) : undefined);
    if (controlled) {
      const totalOps = programs!.reduce((n, p) => n + p.length / 4, 0);
      initSched(shm, mode, {
        seed: o.seed, entities: spec.L.nrEntities, depth: o.depth ?? 3,
        expectedSteps: o.expectedSteps ?? Math.max(100, totalOps * STEPS_PER_OP),
      }, o.maxSteps ?? Math.max(200_000, totalOps * 2000), o.schedule);
    } else {
      initSched(shm, Mode.os, { seed: o.seed, entities: spec.L.nrEntities, depth: 1, expectedSteps: 1 }, 0);
    }
    const tasks: CpuTask[] = [];
    for (let cpu = 0; cpu < o.cpus; cpu++) {
      tasks.push({
        kind: 'cpu', sab: shm.sab, spec, mode, cpu, scenario: o.scenario.name, seed: o.seed, ops, durationMs: deadline ? o.durationMs! : 0, checks, timing: !controlled,
        ...(programs?.[cpu] ? { program: programs[cpu] } : {}),
        ...(cpu === 0 && o.scenario.boot ? { boot: o.scenario.boot(o.seed, o.cpus) } : {}),
      });
    }
    tasks.push({ kind: 'kworker', sab: shm.sab, spec, mode, checks, timing: !controlled });
    this.active = shm;
    const k = new Kernel(spec, shm);
    const budgetEnd = deadline ? deadline + 30_000 : t0 + 120_000 + ops * 50;
    const watch = new Watchdog(k, o.watchdogMs ?? 5000, budgetEnd, o.onProgress, deadline, t0, controlled);
    let results: CpuTaskResult[];
    try {
      results = await watch.race(pool.runAll(tasks), () => pool.respawn(), spec);
    } finally {
      watch.stop();
      this.active = null;
    }
    return this.finish(o, spec, k, results, watch, bootLog, Date.now() - t0);
  }

  private finish(o: RunOptions, spec: MachineSpec, k: Kernel, results: CpuTaskResult[], watch: Watchdog, bootLog: string[], ms: number): RunResult {
    const w = k.shm.w;
    const h = k.shm.L.header;
    const violations: Violation[] = [];
    if (watch.hang) violations.push(watch.hang);
    for (const r of results) violations.push(...r.violations);
    const stop = w[h + H.STOP]!;
    let checksRun = results.reduce((s, r) => s + r.counters.checks, 0);
    const notes: string[] = [];
    if (stop === 0) {
      // quiescence: every CPU freed what it held and the reclaim work was flushed
      const failures = new InvariantChecker(k).checkAll();
      checksRun++;
      if (failures.length) violations.push(invariantViolation(failures, -1, 0, ' at quiescence'));
      const leaks = leakCheck(k, notes);
      if (leaks.length) violations.push(leakViolation(leaks, -1, 0, 'every CPU freed everything, the reclaim work was flushed'));
    }
    const ops = newCounters();
    for (const r of results) for (const key of Object.keys(ops) as (keyof CpuCounters)[]) ops[key] += r.counters[key];
    const locks: LockStats[] = [Lock.pcpu_alloc_mutex, Lock.pcpu_lock, Lock.vmap_area_lock, Lock.caller_lock].map((l) => {
      const r = k.shm.L.locks + l * LK.SIZE;
      return { lock: lockName(l), acquisitions: w[r + LK.ACQUIRED]!, contentions: w[r + LK.CONTENDED]!, longestHoldUs: w[r + LK.MAX_HOLD]! };
    });
    const interrupted = stop === STOP_INTERRUPT;
    const mode = o.strategy ?? Mode.os;
    const controlled = mode !== Mode.os;
    const sc = k.shm.L.sched;
    return {
      scenario: o.scenario.name, seed: o.seed, cpus: o.cpus, backend: spec.cfg.backend, inject: bugInfo(o.inject ?? Bug.none)?.name ?? null,
      status: violations.length ? 'violation' : interrupted ? 'interrupted' : 'clean',
      // a controlled run is a pure function of its inputs: no wall-clock numbers in it
      ms: controlled ? 0 : ms, activeMs: controlled ? 0 : Math.max(0, ...results.map((r) => r.activeMs)), ops,
      chunksCreated: w[h + H.CHUNKS_CREATED]!, chunksDestroyed: w[h + H.CHUNKS_DESTROYED]!, reclaimRuns: w[h + H.RECLAIM_RUNS]!,
      locks, checks: checksRun, violations: dedupe(violations), stats: percpuStats(k.shm), bootLog,
      log: results.flatMap((r) => r.log), notes,
      strategy: MODE_NAMES[mode], steps: controlled ? w[sc + SC.STEP]! : 0, switches: controlled ? w[sc + SC.SWITCHES]! : 0,
      schedule: controlled ? encodeSchedule(recordedSchedule(k.shm)) : null, diverged: mode === Mode.replay ? w[sc + SC.DIVERGED]! : 0,
      stateHash: stateHash(k),
    };
  }

  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = null;
  }
}

/** Non-fatal reports can repeat across CPUs: keep the first of each title. */
function dedupe(vs: Violation[]): Violation[] {
  const seen = new Set<string>();
  return vs.filter((v) => {
    const key = `${v.kind}\n${v.title}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Watches every CPU's step counter; ends the run on a hang or when the budget is spent. */
class Watchdog {
  hang: Violation | null = null;
  private timer: NodeJS.Timeout | null = null;
  private last: number[] = [];
  private since: number[] = [];
  private stopAt = 0;

  private lastStep = 0;
  private stepSince = 0;

  constructor(private readonly k: Kernel, private readonly limitMs: number, private readonly budgetEnd: number,
    private readonly onProgress: ((f: number) => void) | undefined, private readonly deadline: number, private readonly t0: number,
    private readonly controlled: boolean) {}

  /** Controlled runs: one CPU runs at a time, so progress is the global step count. */
  private tickControlled(now: number): void {
    const w = this.k.shm.w;
    const step = w[this.k.shm.L.sched + SC.STEP]!;
    if (step !== this.lastStep || !this.stepSince) {
      this.lastStep = step;
      this.stepSince = now;
      return;
    }
    if (now - this.stepSince > this.limitMs && !this.hang && w[this.k.shm.L.header + H.STOP] === 0) {
      const e = w[this.k.shm.L.sched + SC.TOKEN]!;
      this.hang = hangReport(this.k, e, now - this.stepSince);
      this.stopRun(STOP_HANG);
    }
  }

  private stopRun(reason: number): void {
    const w = this.k.shm.w;
    if (Atomics.compareExchange(w, this.k.shm.L.header + H.STOP, 0, reason) === 0) this.stopAt = Date.now();
    w[this.k.shm.L.header + H.STOP_REASON] = reason;
  }

  private tick(): void {
    const now = Date.now();
    const w = this.k.shm.w;
    const n = this.k.shm.L.nrEntities;
    if (this.onProgress && this.deadline) this.onProgress(Math.min(1, (now - this.t0) / (this.deadline - this.t0)));
    if (this.controlled) this.tickControlled(now);
    for (let e = 0; e < n && !this.controlled; e++) {
      const cpu = this.k.cpu(e);
      const steps = cpu.steps();
      const state = w[cpu.x + X.STATE]!;
      const busy = state === CpuState.running || state === CpuState.blocked || state === CpuState.spinning;
      if (!busy || steps !== this.last[e]) {
        this.last[e] = steps;
        this.since[e] = now;
        continue;
      }
      if (now - (this.since[e] ?? now) > this.limitMs && !this.hang && w[this.k.shm.L.header + H.STOP] === 0) {
        this.hang = hangReport(this.k, e, now - (this.since[e] ?? now));
        this.stopRun(STOP_HANG);
      }
    }
    if (now > this.budgetEnd && w[this.k.shm.L.header + H.STOP] === 0) {
      this.hang = { kind: 'hang', cpu: -1, step: 0, title: 'percpu-stress: run budget exhausted', text: 'percpu-stress: the run did not finish within its time budget\n' + allCpus(this.k), held: [], stack: [], fatal: true };
      this.stopRun(STOP_BUDGET);
    }
  }

  /** Resolve with the tasks' results; if they do not stop when told, terminate the threads. */
  async race(tasks: Promise<CpuTaskResult[]>, respawn: () => Promise<void>, spec: MachineSpec): Promise<CpuTaskResult[]> {
    this.timer = setInterval(() => this.tick(), 50);
    // a worker that dies (or is terminated) rejects its task: that is a crash report, not an exception
    const all = tasks.catch((e: unknown): CpuTaskResult[] => {
      this.stopRun(STOP_VIOLATION);
      const crash: Violation = { kind: 'crash', cpu: -1, step: 0, title: `worker thread failed: ${(e as Error).message}`, text: `worker thread failed: ${(e as Error).message}\n`, held: [], stack: [], fatal: true };
      return [{ cpu: -1, violations: [crash], log: [], values: [], counters: newCounters(), oops: true, stopped: true, reclaimRuns: 0, activeMs: 0 }];
    });
    const stuck = new Promise<null>((resolve) => {
      const check = setInterval(() => {
        if (this.stopAt && Date.now() - this.stopAt > GRACE_MS) {
          clearInterval(check);
          resolve(null);
        }
      }, 50);
      void all.finally(() => clearInterval(check));
    });
    const r = await Promise.race([all, stuck]);
    if (r) return r;
    await respawn();
    const n = spec.cfg.cpus + 1;
    return Array.from({ length: n }, (_, i) => ({ cpu: i, violations: [], log: [], values: [], counters: newCounters(), oops: false, stopped: true, reclaimRuns: 0, activeMs: 0 }));
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

function describeCpu(k: Kernel, e: number): string {
  const cpu = k.cpu(e);
  const w = k.shm.w;
  const state = CpuState[w[cpu.x + X.STATE]!] ?? '?';
  const waiting = w[cpu.x + X.STATE] === CpuState.blocked || w[cpu.x + X.STATE] === CpuState.spinning ? ` on ${lockName(w[cpu.x + X.WAIT_LOCK]!)}` : '';
  let out = `${cpu.name}: ${state}${waiting}, program op ${w[cpu.x + X.CUR_OP]}, ${cpu.steps()} steps\n`;
  out += cpu.heldSection().replace(/^/gm, '  ').replace(/ +$/, '');
  const stack = cpu.stack();
  if (stack.length) out += `  current operation: ${stack.join(' <- ')}\n`;
  return out;
}

function allCpus(k: Kernel): string {
  let out = '\nShowing all CPUs:\n';
  for (let e = 0; e < k.shm.L.nrEntities; e++) out += describeCpu(k, e);
  return out;
}

function hangReport(k: Kernel, e: number, ms: number): Violation {
  const cpu = k.cpu(e);
  const state = k.shm.w[cpu.x + X.STATE];
  const secs = (ms / 1000).toFixed(1);
  const title = state === CpuState.blocked
    ? `INFO: task ${cpu.name}:${cpu.id} blocked for more than ${secs} seconds.`
    : `BUG: soft lockup - CPU#${cpu.id} stuck for ${secs}s! [${cpu.name}:${cpu.id}]`;
  return {
    kind: 'hang', cpu: e, step: cpu.steps(), title, text: `${title}\n${describeCpu(k, e)}${allCpus(k)}`,
    held: cpu.heldLocks(), stack: cpu.stack(), fatal: true,
  };
}
