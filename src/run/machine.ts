// A machine: one validated config, its first-chunk geometry and memory
// layout (plain data that travels to worker threads), the boot sequence that
// initializes the shared memory (main thread, once per run), and the
// per-thread Kernel object that wraps the shared memory with the allocator,
// the workqueue, the checkers and one CPU context per emulated CPU. Both
// sides of run/ use this file (see src/run/README.md).

import { makeConfig, type Config } from '../shm/config.ts';
import { allocShm, computeLayout, viewShm, type Layout, type Shm } from '../shm/layout.ts';
import { RUN, SYSTEM_BOOTING, SYSTEM_RUNNING, SCRATCH_WORDS } from './records.ts';
import { PC } from '../percpu/records.ts';
import { MM, PG } from '../mm/records.ts';
import { LK, MAX_LOCKS, SY, X, X_SIZE } from '../sync/records.ts';
import { CK } from '../check/records.ts';
import type { AllocInfo } from '../percpu/alloc-info.ts';
import { PcpuState } from '../percpu/chunk.ts';
import { WARN_LIMIT, type Allocator } from '../percpu/allocator.ts';
import { PC41 } from '../percpu/records.ts';
import { heapInit } from '../mm/heap.ts';
import { pagesInit } from '../mm/pages.ts';
import { vmInit } from '../mm/vm.ts';
import { failConfigure, type FailSpec } from '../mm/fail.ts';
import { Cpu, CpuState, type CpuHost, type LockdepHooks, type SchedHooks, type SyncHooks } from '../sync/cpu.ts';
import { RaceChecker } from '../race/race.ts';
import { FailureJudge } from '../check/failures.ts';
import { WorkProgress } from '../check/progress.ts';
import { LifecycleChecker } from '../check/lifecycle.ts';
import { deadRecord } from '../mm/kasan.ts';
import { Lockdep } from '../lockdep/lockdep.ts';
import { FIRST_COMPLETION, LAST_COMPLETION, lockName } from '../sync/locks.ts';
import { Workqueue } from '../workqueue/workqueue.ts';
import { MAX_WORKS } from '../workqueue/records.ts';
import { generation, type KernelChecks, type KernelGeneration } from './kernels.ts';
import type { Violation } from '../report/violation.ts';

export interface MachineSpec {
  cfg: Config;
  ai: AllocInfo;
  L: Layout;
}

export function planMachine(partial: Partial<Config> = {}): MachineSpec {
  const cfg = makeConfig(partial);
  const ai = generation(cfg.kernel).allocInfo(cfg);
  return { cfg, ai, L: computeLayout(cfg, ai) };
}

export interface BootOptions {
  /** The historical bug to boot (its number in src/percpu/2.6.35/variants.ts BUGS, 0: none). */
  bug?: number;
  /** The later fixes to boot (a bit per entry of FIXES). */
  fixes?: number;
  fail?: FailSpec;
  /** Stay in the early-boot phase (irqs off on the boot CPU, might_sleep quiet). */
  booting?: boolean;
  /** Test-only: a lock whose acquire does not exclude (to prove the checkers catch it). */
  brokenLock?: number | undefined;
}

/**
 * What the first boot of a machine left in shared memory, to boot it again
 * (between runs) by copying instead of recomputing: the words below the
 * schedule recording (header, unit maps, slot heads, locks, CPU records,
 * lockdep, workqueue), the bootmem records, the first chunk's pages, the
 * page tables and the vm area map.
 */
interface BootImage {
  spec: MachineSpec;
  low: Int32Array;
  boot: Int32Array;
  bootPages: number;
  pageDesc: Int32Array;
  pageWords: Int32Array;
  pte: Int32Array;
  vmSlotMap: Int32Array;
  log: string[];
}

const images = new WeakMap<Shm, BootImage>();

// (TypedArray.set is a plain memcpy, the fastest way in or out of shared memory)
function copyIn(w: Int32Array, at: number, src: Int32Array): void {
  w.set(src, at);
}

function copyOut(w: Int32Array, from: number, n: number): Int32Array {
  return w.slice(from, from + n);
}

function firstBoot(spec: MachineSpec, shm: Shm): BootImage {
  const { w, L } = shm;
  w[L.mm + MM.PAGE_HWM] = L.nrPages;
  pagesInit(shm);
  w.fill(0, 0, L.schedRec);
  w.fill(0, L.scratch, L.heapArena);
  w.fill(0, L.boot, L.pageDesc);
  w[L.run + RUN.MAGIC] = 0x70637075;
  // no CPU runs before its thread picks its task up (the watchdog counts nothing before the start barrier)
  for (let e = 0; e < L.nrEntities; e++) w[L.cpus + e * X_SIZE + X.STATE] = CpuState.idle;
  for (let l = 0; l < MAX_LOCKS; l++) w[L.locks + l * LK.SIZE + LK.CLASS] = l;
  // completions start not done
  for (let l = FIRST_COMPLETION; l <= LAST_COMPLETION; l++) w[L.locks + l * LK.SIZE + LK.STATE] = 1;
  heapInit(shm);
  vmInit(shm);
  const st = new PcpuState(shm, spec.cfg.pageSize, spec.cfg.cpus);
  const log = generation(spec.cfg.kernel).setup(st, spec.cfg, structuredClone(spec.ai), new Workqueue(shm));
  const bootPages = w[L.mm + MM.PAGE_CURSOR]!;
  const pageWords = spec.cfg.pageSize >> 2;
  return {
    spec, log, bootPages,
    low: copyOut(w, 0, L.schedRec),
    boot: copyOut(w, L.boot, L.bootWords),
    pageDesc: copyOut(w, L.pageDesc, bootPages * PG.SIZE),
    pageWords: copyOut(w, L.pageData >> 2, bootPages * pageWords),
    pte: copyOut(w, L.pte, L.vmPages),
    vmSlotMap: copyOut(w, L.vmSlotMap, L.vmSlots),
  };
}

/**
 * Initialize (or re-initialize, between runs) the shared memory: the
 * emulated memory managers, the first chunk, the allocator's globals. The
 * first boot of a machine computes everything; later boots restore the
 * image it left and clear only what the last run used. Returns the boot log.
 */
export function bootMachine(spec: MachineSpec, shm: Shm, opts: BootOptions = {}): string[] {
  const { w, L } = shm;
  let img = images.get(shm);
  if (!img || img.spec !== spec) {
    img = firstBoot(spec, shm);
    images.set(shm, img);
  } else {
    pagesInit(shm, img.bootPages);
    copyIn(w, 0, img.low);
    copyIn(w, L.boot, img.boot);
    copyIn(w, L.pageDesc, img.pageDesc);
    copyIn(w, L.pageData >> 2, img.pageWords);
    copyIn(w, L.pte, img.pte);
    copyIn(w, L.vmSlotMap, img.vmSlotMap);
    for (let i = 0; i < SCRATCH_WORDS; i++) w[L.scratch + i] = 0;
    heapInit(shm);
  }
  // slab is up: what the kernel moves into kmalloc'ed memory now (4.1's percpu_init_late)
  generation(spec.cfg.kernel).late(new PcpuState(shm, spec.cfg.pageSize, spec.cfg.cpus));
  w[L.mm + MM.PAGE_CURSOR] = img.bootPages;
  w[L.mm + MM.PAGE_HWM] = img.bootPages;
  w[L.run + RUN.SYSTEM_STATE] = opts.booting ? SYSTEM_BOOTING : SYSTEM_RUNNING;
  if (L.pcx) w[L.pcx + PC41.ASYNC_ENABLED] = opts.booting ? 0 : 1;
  w[L.run + RUN.EARLY_BOOT_IRQS_DISABLED] = opts.booting ? 1 : 0;
  // the boot CPU runs the early-boot phase with irqs off
  if (opts.booting) w[L.cpus + X.IRQS_OFF] = 1;
  w[L.pc + PC.WARN_LIMIT] = WARN_LIMIT;
  w[L.pc + PC.BUG] = opts.bug ?? 0;
  w[L.pc + PC.FIX] = opts.fixes ?? 0;
  w[L.sy + SY.BROKEN_LOCK] = opts.brokenLock === undefined ? 0 : opts.brokenLock + 1;
  failConfigure(shm, opts.fail ?? {});
  return img.log.slice();
}

/**
 * Leave the early-boot phase: start_kernel enables irqs, the initcalls run
 * (4.1's percpu_enable_async: the allocator may use work from now on), the
 * system runs.
 */
export function finishBoot(shm: Shm): void {
  shm.w[shm.L.run + RUN.EARLY_BOOT_IRQS_DISABLED] = 0;
  if (shm.L.pcx) shm.w[shm.L.pcx + PC41.ASYNC_ENABLED] = 1;
  shm.w[shm.L.run + RUN.SYSTEM_STATE] = SYSTEM_RUNNING;
}

/**
 * The shared memory of a new machine: a fresh buffer, or a spare one
 * (large enough) whose first `dirty` bytes a machine used before, cleared.
 * Nothing else is touched: pages never written stay out of the resident set.
 */
export function newShm(spec: MachineSpec, spare?: SharedArrayBuffer, dirty = spare?.byteLength ?? 0): Shm {
  if (!spare) return allocShm(spec.L);
  if (dirty > 0) new Uint8Array(spare, 0, Math.min(dirty, spec.L.bytes)).fill(0);
  return viewShm(spare, spec.L);
}

export interface KernelOptions {
  strictCapacity?: boolean;
  timing?: boolean;
  /** Lock validation (default on). */
  lockdep?: boolean;
  /** Lock-discipline, race, specification and known-issue checks (default on). */
  checks?: boolean;
  sched?: SchedHooks | null;
}

/** The per-thread view of a machine. No state of its own that matters. */
export class Kernel implements CpuHost {
  readonly shm: Shm;
  readonly st: PcpuState;
  readonly pcpu: Allocator;
  readonly wq: Workqueue;
  /** The kernel generation this machine boots (src/run/kernels.ts). */
  readonly gen: KernelGeneration;
  lockdep: LockdepHooks | null;
  sched: SchedHooks | null;
  race: SyncHooks | null = null;
  /** The checks are on for this run (the lifecycle checker is told of teardowns). */
  private checksOn = false;
  /** This thread's lock-discipline and race checker (src/race). */
  readonly raceChecker: RaceChecker;
  /** The specification and known-issue checks of this kernel. */
  private readonly kernelChecks: KernelChecks;
  private judge: FailureJudge | null = null;
  /** The later fixes booted for this run, by name. */
  private fixNames: readonly string[] = [];
  private progress: WorkProgress | null = null;
  private readonly lifecycle: LifecycleChecker;
  /** The failure checker (checks on, on a kernel whose specification can judge failures), or null: the CPU program tells it of every pcpu_alloc call. */
  failures: FailureJudge | null = null;
  timing: boolean;
  strictCapacity: boolean;
  readonly nrCpus: number;
  readonly violations: Violation[] = [];
  readonly log: string[] = [];
  private readonly cpus = new Map<number, Cpu>();

  constructor(readonly spec: MachineSpec, sabOrShm: SharedArrayBuffer | Shm, opts: KernelOptions = {}) {
    this.shm = sabOrShm instanceof SharedArrayBuffer ? viewShm(sabOrShm, spec.L) : sabOrShm;
    this.nrCpus = spec.cfg.cpus;
    this.lockdep = opts.lockdep === false ? null : new Lockdep(this.shm);
    this.sched = opts.sched ?? null;
    this.timing = opts.timing ?? false;
    this.strictCapacity = opts.strictCapacity ?? false;
    this.st = new PcpuState(this.shm, spec.cfg.pageSize, spec.cfg.cpus);
    this.wq = new Workqueue(this.shm);
    this.gen = generation(spec.cfg.kernel);
    this.pcpu = this.gen.allocator(this.st, this.wq);
    this.wq.fns = this.pcpu;
    this.raceChecker = new RaceChecker(this.shm);
    this.kernelChecks = this.gen.checks(this.pcpu, this);
    this.raceChecker.deadRecord = (cpu, c, field, write, name) => deadRecord(cpu, this.shm, c, field, write, name);
    this.lifecycle = new LifecycleChecker(this);
    this.attach();
    this.setChecks(opts.checks !== false);
  }

  /**
   * Turn the lock-discipline, race, specification and known-issue checks on
   * or off for the next run on this thread (and forget what the last run
   * reported).
   */
  setChecks(on: boolean): void {
    this.raceChecker.reset();
    this.race = on ? this.raceChecker : null;
    this.st.ck = on ? this.raceChecker : null;
    this.kernelChecks.set(on);
    // every failure justified, where the kernel's specification can say whether there was room
    const fit = this.kernelChecks.firstFit;
    if (fit && !this.judge) this.judge = new FailureJudge(this.st, fit, this.kernelChecks.failureRules);
    this.judge?.booted(this.fixNames);
    this.judge?.reset();
    this.failures = on ? this.judge : null;
    this.pcpu.failures = this.failures;
    this.pcpu.lifecycle = on ? this.lifecycle : null;
    this.progress ??= new WorkProgress(this.shm, this.wq, new Set(this.gen.judgedWork), (work) => lockName(this.wq.workClass(work)).replace(/^\(|\)$/g, ''));
    this.wq.progress = on ? this.progress : null;
    this.kernelChecks.progress(on ? this.progress : null);
    this.checksOn = on;
  }

  /** Re-read boot-time state (after bootMachine ran for a new run): the constants and the variant booted. */
  attach(): void {
    this.st.attach();
    const w = this.shm.w, pc = this.shm.L.pc;
    this.gen.attach(this.pcpu, this.spec.cfg, this.wq, w[pc + PC.BUG]!, w[pc + PC.FIX]!);
    // a later fix may change what is legal (4.10's alignment rule): the failure checker judges by the kernel booted
    const fix = w[pc + PC.FIX]!;
    this.fixNames = fix === 0 ? [] : this.gen.fixes.filter((_, i) => (fix & (1 << i)) !== 0).map((f) => f.name);
    this.judge?.booted(this.fixNames);
    this.violations.length = 0;
    this.log.length = 0;
  }

  /** The context of CPU `id` (or the kworker, id = number of CPUs). */
  cpu(id: number): Cpu {
    let c = this.cpus.get(id);
    if (!c) {
      c = new Cpu(this, id);
      this.cpus.set(id, c);
    }
    return c;
  }

  get kworker(): Cpu {
    return this.cpu(this.spec.L.kworker);
  }

  attribute(cpu: Cpu, v: Violation): void {
    const id = this.kernelChecks.attribute(cpu, v);
    if (id) v.mechanism = id;
  }

  onViolation(v: Violation): void {
    this.violations.push(v);
    if (v.fatal) Atomics.store(this.shm.w, this.shm.L.run + RUN.STOP, 1);
  }

  freeing(cpu: Cpu, p: number, words: number): void {
    // only machines whose kernel embeds work items in heap objects have any to check
    if (this.shm.L.nrWorkIds > MAX_WORKS) this.wq.checkFreed(cpu, p, words, this.race !== null);
  }

  printk(cpu: Cpu, line: string): void {
    if (line.startsWith('PERCPU: allocation failed')) Atomics.add(this.shm.w, this.shm.L.ck + CK.FAIL_WARNS, 1);
    this.log.push(`[${cpu.name}] ${line}`);
    this.failures?.printed(cpu, line);
  }

  mmFailed(cpu: Cpu, why: string): void {
    this.failures?.mmFailed(cpu, why);
  }

  tearingDown(cpu: Cpu, kind: 'object' | 'vm-area', at: number, span: number): void {
    if (!this.checksOn) return;
    if (kind === 'object') this.lifecycle.objectFreed(cpu, at);
    else this.lifecycle.vmAreaFreed(cpu, at, span);
  }

  /** Run the queued work now on the kworker (single-thread use); returns the chunks it destroyed. */
  runReclaimIfPending(): number[] {
    return this.wq.runQueued(this.kworker);
  }
}
