// Shared records of the CPU contexts and locks: each entity's context
// (preempt count, irq flag, held locks, operation stack, interrupt queue)
// and the lock table, plus the test hook that breaks a lock on purpose.

/** Locks (and completions) in the lock table. */
export const MAX_LOCKS = 16;
/** Held locks an entity can record. */
export const MAX_HELD = 24;
/** Operation stack depth recorded. */
export const MAX_OPS = 24;
/** Pending interrupts per CPU. */
export const IRQ_QUEUE = 64;
/** Words per queued interrupt: [kind, arg0, arg1, arg2]. */
export const IRQ_ENTRY = 4;

/** A held-lock stack entry. */
export enum HL { LOCK, SITE, IRQ_CTX, FLAGS, SIZE }

/** An entity's context record. */
export enum X {
  PREEMPT, IRQS_OFF, HELD_DEPTH, OP_DEPTH, STEPS, STATE, WAIT_LOCK, CUR_OP,
  IRQ_HEAD, IRQ_TAIL, IRQ_LOCK, IRQS_TAKEN, WAKE, SPIN_LOCK, IRQ_GRANT,
  /** bit per lock held in the current context (process or the irq being handled) */
  LOCKMASK,
  /** schedule_work calls made by this context (the reclaim-request spec check) */
  WORK_REQS,
  /** lock index + 1 this entity is about to take (0: no lock operation pending); POS reads it */
  PENDING,
  HELD, // MAX_HELD * HL.SIZE words
}
export const X_OPS = X.HELD + MAX_HELD * HL.SIZE;
export const X_IRQS = X_OPS + MAX_OPS;
export const X_SIZE = X_IRQS + IRQ_QUEUE * IRQ_ENTRY;

/** A lock record. */
export enum LK { STATE, OWNER, CLASS, ACQUIRED, CONTENDED, HOLD_START, MAX_HOLD, WAITERS, SIZE }

/** The sync layer's header block: test hooks. */
export enum SY {
  /** test-only: lock index + 1 of a lock whose acquire does not exclude */
  BROKEN_LOCK,
  SIZE,
}
