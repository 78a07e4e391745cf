// The workqueue's shared records: one per work item, and the worker's words.

export const MAX_WORKS = 4;
/**
 * A work item. SCHED_SEQ counts schedule_work calls, START_SEQ the last
 * one a started run serves; LOST counts requests made while the item was
 * pending and already running (nothing will serve them).
 */
export enum WK {
  PENDING, RUNNING, RUNS, QUEUED, LOST, SCHED_SEQ, START_SEQ,
  /** Orders a request against the start of a run (the kernel's test_and_set_bit and the worker's clear are atomic RMWs on one word). */
  LOCK,
  /**
   * The START_SEQ of the last run a checker saw do the work's job (checks on):
   * the requests that run served for real. SCHED_SEQ - JUDGED_SEQ are requests
   * no run has kept its promise for.
   */
  JUDGED_SEQ,
  /** The object that embeds this item (a chunk's map_extend_work in 4.1), or 0 for a global one. */
  OWNER,
  SIZE,
}
export enum WQ { WAKE, FLUSH_SEQ, DONE_SEQ, SIZE }
