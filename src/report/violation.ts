// A violation is data: what went wrong, where, and the kernel-style text a
// developer expects. Checkers produce them; src/render/ renders them; the
// CLI only chooses the exit code.

/** Every kind of finding, declared once (the type, repro checks and suppressions all use this list). */
export const VIOLATION_KINDS = [
  'invariant', // area map / slot list / chunk invariants (BUG_ON territory)
  'list-corruption', // a list walk left its list (crossed into another head)
  'use-after-free', // freed chunk, map or page touched
  'out-of-bounds', // a heap or bootmem object accessed outside its bounds, or through a pointer that starts no object (KASAN)
  'lifecycle', // an object torn down while still in use: a chunk destroyed while listed, mapped or with work queued
  'page-fault', // unpopulated or unmapped percpu page touched
  'page-double-free', // a page freed twice (Bad page state)
  'temp-buffer-race', // the shared populate buffer used by two owners
  'shadow', // a live allocation's stamp overwritten
  'uninitialized', // a fresh area not zeroed
  'lock-discipline', // a shared field accessed without its lock, or a CONTEXT assertion broken
  'data-race', // two contexts touched a field with no happens-before between them (KCSAN)
  'spec', // the allocator did something 2.6.35 does not do (its policy, not its consistency)
  'sleep-in-atomic', // might_sleep in atomic context
  'irq-state', // a callee changed the caller's irq state
  'irqs-enabled-early', // irqs enabled during the early-boot phase
  'lockdep-circular',
  'lockdep-recursive',
  'lockdep-inconsistent',
  'lockdep-irq-unsafe-order',
  'lockdep-irq-inversion',
  'lockdep-bad-unlock',
  'bad-unlock', // a lock unlocked by a non-owner
  'spinlock-recursion',
  'deadlock',
  'hang',
  'leak',
  'kernel-bug', // a BUG_ON/WARN in the allocator itself
  'debug-objects', // an object freed (or reinitialized) while still in use: a queued or running work item (ODEBUG)
  'crash', // an exception the harness did not expect
] as const;

export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export const VIOLATION_KIND_SET: ReadonlySet<string> = new Set<string>(VIOLATION_KINDS);

export interface HeldLockInfo {
  lock: string;
  at: string;
}

export interface Violation {
  kind: ViolationKind;
  cpu: number; // entity: a CPU, or the kworker (= number of CPUs)
  step: number;
  title: string; // the first line, kernel's words
  text: string; // the whole splat
  held: HeldLockInfo[];
  stack: string[]; // operation stack, innermost first
  fatal: boolean;
  /** The report's sections as data (lockdep: locks, chain, scenario ...). */
  details?: Record<string, unknown>;
  /** The known issue whose mechanism fired for this very finding (src/check/known.ts), when one did. */
  mechanism?: string;
  /** Classified as that known issue of the 2.6.35 baseline (it does not fail a run). */
  known?: string;
  /** How it was proven known: its fix, switched on in a replay, made it go away; or (free-running, trace) its mechanism only. */
  knownProof?: 'fix-verified' | 'mechanism';
  /** Why a finding whose mechanism fired still counts (e.g. its fix did not make it go away). */
  notKnown?: string;
  /**
   * Why a finding whose mechanism fired could not be classified: the replay
   * with its fix was cut by a signal or a budget. Neither known nor a
   * finding: the run is partial (interrupted) or proves nothing (incomplete).
   */
  unclassified?: string;
  /** Acknowledged by a suppression. */
  suppressed?: boolean;
}

/** Thrown to unwind a CPU after a fatal violation (the emulated BUG()). */
export class Oops extends Error {
  constructor(readonly violation: Violation) {
    super(violation.title);
  }
}

/** Thrown at a scheduling point when the run is being stopped. */
export class StopRun extends Error {
  constructor() {
    super('run stopped');
  }
}

export const FATAL_KINDS: ReadonlySet<ViolationKind> = new Set<ViolationKind>([
  'invariant', 'list-corruption', 'use-after-free', 'out-of-bounds', 'lifecycle', 'page-fault', 'page-double-free', 'temp-buffer-race',
  'shadow', 'spinlock-recursion', 'deadlock', 'hang', 'leak', 'kernel-bug', 'crash',
]);

/** Does a finding count against the run (not known, not suppressed)? */
export function counts(v: Violation): boolean {
  return !v.suppressed && v.known === undefined && v.unclassified === undefined;
}
