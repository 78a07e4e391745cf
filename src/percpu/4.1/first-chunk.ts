// The first chunk (Linux 4.1): placed as both kernels place it
// (src/percpu/first-chunk.ts), then pcpu_setup_first_chunk builds the static
// chunk and, with a reserved area, the dynamic chunk over the same memory.
// 4.1 gives them maps of PERCPU_DYNAMIC_EARLY_SLOTS entries in __initdata
// (offsets, the areas before their span marked in use), counts the first
// chunk's free pages as empty populated pages, and initializes their map
// extension work items. Both are immutable and fully populated. Once slab is
// up, percpu_init_late moves their maps into kmalloc'ed memory; async work
// is enabled by an initcall after the early-boot phase (the machine's
// finishBoot).
//
// CONTEXT: boot, on the main thread, before any CPU runs.

import { C, C41, PC, PC41 } from '../records.ts';
import { PCPU_MIN_UNIT_SIZE, type Config } from '../../shm/config.ts';
import { ConfigError } from '../../shm/config.ts';
import { Lock } from '../../sync/locks.ts';
import { Tag, heapAlloc } from '../../mm/heap.ts';
import { buildAllocInfo, dumpAllocInfo, pinnedAllocInfo, verifyAllocInfo, type AllocInfo } from '../alloc-info.ts';
import { setBit, type PcpuState } from '../chunk.ts';
import { placeFirstChunk } from '../first-chunk.ts';
import { bootmemAlloc } from '../../mm/heap.ts';
import { chunkRelocate } from '../slots.ts';
import { WorkFn } from '../allocator.ts';
import type { Workqueue } from '../../workqueue/workqueue.ts';
import { PERCPU_DYNAMIC_EARLY_SLOTS, countOccupiedPages } from './area-map.ts';

/** PERCPU_DYNAMIC_EARLY_SIZE: the least dynamic area the first chunk must have (early allocations). */
export const PERCPU_DYNAMIC_EARLY_SIZE = 12 << 10;

/** 4.1's sizing in pcpu_build_alloc_info: page-align, with at least PERCPU_DYNAMIC_EARLY_SIZE dynamic. */
function fcSizes41(cfg: Config, staticSize: number, reservedSize: number, dyn: number): { sizeSum: number; dyn: number } {
  const sizeSum = Math.ceil((staticSize + reservedSize + Math.max(dyn, PERCPU_DYNAMIC_EARLY_SIZE)) / cfg.pageSize) * cfg.pageSize;
  return { sizeSum, dyn: sizeSum - staticSize - reservedSize };
}

/** The alloc info the embed (or page) first-chunk helper builds for a config (pcpu_page_first_chunk asks for no dynamic area). */
export function allocInfo(cfg: Config): AllocInfo {
  if (cfg.unitSize !== 0) return pinnedAllocInfo(cfg);
  if (cfg.firstChunk === 'page') return buildAllocInfo(cfg, cfg.reservedSize, 0, cfg.pageSize, false, fcSizes41);
  return buildAllocInfo(cfg, cfg.reservedSize, cfg.dynSize, cfg.atomSize, true, fcSizes41);
}

/** pcpu_setup_first_chunk's PCPU_SETUP_BUG_ON checks as 4.1 has them (2.6.35's and a dynamic area of at least PERCPU_DYNAMIC_EARLY_SIZE). */
export function verifyAllocInfo41(cfg: Config, ai: AllocInfo): void {
  verifyAllocInfo(cfg, ai);
  if (ai.unitSize < PCPU_MIN_UNIT_SIZE) return; // already refused
  if (ai.dynSize < PERCPU_DYNAMIC_EARLY_SIZE) {
    throw new ConfigError(`PERCPU: failed to initialize, ai->dyn_size < PERCPU_DYNAMIC_EARLY_SIZE (${dumpAllocInfo(ai, cfg.cpus).split('\n')[0]})`);
  }
}

/**
 * Place the first chunk and set the 4.1 allocator up. Returns the boot log
 * lines in the kernel's order: the PERCPU: line, then the pcpu-alloc dump.
 */
export function setupFirstChunk(st: PcpuState, cfg: Config, ai: AllocInfo, wq: Workqueue): string[] {
  const { shm, w, h, L } = st; // h: the allocator's header block
  verifyAllocInfo41(cfg, ai);
  const { base, log, lowUnitCpu, highUnitCpu } = placeFirstChunk(st, cfg, ai);
  w[L.pcx + PC41.LOW_UNIT_CPU] = lowUnitCpu;
  w[L.pcx + PC41.HIGH_UNIT_CPU] = highUnitCpu;
  // LIST_HEAD(pcpu_map_extend_chunks), of the kernels with 4f996e234dad (never read by 4.1)
  st.initListHead(st.mapExtendHead());

  const chunkWords = L.chunkWords;
  // a chunk record in boot memory: its map (smap/dmap), its work, immutable and fully populated
  const newChunk = (seq: number): number => {
    const c = bootmemAlloc(shm, chunkWords);
    w.fill(0, c, c + chunkWords);
    st.initListHead(c);
    wq.initWork(st.extendWork(c), WorkFn.pcpu_map_extend_workfn, Lock.map_extend_work);
    // (a kernel with 4f996e234dad has INIT_LIST_HEAD(&chunk->map_extend_list) in its place: never read by 4.1)
    st.initListHead(st.mapExtendNode(c));
    w[c + C.BASE_ADDR] = base;
    w[c + C.MAP] = bootmemAlloc(shm, PERCPU_DYNAMIC_EARLY_SLOTS);
    w.fill(0, w[c + C.MAP]!, w[c + C.MAP]! + PERCPU_DYNAMIC_EARLY_SLOTS);
    w[c + C.MAP_ALLOC] = PERCPU_DYNAMIC_EARLY_SLOTS;
    w[c + C.IMMUTABLE] = 1;
    w[c + C.SEQ] = seq;
    for (let p = 0; p < st.unitPages; p++) setBit(w, c + C.POPULATED, p, true);
    w[c + L.chunkX + C41.NR_POPULATED] = st.unitPages;
    return c;
  };
  const mapSet = (c: number, i: number, v: number): void => {
    w[w[c + C.MAP]! + i] = v;
  };
  let dyn = ai.dynSize;
  const schunk = newChunk(0);
  if (ai.reservedSize) {
    w[schunk + C.FREE_SIZE] = ai.reservedSize;
    w[h + PC.RESERVED_CHUNK] = schunk;
    w[h + PC.RESERVED_LIMIT] = ai.staticSize + ai.reservedSize;
  } else {
    w[schunk + C.FREE_SIZE] = dyn;
    dyn = 0; // the static chunk covers the dynamic area
  }
  w[schunk + C.CONTIG_HINT] = w[schunk + C.FREE_SIZE]!;
  // the static area is in use at offset 0; the rest, if any, is free up to the sentry
  mapSet(schunk, 0, 1);
  mapSet(schunk, 1, ai.staticSize);
  w[schunk + C.MAP_USED] = 1;
  if (w[schunk + C.FREE_SIZE]) {
    w[schunk + C.MAP_USED] = 2;
    mapSet(schunk, 2, 1 | (ai.staticSize + w[schunk + C.FREE_SIZE]!));
  } else {
    mapSet(schunk, 1, ai.staticSize | 1);
  }
  let seq = 1;
  let dchunk = 0;
  if (dyn) {
    dchunk = newChunk(seq++);
    const limit = w[h + PC.RESERVED_LIMIT]!;
    w[dchunk + C.FREE_SIZE] = dyn;
    w[dchunk + C.CONTIG_HINT] = dyn;
    mapSet(dchunk, 0, 1);
    mapSet(dchunk, 1, limit);
    mapSet(dchunk, 2, (limit + dyn) | 1);
    w[dchunk + C.MAP_USED] = 2;
  }
  const first = dchunk || schunk;
  w[h + PC.FIRST_CHUNK] = first;
  w[h + PC.CHUNK_SEQ] = seq;
  w[h + PC.NR_CHUNKS] = 1;
  w[h + PC.NR_MAX_CHUNKS] = 1;
  st.attach(); // the first and reserved chunks are known now
  w[L.pcx + PC41.NR_EMPTY_POP_PAGES] = w[L.pcx + PC41.NR_EMPTY_POP_PAGES]! + countOccupiedPages(st, first, w[first + C.MAP]!, 1);
  chunkRelocate(st, first, -1);
  return log;
}

/**
 * percpu_init_late: once slab is up, the first and the reserved chunk get
 * kmalloc'ed maps of PERCPU_DYNAMIC_EARLY_SLOTS entries, copies of their
 * __initdata ones (under pcpu_lock in the kernel; nothing else runs yet here).
 */
export function percpuInitLate(st: PcpuState): void {
  const { shm, w } = st;
  st.attach();
  for (const c of [st.firstChunk, st.reservedChunk]) {
    if (!c) continue;
    const map = heapAlloc(shm, PERCPU_DYNAMIC_EARLY_SLOTS * 4, Tag.MAP);
    if (map <= 0) throw new RangeError('percpu_init_late: BUG_ON(!map)');
    const old = w[c + C.MAP]!;
    for (let i = 0; i < PERCPU_DYNAMIC_EARLY_SLOTS; i++) w[map + i] = w[old + i]!;
    w[c + C.MAP] = map;
  }
}
