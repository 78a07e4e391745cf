// The one owner of every offset in the SharedArrayBuffer.
//
// All shared state is 32-bit words in one Int32Array (`w`), except page
// frame contents, which are bytes (`b`). A "pointer" is a word index into
// `w` (heap objects, list nodes) or an emulated kernel virtual address
// (percpu areas). Each subsystem declares its own records in its records.ts
// (the header block it needs, the shape of its records); this file only
// composes them into regions and computes their offsets. Nothing else
// computes an offset.

import { ConfigError, type Config } from './config.ts';
import type { AllocInfo } from './geometry.ts';
import { RUN, EV_CAP, EV_WORDS, SCRATCH_WORDS } from '../run/records.ts';
import { PC, C, PC41, C41_WORDS, EARLY_MAP_ENTRIES_41 } from '../percpu/records.ts';
import { MM, HO, HEAP_CLASSES, PG } from '../mm/records.ts';
import { SY, X_SIZE, MAX_LOCKS, LK } from '../sync/records.ts';
import { LD, MAX_CLASSES, MAX_CHAINS, CHAIN_WORDS } from '../lockdep/records.ts';
import { WK, WQ, WT, MAX_WORKS } from '../workqueue/records.ts';
import { SC, MAX_CHANGE_POINTS } from '../sched/records.ts';
import { CK, KX, MAX_UNWIND, UNWIND_WORDS, MAX_GRAVE, GRAVE_WORDS } from '../check/records.ts';
import { CHUNK_SHADOW_WORDS, raceClockRows, raceContexts, raceGlobalWords } from '../race/records.ts';

export interface Layout {
  /** The kernel generation the machine boots (its records are laid out too). */
  kernel: Config['kernel'];
  words: number;
  bytes: number;
  nrEntities: number; // CPUs plus the kworker
  kworker: number; // entity index of the workqueue worker
  nrSlots: number;
  unitPages: number;
  nrUnits: number;
  bitmapWords: number;
  /** Words of a chunk record: fields, populated bitmap, race shadow (and 4.1's fields, from chunkX). */
  chunkWords: number;
  /** Where 4.1's chunk fields start in a record (C41); 0 on a 2.6.35 machine. */
  chunkX: number;
  // header blocks, one per subsystem (`header` is the first)
  header: number;
  run: number;
  pc: number;
  /** 4.1's globals (PC41); 0 on a 2.6.35 machine. */
  pcx: number;
  mm: number;
  sy: number;
  ck: number;
  // region bases, in words
  unitMap: number; // cpu -> unit
  unitOff: number; // cpu -> unit offset
  groupOff: number;
  groupSize: number;
  slots: number; // nrSlots list heads of 2 words
  locks: number;
  cpus: number; // nrEntities * X_SIZE
  /** Per entity: the known issues' mechanism records (KX). */
  known: number;
  /** map-pages-unwind records. */
  unwind: number;
  /** Destroyed chunks (src/check/records.ts). */
  grave: number;
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
  /** The work table: a row per work id (static ones first), WT.SIZE words each. */
  workTable: number;
  nrWorkIds: number;
  /** The race detector's vector clocks (src/race/records.ts): raceClockRows rows of raceContexts words. */
  vc: number;
  vcWidth: number;
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

/** Words of the coverage bitmap (4 kinds x 2^14 bits; src/shm/coverage.ts). */
export const COV_WORDS_LAYOUT = 2048;

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
  // the populated bitmap in 32-bit words; 4.1's is sized as an x86_64 kernel sizes it, in 64-bit longs
  // (BITS_TO_LONGS), so that a bitmap_set past unit_pages stays inside the record exactly when it would there
  const bitmapWords = cfg.kernel === '4.1' ? 2 * Math.ceil(unitPages / 64) : Math.ceil(unitPages / 32);
  const nrEntities = cfg.cpus + 1;
  let top = 0;
  const take = (n: number): number => {
    const at = top;
    top += n;
    return at;
  };
  // the header: one block per subsystem
  const v41 = cfg.kernel === '4.1';
  const run = take(RUN.SIZE);
  const pc = take(PC.SIZE);
  const pcx = v41 ? take(PC41.SIZE) : 0;
  const mm = take(MM.SIZE);
  const sy = take(SY.SIZE);
  const ck = take(CK.SIZE);
  const header = run;
  const unitMap = take(cfg.cpus);
  const unitOff = take(cfg.cpus);
  const groupOff = take(cfg.cpus);
  const groupSize = take(cfg.cpus);
  const slots = take(nrSlots * 2);
  const locks = take(MAX_LOCKS * LK.SIZE);
  const cpus = take(nrEntities * X_SIZE);
  const known = take(nrEntities * KX.SIZE);
  const unwind = take(MAX_UNWIND * UNWIND_WORDS);
  const grave = take(MAX_GRAVE * GRAVE_WORDS);
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
  // 4.1: every chunk (the first and the reserved one too) embeds a map extension work item
  // 4.1: every chunk record holds a work item: the vm areas bound the live chunks (maxChunks, and the first and reserved
  // chunk), and a record exists before its vm area is asked for, so a creation that will fail for want of one holds one
  // more (creation is serialized by pcpu_alloc_mutex; a row an entity may hold besides, to be safe)
  const nrWorkIds = MAX_WORKS + (v41 ? cfg.maxChunks + 2 + nrEntities : 0);
  const workTable = take(nrWorkIds * WT.SIZE);
  const vcWidth = raceContexts(nrEntities);
  const vc = take(raceClockRows(nrEntities, nrWorkIds) * vcWidth);
  const raceGlobals = take(raceGlobalWords(cfg.kernel));
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
  const chunkX = v41 ? C.POPULATED + bitmapWords + CHUNK_SHADOW_WORDS : 0;
  const chunkWords = C.POPULATED + bitmapWords + CHUNK_SHADOW_WORDS + (v41 ? C41_WORDS : 0);
  const maxMapBytes = ai.unitSize + 64;
  const heapBytes = cfg.heapBytes || Math.max(1 << 20, cfg.maxChunks * ((chunkWords + HO.SIZE) * 4 + 4096) + 8 * maxMapBytes + nrUnits * unitPages * 4 * 2);
  const heapWords = align(heapBytes / 4, 16);
  const heap = take(HEAP_CLASSES * 2 + 4);
  const heapClasses = heap + 4;
  const heapArena = take(heapWords);
  const bootWords = 2 * chunkWords + (v41 ? 2 * EARLY_MAP_ENTRIES_41 : 64);
  const boot = take(bootWords);

  const vmSpanBytes = align(Math.max(...ai.groups.map((g) => g.baseOffset + g.nrUnits * ai.unitSize)), ai.atomSize);
  const vmSlotSpan = align(vmSpanBytes, cfg.pageSize);
  const vmSlots = cfg.maxChunks + 1;
  const vmPages = (vmSlots * vmSlotSpan) / cfg.pageSize;
  if (VM_BASE + vmSlots * vmSlotSpan > 0x7fffffff) {
    throw new ConfigError(`the emulated vmalloc space cannot hold ${cfg.maxChunks} chunks of ${vmSlotSpan} bytes: lower maxChunks or the CPU count`);
  }
  const firstChunkPages = Math.ceil(vmSpanBytes / cfg.pageSize);
  // enough for every chunk fully populated, but at most 192 MiB of page frames:
  // past that the emulated machine runs out of memory like a real one
  const wanted = firstChunkPages + cfg.maxChunks * nrUnits * unitPages + 16;
  const nrPages = cfg.pages || Math.min(wanted, Math.max(firstChunkPages + 4096, (192 << 20) / cfg.pageSize));
  const pageDesc = take(nrPages * PG.SIZE);
  const pte = take(vmPages);
  const vmSlotMap = take(vmSlots);
  const pageDataBytes = nrPages * cfg.pageSize;
  const pageData = align(top * 4, cfg.pageSize);
  if (LIN_BASE + pageDataBytes > VM_BASE) throw new ConfigError('too many page frames for the emulated linear map: lower pages or maxChunks');
  return {
    kernel: cfg.kernel, words: top, bytes: pageData + pageDataBytes, nrEntities, kworker: cfg.cpus, nrSlots, unitPages, nrUnits, bitmapWords, chunkWords, chunkX,
    header, run, pc, pcx, mm, sy, ck, unitMap, unitOff, groupOff, groupSize, slots, locks, cpus, known, unwind, grave, lockdep, ldUsage, ldUsageSite, ldUsageCpu,
    ldDeps, ldDepSite, ldDepCpu, ldDepPrevSite, ldDepStep, ldReported, ldChains, works, wq, workTable, nrWorkIds, vc, vcWidth, raceGlobals, sched, schedPrio, schedWake, schedChange,
    schedRec, schedRecCap: recCap, schedReplay, scratch, evlog, cov,
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

/** Views of exactly the layout's bytes (the buffer may be larger: a reused one). */
export function viewShm(sab: SharedArrayBuffer, L: Layout): Shm {
  return { sab, w: new Int32Array(sab, 0, L.bytes >> 2), b: new Uint8Array(sab, 0, L.bytes), L };
}
