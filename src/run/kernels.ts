// The kernel generations a machine can boot (`--kernel`), each as one
// record: how it sizes and sets up the first chunk, which allocator it
// runs, with which table of function pointers (its variants), and which
// checkers judge it. The machine, the runner and the commands look a
// generation up here and never ask which one runs.

import type { Config, KernelVersion } from '../shm/config.ts';
import type { Shm } from '../shm/layout.ts';
import type { AllocInfo } from '../percpu/alloc-info.ts';
import { allocInfoFor } from '../percpu/alloc-info.ts';
import type { PcpuState } from '../percpu/chunk.ts';
import type { Allocator } from '../percpu/allocator.ts';
import { WorkFn } from '../percpu/allocator.ts';
import type { HistoricalBug, LaterFix } from '../percpu/variant.ts';
import { Lock } from '../sync/locks.ts';
import type { Cpu } from '../sync/cpu.ts';
import { WORK_BALANCE, WORK_RECLAIM, type Workqueue } from '../workqueue/workqueue.ts';
import type { Violation } from '../report/violation.ts';
import type { CheckTarget } from '../check/target.ts';
import type { InvariantFailure } from '../check/invariants.ts';
import type { KnownIssue } from '../check/known.ts';
import type { WorkProgress } from '../check/progress.ts';
import { rules41, type FailureRules } from '../check/failures.ts';
// Linux 2.6.35
import { Percpu as Percpu2635 } from '../percpu/2.6.35/core.ts';
import { setupFirstChunk as setup2635 } from '../percpu/2.6.35/first-chunk.ts';
import * as variants2635 from '../percpu/2.6.35/variants.ts';
import { VmBackend } from '../percpu/2.6.35/backend-vm.ts';
import { KmBackend } from '../percpu/2.6.35/backend-km.ts';
import { InvariantChecker } from '../check/invariants.ts';
import { leakCheck } from '../check/leak.ts';
import { SpecChecker, warnLimitProblem } from '../check/spec.ts';
import { KNOWN_ISSUES, MechanismRecorder, attributeMechanism } from '../check/known.ts';
// Linux 4.1
import { Percpu as Percpu41 } from '../percpu/4.1/core.ts';
import { allocInfo as allocInfo41, percpuInitLate, setupFirstChunk as setup41 } from '../percpu/4.1/first-chunk.ts';
import * as variants41 from '../percpu/4.1/variants.ts';
import { VmPageLookup } from '../percpu/4.1/backend-vm.ts';
import { KmPageLookup } from '../percpu/4.1/backend-km.ts';
import { InvariantChecker41 } from '../check/4.1/invariants.ts';
import { leakCheck41 } from '../check/4.1/leak.ts';
import { Spec41Checker } from '../check/4.1/spec.ts';
import { KNOWN_ISSUES_41, Mechanism41Recorder, attributeMechanism41, attributeQuiescent41 } from '../check/4.1/known.ts';

/** The invariant checker's two passes (one chunk under pcpu_lock; everything at quiescence). */
export interface Invariants {
  checkChunk(chunk: number, out?: InvariantFailure[], pages?: boolean): InvariantFailure[];
  checkAll(): InvariantFailure[];
  /** The bytes a chunk manages (a unit, or the first chunk's areas). */
  span(chunk: number): number;
}

/** The checkers of one thread's view of a machine that depend on its kernel. */
export interface KernelChecks {
  /** Switch the specification checks on or off for the next run (the known issues' mechanisms are always recorded). */
  set(on: boolean): void;
  /** The known issue whose mechanism fired for this report, if one did. */
  attribute(cpu: Cpu, v: Violation): string | undefined;
  /** Where the specification can tell whether an allocation had room (its own first fit), the failure checker asks it. */
  firstFit?: (chunk: number, size: number, align: number) => number;
  /** The kernel's rules for the failure checker (2.6.35's by default). */
  failureRules?: FailureRules;
  /** The progress checker the specification tells when a run of a work item did its job (checks on), or null. */
  progress(p: WorkProgress | null): void;
}

export interface KernelGeneration {
  kernel: KernelVersion;
  /** "Linux 2.6.35": how reports name it. */
  title: string;
  /** pcpu_build_alloc_info as the embed or page first-chunk helper calls it for this config. */
  allocInfo(cfg: Config): AllocInfo;
  /** The first boot: the first chunk and the static work items; returns the boot log. */
  setup(st: PcpuState, cfg: Config, ai: AllocInfo, wq: Workqueue): string[];
  /** Every boot, once the heap is fresh (slab is up): 4.1's percpu_init_late. */
  late(st: PcpuState): void;
  /** The allocator of one thread's view. */
  allocator(st: PcpuState, wq: Workqueue): Allocator;
  /** Boot the functions of `bug` (0: none) with the fixes `fixes` in place; sets the workqueue's process_one_work too. */
  attach(pcpu: Allocator, cfg: Config, wq: Workqueue, bug: number, fixes: number): void;
  /** The thread's kernel-dependent checkers. */
  checks(pcpu: Allocator, k: { st: PcpuState; shm: Shm }): KernelChecks;
  invariants(k: CheckTarget): Invariants;
  /** `judged`: the checks were on (a request counts as served only by a run that did its job). */
  leakCheck(k: CheckTarget, notes?: string[], judged?: boolean): string[];
  warnLimitProblem(shm: Shm, exact: boolean): string;
  /** --inject: the historical bugs; fix-verification: the later fixes. */
  bugs: readonly HistoricalBug<unknown>[];
  fixes: readonly LaterFix<unknown>[];
  knownIssues: readonly KnownIssue[];
  /** The work functions (WorkFn) whose every run a specification judges (src/check/progress.ts). */
  judgedWork: readonly number[];
  /** The known issue whose mechanism explains a report of the checks at quiescence (no CPU made it), if one does. */
  attributeQuiescent(shm: Shm, v: Violation): string | undefined;
}

const V2635: KernelGeneration = {
  kernel: '2.6.35',
  title: 'Linux 2.6.35',
  allocInfo: allocInfoFor,
  setup(st, cfg, ai, wq) {
    const log = setup2635(st, cfg, ai);
    // DECLARE_WORK(pcpu_reclaim_work, pcpu_reclaim)
    wq.initWork(wq.work(WORK_RECLAIM), WorkFn.pcpu_reclaim, Lock.pcpu_reclaim_work, WORK_RECLAIM);
    return log;
  },
  late() {},
  allocator: (st, wq) => new Percpu2635(st, { scheduleReclaim: (cpu) => void wq.scheduleWork(cpu, wq.work(WORK_RECLAIM)) }),
  attach(pcpu, cfg, wq, bug, fixes) {
    const p = pcpu as Percpu2635;
    const ops = variants2635.opsFor(bug, fixes);
    p.attach(cfg.backend === 'km' ? new KmBackend(p, p) : new VmBackend(p, p), ops);
    wq.processOneWork = ops.processOneWork;
  },
  checks(pcpu, k) {
    const p = pcpu as Percpu2635;
    const spec = new SpecChecker(k);
    const known = new MechanismRecorder(k.shm, k.st.pageShift);
    // the known issues' mechanisms are recorded with checks on or off: a verdict is the same either way
    p.known = known;
    return {
      set(v) {
        spec.reset();
        p.spec = v ? spec : null;
      },
      attribute: (cpu, v) => attributeMechanism(k.shm, cpu, v),
      firstFit: (c, size, align) => spec.firstFit(c, size, align),
      progress: (pr) => void (spec.progress = pr),
    };
  },
  invariants: (k) => new InvariantChecker(k),
  leakCheck,
  warnLimitProblem,
  bugs: variants2635.BUGS,
  fixes: variants2635.FIXES,
  knownIssues: KNOWN_ISSUES,
  judgedWork: [WorkFn.pcpu_reclaim],
  attributeQuiescent: () => undefined,
};

const V41: KernelGeneration = {
  kernel: '4.1',
  title: 'Linux 4.1',
  allocInfo: allocInfo41,
  setup(st, cfg, ai, wq) {
    // DECLARE_WORK(pcpu_balance_work, pcpu_balance_workfn)
    wq.initWork(wq.work(WORK_BALANCE), WorkFn.pcpu_balance_workfn, Lock.pcpu_balance_work, WORK_BALANCE);
    return setup41(st, cfg, ai, wq);
  },
  late: percpuInitLate,
  allocator: (st, wq) => new Percpu41(st, wq),
  attach(pcpu, cfg, wq, bug, fixes) {
    const p = pcpu as Percpu41;
    const ops = variants41.opsFor(cfg.backend, bug, fixes);
    p.attach(cfg.backend === 'km' ? new KmPageLookup(p) : new VmPageLookup(p), ops);
    wq.processOneWork = ops.processOneWork;
  },
  checks(pcpu, k) {
    const p = pcpu as Percpu41;
    const spec = new Spec41Checker(k);
    const known = new Mechanism41Recorder(k.shm, k.st.pageShift);
    p.known = known;
    return {
      set(v) {
        spec.reset();
        p.spec = v ? spec : null;
      },
      attribute: (cpu, v) => attributeMechanism41(k.shm, cpu, v),
      firstFit: (c, size, align) => spec.firstFit(c, size, align),
      failureRules: rules41((c, size, align) => spec.firstFit(c, size, align, true)),
      progress() {},
    };
  },
  invariants: (k) => new InvariantChecker41(k),
  leakCheck: leakCheck41,
  warnLimitProblem,
  bugs: variants41.BUGS,
  fixes: variants41.FIXES,
  knownIssues: KNOWN_ISSUES_41,
  // the balance and map extension work are judged by their outcome at quiescence (src/check/4.1/leak.ts)
  judgedWork: [],
  attributeQuiescent: attributeQuiescent41,
};

export const GENERATIONS: Readonly<Record<KernelVersion, KernelGeneration>> = { '2.6.35': V2635, '4.1': V41 };

export function generation(kernel: KernelVersion): KernelGeneration {
  return GENERATIONS[kernel];
}

/** The number a bug is booted by in its kernel (0: none). */
export function bugId(kernel: KernelVersion, name: string | null | undefined): number {
  return name ? GENERATIONS[kernel].bugs.findIndex((b) => b.name === name) + 1 : 0;
}

export function bugByName(kernel: KernelVersion, name: string): HistoricalBug<unknown> | undefined {
  return GENERATIONS[kernel].bugs.find((b) => b.name === name);
}

/** The later fix that proves a known issue of `kernel`, and its bit in the kernel's set of fixes. */
export function fixFor(kernel: KernelVersion, knownIssue: string): { fix: LaterFix<unknown>; bit: number } | undefined {
  const fixes = GENERATIONS[kernel].fixes;
  const i = fixes.findIndex((f) => f.fixes === knownIssue);
  return i < 0 ? undefined : { fix: fixes[i]!, bit: 1 << i };
}

/**
 * The fixes (bits of the kernel's set) that would verify a run's claimed
 * findings: every finding whose known issue's mechanism fired and is not yet
 * ruled out, whose issue has a later fix. One computation for the verdict
 * (Engine.verifyKnown) and for the in-thread engine, which plays the
 * verification replay on its thread before it is asked for.
 */
export function fixesToVerify(kernel: KernelVersion, violations: readonly Violation[]): number {
  let bits = 0;
  for (const v of violations) if (v.mechanism !== undefined && v.notKnown === undefined) bits |= fixFor(kernel, v.mechanism)?.bit ?? 0;
  return bits;
}

/** Does a bug replace a function one of the fixes replaces (they cannot be booted together)? */
export function conflicts(kernel: KernelVersion, bug: number, fixes: number): boolean {
  const g = GENERATIONS[kernel];
  const b = g.bugs[bug - 1];
  if (!b) return false;
  return g.fixes.some((f, i) => (fixes & (1 << i)) !== 0 && Object.keys(f.ops as object).some((k) => k in (b.ops as object)));
}

/** Every known issue of every kernel (suppressions name them). */
export function allKnownIssues(): KnownIssue[] {
  return Object.values(GENERATIONS).flatMap((g) => g.knownIssues);
}
