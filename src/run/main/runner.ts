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
import { Kernel, bootMachine, newShm, planMachine, type MachineSpec } from '../machine.ts';
import type { Scenario } from '../../../scenarios/lib/scenario.ts';
import { generatePrograms } from '../../../scenarios/lib/scenario.ts';
import type { SizeMix } from '../../../scenarios/lib/sizes.ts';
import { externalPath, scenarioId } from '../../../scenarios/index.ts';
import type { RunReport, SessionMessage } from '../messages.ts';
import { newCounters, type LockStats, type RunResult, type RunStatus } from '../../report/result.ts';
import type { Shm } from '../../shm/layout.ts';
import { MM } from '../../mm/records.ts';
import { pageSizeOf } from '../../mm/pages.ts';
import { CMD_EXIT, CMD_RUN, CT, CT_PROG, CT_RES, CT_SIZES, CT_WORDS, CTF_CHECKS, CTF_PROGRAMS, CTF_TIMING, MAX_ENTITIES, RS } from '../control.ts';
import { MAX_SIZE_PAIRS } from '../../../scenarios/lib/sizes.ts';
import { RUN } from '../records.ts';
import { LK, X, X_SIZE } from '../../sync/records.ts';
import { MAX_CLASSES } from '../../lockdep/records.ts';
import { SC } from '../../sched/records.ts';
import { Lock, lockName } from '../../sync/locks.ts';
import { CpuState } from '../../sync/cpu.ts';
import { bugId, conflicts, fixFor } from '../kernels.ts';
import { DEFAULT_KERNEL, type Backend, type Config, type KernelVersion } from '../../shm/config.ts';
import { readTimeline, startTimeline } from './timeline.ts';
import { entityName } from '../../report/timeline.ts';
import { Lockdep } from '../../lockdep/lockdep.ts';
import { COV_WORDS, Cov, covBits, covSet } from '../../shm/coverage.ts';
import { lockdepChains, lockdepDot, lockdepProc } from '../../lockdep/export.ts';
import type { Violation } from '../../report/violation.ts';
import { UsageError } from '../../report/errors.ts';
import { classify, type Suppression } from '../../check/known.ts';
import { invariantViolation, leakViolation } from '../../check/verdict.ts';
import { stateHash } from '../../check/state-hash.ts';
import { chunkCounters, percpuStats } from '../../percpu/stats.ts';
import { Mode, MODE_NAMES } from '../../sched/strategy.ts';
import { decodeSchedule, encodeSchedule, type Schedule } from '../../sched/schedule.ts';
import { initSched, recordedSchedule, STEPS_PER_OP } from '../../sched/setup.ts';
import { STOP_BUDGET, STOP_INTERRUPT, STOP_TERMINATE, Watchdog, allCpus } from './watchdog.ts';

export type { RunResult, LockStats } from '../../report/result.ts';

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
  /** Export the lockdep graph, /proc/lockdep and /proc/lockdep_chains (RunResult.lockdep). */
  lockdepExport?: boolean;
  /** Record coverage for novelty feedback (RunResult.coverage). */
  coverage?: boolean;
  /** Replay controlled runs whose findings a known issue claims, with its fix (default true). */
  verifyKnown?: boolean;
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

/** Ops per CPU generated for a free-running --duration run of a scenario loaded from a file (it ends when they do). */
export const EXTERNAL_DURATION_OPS = 20_000;

/** Most scheduling points a controlled run may take (the step counter is a 32-bit word). */
export const MAX_STEP_BUDGET = 0x7fff_0000;
/** Scheduling points allowed per op before a controlled run counts as a livelock. */
export const STEPS_PER_OP_BUDGET = 2000;
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
const GRACE_MS = 3000;
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

interface Machine {
  id: number;
  spec: MachineSpec;
  shm: Shm;
  kernel: Kernel;
  registered: boolean;
}

interface ThreadResult {
  counters: ReturnType<typeof newCounters>;
  oops: boolean;
  stopped: boolean;
  reclaimRuns: number;
  activeMs: number;
  violations: Violation[];
  log: string[];
}

export class Runner {
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

  /** Stop the run in progress (SIGINT/SIGTERM) and refuse further runs: they end interrupted at once. */
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

  /**
   * One run, with the verdict every command shares: a controlled run whose
   * findings a known issue's mechanism claims is replayed once more with
   * the later kernels' fixes of those issues switched on, and a finding is
   * called known only if that replay no longer shows it.
   */
  async run(o: RunOptions): Promise<RunResult> {
    const { result, programs } = await this.runOnce(o);
    if (o.verifyKnown !== false && programs && result.schedule !== null && result.violations.some((v) => v.mechanism !== undefined && v.notKnown === undefined)) {
      await this.verifyKnown(o, result, programs);
    }
    return result;
  }

  /** Replay `r` with the fixes of every mechanism its findings name; settle which findings are known. */
  private async verifyKnown(o: RunOptions, r: RunResult, programs: Int32Array[]): Promise<void> {
    const claimed = r.violations.filter((v) => v.mechanism !== undefined && v.notKnown === undefined);
    const kernel = o.kernel ?? DEFAULT_KERNEL;
    let fixes = 0;
    const fixName = new Map<string, string>();
    for (const v of claimed) {
      const found = fixFor(kernel, v.mechanism!);
      if (!found) {
        v.notKnown = 'no fix of this known issue exists to verify it with';
        continue;
      }
      fixes |= found.bit;
      fixName.set(v.mechanism!, found.fix.name);
    }
    const pending = claimed.filter((v) => v.notKnown === undefined);
    const names = [...new Set(pending.map((v) => fixName.get(v.mechanism!)!))].join(', ');
    let why = '';
    if (r.scheduleOverflow) why = `its schedule was too long to record whole, so it could not be replayed with the fix (${names})`;
    else if (conflicts(kernel, bugId(kernel, o.inject), fixes)) why = `its fix (${names}) replaces a function the injected bug ${o.inject} replaces too, so it could not be verified`;
    if (!why && pending.length) {
      const again = await this.runOnce({
        ...o, programs, strategy: Mode.replay, schedule: decodeSchedule(r.schedule!), fixes: (o.fixes ?? 0) | fixes,
        timeline: false, lockdepExport: false, coverage: false, onProgress: undefined,
        // deciding the verdict of a run that happened: no budget but its own watchdog and step budget
        deadline: undefined, durationMs: undefined,
      });
      const res = again.result;
      if (res.status === 'incomplete' || res.status === 'interrupted') {
        // cut by a signal or a budget: no verdict either way, and the run says so
        const cut = `the replay with its fix (${names}) was ${res.status === 'interrupted' ? 'interrupted' : 'cut by its budget'} before it could prove or disprove it`;
        for (const v of pending) {
          v.unclassified = cut;
          delete v.known;
          delete v.knownProof;
        }
        if (r.status !== 'violation') r.status = res.status;
        return;
      }
      for (const v of pending) {
        // a leak's title carries its counts, which the fix may change: any leak still there is the leak
        if (res.violations.some((x) => x.kind === v.kind && (x.title === v.title || v.kind === 'leak'))) v.notKnown = `replayed with ${fixName.get(v.mechanism!)} switched on, it is still there`;
        else v.knownProof = 'fix-verified';
      }
    }
    if (why) for (const v of pending) v.notKnown = why;
    if (classify(r.violations, o)) r.status = 'violation';
  }

  private async runOnce(o: RunOptions): Promise<{ result: RunResult; programs: Int32Array[] | undefined }> {
    const t0 = Date.now();
    const planned = planMachine(scenarioConfig(o.scenario, o.cpus, o.seed, o.backend, o.kernel));
    machineAsAsked(o, planned.cfg);
    const m = this.machineFor(planned);
    const spec = m.spec;
    const shm = m.shm;
    const bootLog = bootMachine(spec, shm, { bug: bugId(spec.cfg.kernel, o.inject), fixes: o.fixes ?? 0, fail: o.scenario.fail?.(o.seed), booting: !!o.scenario.boot, brokenLock: o.brokenLock });
    const mode = o.strategy ?? Mode.os;
    const controlled = mode !== Mode.os;
    // a directed set-up is never cut short: its completions would never come
    const ops = o.durationMs && !controlled ? 0 : Math.max(o.ops ?? (controlled ? 40 : 2000), o.programs ? 0 : o.scenario.minOps ?? 0);
    const checks = o.checks ?? true;
    // a scenario loaded from a file exists only on this thread: its programs are generated here, even free-running
    const external = externalPath(o.scenario) !== undefined;
    const programs = o.programs ?? (controlled || external ? generatePrograms(o.scenario, o.cpus, o.seed, ops || EXTERNAL_DURATION_OPS, o.sizes) : undefined);
    if (controlled) {
      const totalOps = programs!.reduce((n, p) => n + p.length / 4, 0);
      const maxSteps = o.maxSteps ?? Math.max(200_000, totalOps * STEPS_PER_OP_BUDGET);
      if (maxSteps > MAX_STEP_BUDGET) throw new RangeError(`a step budget of ${maxSteps} does not fit the 32-bit step counter`);
      const expectedSteps = o.expectedSteps ?? Math.max(100, totalOps * STEPS_PER_OP);
      // URW: each CPU's share of the expected steps follows its program's length; the kworker gets an even share
      const entitySteps = programs!.map((p) => (expectedSteps * (p.length / 4)) / Math.max(1, totalOps));
      entitySteps.push(expectedSteps / spec.L.nrEntities);
      initSched(shm, mode, { seed: o.seed, entities: spec.L.nrEntities, depth: o.depth ?? 3, expectedSteps, entitySteps }, maxSteps, o.schedule);
    } else {
      initSched(shm, Mode.os, { seed: o.seed, entities: spec.L.nrEntities, depth: 1, expectedSteps: 1 }, 0);
    }
    if (controlled && o.timeline) startTimeline(shm);
    if (o.coverage) {
      shm.w.fill(0, shm.L.cov, shm.L.cov + COV_WORDS);
      shm.w[shm.L.run + RUN.COVERAGE] = 1;
    }
    if (controlled) {
      // every CPU is runnable from the first step on, whenever its thread picks the run up
      for (let e = 0; e < o.cpus; e++) shm.w[shm.L.cpus + e * X_SIZE + X.STATE] = CpuState.running;
    }
    if (this.interrupted) return { result: this.finish(o, m, [], null, bootLog, 0, STOP_INTERRUPT), programs };
    await this.ensureThreads(o.cpus + 1);
    if (!m.registered) {
      this.post({ type: 'machine', id: m.id, spec, sab: shm.sab });
      m.registered = true;
    }
    if (programs) this.writePrograms(programs);
    // the run's own time: what is left of the deadline once the threads are up
    const deadline = o.deadline ?? (o.durationMs && !controlled ? t0 + o.durationMs : 0);
    const durationMs = o.durationMs && !controlled ? Math.max(1, (deadline || t0 + o.durationMs) - Date.now()) : 0;
    // a controlled run is cut at its deadline like any other (then it proves nothing: incomplete)
    const budgetEnd = deadline ? deadline + (controlled ? 0 : EPILOGUE_MS) : t0 + opsBudgetMs(ops || EXTERNAL_DURATION_OPS, o.cpus + 1);
    const c = this.ctl;
    c[CT.CMD] = CMD_RUN;
    c[CT.MACHINE] = m.id;
    c[CT.ENTITIES] = o.cpus + 1;
    c[CT.MODE] = mode;
    c[CT.SCENARIO] = scenarioId(o.scenario);
    c[CT.SEED] = o.seed | 0;
    c[CT.OPS] = ops;
    c[CT.DURATION_MS] = durationMs;
    c[CT.SETUP_OPS] = o.scenario.minOps ?? 0;
    const sizes = o.sizes ?? null;
    c[CT.SIZES_LEN] = sizes ? Math.min(sizes.length, MAX_SIZE_PAIRS * 2) : 0;
    if (sizes) for (let i = 0; i < c[CT.SIZES_LEN]!; i++) c[CT_SIZES + i] = sizes[i]!;
    c[CT.FLAGS] = (checks ? CTF_CHECKS : 0) | (controlled ? 0 : CTF_TIMING) | (programs ? CTF_PROGRAMS : 0);
    Atomics.store(c, CT.DONE, 0);
    const watch = new Watchdog(m.kernel, { limitMs: o.watchdogMs ?? 5000, budgetEnd, controlled, onProgress: o.onProgress, deadline, t0 });
    this.active = shm;
    watch.start();
    Atomics.add(c, CT.GEN, 1);
    Atomics.notify(c, CT.GEN);
    let results: ThreadResult[];
    let terminated = false;
    try {
      terminated = !(await this.waitDone(watch));
      results = terminated ? [] : this.collect(o.cpus + 1);
    } finally {
      watch.stop();
      this.active = null;
    }
    if (terminated) {
      watch.stopRun(STOP_TERMINATE);
      await this.stopSessions(true);
    }
    return { result: this.finish(o, m, results, watch, bootLog, Date.now() - t0, shm.w[shm.L.run + RUN.STOP_REASON]!, terminated), programs };
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

  private collect(entities: number): ThreadResult[] {
    const c = this.ctl;
    const out: ThreadResult[] = [];
    for (let t = 0; t < entities; t++) {
      const r = CT_RES + t * RS.SIZE;
      const res: ThreadResult = {
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

  private finish(o: RunOptions, m: Machine, results: ThreadResult[], watch: Watchdog | null, bootLog: string[], ms: number, stopReason: number, terminated = false): RunResult {
    const k = m.kernel;
    k.attach();
    const w = k.shm.w;
    const h = k.shm.L.run;
    const counters = chunkCounters(k.shm);
    const violations: Violation[] = [];
    if (watch?.hang) violations.push(watch.hang);
    for (const r of results) violations.push(...r.violations);
    const stop = w[h + RUN.STOP]!;
    let checksRun = results.reduce((s, r) => s + r.counters.checks, 0);
    const notes: string[] = [];
    if (stop === 0 && results.length) {
      // quiescence: every CPU freed what it held and the reclaim work was flushed
      const failures = k.gen.invariants(k).checkAll();
      checksRun++;
      const quiet: Violation[] = [];
      // a violation per invariant broken: each may have a cause of its own (and a known issue's fix proves only its own)
      for (const name of new Set(failures.map((f) => f.invariant))) quiet.push(invariantViolation(failures.filter((f) => f.invariant === name), -1, 0, ' at quiescence'));
      const leaks = k.gen.leakCheck(k, notes, o.checks !== false);
      if (leaks.length) quiet.push(leakViolation(leaks, -1, 0, `every CPU freed everything, the ${k.spec.cfg.kernel === '2.6.35' ? 'reclaim' : 'queued'} work was flushed`));
      for (const v of quiet) {
        const id = k.gen.attributeQuiescent(k.shm, v);
        if (id) v.mechanism = id;
        violations.push(v);
      }
      if (o.checks !== false) {
        const warn = k.gen.warnLimitProblem(k.shm, (o.strategy ?? Mode.os) !== Mode.os);
        if (warn) {
          const title = `percpu: warn-limit: the allocator departs from ${k.spec.cfg.kernel}`;
          violations.push({ kind: 'spec', cpu: -1, step: 0, title, text: `${title}\n${warn}\n`, held: [], stack: ['pcpu_alloc'], fatal: false, details: { check: 'warn-limit' } });
        }
      }
    }
    if (terminated) notes.push(`the worker threads did not stop within ${GRACE_MS / 1000} s of being told and were terminated`);
    if (watch && watch.hostStallMs > 1000) notes.push(`the host itself stalled for ${(watch.hostStallMs / 1000).toFixed(1)} s during the run (watchdog timer lag); that time was not counted against any CPU`);
    const ops = newCounters();
    for (const r of results) for (const key of Object.keys(ops) as (keyof typeof ops)[]) ops[key] += r.counters[key];
    const locks: LockStats[] = [Lock.pcpu_alloc_mutex, Lock.pcpu_lock, Lock.vmap_area_lock, Lock.caller_lock].map((l) => {
      const r = k.shm.L.locks + l * LK.SIZE;
      return { lock: lockName(l), acquisitions: w[r + LK.ACQUIRED]!, contentions: w[r + LK.CONTENDED]!, longestHoldUs: w[r + LK.MAX_HOLD]! };
    });
    const mode = o.strategy ?? Mode.os;
    const controlled = mode !== Mode.os;
    const sc = k.shm.L.sched;
    const unique = dedupe(violations);
    const counts = classify(unique, o);
    let status: RunStatus = 'clean';
    if (counts) status = 'violation';
    else if (stopReason === STOP_INTERRUPT) status = 'interrupted';
    else if (stopReason === STOP_BUDGET || stopReason === STOP_TERMINATE || terminated) status = 'incomplete';
    else if (unique.length) status = 'known';
    let cpuStates: string | undefined;
    if (status === 'incomplete' && stopReason === STOP_BUDGET) {
      notes.push('the run did not finish within its time budget (the host is too slow for it, or the budget too small): nothing was found, and nothing is proven');
      cpuStates = allCpus(k).replace(/^\n/, '');
    }
    return {
      scenario: o.scenario.name, seed: o.seed, cpus: o.cpus, kernel: m.spec.cfg.kernel, backend: m.spec.cfg.backend, inject: o.inject ?? null,
      status,
      // a controlled run is a pure function of its inputs: no wall-clock numbers in it
      ms: controlled ? 0 : ms, wallMs: ms, activeMs: controlled ? 0 : Math.max(0, ...results.map((r) => r.activeMs)), ops,
      chunksCreated: counters.created, chunksDestroyed: counters.destroyed, reclaimRuns: counters.reclaimRuns,
      locks, checks: checksRun, violations: unique, stats: percpuStats(k.shm), bootLog,
      log: results.flatMap((r) => r.log), notes: controlled ? notes.filter((n) => !n.startsWith('the host itself')) : notes,
      strategy: MODE_NAMES[mode], steps: controlled ? w[sc + SC.STEP]! : 0, switches: controlled ? w[sc + SC.SWITCHES]! : 0,
      schedule: controlled ? encodeSchedule(recordedSchedule(k.shm)) : null, scheduleOverflow: controlled && w[sc + SC.REC_OVERFLOW] !== 0, diverged: mode === Mode.replay ? w[sc + SC.DIVERGED]! : 0,
      stateHash: stateHash(k),
      ...(cpuStates ? { cpuStates } : {}),
      ...(controlled && o.timeline ? { timeline: readTimeline(k.shm, o.cpus) } : {}),
      ...(o.lockdepExport ? { lockdepExport: lockdepFiles(new Lockdep(k.shm), o.cpus, unique) } : {}),
      ...(o.coverage ? { coverage: runCoverage(k.shm) } : {}),
    };
  }

  async close(): Promise<void> {
    await this.stopSessions();
  }
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
