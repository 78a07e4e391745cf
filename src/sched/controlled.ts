// Controlled scheduling on the real worker threads: exactly one entity (a
// CPU or the kworker) runs at a time, the one whose number is in the run
// token. At every scheduling point the token holder asks the strategy which
// runnable entity runs next (and whether it first takes a pending
// interrupt), records the decision, and hands the token over with
// Atomics.notify on the next entity's wake word; staying costs nothing.
//
// Runnable: running; blocked on a mutex or spinning on a spinlock that is now
// free; idle with an interrupt to take (or with nothing left to wait for).
// No runnable entity while some are not done is a deadlock, reported with
// the wait-for cycle.

import type { Shm } from '../shm/layout.ts';
import { EV, EV_POINTS, RUN } from '../run/records.ts';
import { LK, X, X_SIZE } from '../sync/records.ts';
import { SC } from './records.ts';
import { CpuState, timelineEvent, type Cpu, type SchedHooks } from '../sync/cpu.ts';
import { isCompletion, lockName } from '../sync/locks.ts';
import { StopRun } from '../report/violation.ts';
import { rngBelow } from '../shm/rng.ts';
import type { Workqueue } from '../workqueue/workqueue.ts';
import type { Choice, Strategy } from './strategy.ts';
import { park } from './park.ts';

const WAIT_MS = 50;

export class ControlledScheduler implements SchedHooks, Choice {
  readonly w: Int32Array;
  readonly L: Shm['L'];
  readonly runnable: Int32Array;
  count = 0;
  current = 0;
  step = 0;
  private readonly sc: number;
  private readonly h: number;
  private readonly n: number; // CPUs
  private readonly entities: number;

  constructor(private readonly shm: Shm, private readonly strategy: Strategy, private readonly wq: Workqueue) {
    this.w = shm.w;
    this.L = shm.L;
    this.sc = shm.L.sched;
    this.h = shm.L.run;
    this.entities = shm.L.nrEntities;
    this.n = this.entities - 1;
    this.runnable = new Int32Array(this.entities);
  }

  // ---- Choice ----------------------------------------------------------------------
  rand(n: number): number {
    return rngBelow(this.w, this.sc + SC.RNG0, n);
  }
  canIrq(e: number): boolean {
    const x = this.L.cpus + e * X_SIZE;
    return e < this.n && this.w[x + X.IRQS_OFF] === 0 && this.w[x + X.IRQ_TAIL] !== this.w[x + X.IRQ_HEAD];
  }

  // ---- runnability -----------------------------------------------------------------
  private isRunnable(e: number): boolean {
    const w = this.w;
    const x = this.L.cpus + e * X_SIZE;
    switch (w[x + X.STATE]) {
      case CpuState.running:
        return true;
      case CpuState.blocked:
      case CpuState.spinning:
        return w[this.L.locks + w[x + X.WAIT_LOCK]! * LK.SIZE + LK.STATE] === 0;
      case CpuState.idle:
        if (e === this.n) return this.wq.queued() || w[this.h + RUN.CPUS_EXITED]! >= this.n;
        return this.canIrq(e) || (w[this.h + RUN.CPUS_DONE]! >= this.n && w[x + X.IRQ_TAIL] === w[x + X.IRQ_HEAD]);
      default:
        return false;
    }
  }

  private collect(): void {
    let c = 0;
    for (let e = 0; e < this.entities; e++) if (this.isRunnable(e)) this.runnable[c++] = e;
    this.count = c;
  }

  /** Decide and record the next action; -1 when nothing can run. */
  private decide(me: number): number {
    this.collect();
    if (this.count === 0) return -1;
    this.current = me;
    this.step = this.w[this.sc + SC.STEP]!;
    let a = this.strategy.choose(this);
    const e = a >> 1;
    // an idle CPU only runs to take an interrupt
    if (this.w[this.L.cpus + e * X_SIZE + X.STATE] === CpuState.idle && this.canIrq(e)) a = e * 2 + 1;
    this.record(a);
    if (this.w[this.h + RUN.EVLOG] === EV_POINTS) timelineEvent(this.shm, me, EV.POINT, a);
    if (e !== me) {
      this.w[this.sc + SC.SWITCHES]!++;
      if (this.w[this.h + RUN.EVLOG] !== 0) timelineEvent(this.shm, me, EV.SWITCH, e);
    }
    if (a & 1) this.w[this.sc + SC.IRQS]!++;
    return a;
  }

  private record(a: number): void {
    const w = this.w;
    const len = w[this.sc + SC.REC_LEN]!;
    const rec = this.L.schedRec;
    if (len > 0 && w[rec + (len - 1) * 2] === a) {
      w[rec + (len - 1) * 2 + 1]!++;
    } else if (len < this.L.schedRecCap) {
      w[rec + len * 2] = a;
      w[rec + len * 2 + 1] = 1;
      w[this.sc + SC.REC_LEN] = len + 1;
    } else {
      w[this.sc + SC.REC_OVERFLOW] = 1;
    }
  }

  // ---- token -------------------------------------------------------------------------
  private stopped(): boolean {
    return Atomics.load(this.w, this.h + RUN.STOP) !== 0;
  }

  /** Give the token to `e` (with an interrupt grant) and, unless exiting, wait to get it back. */
  private handoff(me: number, action: number, wait: boolean): boolean {
    const e = action >> 1;
    const w = this.w;
    w[this.L.cpus + e * X_SIZE + X.IRQ_GRANT] = action & 1;
    Atomics.store(w, this.sc + SC.TOKEN, e);
    Atomics.add(w, this.L.schedWake + e, 1);
    Atomics.notify(w, this.L.schedWake + e, 1);
    if (!wait) return false;
    return this.waitToken(me);
  }

  /** Wait until the token is ours; returns whether we were granted an interrupt. */
  waitToken(me: number): boolean {
    const w = this.w;
    const wake = this.L.schedWake + me;
    for (;;) {
      const g = Atomics.load(w, wake);
      if (Atomics.load(w, this.sc + SC.TOKEN) === me) break;
      if (this.stopped()) throw new StopRun();
      park(w, wake, g, WAIT_MS);
    }
    if (this.stopped()) throw new StopRun();
    const x = this.L.cpus + me * X_SIZE;
    const grant = w[x + X.IRQ_GRANT] === 1;
    w[x + X.IRQ_GRANT] = 0;
    return grant;
  }

  /** Nothing can run. Report the wait-for cycle (fatal on this CPU). */
  private deadlock(cpu: Cpu): never {
    const w = this.w;
    let body = 'no CPU can run: every CPU that is not done waits, for a lock or a completion nobody left can give it\n';
    const waits: string[] = [];
    const waitLocks = new Set<string>();
    for (let e = 0; e < this.entities; e++) {
      const x = this.L.cpus + e * X_SIZE;
      const st = w[x + X.STATE];
      if (st !== CpuState.blocked && st !== CpuState.spinning) continue;
      const lock = w[x + X.WAIT_LOCK]!;
      const owner = w[this.L.locks + lock * LK.SIZE + LK.OWNER]! - 1;
      waitLocks.add(lockName(lock));
      // a completion has no holder: it waits for a complete() no CPU still to run will do
      const held = isCompletion(lock) ? '(a completion: nobody still running completes it)' : `held by ${owner < 0 ? 'nobody' : name(owner, this.n)}`;
      waits.push(`${name(e, this.n)} ${isCompletion(lock) ? 'waits for' : st === CpuState.blocked ? 'sleeps on' : 'spins on'} ${lockName(lock)} ${held}`);
    }
    body += waits.map((l) => ` ${l}\n`).join('');
    // the cycle, from whichever waiting entity is on it (not only the one that noticed)
    let cycle: string | null = null;
    for (let e = cpu.id, n = 0; n < this.entities && !cycle; n++, e = (e + 1) % this.entities) cycle = this.cycle(e);
    if (cycle) body += `wait-for cycle: ${cycle}\n`;
    for (let e = 0; e < this.entities; e++) {
      const x = this.L.cpus + e * X_SIZE;
      body += `${name(e, this.n)}: ${CpuState[w[x + X.STATE]!] ?? '?'}, ${w[x + X.IRQ_TAIL]! - w[x + X.IRQ_HEAD]!} irqs pending, irqs ${w[x + X.IRQS_OFF] ? 'off' : 'on'}\n`;
      if (e !== cpu.id) body += cpu.host.cpu(e).heldSection();
    }
    body += `CPUs done ${w[this.h + RUN.CPUS_DONE]}, exited ${w[this.h + RUN.CPUS_EXITED]}, ${this.wq.describe()}\n`;
    Atomics.store(w, this.h + RUN.STOP, 1);
    for (let e = 0; e < this.entities; e++) Atomics.notify(w, this.L.schedWake + e);
    cpu.report('deadlock', 'INFO: deadlock detected: no runnable CPU', body, true, { cycle, waits, waitLocks: [...waitLocks].sort() });
    throw new StopRun();
  }

  /** Follow entity -> lock it waits on -> owner ... from `start`; the cycle as text, or null. */
  private cycle(start: number): string | null {
    const w = this.w;
    const seen = new Map<number, number>();
    const path: string[] = [];
    for (let e = start; e >= 0; ) {
      if (seen.has(e)) return [...path.slice(seen.get(e)!), name(e, this.n)].join(' -> ');
      seen.set(e, path.length);
      const x = this.L.cpus + e * X_SIZE;
      const st = w[x + X.STATE];
      if (st !== CpuState.blocked && st !== CpuState.spinning) return null;
      const lock = w[x + X.WAIT_LOCK]!;
      path.push(name(e, this.n), lockName(lock));
      e = w[this.L.locks + lock * LK.SIZE + LK.OWNER]! - 1;
    }
    return null;
  }

  // ---- SchedHooks ----------------------------------------------------------------------
  pointAction(cpu: Cpu): number {
    const w = this.w;
    if (this.stopped()) throw new StopRun();
    if (w[this.h + RUN.RUN_GO] === 0) return cpu.id * 2; // early boot: only the boot CPU exists
    const step = ++w[this.sc + SC.STEP]!;
    if (step > w[this.sc + SC.MAX_STEPS]!) {
      cpu.report('hang', `percpu-stress: no completion after ${step - 1} scheduling points`, 'the controlled run exceeded its step budget (a livelock, or a budget too small for the programs)');
    }
    const a = this.decide(cpu.id);
    if (a < 0) this.deadlock(cpu);
    return a;
  }

  switchTo(cpu: Cpu, action: number): boolean {
    return this.handoff(cpu.id, action, true);
  }

  waitFor(cpu: Cpu, lock: number, state: CpuState): void {
    const w = this.w;
    const prev = w[cpu.x + X.STATE]!;
    w[cpu.x + X.STATE] = state;
    w[cpu.x + X.WAIT_LOCK] = lock;
    for (;;) {
      if (this.stopped()) throw new StopRun();
      w[this.sc + SC.STEP]!++;
      const a = this.decide(cpu.id);
      if (a < 0) this.deadlock(cpu);
      if (a >> 1 !== cpu.id) this.handoff(cpu.id, a, true);
      if (this.isRunnable(cpu.id)) break;
    }
    w[cpu.x + X.STATE] = prev;
  }

  released(): void {}

  /**
   * An idle CPU or the kworker: let others run until this one is chosen.
   * Returns true when it should take an interrupt; false when it should look
   * at its own condition again (work to do, or nothing left to wait for).
   */
  idle(cpu: Cpu): boolean {
    if (this.stopped()) throw new StopRun();
    this.w[this.sc + SC.STEP]!++;
    const a = this.decide(cpu.id);
    if (a < 0) this.deadlock(cpu);
    if (a >> 1 === cpu.id) return (a & 1) === 1;
    return this.handoff(cpu.id, a, true);
  }

  /** This entity is done: pass the token on for good. */
  exit(cpu: Cpu): void {
    this.w[cpu.x + X.STATE] = CpuState.done;
    if (this.stopped()) {
      // the run was stopped (an oops): wake everyone now rather than at their next timeout
      for (let e = 0; e < this.entities; e++) Atomics.notify(this.w, this.L.schedWake + e);
      return;
    }
    this.collect();
    if (this.count === 0) {
      for (let e = 0; e < this.entities; e++) {
        const st = this.w[this.L.cpus + e * X_SIZE + X.STATE];
        if (st !== CpuState.done) this.deadlock(cpu);
      }
      return;
    }
    const a = this.decide(cpu.id);
    this.handoff(cpu.id, a, false);
  }
}

function name(e: number, n: number): string {
  return e < n ? `cpu${e}` : 'kworker/0:1';
}
