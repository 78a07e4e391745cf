// The workqueue's shared records: work items, and the worker's words.
//
// A work item is a record of WK.SIZE words wherever its owner keeps it: the
// static ones (DECLARE_WORK: 2.6.35's pcpu_reclaim_work, 4.1's
// pcpu_balance_work) in the workqueue's own region, embedded ones (4.1's
// chunk->map_extend_work) inside the object that contains them. A work item
// is named by the word index of its record. Each one has a small id, the
// index of its row in the work table (its address there, 0 while free), by
// which the race detector keeps its clocks and debug-objects its state.

/** Static work items (and so work ids below this are static). */
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
  /** work->func, as a work function number of the allocator that owns it (src/percpu/allocator.ts). */
  FUNC,
  /** The lockdep class of the work's lockdep map (its INIT_WORK site). */
  CLASS,
  /** Its id (its row in the work table) + 1; 0 before INIT_WORK. */
  ID,
  /** The next work item on the worklist (0: last). */
  NEXT,
  /**
   * The START_SEQ of the last run a checker saw do the work's job (checks on):
   * the requests that run served for real. SCHED_SEQ - JUDGED_SEQ are requests
   * no run has kept its promise for.
   */
  JUDGED_SEQ,
  SIZE,
}
/** The worker's words: its wake word, the flush counters, and the worklist (a FIFO of queued work items). */
export enum WQ { WAKE, FLUSH_SEQ, DONE_SEQ, HEAD, TAIL, LOCK, SIZE }

/** A work table row: the work's address (0: a free id) and its debug-objects state. */
export enum WT { ADDR, STATE, SIZE }
export const ODEBUG_STATE_NONE = 0;
export const ODEBUG_STATE_INIT = 1;
export const ODEBUG_STATE_ACTIVE = 2;
