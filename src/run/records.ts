// Shared records of the machine itself (not of any kernel subsystem): the
// run's lifecycle words, the timeline ring and the self-tests' scratch
// words. Like every records.ts, this file only declares shapes; the layout
// (src/shm/layout.ts) places them.

/** The machine's header block. */
export enum RUN {
  MAGIC,
  /** system_state: SYSTEM_BOOTING while the boot CPU runs its early-boot program. */
  SYSTEM_STATE,
  /** early_boot_irqs_disabled (lockdep's check that irqs stay off during early boot). */
  EARLY_BOOT_IRQS_DISABLED,
  /** Non-zero: every CPU stops at its next scheduling point (a fatal report, the watchdog, a signal). */
  STOP,
  STOP_REASON,
  /** Start barrier and completion counts. */
  RUN_READY, RUN_GO, CPUS_DONE, CPUS_EXITED,
  /** The timeline (controlled runs asked for one): on, and events appended so far. */
  EVLOG, EV_LEN,
  /** Coverage for novelty feedback (src/shm/coverage.ts): on. */
  COVERAGE,
  SIZE,
}

/** Why a run stopped (RUN.STOP_REASON): a fatal report, the watchdog, its budget, a signal, threads terminated. */
export const STOP_VIOLATION = 1;
export const STOP_HANG = 2;
export const STOP_BUDGET = 3;
export const STOP_INTERRUPT = 4;
export const STOP_TERMINATE = 5;

export const SYSTEM_BOOTING = 0;
export const SYSTEM_RUNNING = 1;

/** Timeline events kept (a ring: the newest this many). */
export const EV_CAP = 1 << 15;
/** Words per timeline event: step, entity, kind (EV), argument. */
export const EV_WORDS = 4;
/** Timeline event kinds (src/render/timeline.ts renders them; POINT, a scheduling decision, only the engines' comparison reads). */
export enum EV { ENTER = 1, LEAVE, ACQUIRE, RELEASE, WAIT, SWITCH, REPORT, POINT }
/** RUN.EVLOG: the timeline with every scheduling decision in it too (EV.POINT, its action as the argument). */
export const EV_POINTS = 2;

/** Words the locking self-tests (src/run/thread/selftest.ts) coordinate through. */
export const SCRATCH_WORDS = 64;
