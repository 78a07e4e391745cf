// The allocator's shared records: mm/percpu.c's globals (the __read_mostly
// boot constants, the temp buffer, warn_limit, the percpu_stats counters)
// and struct pcpu_chunk. Declarations only: src/shm/layout.ts places them,
// src/percpu/chunk.ts is their one accessor module.

import { WK } from '../workqueue/records.ts';

export enum PC {
  FIRST_CHUNK, RESERVED_CHUNK, RESERVED_LIMIT, NR_SLOTS, UNIT_SIZE, UNIT_PAGES,
  NR_UNITS, NR_GROUPS, BASE_ADDR, FIRST_UNIT_CPU, LAST_UNIT_CPU,
  /** __per_cpu_end - __per_cpu_start (is_kernel_percpu_address) */
  STATIC_SIZE,
  /** Creation number of the next chunk (reports name chunks by it). */
  CHUNK_SEQ,
  /** pcpu_alloc's static warn_limit. */
  WARN_LIMIT,
  /** pcpu_get_pages_and_bitmap's static pages array and bitmap, and who is using them. */
  TEMP_PAGES, TEMP_BITMAP, TEMP_OWNER,
  /** percpu_stats (under pcpu_lock). */
  NR_ALLOC, NR_DEALLOC, NR_CUR_ALLOC, NR_MAX_ALLOC, NR_CHUNKS, NR_MAX_CHUNKS, MIN_ALLOC_SIZE, MAX_ALLOC_SIZE,
  CHUNKS_CREATED, CHUNKS_DESTROYED, RECLAIM_RUNS,
  /** The variant booted (src/percpu/2.6.35/variants.ts): a historical bug and a later fix, by number (0: none). */
  BUG, FIX,
  SIZE,
}

/**
 * Linux 4.1's globals beyond 2.6.35's: a block of their own, laid out only
 * on 4.1 machines (a 2.6.35 machine's memory is what it always was).
 * LOW_UNIT_CPU/HIGH_UNIT_CPU are pcpu_low_unit_cpu and pcpu_high_unit_cpu
 * (by unit offset; per_cpu_ptr_to_phys uses them).
 */
export enum PC41 {
  /** pcpu_nr_empty_pop_pages (under pcpu_lock). */
  NR_EMPTY_POP_PAGES,
  /** pcpu_atomic_alloc_failed ("best effort anyway, don't worry about synchronization"). */
  ATOMIC_ALLOC_FAILED,
  /** pcpu_async_enabled: __read_mostly, set once by percpu_enable_async (a subsys initcall: after the early-boot phase). */
  ASYNC_ENABLED,
  LOW_UNIT_CPU, HIGH_UNIT_CPU,
  /** pcpu_map_extend_chunks, a list head (two words): the chunks waiting for the balance work to extend their maps (fix map-extend-by-balance only). */
  MAP_EXTEND_CHUNKS, MAP_EXTEND_CHUNKS_PREV,
  /** Harness: runs of pcpu_balance_workfn, and of a map extension work. */
  BALANCE_RUNS, EXTEND_WORK_RUNS,
  SIZE,
}

/**
 * 4.1's struct pcpu_chunk fields beyond 2.6.35's, after the populated
 * bitmap and the race shadow (C41 offsets are from the chunk's extension,
 * Layout.chunkX words into the record). MAP_EXTEND_WORK is the embedded
 * work item (src/workqueue/records.ts WK).
 */
/** 4.1's PERCPU_DYNAMIC_EARLY_SLOTS: entries of the first chunk's boot maps (smap, dmap), in boot memory. */
export const EARLY_MAP_ENTRIES_41 = 128;

export enum C41 { FIRST_FREE, NR_POPULATED, MAP_EXTEND_WORK }
/** Words of a 4.1 chunk's extension: its fields, the embedded work item, then the fixed kernel's map_extend_list (two words). */
export const C41_WORDS = C41.MAP_EXTEND_WORK + WK.SIZE + 2;

/**
 * struct pcpu_chunk. OWNER is the harness's: the entity + 1 that holds the
 * chunk privately while it is on no slot list (its creator until it is
 * linked, its reclaimer once it is unlinked), 0 while it is shared.
 */
export enum C {
  LIST_NEXT, LIST_PREV, FREE_SIZE, CONTIG_HINT, BASE_ADDR, MAP_USED, MAP_ALLOC,
  MAP, DATA, IMMUTABLE, SEQ, OWNER, POPULATED, // populated bitmap words follow
}
