// The in-thread engine, on the main thread: each controlled run goes, as a
// value (src/run/spec.ts), to one pool thread that plays all of it -- its
// CPUs and the kworker as coroutines of that thread (src/run/thread/
// inthread.ts, built from the suspending form of the sources) -- and
// returns its result. No token crosses threads, so a run costs no futex
// handoff, and each engine keeps one thread busy: N engines (fuzz --jobs N)
// use N cores. Free-running runs have no scheduling points to suspend at:
// they go to a threads engine this one keeps for them.

import { Piscina } from 'piscina';
import { join } from 'node:path';
import type { RunResult } from '../../report/result.ts';
import { Mode } from '../../sched/strategy.ts';
import { decodeSchedule } from '../../sched/schedule.ts';
import { runDifference } from '../../report/compare.ts';
import { HarnessError } from '../../report/errors.ts';
import { Kernel, newShm, planMachine } from '../machine.ts';
import type { FixReplay, InThreadAnswer, InThreadRun, InThreadTask } from '../messages.ts';
import { STOP_TERMINATE } from '../records.ts';
import { setUpRun, type RunOptions, type RunSpec } from '../spec.ts';
import { runVerdict } from '../verdict.ts';
import { Engine, type EngineName } from './engine.ts';
import { ensureWorkerBuilt, workerExecArgv } from './pool.ts';
import { DIST_DIR } from '../../../bin/build.js';
import { GRACE_MS, opsBudgetMs, Runner } from './runner.ts';

export const INTHREAD_WORKER_FILE = join(DIST_DIR, 'inthread-worker.js');

/**
 * One thread per engine (per job), not one per CPU: it can afford a young
 * generation large enough that the generators every scheduling point makes
 * are collected in few scavenges.
 */
export const INTHREAD_LIMITS = { maxYoungGenerationSizeMb: 48, maxOldGenerationSizeMb: 1024 };

/** Runs that travel to the thread in one message, at most (fuzz keeps RUNS_AHEAD runs ahead). */
const BATCH = 16;

interface Queued {
  task: InThreadRun;
  t0: number;
  signal: AbortSignal | undefined;
  resolve(r: RunResult): void;
  reject(e: unknown): void;
}

export interface InThreadOptions {
  /** The bundle the pool thread loads (tests: one built with a conversion left out on purpose). */
  workerFile?: string;
}

export class InThreadEngine extends Engine {
  readonly engine = 'inthread' as const;
  // the thread takes the next run as soon as it is done with one: no wait for the main thread in between
  override readonly overlaps = true;
  private poolReady: Promise<Piscina> | null = null;
  /** Free-running runs, which have nothing to suspend at, go to the threads. */
  private threads: Runner | null = null;
  /** The threads engine plays one run at a time: what goes to it waits for what went before. */
  private threadsTurn: Promise<unknown> = Promise.resolve();
  private readonly stop = new Int32Array(new SharedArrayBuffer(4));
  private interrupted = false;
  /** Runs handed over and not yet sent to the thread. */
  private queued: Queued[] = [];
  /** Closed: a run handed over late (one a campaign started ahead and never looked at) starts no thread again. */
  private closed = false;

  constructor(private readonly opts: InThreadOptions = {}) {
    super();
  }

  interrupt(): void {
    this.interrupted = true;
    Atomics.store(this.stop, 0, 1);
    this.threads?.interrupt();
  }

  get wasInterrupted(): boolean {
    return this.interrupted;
  }

  /** The pool, made once (runs handed over together must not each make one). */
  private ensurePool(): Promise<Piscina> {
    if (this.closed) return Promise.reject(new Error('the in-thread engine was closed'));
    this.poolReady ??= (async () => {
      if (!this.opts.workerFile) await ensureWorkerBuilt();
      const pool = new Piscina({
        filename: this.opts.workerFile ?? INTHREAD_WORKER_FILE, minThreads: 1, maxThreads: 1, idleTimeout: Infinity,
        concurrentTasksPerWorker: 2, execArgv: workerExecArgv(), resourceLimits: INTHREAD_LIMITS,
      });
      // the answer of a run that was given up on (its thread ended) can still arrive: it is dropped, not thrown
      pool.on('error', () => {});
      return pool;
    })();
    return this.poolReady;
  }

  /** `f` on the threads engine, after whatever was handed to it before (runs overlap here, not there); not if `signal` drops it first. */
  private onThreads<T>(f: (threads: Runner) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the in-thread engine was closed'));
    const threads = (this.threads ??= new Runner());
    // a run handed over ahead (fuzz keeps some) whose turn comes after close() is refused, not played: playing it
    // would start the threads engine's sessions again, which nothing would close (the process would never exit);
    // one its campaign no longer wants is dropped (the next campaign on this engine would wait for it)
    const turn = this.threadsTurn.then(() => (this.closed ? Promise.reject(new Error('the in-thread engine was closed'))
      : signal?.aborted ? Promise.reject(new Error('the run was dropped before it started')) : f(threads)));
    this.threadsTurn = turn.catch(() => {});
    return turn;
  }

  /**
   * A finding is confirmed whatever it takes (no budget: the reference run is the verdict's proof). A
   * run that found nothing is confirmed within the caller's budget (`o.deadline`, and `o.signal` drops a
   * sample not yet started): a reference cut short confirms nothing either way, and the run stands as the
   * in-thread engine made it. Nothing is confirmed after an interrupt (the report is partial), nor a run
   * whose schedule overflowed its record (the replay could not follow it).
   */
  override async confirm(o: RunOptions, r: RunResult): Promise<void> {
    const recorded = r.schedule;
    if (recorded === null || r.scheduleOverflow || this.interrupted) return;
    const finding = r.status === 'violation';
    const ref = await this.onThreads((threads) => threads.run({
      ...o, strategy: Mode.replay, schedule: decodeSchedule(recorded), onProgress: undefined, deadline: finding ? undefined : o.deadline, durationMs: undefined,
      timeline: false, points: false, lockdepExport: false, coverage: false, signal: undefined,
    }), finding ? undefined : o.signal);
    if (ref.status === 'interrupted' || this.interrupted) return;
    if (!finding && ref.status === 'incomplete') return;
    const diff = runDifference(r, ref);
    if (diff !== null) {
      throw new HarnessError(`the in-thread engine and the real threads disagree on ${r.scenario} (seed ${r.seed}, ${r.cpus} CPUs, schedule ${r.schedule || '(empty)'}): ${diff}; no verdict is given (please report it; --engine threads explores without the in-thread engine)`);
    }
  }

  async play(s: RunSpec, o: RunOptions, t0: number): Promise<RunResult> {
    if (s.strategy === Mode.os) return this.onThreads((threads) => threads.play(s, o, t0), o.signal);
    await this.ensurePool();
    // a controlled run is cut at its deadline like any other (then it proves nothing: incomplete)
    const budgetEnd = o.deadline ?? t0 + opsBudgetMs(s.ops, s.cpus + 1);
    return new Promise<RunResult>((resolve, reject) => {
      this.queued.push({ task: { spec: s, budgetEnd, verify: o.verifyKnown !== false }, t0, signal: o.signal, resolve, reject });
      // the runs handed over in one go (fuzz's runs ahead) travel together, in one message each way
      if (this.queued.length === 1) setImmediate(() => this.send());
    });
  }

  /** Send the runs queued so far to the thread, in batches of at most BATCH (those dropped meanwhile are not sent). */
  private send(): void {
    for (const q of this.queued) if (q.signal?.aborted) q.reject(new Error('the run was dropped before it started'));
    this.queued = this.queued.filter((q) => !q.signal?.aborted);
    while (this.queued.length) {
      const batch = this.queued.splice(0, BATCH);
      this.sendBatch(batch).catch((e: unknown) => {
        for (const q of batch) q.reject(e);
      });
    }
  }

  /** The fix replays the thread played ahead, by the run they verify (taken once, by playFixReplay). */
  private readonly fixReplays = new WeakMap<RunResult, FixReplay>();

  protected override playFixReplay(s: RunSpec, o: RunOptions, original: RunResult): Promise<RunResult> {
    const ahead = this.fixReplays.get(original);
    this.fixReplays.delete(original);
    // the thread planned it from the same run (planFixReplay): only the fixes could differ (a claim settled here first)
    if (ahead && ahead.fixes === s.fixes) return Promise.resolve(ahead.result);
    return this.play(s, o, Date.now());
  }

  private async sendBatch(batch: Queued[]): Promise<void> {
    const pool = await this.ensurePool();
    // a run its caller drops after it was sent is skipped by the thread if not yet started
    const drop = dropWords(batch.map((q) => q.signal));
    const task: InThreadTask = { runs: batch.map((q) => q.task), stop: this.stop.buffer as SharedArrayBuffer, drop: drop.words.buffer as SharedArrayBuffer };
    // the thread looks at its clock only between resumes: a part that never reaches a scheduling
    // point cannot see it, so past the budget and a grace the thread is ended from here
    const abort = new AbortController();
    const budgetEnd = Math.max(...batch.map((q) => q.task.budgetEnd));
    // (a main thread that was itself held up -- a scenario file's program generator -- fires the timer
    // late: the thread's answer, if it is already there, is taken before the abort is)
    const timer = setTimeout(() => setImmediate(() => abort.abort()), Math.max(0, budgetEnd - Date.now()) + GRACE_MS);
    timer.unref();
    try {
      const results = (await pool.run(task, { signal: abort.signal })) as InThreadAnswer[];
      batch.forEach((q, i) => {
        const a = results[i]!;
        if ('error' in a) q.reject(new Error(a.error));
        else if ('dropped' in a) q.reject(new Error('the run was dropped before it started'));
        else {
          if (a.fixReplay) this.fixReplays.set(a.result, a.fixReplay);
          q.resolve(a.result);
        }
      });
    } catch (e) {
      // (piscina ends the thread of an aborted task and starts another in its place)
      if (!abort.signal.aborted) throw e;
      for (const q of batch) q.resolve(this.terminated(q.task.spec, q.t0));
    } finally {
      clearTimeout(timer);
      drop.release();
    }
  }

  /** The result of a run whose thread had to be ended: incomplete, judged on a machine booted for it and not played. */
  private terminated(s: RunSpec, t0: number): RunResult {
    const spec = planMachine(s.config);
    const shm = newShm(spec);
    const bootLog = setUpRun(s, spec, shm);
    const note = `the in-thread engine's thread did not end the run within ${GRACE_MS / 1000} s of its budget (a part that reaches no scheduling point) and was terminated`;
    return runVerdict(s, new Kernel(spec, shm), [], bootLog, { hang: null, stopReason: STOP_TERMINATE, terminated: true, notes: [note], ms: Date.now() - t0 });
  }

  async close(): Promise<void> {
    this.closed = true;
    const pool = this.poolReady;
    this.poolReady = null;
    try {
      await (await pool)?.destroy();
    } finally {
      // what is under way on the threads ends first (what is queued behind it is refused), then they close, even
      // when the in-thread pool could not be made or destroyed (its error is the caller's)
      await this.threadsTurn;
      await this.threads?.close();
    }
  }
}

/**
 * A shared word per run of a batch, set when the run's signal aborts (at
 * once if it already has): the thread skips a run whose word is set. One
 * listener per distinct signal (many runs may share one); `release` takes
 * them off when the batch is answered.
 */
export function dropWords(signals: readonly (AbortSignal | undefined)[]): { words: Int32Array; release(): void } {
  const words = new Int32Array(new SharedArrayBuffer(4 * Math.max(1, signals.length)));
  const listeners = new Map<AbortSignal, () => void>();
  signals.forEach((signal, i) => {
    if (!signal) return;
    if (signal.aborted) {
      Atomics.store(words, i, 1);
      return;
    }
    if (listeners.has(signal)) return;
    const f = (): void => {
      signals.forEach((x, j) => x === signal && Atomics.store(words, j, 1));
    };
    listeners.set(signal, f);
    signal.addEventListener('abort', f, { once: true });
  });
  return {
    words,
    release: () => {
      for (const [signal, f] of listeners) signal.removeEventListener('abort', f);
      listeners.clear();
    },
  };
}

/** An engine by its name (--engine). */
export function newEngine(name: EngineName): Engine {
  return name === 'inthread' ? new InThreadEngine() : new Runner();
}
