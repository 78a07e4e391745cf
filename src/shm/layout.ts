// The one owner of every offset in the SharedArrayBuffer.
//
// All shared state is 32-bit words in one Int32Array (`w`), except page
// frame contents, which are bytes (`b`). A "pointer" is a word index into
// `w` (heap objects, list nodes) or an emulated kernel virtual address
// (percpu areas). Records are fixed-size; their field offsets are the
// constants below, and each record type has one accessor module that uses
// them. Nothing else computes an offset.

import { ConfigError, type Config } from './config.ts';
import type { AllocInfo } from './geometry.ts';

// ---- global header ---------------------------------------------------------
export enum H {
  MAGIC, RUN_GEN, SYSTEM_STATE, STOP, STOP_REASON,
  // allocator globals (mm/percpu.c statics)
  FIRST_CHUNK, RESERVED_CHUNK, RESERVED_LIMIT, NR_SLOTS, UNIT_SIZE, UNIT_PAGES,
  NR_UNITS, NR_GROUPS, BASE_ADDR, CHUNK_SEQ, WARN_LIMIT, TEMP_PAGES, TEMP_BITMAP,
  TEMP_OWNER, FIRST_UNIT_CPU, LAST_UNIT_CPU,
  // __per_cpu_end - __per_cpu_start (is_kernel_percpu_address)
  STATIC_SIZE,
  // percpu_stats
  NR_ALLOC, NR_DEALLOC, NR_CUR_ALLOC, NR_MAX_ALLOC, NR_CHUNKS, NR_MAX_CHUNKS,
  MIN_ALLOC_SIZE, MAX_ALLOC_SIZE, CHUNKS_CREATED, CHUNKS_DESTROYED, RECLAIM_RUNS,
  // failure injection (src/mm/fail.ts)
  FAIL_LOCK, FAIL_PROB_PPM, FAIL_SITE, FAIL_NTH, FAIL_CALLS, FAIL_RNG, FAIL_RNG1, FAIL_RNG2, FAIL_RNG3, FAIL_INJECTED,
  // emulated memory management
  HEAP_LOCK, HEAP_TOP, HEAP_LIVE_OBJS, HEAP_LIVE_BYTES, BOOT_TOP,
  PAGE_LOCK, PAGE_CURSOR, PAGES_USED, PAGE_HWM, VM_LOCK, VM_SLOTS_USED,
  // injected historical bug (src/percpu/inject.ts), checks switches
  INJECT, CHECKS, SHADOW_SEQ, IRQFREE_COUNT,
  // specification checks: failed allocations that count against warn_limit, warnings printed
  ALLOC_FAILS, FAIL_WARNS,
  // early-boot state for the irq check
  EARLY_BOOT_IRQS_DISABLED,
  // run lifecycle: start barrier, completion counts, watchdog verdict
  RUN_READY, RUN_GO, CPUS_DONE, CPUS_EXITED,
  // test-only: lock index + 1 of a lock whose acquire does not exclude
  BROKEN_LOCK,
  // the timeline (controlled runs asked for one): on, and events appended so far
  EVLOG, EV_LEN,
  // coverage for novelty feedback (src/shm/coverage.ts): on
  COVERAGE,
  COUNT,
}

export const SYSTEM_BOOTING = 0;
export const SYSTEM_RUNNING = 1;

// ---- chunk record (payload of a heap object tagged CHUNK, or bootmem) ------
export enum C {
  LIST_NEXT, LIST_PREV, FREE_SIZE, CONTIG_HINT, BASE_ADDR, MAP_USED, MAP_ALLOC,
  MAP, DATA, IMMUTABLE, SEQ, POPULATED, // populated bitmap words follow
}

/** Words after a chunk's populated bitmap: the race detector's shadow of its fields (src/race). */
export const CHUNK_SHADOW_WORDS = 24;
/** Shadow of the allocator's global shared variables (the slot lists, the temp buffer). */
export const RACE_GLOBAL_WORDS = 8;

// ---- heap object header (words before the payload) -------------------------
export enum HO { STATE, CLASS, BYTES, TAG_OR_NEXT, SIZE }
export const HEAP_ALLOC = 0x0a110c;
export const HEAP_FREE = 0x0f7ee0;
export const POISON_FREE = 0x6b6b6b6b; // slab's POISON_FREE byte, four times
export const PAGE_POISON = 0xaa;

// ---- page descriptor --------------------------------------------------------
export enum PG { STATE, INDEX, ORDER, SIZE }
export const PAGE_NEVER_USED = 0;
export const PAGE_ALLOCATED = 1;
export const PAGE_FREED = 2;
export const PAGE_BOOTMEM = 3;

// ---- lock record ----------------------------------------------------------
export enum LK { STATE, OWNER, CLASS, ACQUIRED, CONTENDED, HOLD_START, MAX_HOLD, WAITERS, SIZE }

// ---- per-CPU context ------------------------------------------------------
export const MAX_HELD = 24;
export const MAX_OPS = 24;
export const IRQ_QUEUE = 64;
export enum HL { LOCK, SITE, IRQ_CTX, FLAGS, SIZE }
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
export const IRQ_ENTRY = 4; // [kind, arg0, arg1, arg2]
export const X_SIZE = X_IRQS + IRQ_QUEUE * IRQ_ENTRY;

// ---- lockdep ---------------------------------------------------------------
export const MAX_CLASSES = 16;
export const MAX_CHAINS = 128;
export const MAX_CHAIN = 8;
export const CHAIN_WORDS = 3 + MAX_CHAIN;
export enum LD { GRAPH_LOCK, REPORTS, DISABLED, SIZE }

// ---- workqueue ------------------------------------------------------------
export const MAX_WORKS = 4;
export enum WK { PENDING, RUNNING, RUNS, QUEUED, LOST, SCHED_SEQ, START_SEQ, SIZE }
export enum WQ { WAKE, FLUSH_SEQ, DONE_SEQ, SIZE }

// ---- scheduler (controlled mode) -----------------------------------------
export enum SC { TOKEN, MODE, STEP, SWITCHES, RNG0, RNG1, RNG2, RNG3, DEPTH, CHANGES_DONE, EXPECTED_STEPS, REC_LEN, REC_OVERFLOW, REPLAY_POS, REPLAY_LEFT, REPLAY_LEN, DIVERGED, MAX_STEPS, PREEMPTIONS, IRQS, POS_RES, SIZE }
export const MAX_CHANGE_POINTS = 16;

export const MAX_LOCKS = 16;
export const SCRATCH_WORDS = 64;

// ---- the runner's control block (its own small SharedArrayBuffer) ------------
// The main thread starts a run by writing its descriptor here and bumping
// GEN; every pool thread (a long-lived session) plays its entity and
// reports back through its result record and DONE. See src/run/session.ts.
export enum CT {
  GEN, CMD, MACHINE, ENTITIES, MODE, SCENARIO, SEED, OPS, DURATION_MS, FLAGS, READY, DONE, THREADS,
  /** words of the size mix at CT_SIZES ([size, align] pairs; 0: the scenario's own sizes) */
  SIZES_LEN,
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
/** A size mix: up to MAX_SIZE_PAIRS [size, align] pairs. */
export const MAX_SIZE_PAIRS = 32;
export const CT_SIZES = CT_PROG + MAX_ENTITIES * 2;
export const CT_RES = CT_SIZES + MAX_SIZE_PAIRS * 2;
export const CT_WORDS = CT_RES + MAX_ENTITIES * RS.SIZE;

export interface Layout {
  words: number;
  bytes: number;
  nrEntities: number; // CPUs plus the kworker
  kworker: number; // entity index of the workqueue worker
  nrSlots: number;
  unitPages: number;
  nrUnits: number;
  bitmapWords: number;
  // region bases, in words
  header: number;
  unitMap: number; // cpu -> unit
  unitOff: number; // cpu -> unit offset
  groupOff: number;
  groupSize: number;
  slots: number; // nrSlots list heads of 2 words
  locks: number;
  cpus: number; // nrEntities * X_SIZE
  lockdep: number;
  ldUsage: number; // per class usage bits
  ldUsageSite: number; // per class * 4 usage bits: site
  ldUsageCpu: number;
  ldDeps: number; // class x class: 0 or 1 + first-seen info
  ldDepSite: number;
  ldDepCpu: number;
  ldDepPrevSite: number;
  ldDepStep: number;
  ldReported: number; // dedupe: report kind x class x class
  ldChains: number; // distinct lock chains: [hash, irqctx, len, classes x MAX_CHAIN]
  works: number;
  wq: number;
  /** vector clocks of the race detector: (2 * nrEntities + MAX_LOCKS + MAX_WORKS) rows of nrEntities words */
  vc: number;
  raceGlobals: number;
  sched: number;
  schedPrio: number; // per entity
  schedWake: number; // per entity: wake generation
  schedChange: number; // PCT change points
  schedRec: number; // recorded schedule, pairs
  schedRecCap: number;
  schedReplay: number;
  scratch: number; // words for self-test programs and barriers
  evlog: number; // the timeline ring (EV_CAP events of EV_WORDS)
  cov: number; // the coverage bitmap (src/shm/coverage.ts)
  heap: number;
  heapClasses: number; // per class: head, tail
  heapArena: number;
  heapWords: number;
  boot: number;
  bootWords: number;
  pageDesc: number;
  nrPages: number;
  pte: number;
  vmPages: number;
  vmSlotSpan: number; // bytes of address space per vm chunk
  vmSlots: number;
  vmSlotMap: number; // per vm slot: in use
  pageData: number; // byte offset
  // address space (emulated kernel virtual addresses)
  linBase: number;
  vmBase: number;
}

export const HEAP_CLASSES = 24;

/** Words of the coverage bitmap (4 kinds x 2^14 bits; src/shm/coverage.ts). */
export const COV_WORDS_LAYOUT = 2048;

/** Timeline events kept (a ring: the newest this many). */
export const EV_CAP = 1 << 15;
/** Words per timeline event: step, entity, kind (EV), argument. */
export const EV_WORDS = 4;
/** Timeline event kinds (src/report/timeline.ts renders them). */
export enum EV { ENTER = 1, LEAVE, ACQUIRE, RELEASE, WAIT, SWITCH, REPORT }
export const LIN_BASE = 0x01000000;
export const VM_BASE = 0x40000000;

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** Lay the shared memory out for a config and its first-chunk geometry. */
export function computeLayout(cfg: Config, ai: AllocInfo, recCap = 1 << 16): Layout {
  const unitPages = ai.unitSize / cfg.pageSize;
  const nrUnits = ai.groups.reduce((s, g) => s + g.nrUnits, 0);
  const nrSlots = Math.max(32 - Math.clz32(ai.unitSize) - 5 + 2, 1) + 2;
  const bitmapWords = Math.ceil(unitPages / 32);
  const nrEntities = cfg.cpus + 1;
  let top = 0;
  const take = (n: number): number => {
    const at = top;
    top += n;
    return at;
  };
  const header = take(H.COUNT);
  const unitMap = take(cfg.cpus);
  const unitOff = take(cfg.cpus);
  const groupOff = take(cfg.cpus);
  const groupSize = take(cfg.cpus);
  const slots = take(nrSlots * 2);
  const locks = take(MAX_LOCKS * LK.SIZE);
  const cpus = take(nrEntities * X_SIZE);
  const lockdep = take(LD.SIZE);
  const ldUsage = take(MAX_CLASSES);
  const ldUsageSite = take(MAX_CLASSES * 4);
  const ldUsageCpu = take(MAX_CLASSES * 4);
  const ldDeps = take(MAX_CLASSES * MAX_CLASSES);
  const ldDepSite = take(MAX_CLASSES * MAX_CLASSES);
  const ldDepCpu = take(MAX_CLASSES * MAX_CLASSES);
  const ldDepPrevSite = take(MAX_CLASSES * MAX_CLASSES);
  const ldDepStep = take(MAX_CLASSES * MAX_CLASSES);
  const ldReported = take(8 * MAX_CLASSES * MAX_CLASSES);
  const ldChains = take(MAX_CHAINS * CHAIN_WORDS);
  const works = take(MAX_WORKS * WK.SIZE);
  const wq = take(WQ.SIZE);
  // the race detector's vector clocks: one row per entity, then per lock, per irq queue, per work item
  const vc = take((2 * nrEntities + MAX_LOCKS + MAX_WORKS) * nrEntities);
  const raceGlobals = take(RACE_GLOBAL_WORDS);
  const sched = take(SC.SIZE);
  const schedPrio = take(nrEntities);
  const schedWake = take(nrEntities);
  const schedChange = take(MAX_CHANGE_POINTS);
  const schedRec = take(recCap * 2);
  const schedReplay = take(recCap * 2);
  // not cleared at boot (only the first EV_LEN events are ever read)
  const evlog = take(EV_CAP * EV_WORDS);
  const cov = take(COV_WORDS_LAYOUT);
  const scratch = take(SCRATCH_WORDS);

  // Heap: chunk records and area maps. The largest map is one entry per
  // 4-byte area of a unit; vmalloc'ed maps come from the same arena.
  const chunkWords = C.POPULATED + bitmapWords + CHUNK_SHADOW_WORDS + HO.SIZE;
  const maxMapBytes = ai.unitSize + 64;
  const heapBytes = cfg.heapBytes || Math.max(1 << 20, cfg.maxChunks * (chunkWords * 4 + 4096) + 8 * maxMapBytes + nrUnits * unitPages * 4 * 2);
  const heapWords = align(heapBytes / 4, 16);
  const heap = take(HEAP_CLASSES * 2 + 4);
  const heapClasses = heap + 4;
  const heapArena = take(heapWords);
  const bootWords = 2 * (C.POPULATED + bitmapWords + CHUNK_SHADOW_WORDS) + 64;
  const boot = take(bootWords);

  const vmSpanBytes = align(Math.max(...ai.groups.map((g) => g.baseOffset + g.nrUnits * ai.unitSize)), ai.atomSize);
  const vmSlotSpan = align(vmSpanBytes, cfg.pageSize);
  const vmSlots = cfg.maxChunks + 1;
  const vmPages = (vmSlots * vmSlotSpan) / cfg.pageSize;
  if (VM_BASE + vmSlots * vmSlotSpan > 0x7fffffff) {
    throw new ConfigError(`the emulated vmalloc space cannot hold ${cfg.maxChunks} chunks of ${vmSlotSpan} bytes: lower maxChunks or the CPU count`);
  }
  const firstChunkPages = Math.ceil(vmSpanBytes / cfg.pageSize);
  // enough for every chunk fully populated, but at most 256 MiB of page frames:
  // past that the emulated machine runs out of memory like a real one
  const wanted = firstChunkPages + cfg.maxChunks * nrUnits * unitPages + 16;
  const nrPages = cfg.pages || Math.min(wanted, Math.max(firstChunkPages + 4096, (256 << 20) / cfg.pageSize));
  const pageDesc = take(nrPages * PG.SIZE);
  const pte = take(vmPages);
  const vmSlotMap = take(vmSlots);
  const pageDataBytes = nrPages * cfg.pageSize;
  const pageData = align(top * 4, cfg.pageSize);
  if (LIN_BASE + pageDataBytes > VM_BASE) throw new ConfigError('too many page frames for the emulated linear map: lower pages or maxChunks');
  return {
    words: top, bytes: pageData + pageDataBytes, nrEntities, kworker: cfg.cpus, nrSlots, unitPages, nrUnits, bitmapWords,
    header, unitMap, unitOff, groupOff, groupSize, slots, locks, cpus, lockdep, ldUsage, ldUsageSite, ldUsageCpu,
    ldDeps, ldDepSite, ldDepCpu, ldDepPrevSite, ldDepStep, ldReported, ldChains, works, wq, vc, raceGlobals, sched, schedPrio, schedWake, schedChange, schedRec, schedRecCap: recCap, schedReplay, scratch, evlog, cov,
    heap, heapClasses, heapArena, heapWords, boot, bootWords, pageDesc, nrPages, pte, vmPages, vmSlotSpan, vmSlots,
    vmSlotMap, pageData, linBase: LIN_BASE, vmBase: VM_BASE,
  };
}

/** The shared memory of one machine: the buffer and two views over all of it. */
export interface Shm {
  sab: SharedArrayBuffer;
  w: Int32Array;
  b: Uint8Array;
  L: Layout;
}

export function allocShm(L: Layout): Shm {
  const sab = new SharedArrayBuffer(L.bytes);
  return viewShm(sab, L);
}

export function viewShm(sab: SharedArrayBuffer, L: Layout): Shm {
  return { sab, w: new Int32Array(sab), b: new Uint8Array(sab), L };
}
