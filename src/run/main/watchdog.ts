// The watchdog of a run, on the main thread. It must never mistake a slow
// host for a hung kernel, so nothing it decides rests on raw wall time:
//
// - Nothing counts before every thread has reached the start barrier
//   (H.RUN_GO): starting threads on a busy machine is not a hang.
// - Time only counts while the host demonstrably runs: every tick adds at
//   most two tick intervals to a CPU's stall time; when the watchdog's own
//   timer fires late, the excess is the host's stall, not the CPU's, and a
//   report says how long the host itself stalled.
// - A CPU waiting for a lock or a completion is never a hang by itself: a
//   wait-for cycle (or a wait for something nobody left can give), seen the
//   same on two consecutive ticks with no CPU moving, is a deadlock; a wait
//   behind a CPU that makes progress is contention.
// - What is left: a CPU that runs (not waiting) and passes no scheduling
//   point for the limit of counted time is a soft lockup.
//
// In controlled runs the exact detectors (no runnable entity, the step
// budget) decide; the watchdog only covers code that never reaches a
// scheduling point. The time budget ends a run as incomplete, never as a
// violation.

import type { Shm } from '../../shm/layout.ts';
import { RUN } from '../records.ts';
import { LK, X } from '../../sync/records.ts';
import { SC } from '../../sched/records.ts';
import { CpuState } from '../../sync/cpu.ts';
import { isCompletion, lockName } from '../../sync/locks.ts';
import type { Violation } from '../../report/violation.ts';
import type { Kernel } from '../machine.ts';

import { STOP_BUDGET, STOP_HANG } from '../records.ts';
import { allCpus, describeCpu } from '../describe.ts';

export { STOP_VIOLATION, STOP_HANG, STOP_BUDGET, STOP_INTERRUPT, STOP_TERMINATE } from '../records.ts';
export { allCpus } from '../describe.ts';

const TICK_MS = 50;

export interface WatchdogOptions {
  limitMs: number;
  /** Absolute time (Date.now()) after which the run is stopped as incomplete; 0 = none. */
  budgetEnd: number;
  controlled: boolean;
  onProgress?: ((fraction: number) => void) | undefined;
  /** For the progress bar: the run's own deadline and start. */
  deadline: number;
  t0: number;
}

export class Watchdog {
  hang: Violation | null = null;
  /** When the run was stopped (Date.now()), 0 while it runs. */
  stopAt = 0;
  /** Milliseconds the host itself stalled (timer lag) while the run went on. */
  hostStallMs = 0;
  private timer: NodeJS.Timeout | null = null;
  private lastTick = 0;
  private readonly steps: number[] = [];
  private readonly stalled: number[] = [];
  private waitSignature = '';
  private readonly w: Int32Array;
  private readonly L: Shm['L'];

  constructor(private readonly k: Kernel, private readonly o: WatchdogOptions) {
    this.w = k.shm.w;
    this.L = k.shm.L;
  }

  start(): void {
    this.lastTick = Date.now();
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  get stopReason(): number {
    return this.w[this.L.run + RUN.STOP_REASON]!;
  }

  /** Stop the run (threads see RUN.STOP at their next check). */
  stopRun(reason: number): void {
    const at = this.L.run + RUN.STOP;
    if (Atomics.compareExchange(this.w, at, 0, reason) === 0) {
      this.w[this.L.run + RUN.STOP_REASON] = reason;
      this.stopAt = Date.now();
    } else if (!this.stopAt) {
      this.stopAt = Date.now();
    }
  }

  private tick(): void {
    const now = Date.now();
    const dt = now - this.lastTick;
    this.lastTick = now;
    // at most two intervals count; the rest is the host's own stall
    const credited = Math.min(dt, 2 * TICK_MS);
    const w = this.w, h = this.L.run;
    if (this.o.onProgress && this.o.deadline) this.o.onProgress(Math.min(1, (now - this.o.t0) / (this.o.deadline - this.o.t0)));
    if (w[h + RUN.STOP] !== 0) {
      if (!this.stopAt) this.stopAt = now;
      return;
    }
    if (this.o.budgetEnd && now > this.o.budgetEnd) {
      this.stopRun(STOP_BUDGET);
      return;
    }
    // still starting (some thread has not picked the run up): nothing counts
    if (w[h + RUN.RUN_GO] === 0 || w[h + RUN.RUN_READY]! < this.L.nrEntities) return;
    this.hostStallMs += dt - credited;
    if (this.o.controlled) this.tickControlled(credited);
    else this.tickFree(credited);
  }

  /** Controlled: one entity runs at a time; progress is the global step count. */
  private tickControlled(credited: number): void {
    const step = this.w[this.L.sched + SC.STEP]!;
    if (step !== this.steps[0]) {
      this.steps[0] = step;
      this.stalled[0] = 0;
      return;
    }
    this.stalled[0] = (this.stalled[0] ?? 0) + credited;
    if (this.stalled[0]! > this.o.limitMs) {
      const e = this.w[this.L.sched + SC.TOKEN]!;
      this.hang = softLockup(this.k, e, this.stalled[0]!, this.hostStallMs);
      this.stopRun(STOP_HANG);
    }
  }

  private tickFree(credited: number): void {
    const n = this.L.nrEntities;
    for (let e = 0; e < n; e++) {
      const cpu = this.k.cpu(e);
      const steps = cpu.steps();
      const state = this.w[cpu.x + X.STATE]!;
      if (steps !== this.steps[e]) {
        this.steps[e] = steps;
        this.stalled[e] = 0;
        continue;
      }
      if (state !== CpuState.running) {
        this.stalled[e] = 0;
        continue;
      }
      this.stalled[e] = (this.stalled[e] ?? 0) + credited;
      if (this.stalled[e]! > this.o.limitMs) {
        this.hang = softLockup(this.k, e, this.stalled[e]!, this.hostStallMs);
        this.stopRun(STOP_HANG);
        return;
      }
    }
    // waits that can never end: the same picture twice in a row, none of those involved moving
    const sig = deadlockSignature(this.k);
    if (sig && sig === this.waitSignature) {
      this.hang = freeRunningDeadlock(this.k, sig);
      this.stopRun(STOP_HANG);
      return;
    }
    this.waitSignature = sig;
  }
}

function name(k: Kernel, e: number): string {
  return k.cpu(e).name;
}

/**
 * The waits of a free-running run that can never end, as a stable text
 * that includes the step counts of the entities involved ('' when every
 * wait can still end). A wait can never end when the lock's owner waits
 * itself and can never go on (a cycle, or a chain that ends in one), when
 * the owner's program is over (it will never release it), or when it waits
 * for a completion that no CPU able to go on is left to complete. What the
 * other CPUs do meanwhile does not matter: an idle CPU passing scheduling
 * points, or one working on, cannot end such a wait.
 */
export function deadlockSignature(k: Kernel): string {
  const w = k.shm.w, L = k.shm.L;
  const n = L.nrEntities;
  const memo = new Int8Array(n); // 0 unknown, 1 stuck, 2 can go on, 3 being decided
  const stateOf = (e: number): number => w[k.cpu(e).x + X.STATE]!;
  const waiting = (e: number): boolean => stateOf(e) === CpuState.blocked || stateOf(e) === CpuState.spinning;
  const over = (e: number): boolean => stateOf(e) === CpuState.idle || stateOf(e) === CpuState.done;
  const stuck = (e: number): boolean => {
    if (memo[e] === 3) return true; // back at an entity being decided: a cycle of waits
    if (memo[e] !== 0) return memo[e] === 1;
    if (!waiting(e)) {
      memo[e] = 2;
      return false;
    }
    memo[e] = 3;
    const lock = w[k.cpu(e).x + X.WAIT_LOCK]!;
    let verdict: boolean;
    if (isCompletion(lock)) {
      // done already, or someone not stuck may still complete it
      verdict = w[L.locks + lock * LK.SIZE + LK.STATE] !== 0;
      for (let o = 0; o < k.nrCpus && verdict; o++) if (o !== e && !over(o) && !stuck(o)) verdict = false;
    } else {
      const owner = w[L.locks + lock * LK.SIZE + LK.OWNER]! - 1;
      // held by this very CPU (the context an interrupt handler interrupted, or the waiter itself): never released
      verdict = owner >= 0 && (owner === e || over(owner) || stuck(owner));
    }
    memo[e] = verdict ? 1 : 2;
    return verdict;
  };
  const lines: string[] = [];
  for (let e = 0; e < n; e++) {
    if (!stuck(e)) continue;
    const x = k.cpu(e).x;
    const lock = w[x + X.WAIT_LOCK]!;
    const what = isCompletion(lock) ? `waits for ${lockName(lock)}, which no CPU left able to go on can complete`
      : `${stateOf(e) === CpuState.blocked ? 'sleeps on' : 'spins on'} ${lockName(lock)} held by ${name(k, w[L.locks + lock * LK.SIZE + LK.OWNER]! - 1)}`;
    lines.push(`${name(k, e)} ${what} [${k.cpu(e).steps()} steps]`);
  }
  return lines.join('\n');
}

/** A cycle entity -> lock -> owner -> ... among waiting entities, as text, or null. */
function waitCycle(k: Kernel): string | null {
  const w = k.shm.w, L = k.shm.L;
  for (let start = 0; start < L.nrEntities; start++) {
    const seen = new Map<number, number>();
    const path: string[] = [];
    for (let e = start; e >= 0; ) {
      if (seen.has(e)) return [...path.slice(seen.get(e)!), name(k, e)].join(' -> ');
      seen.set(e, path.length);
      const x = k.cpu(e).x;
      const st = w[x + X.STATE];
      if (st !== CpuState.blocked && st !== CpuState.spinning) break;
      const lock = w[x + X.WAIT_LOCK]!;
      if (isCompletion(lock)) break;
      path.push(name(k, e), lockName(lock));
      e = w[L.locks + lock * LK.SIZE + LK.OWNER]! - 1;
    }
  }
  return null;
}

function hostNote(hostStallMs: number): string {
  return `(counted only while the host ran: the watchdog's own timer lagged ${(hostStallMs / 1000).toFixed(1)} s in all, which is the host's stall, not this CPU's)\n`;
}

function softLockup(k: Kernel, e: number, ms: number, hostStallMs: number): Violation {
  const cpu = k.cpu(e);
  const secs = (ms / 1000).toFixed(1);
  const title = `BUG: soft lockup - CPU#${cpu.id} stuck for ${secs}s! [${cpu.name}:${cpu.id}]`;
  return {
    kind: 'hang', cpu: e, step: cpu.steps(), title,
    text: `${title}\nno scheduling point passed while the CPU was running ${hostNote(hostStallMs)}${describeCpu(k, e)}${allCpus(k)}`,
    held: cpu.heldLocks(), stack: cpu.stack(), fatal: true,
  };
}

/** The locks (and completions) the waiting entities wait for, sorted. */
function waitLocksOf(k: Kernel): string[] {
  const w = k.shm.w, L = k.shm.L;
  const out = new Set<string>();
  for (let e = 0; e < L.nrEntities; e++) {
    const x = k.cpu(e).x;
    const st = w[x + X.STATE];
    if (st === CpuState.blocked || st === CpuState.spinning) out.add(lockName(w[x + X.WAIT_LOCK]!));
  }
  return [...out].sort();
}

function freeRunningDeadlock(k: Kernel, sig: string): Violation {
  const cycle = waitCycle(k);
  const waits = sig.replace(/ \[\d+ steps\]/g, '');
  const title = 'INFO: deadlock detected: CPUs wait for what no CPU can give';
  let body = `${waits.split('\n').map((l) => ` ${l}\n`).join('')}`;
  if (cycle) body += `wait-for cycle: ${cycle}\n`;
  body += 'the same waits were seen on two consecutive watchdog ticks, with none of these CPUs passing a scheduling point in between\n';
  return { kind: 'deadlock', cpu: -1, step: 0, title, text: `${title}\n${body}${allCpus(k)}`, held: [], stack: [], fatal: true, details: { cycle, waits: waits.split('\n'), waitLocks: waitLocksOf(k) } };
}
