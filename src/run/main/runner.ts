// The runner: runs of a scenario on real threads. Every pool thread holds
// one long-lived session (src/run/session.ts); a run is started and ended
// through the control block in shared memory, so a run costs no piscina
// round trip and no copy of the machine spec or the programs. The runner
// boots the machine's shared memory, writes the programs of a controlled run
// into the program buffer, watches the run (src/run/watchdog.ts), and after
// it checks the quiescent state. Nothing here outlives its budget: a run that
// cannot finish in time ends incomplete, and threads that do not stop when
// told are terminated.

import { MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { CpuPool } from './pool.ts';
import { Kernel, newShm, planMachine, type MachineSpec } from '../machine.ts';
import type { RunReport, SessionMessage } from '../messages.ts';
import type { RunResult } from '../../report/result.ts';
import type { Shm } from '../../shm/layout.ts';
import { MM } from '../../mm/records.ts';
import { pageSizeOf } from '../../mm/pages.ts';
import { CMD_EXIT, CMD_RUN, CT, CT_PROG, CT_RES, CT_SIZES, CT_WORDS, CTF_CHECKS, CTF_PROGRAMS, CTF_TIMING, MAX_ENTITIES, RS } from '../control.ts';
import { MAX_SIZE_PAIRS } from '../../../scenarios/lib/sizes.ts';
import { RUN, STOP_BUDGET, STOP_INTERRUPT, STOP_TERMINATE } from '../records.ts';
import { Mode } from '../../sched/strategy.ts';
import { EXTERNAL_DURATION_OPS, setUpRun, type RunOptions, type RunSpec } from '../spec.ts';
import { runVerdict, type PartOutcome } from '../verdict.ts';
import { allCpus } from '../describe.ts';
import { Watchdog } from './watchdog.ts';
import { Engine } from './engine.ts';

export type { RunResult, LockStats } from '../../report/result.ts';

export type { RunOptions } from '../spec.ts';
export { EXTERNAL_DURATION_OPS, MAX_STEP_BUDGET, STEPS_PER_OP_BUDGET, scenarioConfig } from '../spec.ts';

/** Shared memory the runner keeps machines in, at most (the one a run needs is always made). */
export const MACHINE_BYTES = 256 << 20;

/**
 * The bytes of a machine's buffer that can be non-zero: everything below the
 * page frames, and the frames below the high-water mark (a boot clears the
 * frames the last run used; frames above the mark were never written since).
 * A buffer handed to the next machine is cleared this far, no further, so
 * that pages no run wrote stay out of the resident set.
 */
function usedBytes(shm: Shm): number {
  const hwm = Math.min(shm.L.nrPages, Math.max(shm.w[shm.L.mm + MM.PAGE_HWM]!, shm.w[shm.L.mm + MM.PAGE_CURSOR]!));
  return Math.min(shm.L.bytes, shm.L.pageData + hwm * pageSizeOf(shm));
}
/** Time the threads get to stop after being told, before they are terminated. */
export const GRACE_MS = 3000;
/**
 * A free-running timed run's programs stop at its deadline; then its
 * epilogue (every CPU frees what it holds, the pending interrupts and the
 * reclaim work run) and the quiescence checks must fit in this much more.
 */
export const EPILOGUE_MS = 1000;

/**
 * The time budget of a run given by its op count (--ops): 30 s, plus 0.5 ms
 * per op of every entity -- some fifty times what an op costs with every
 * check on, on a host whose cores run several CPUs each. A run still going
 * then ends as "could not finish" (exit 5), with the state of every CPU.
 */
export function opsBudgetMs(ops: number, entities: number): number {
  return 30_000 + ops * entities * 0.5;
}

interface Machine {
  id: number;
  spec: MachineSpec;
  shm: Shm;
  kernel: Kernel;
  registered: boolean;
}

export class Runner extends Engine {
  readonly engine = 'threads' as const;
  private pool: CpuPool | null = null;
  private threads = 0;
  private readonly ctlSab = new SharedArrayBuffer(CT_WORDS * 4);
  private readonly ctl = new Int32Array(this.ctlSab);
  private ports: MessagePort[] = [];
  private sessions: Promise<unknown>[] = [];
  private sessionError: Error | null = null;
  private readonly machines = new Map<string, Machine>();
  private nextMachine = 1;
  private programs = new Int32Array(new SharedArrayBuffer(4 * 4096));
  private programsRegistered = false;
  private active: Shm | null = null;
  private interrupted = false;
  /** Threads terminated because they did not stop when told (over the runner's life). */
  terminations = 0;

  interrupt(): void {
    this.interrupted = true;
    if (this.active) {
      const w = this.active.w, h = this.active.L.run;
      if (Atomics.compareExchange(w, h + RUN.STOP, 0, STOP_INTERRUPT) === 0) w[h + RUN.STOP_REASON] = STOP_INTERRUPT;
    }
  }

  get wasInterrupted(): boolean {
    return this.interrupted;
  }

  /**
   * The machine for a spec, booted once and kept for the next run with the
   * same spec. Memory stays bounded: past MACHINE_BYTES (or 16 machines),
   * the least recently used are forgotten here and by every thread.
   */
  private machineFor(spec: MachineSpec): Machine {
    const key = JSON.stringify(spec);
    let m = this.machines.get(key);
    if (m) {
      // most recently used last
      this.machines.delete(key);
      this.machines.set(key, m);
      return m;
    }
    let bytes = spec.L.bytes;
    for (const x of this.machines.values()) bytes += x.shm.sab.byteLength;
    const freed: { sab: SharedArrayBuffer; used: number }[] = [];
    for (const [oldKey, old] of this.machines) {
      if (bytes <= MACHINE_BYTES && this.machines.size < 16) break;
      this.machines.delete(oldKey);
      bytes -= old.shm.sab.byteLength;
      if (old.registered) this.post({ type: 'forget', id: old.id });
      freed.push({ sab: old.shm.sab, used: usedBytes(old.shm) });
    }
    // a forgotten machine's buffer serves the new one when it is large enough (freeing it is up to
    // the garbage collector of every thread, which may take its time)
    // a big machine gets a buffer of the whole allowance, so that the next big one reuses it rather
    // than leaving the old one as garbage (shared buffers are freed late)
    const reuse = freed.filter((b) => b.sab.byteLength >= spec.L.bytes).sort((a, b) => a.sab.byteLength - b.sab.byteLength)[0];
    const fresh = !reuse && spec.L.bytes > MACHINE_BYTES / 4 && spec.L.bytes < MACHINE_BYTES ? new SharedArrayBuffer(MACHINE_BYTES) : undefined;
    const shm = reuse ? newShm(spec, reuse.sab, reuse.used) : newShm(spec, fresh, 0);
    m = { id: this.nextMachine++, spec, shm, kernel: new Kernel(spec, shm), registered: false };
    this.machines.set(key, m);
    return m;
  }

  private post(msg: SessionMessage): void {
    for (const p of this.ports) p.postMessage(msg);
  }

  /** Enough threads, each running a session; a bigger pool replaces a smaller one. */
  private async ensureThreads(n: number): Promise<void> {
    if (this.pool && this.threads >= n && !this.sessionError) return;
    await this.stopSessions();
    const threads = Math.max(n, this.threads);
    this.pool = await CpuPool.create(threads);
    this.threads = threads;
    this.sessionError = null;
    this.ctl.fill(0);
    this.ports = [];
    this.sessions = [];
    for (let t = 0; t < threads; t++) {
      const { port1, port2 } = new MessageChannel();
      this.ports.push(port1);
      this.sessions.push(this.pool.session({ kind: 'session', ctl: this.ctlSab, thread: t, port: port2 }).catch((e: unknown) => {
        this.sessionError ??= e instanceof Error ? e : new Error(String(e));
      }));
    }
    for (const m of this.machines.values()) m.registered = false;
    this.programsRegistered = false;
  }

  private async stopSessions(terminate = false): Promise<void> {
    if (!this.pool) return;
    if (!terminate && !this.sessionError) {
      this.ctl[CT.CMD] = CMD_EXIT;
      Atomics.store(this.ctl, CT.DONE, 0);
      Atomics.add(this.ctl, CT.GEN, 1);
      Atomics.notify(this.ctl, CT.GEN);
      const exited = await Promise.race([Promise.all(this.sessions).then(() => true), new Promise<false>((r) => setTimeout(() => r(false), GRACE_MS).unref())]);
      if (!exited) this.terminations++;
    }
    await this.pool.close();
    for (const p of this.ports) p.close();
    this.pool = null;
    this.ports = [];
    this.sessions = [];
  }

  /** Write the programs of a controlled run into the program buffer (grown, and re-sent, when too small). */
  private writePrograms(programs: Int32Array[]): void {
    const total = programs.reduce((n, p) => n + p.length, 0);
    if (total > this.programs.length) {
      let words = this.programs.length;
      while (words < total) words *= 2;
      this.programs = new Int32Array(new SharedArrayBuffer(words * 4));
      this.programsRegistered = false;
    }
    if (!this.programsRegistered) {
      this.post({ type: 'programs', sab: this.programs.buffer as SharedArrayBuffer });
      this.programsRegistered = true;
    }
    let at = 0;
    for (let e = 0; e < MAX_ENTITIES; e++) {
      const p = programs[e];
      this.ctl[CT_PROG + e * 2] = at;
      this.ctl[CT_PROG + e * 2 + 1] = p ? p.length : 0;
      if (p) {
        this.programs.set(p, at);
        at += p.length;
      }
    }
  }

  /** Play one run on the threads: one pool thread per entity, the token handed between them. */
  async play(s: RunSpec, o: RunOptions, t0: number): Promise<RunResult> {
    const m = this.machineFor(planMachine(s.config));
    const spec = m.spec;
    const shm = m.shm;
    const bootLog = setUpRun(s, spec, shm);
    const controlled = s.strategy !== Mode.os;
    const programs = s.programs;
    if (this.interrupted) return runVerdict(s, m.kernel, [], bootLog, { hang: null, stopReason: STOP_INTERRUPT, terminated: false, notes: [], ms: 0 });
    await this.ensureThreads(s.cpus + 1);
    if (!m.registered) {
      this.post({ type: 'machine', id: m.id, spec, sab: shm.sab });
      m.registered = true;
    }
    if (programs) this.writePrograms(programs);
    // the run's own time: what is left of the deadline once the threads are up
    const deadline = o.deadline ?? (o.durationMs && !controlled ? t0 + o.durationMs : 0);
    const durationMs = o.durationMs && !controlled ? Math.max(1, (deadline || t0 + o.durationMs) - Date.now()) : 0;
    // a controlled run is cut at its deadline like any other (then it proves nothing: incomplete)
    const budgetEnd = deadline ? deadline + (controlled ? 0 : EPILOGUE_MS) : t0 + opsBudgetMs(s.ops || EXTERNAL_DURATION_OPS, s.cpus + 1);
    const c = this.ctl;
    c[CT.CMD] = CMD_RUN;
    c[CT.MACHINE] = m.id;
    c[CT.ENTITIES] = s.cpus + 1;
    c[CT.MODE] = s.strategy;
    c[CT.SCENARIO] = s.scenarioId;
    c[CT.SEED] = s.seed | 0;
    c[CT.OPS] = s.ops;
    c[CT.DURATION_MS] = durationMs;
    c[CT.SETUP_OPS] = s.setupOps;
    const sizes = s.sizes ?? null;
    c[CT.SIZES_LEN] = sizes ? Math.min(sizes.length, MAX_SIZE_PAIRS * 2) : 0;
    if (sizes) for (let i = 0; i < c[CT.SIZES_LEN]!; i++) c[CT_SIZES + i] = sizes[i]!;
    c[CT.FLAGS] = (s.checks ? CTF_CHECKS : 0) | (controlled ? 0 : CTF_TIMING) | (programs ? CTF_PROGRAMS : 0);
    Atomics.store(c, CT.DONE, 0);
    const watch = new Watchdog(m.kernel, { limitMs: o.watchdogMs ?? 5000, budgetEnd, controlled, onProgress: o.onProgress, deadline, t0 });
    this.active = shm;
    watch.start();
    Atomics.add(c, CT.GEN, 1);
    Atomics.notify(c, CT.GEN);
    let results: PartOutcome[];
    let terminated = false;
    try {
      terminated = !(await this.waitDone(watch));
      results = terminated ? [] : this.collect(s.cpus + 1);
    } finally {
      watch.stop();
      this.active = null;
    }
    if (terminated) {
      watch.stopRun(STOP_TERMINATE);
      await this.stopSessions(true);
    }
    const stopReason = shm.w[shm.L.run + RUN.STOP_REASON]!;
    const notes: string[] = [];
    if (terminated) notes.push(`the worker threads did not stop within ${GRACE_MS / 1000} s of being told and were terminated`);
    if (watch.hostStallMs > 1000) notes.push(`the host itself stalled for ${(watch.hostStallMs / 1000).toFixed(1)} s during the run (watchdog timer lag); that time was not counted against any CPU`);
    return runVerdict(s, m.kernel, results, bootLog, {
      hang: watch.hang, stopReason, terminated, notes, ms: Date.now() - t0, ...(stopReason === STOP_BUDGET ? { cpuStates: allCpus(m.kernel) } : {}),
    });
  }

  /** Wait for every thread to report; false when they had to be terminated. */
  private async waitDone(watch: Watchdog): Promise<boolean> {
    const c = this.ctl;
    for (;;) {
      const done = Atomics.load(c, CT.DONE);
      if (done >= this.threads) return true;
      if (this.sessionError) return false;
      if (watch.stopAt && Date.now() - watch.stopAt > GRACE_MS) return false;
      const r = Atomics.waitAsync(c, CT.DONE, done, 100);
      if (r.async) await r.value;
    }
  }

  private collect(entities: number): PartOutcome[] {
    const c = this.ctl;
    const out: PartOutcome[] = [];
    for (let t = 0; t < entities; t++) {
      const r = CT_RES + t * RS.SIZE;
      const res: PartOutcome = {
        counters: {
          ops: c[r + RS.OPS]!, alloc: c[r + RS.ALLOC]!, free: c[r + RS.FREE]!, irqfree: c[r + RS.IRQFREE]!,
          irqsHandled: c[r + RS.IRQS_HANDLED]!, failed: c[r + RS.FAILED]!, touches: c[r + RS.TOUCHES]!, checks: c[r + RS.CHECKS]!,
        },
        oops: c[r + RS.OOPS] === 1, stopped: c[r + RS.STOPPED] === 1, reclaimRuns: c[r + RS.RECLAIM_RUNS]!, activeMs: c[r + RS.ACTIVE_MS]!,
        violations: [], log: [],
      };
      if (c[r + RS.MESSAGES]) {
        const gen = Atomics.load(c, CT.GEN);
        for (let msg = receiveMessageOnPort(this.ports[t]!); msg; msg = receiveMessageOnPort(this.ports[t]!)) {
          const rep = msg.message as RunReport;
          if (rep.gen !== gen) continue; // from an earlier run that was cut short
          res.violations = rep.violations;
          res.log = rep.log;
          break;
        }
      }
      out.push(res);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.stopSessions();
  }
}
