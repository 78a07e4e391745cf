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

/** Shadow words per chunk: 6 per tracked chunk field (src/race/race.ts, SW). */
export const CHUNK_SHADOW_WORDS = 48;
/** Shadow words of the global fields (6 per raced global: 2.6.35 has four, 4.1 four more). */
export function raceGlobalWords(kernel: string): number {
  return kernel === '2.6.35' ? 24 : 48;
}

/** Contexts (clock components) of a machine with `entities` entities. */
export function raceContexts(entities: number): number {
  return 2 * entities;
}

/** Clock rows: contexts, locks, irq flags, work pending and done (a row each per work id), queued interrupts. */
export function raceClockRows(entities: number, workIds: number): number {
  return raceContexts(entities) + MAX_LOCKS + entities + 2 * workIds + entities * IRQ_QUEUE;
}
