// The race detector's shared records: a shadow per chunk (after its
// populated bitmap), a shadow of the allocator's globals, and vector clocks.
//
// Clocks have one component per context: every entity has a task context
// and, for CPUs, an interrupt context (a handler is not the code it
// interrupted). Rows: the contexts' own clocks, then one per lock, per CPU's
// irq flag (local_irq_disable orders a task against its own handlers), per
// work item (pending requests, and completed runs for flush_work), and one
// per queued interrupt (the clock of whoever raised it).

import { IRQ_QUEUE, MAX_LOCKS } from '../sync/records.ts';
import { MAX_WORKS } from '../workqueue/records.ts';

/** Shadow words per chunk: 4 per tracked chunk field. */
export const CHUNK_SHADOW_WORDS = 32;
/** Shadow words of the global fields. */
export const RACE_GLOBAL_WORDS = 16;

/** Contexts (clock components) of a machine with `entities` entities. */
export function raceContexts(entities: number): number {
  return 2 * entities;
}

/** Clock rows: contexts, locks, irq flags, work pending and done, queued interrupts. */
export function raceClockRows(entities: number): number {
  return raceContexts(entities) + MAX_LOCKS + entities + 2 * MAX_WORKS + entities * IRQ_QUEUE;
}
