// The events workqueue with its one worker (kworker/0:1), reduced to what
// percpu needs: work items with a pending bit on one FIFO worklist.
// schedule_work test-and-sets the bit and, when it was clear, queues the
// item at the tail and wakes the worker; it never sleeps, so it is fine
// under pcpu_lock and in hardirq context. The worker takes the item at the
// head and clears the bit BEFORE it runs the function, so a request made
// while the work runs queues it again. While a work function runs, the
// worker holds the lockdep maps of the workqueue and of the work item, as
// the kernel does; flush_work and cancel_work_sync take the item's map too,
// which is how lockdep sees flush-under-lock deadlocks.
//
// Work items live wherever their owner keeps them (src/workqueue/records.ts):
// static ones in the workqueue's region, embedded ones inside other objects
// (4.1's chunk->map_extend_work). INIT_WORK gives an embedded item an id and
// registers it with debug-objects; freeing the memory that holds an item
// still queued or running is what CONFIG_DEBUG_OBJECTS_WORK reports
// ("ODEBUG: free active object type: work_struct"), and, as the kernel's
// fixup does, the item is then cancelled so that the worker never runs a
// function on freed memory.
//
// The work item's bits are ones the kernel sets and clears atomically
// (test_and_set_bit, clear_bit): they are read and written with Atomics
// here, and are not among the fields the lock rules cover.

import type { Shm } from '../shm/layout.ts';
import { MAX_WORKS, ODEBUG_STATE_ACTIVE, ODEBUG_STATE_INIT, ODEBUG_STATE_NONE, WK, WQ, WT } from './records.ts';
import { X } from '../sync/records.ts';
import type { Cpu } from '../sync/cpu.ts';
import { Lock, lockName } from '../sync/locks.ts';
import { F } from '../sync/sites.ts';
import { rawLock, rawUnlock } from '../sync/raw.ts';

/** The static work item 2.6.35's allocator schedules (pcpu_reclaim_work), and 4.1's (pcpu_balance_work). */
export const WORK_RECLAIM = 0;
export const WORK_BALANCE = 0;

export type ProcessOneWork = (wq: Workqueue, kworker: Cpu, work: number) => boolean;

/** What runs a work item's function: the allocator that owns it (src/percpu/allocator.ts). */
export interface WorkFunctions {
  /** Run work function `fn` of the item at `work` on the worker; returns what the function reports (chunks destroyed). */
  workFn(cpu: Cpu, fn: number, work: number): number[];
  /** work->func's name, for reports. */
  workFnName(fn: number): string;
}

/**
 * A checker of progress (src/check/progress.ts): told when each run of a work
 * item starts and ends, on the worker, inside the run. Whatever
 * process_one_work a machine booted calls these through started() and
 * finished().
 */
export interface WorkRunHooks {
  runStarted(kworker: Cpu, work: number): void;
  runEnded(kworker: Cpu, work: number): void;
}

export class Workqueue {
  private readonly w: Int32Array;
  private readonly works: number;
  private readonly wq: number;
  private readonly table: number;
  private readonly ids: number;
  /** process_one_work as this machine booted it (a variant may replace it). */
  processOneWork: ProcessOneWork = processOneWork;
  /** Whose work functions the items run (set when the machine attaches its allocator). */
  fns: WorkFunctions | null = null;
  /** What the last run of a work function returned. */
  lastResult: number[] = [];
  /** The progress checker (checks on), or null. */
  progress: WorkRunHooks | null = null;

  constructor(shm: Shm) {
    this.w = shm.w;
    this.works = shm.L.works;
    this.wq = shm.L.wq;
    this.table = shm.L.workTable;
    this.ids = shm.L.nrWorkIds;
  }

  /** The address of static work item `i`. */
  work(i: number): number {
    return this.works + i * WK.SIZE;
  }

  private at(work: number, field: WK): number {
    return work + field;
  }

  /** The work's id: its row in the work table, where the race detector keeps its clocks. */
  id(work: number): number {
    return this.w[work + WK.ID]! - 1;
  }

  pending(work: number): boolean {
    return Atomics.load(this.w, this.at(work, WK.PENDING)) !== 0;
  }
  running(work: number): boolean {
    return Atomics.load(this.w, this.at(work, WK.RUNNING)) !== 0;
  }
  runs(work: number): number {
    return this.w[this.at(work, WK.RUNS)]!;
  }
  lost(work: number): number {
    return this.w[this.at(work, WK.LOST)]!;
  }
  /** schedule_work calls not followed by the start of a run (a lost request if the work is idle). */
  unserved(work: number): number {
    return this.w[this.at(work, WK.SCHED_SEQ)]! - this.w[this.at(work, WK.START_SEQ)]!;
  }
  /** schedule_work calls not followed by a run a checker saw do the work's job (checks on: see WK.JUDGED_SEQ). */
  unjudged(work: number): number {
    return this.w[this.at(work, WK.SCHED_SEQ)]! - this.w[this.at(work, WK.JUDGED_SEQ)]!;
  }
  /** The run in progress did the work's job: the requests it serves are served for real. */
  judged(work: number): void {
    Atomics.store(this.w, this.at(work, WK.JUDGED_SEQ), Atomics.load(this.w, this.at(work, WK.START_SEQ)));
  }
  /** Is any work item on the worklist? */
  queued(): boolean {
    return Atomics.load(this.w, this.wq + WQ.HEAD) !== 0;
  }
  /** Set one of the work item's bits (process_one_work's own updates). */
  setWord(work: number, field: WK, v: number): void {
    Atomics.store(this.w, this.at(work, field), v);
  }

  // ---- INIT_WORK, and the items' ids --------------------------------------------
  /**
   * INIT_WORK / DECLARE_WORK: a clear item that runs work function `fn`,
   * whose lockdep map is of class `cls`. A static item (`i` below
   * MAX_WORKS) has id `i`; an embedded one takes a free id and is known to
   * debug-objects until the memory holding it is freed.
   */
  initWork(work: number, fn: number, cls: number, staticId = -1): void {
    const w = this.w;
    for (let f = 0; f < WK.SIZE; f++) w[work + f] = 0;
    w[work + WK.FUNC] = fn;
    w[work + WK.CLASS] = cls;
    let id = staticId;
    if (id < 0) {
      rawLock(w, this.wq + WQ.LOCK);
      for (let i = MAX_WORKS; i < this.ids && id < 0; i++) if (w[this.table + i * WT.SIZE + WT.ADDR] === 0) id = i;
      if (id >= 0) w[this.table + id * WT.SIZE + WT.ADDR] = work;
      rawUnlock(w, this.wq + WQ.LOCK);
      if (id < 0) throw new RangeError(`emulator capacity exceeded: more than ${this.ids - MAX_WORKS} embedded work items`);
    } else {
      w[this.table + id * WT.SIZE + WT.ADDR] = work;
    }
    w[this.table + id * WT.SIZE + WT.STATE] = ODEBUG_STATE_INIT;
    w[work + WK.ID] = id + 1;
  }

  // ---- requests and runs ----------------------------------------------------------
  /**
   * A run starts (the worker holds the item's word, see begin()): every
   * request made before this point is served by it.
   */
  started(kworker: Cpu, work: number): void {
    Atomics.store(this.w, this.at(work, WK.START_SEQ), Atomics.load(this.w, this.at(work, WK.SCHED_SEQ)));
    kworker.host.race?.workStarted(kworker, this.id(work));
    this.progress?.runStarted(kworker, work);
  }
  /** The item's word is held: its bits and the clock of its requests change together. */
  begin(work: number): void {
    rawLock(this.w, this.at(work, WK.LOCK));
  }
  end(work: number): void {
    rawUnlock(this.w, this.at(work, WK.LOCK));
  }
  /** A run ended: count it and wake whoever flushes. */
  finished(kworker: Cpu, work: number): void {
    this.progress?.runEnded(kworker, work);
    kworker.host.race?.workEnded(kworker, this.id(work));
    Atomics.add(this.w, this.at(work, WK.RUNS), 1);
    Atomics.store(this.w, this.at(work, WK.RUNNING), 0);
    this.setState(work, ODEBUG_STATE_INIT);
    Atomics.add(this.w, this.wq + WQ.DONE_SEQ, 1);
    Atomics.notify(this.w, this.wq + WQ.DONE_SEQ);
  }

  private setState(work: number, state: number): void {
    const id = this.id(work);
    if (id >= 0) this.w[this.table + id * WT.SIZE + WT.STATE] = state;
  }

  /** schedule_work: returns true when this call queued the work. */
  scheduleWork(cpu: Cpu, work: number): boolean {
    cpu.enter(F.schedule_work);
    cpu.w[cpu.x + X.WORK_REQS]!++;
    this.begin(work);
    Atomics.add(this.w, this.at(work, WK.SCHED_SEQ), 1);
    const queued = Atomics.compareExchange(this.w, this.at(work, WK.PENDING), 0, 1) === 0;
    const running = this.running(work);
    // the request's clock goes to the next run to start (test_and_set_bit is a full barrier, failed or not)
    cpu.host.race?.workRequested(cpu, this.id(work));
    if (queued) {
      this.setState(work, ODEBUG_STATE_ACTIVE);
      this.enqueue(work);
    }
    this.end(work);
    if (queued) {
      Atomics.add(this.w, this.at(work, WK.QUEUED), 1);
      Atomics.add(this.w, this.wq + WQ.WAKE, 1);
      Atomics.notify(this.w, this.wq + WQ.WAKE, 1);
    } else if (running) {
      // pending and already running: no run is left to serve this request
      Atomics.add(this.w, this.at(work, WK.LOST), 1);
    }
    cpu.leave();
    return queued;
  }

  /** insert_work: the item joins the tail of the worklist. */
  private enqueue(work: number): void {
    const w = this.w;
    rawLock(w, this.wq + WQ.LOCK);
    w[work + WK.NEXT] = 0;
    const tail = w[this.wq + WQ.TAIL]!;
    if (tail === 0) Atomics.store(w, this.wq + WQ.HEAD, work);
    else w[tail + WK.NEXT] = work;
    w[this.wq + WQ.TAIL] = work;
    rawUnlock(w, this.wq + WQ.LOCK);
  }

  /** Take `work` off the worklist (the head, or anywhere: a cancel); false when it is not on it. */
  private dequeue(work: number): boolean {
    const w = this.w;
    rawLock(w, this.wq + WQ.LOCK);
    let prev = 0;
    let pos = w[this.wq + WQ.HEAD]!;
    for (let n = 0; pos !== 0 && pos !== work; n++) {
      if (n > this.ids) {
        rawUnlock(w, this.wq + WQ.LOCK);
        throw new Error('the worklist does not end: a work item was queued twice or its memory reused while queued');
      }
      prev = pos;
      pos = w[pos + WK.NEXT]!;
    }
    if (pos !== 0) {
      const next = w[pos + WK.NEXT]!;
      if (prev === 0) Atomics.store(w, this.wq + WQ.HEAD, next);
      else w[prev + WK.NEXT] = next;
      if (w[this.wq + WQ.TAIL] === pos) w[this.wq + WQ.TAIL] = prev;
      w[pos + WK.NEXT] = 0;
    }
    rawUnlock(w, this.wq + WQ.LOCK);
    return pos !== 0;
  }

  /** The worker: take the first item off the worklist and process it. Returns whether one ran. */
  runNext(kworker: Cpu): boolean {
    const work = Atomics.load(this.w, this.wq + WQ.HEAD);
    if (work === 0 || !this.dequeue(work)) return false;
    return this.processOneWork(this, kworker, work);
  }

  /** Run the function of `work` on the worker (process_one_work's call of work->func). */
  execute(kworker: Cpu, work: number): void {
    this.lastResult = this.fns!.workFn(kworker, this.w[work + WK.FUNC]!, work);
  }

  /** The worker's state in a report: each static work item pending or idle, and how many embedded ones are queued. */
  describe(): string {
    const parts: string[] = [];
    let embedded = 0;
    for (let pos = this.w[this.wq + WQ.HEAD]!, n = 0; pos !== 0 && n < this.ids; pos = this.w[pos + WK.NEXT]!, n++) if (this.id(pos) >= MAX_WORKS) embedded++;
    for (let i = 0; i < MAX_WORKS; i++) {
      const work = this.work(i);
      if (this.w[work + WK.ID] === 0) continue;
      const name = this.fns?.workFnName(this.w[work + WK.FUNC]!).replace(/^pcpu_/, '').replace(/_workfn$/, '') ?? `work ${i}`;
      parts.push(`${name} work ${this.pending(work) ? 'pending' : 'idle'}`);
    }
    if (embedded) parts.push(`${embedded} embedded work item${embedded === 1 ? '' : 's'} queued`);
    return parts.join(', ');
  }

  /** The lockdep class of a work item's map. */
  workClass(work: number): number {
    return this.w[work + WK.CLASS]!;
  }

  /** Run every queued work item on the worker now (single-thread use); returns what the functions reported, concatenated. */
  runQueued(kworker: Cpu): number[] {
    const out: number[] = [];
    while (this.queued()) if (this.runNext(kworker)) out.push(...this.lastResult);
    return out;
  }

  /** The worker's wake word: wait on it while no work is pending. */
  wakeWord(): number {
    return this.wq + WQ.WAKE;
  }
  doneWord(): number {
    return this.wq + WQ.DONE_SEQ;
  }

  /**
   * flush_work from a CPU (process context, may sleep): wait until the work
   * is neither pending nor running. `waitOnce` sleeps until the worker
   * reports progress (it differs between threads and controlled mode).
   */
  flushWork(cpu: Cpu, work: number, waitOnce: () => void): void {
    cpu.enter(F.flush_work);
    cpu.mightSleep();
    cpu.lockMapAcquire(this.workClass(work));
    cpu.lockMapRelease(this.workClass(work));
    while (this.pending(work) || this.running(work)) waitOnce();
    cpu.host.race?.workFlushed(cpu, this.id(work));
    cpu.leave();
  }

  /**
   * cancel_work_sync: take a pending item off the worklist, then wait for a
   * run in progress to end. Returns whether it was pending. CONTEXT: may sleep.
   */
  cancelWorkSync(cpu: Cpu, work: number, waitOnce: () => void): boolean {
    cpu.enter(F.cancel_work_sync);
    cpu.mightSleep();
    cpu.lockMapAcquire(this.workClass(work));
    cpu.lockMapRelease(this.workClass(work));
    const was = this.cancel(work);
    while (this.running(work)) waitOnce();
    cpu.host.race?.workFlushed(cpu, this.id(work));
    cpu.leave();
    return was;
  }

  /** Take the item off the worklist and clear its pending bit; returns whether it was pending. */
  private cancel(work: number): boolean {
    this.begin(work);
    const was = this.dequeue(work) && Atomics.exchange(this.w, this.at(work, WK.PENDING), 0) !== 0;
    if (!this.running(work)) this.setState(work, ODEBUG_STATE_INIT);
    this.end(work);
    return was;
  }

  // ---- debug-objects: the memory holding a work item is being freed -------------
  /**
   * debug_check_no_obj_freed for work items: every embedded item in
   * [p, p + words) is forgotten; one still queued or running is reported
   * (ODEBUG's "free active object") and cancelled, as the kernel's fixup
   * (work_fixup_free) does.
   */
  checkFreed(cpu: Cpu, p: number, words: number, report = true): void {
    const w = this.w;
    for (let id = MAX_WORKS; id < this.ids; id++) {
      const row = this.table + id * WT.SIZE;
      const work = w[row + WT.ADDR]!;
      if (work < p || work >= p + words) continue;
      const active = w[row + WT.STATE] === ODEBUG_STATE_ACTIVE || this.pending(work) || this.running(work);
      if (active && report) {
        const fn = this.fns?.workFnName(w[work + WK.FUNC]!) ?? `work function ${w[work + WK.FUNC]}`;
        cpu.report('debug-objects', `ODEBUG: free active (active state 0) object type: work_struct hint: ${fn}`,
          `WARNING: at lib/debugobjects.c:debug_print_object()\n${cpu.name} frees w[${p}] (${words * 4} bytes), which holds work item w[${work}] (${lockName(w[work + WK.CLASS]!)}) ` +
          `while it is ${this.running(work) ? 'running' : 'queued'}: the worker would run ${fn} on freed memory; the fixup cancels it`,
          false, { work, function: fn, object: p, state: this.running(work) ? 'running' : 'queued' });
      }
      if (active && this.pending(work)) this.cancel(work);
      w[row + WT.ADDR] = 0;
      w[row + WT.STATE] = ODEBUG_STATE_NONE;
    }
  }
}

/** process_one_work: clear the pending bit, then run the function. */
export function processOneWork(wq: Workqueue, kworker: Cpu, work: number): boolean {
  if (!wq.pending(work)) return false;
  kworker.enter(F.process_one_work);
  wq.begin(work);
  wq.setWord(work, WK.RUNNING, 1);
  wq.setWord(work, WK.PENDING, 0);
  wq.started(kworker, work);
  wq.end(work);
  const cls = wq.workClass(work);
  kworker.lockMapAcquire(Lock.wq_events);
  kworker.lockMapAcquire(cls);
  try {
    wq.execute(kworker, work);
  } finally {
    kworker.lockMapRelease(cls);
    kworker.lockMapRelease(Lock.wq_events);
    wq.finished(kworker, work);
    kworker.leave();
  }
  return true;
}
