// The runner's control block: a small SharedArrayBuffer of its own, the one
// shape the main thread (src/run/main/) and the pool threads
// (src/run/thread/) share besides the messages of src/run/messages.ts. The
// main thread starts a run by writing its descriptor here and bumping GEN;
// every thread (a long-lived session) plays its entity and reports back
// through its result record and DONE.

import { MAX_SIZE_PAIRS } from '../../scenarios/lib/sizes.ts';

export enum CT {
  GEN, CMD, MACHINE, ENTITIES, MODE, SCENARIO, SEED, OPS, DURATION_MS, FLAGS, READY, DONE, THREADS,
  /** words of the size mix at CT_SIZES ([size, align] pairs; 0: the scenario's own sizes) */
  SIZES_LEN,
  /** ops at the start of each CPU's program that a deadline never cuts (a directed set-up: its completions must come) */
  SETUP_OPS,
  HEADER,
}
export const CMD_RUN = 1;
export const CMD_EXIT = 2;
export const CTF_CHECKS = 1;
export const CTF_TIMING = 2;
export const CTF_PROGRAMS = 4;
export const MAX_ENTITIES = 65;
/** Per entity: [offset, length] of its program in the program buffer, in words. */
export const CT_PROG = CT.HEADER;
/** Per thread: the result record of the last run. */
export enum RS { OPS, ALLOC, FREE, IRQFREE, IRQS_HANDLED, FAILED, TOUCHES, CHECKS, OOPS, STOPPED, RECLAIM_RUNS, ACTIVE_MS, MESSAGES, SIZE }
export const CT_SIZES = CT_PROG + MAX_ENTITIES * 2;
export const CT_RES = CT_SIZES + MAX_SIZE_PAIRS * 2;
export const CT_WORDS = CT_RES + MAX_ENTITIES * RS.SIZE;
