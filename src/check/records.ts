// The checking layer's shared records: the specification checks' counters
// and what the mechanisms of the baseline's known issues left behind when
// they fired (src/check/known.ts), so that a report made later, on any
// thread, can be attributed to the mechanism that caused it.

export enum CK {
  /** Failed allocations that count against warn_limit, and the warnings printed. */
  ALLOC_FAILS, FAIL_WARNS,
  /** map-pages-unwind records in use. */
  UNWIND_LEN,
  /** Destroyed chunks recorded in the graveyard so far. */
  GRAVE_LEN,
  /**
   * 4.1 (src/check/4.1/known.ts): stores of pcpu_nr_empty_pop_pages that
   * replaced another store made since the value was read (an update lost);
   * synchronous extensions that found their record freed or
   * reused; heads merged before area 0; percpu-km chunks marked populated
   * past a unit.
   */
  EMPTY_POP_LOST, EXTEND_STALE, HEAD0, KM_OVER,
  /** 4.1: failed populations that freed their area (the path with no accounting). */
  POPFAIL_LOST,
  /** 4.1: the maps stale extensions found in their records (a ring of STALE_MAPS_CAP), which they free and the balance work may free too. */
  STALE_MAPS_LEN, STALE_MAPS, STALE_MAPS_END = STALE_MAPS + 8,
  SIZE,
}

/** Per entity: the latest firing of each per-call mechanism. */
export enum KX {
  /** walk-escape: the chunk a failed scan moved to slot 0 in the middle of this CPU's slot walk (+ 1), and the slot walked. */
  WALK_CHUNK, WALK_SLOT,
  /** km-unzeroed: the percpu pointer and size km's no-op populate last handed out uncleared. */
  KM_PTR, KM_SIZE,
  /**
   * per_cpu_ptr_to_phys: the address looked up, the path taken (PHYS_*), the pfn found, whether
   * the address lies in a first-chunk unit other than unit 0, and the path 2.6.35 takes for it
   * by the checker's own classification of the address.
   */
  PHYS_ADDR, PHYS_PATH, PHYS_PFN, PHYS_FIRST_MISS, PHYS_EXPECTED,
  /**
   * 4.1: empty-pop-unlocked: pcpu_alloc is storing pcpu_nr_empty_pop_pages with no lock (until its next
   * call's walk), and how many such stores this entity made; extend-vs-destroy: the chunk a
   * pcpu_extend_area_map in progress extends (+ 1), its creation number then, and whether it runs without
   * pcpu_alloc_mutex (the chunk, + 1, and its creation number as the caller saw it under pcpu_lock before
   * dropping it: EXT_DECIDED); extend-work-freed: the map_extend_work queued in the chunk the balance work is
   * destroying; head-before-map: the map whose map[-1] pcpu_alloc_area is about to read.
   */
  EMPTY_POP_STORING, EMPTY_POP_STORES, EXT_CHUNK, EXT_DECIDED, EXT_SEQ, EXT_NOMUTEX, DESTROY_WORK, HEAD0_MAP,
  SIZE,
}

export const PHYS_LINEAR = 1; // __pa(): the first chunk in the linear map
export const PHYS_VMALLOC = 2; // vmalloc_to_page(): the first chunk, vmalloc-mapped
export const PHYS_CHUNK = 3; // pcpu_addr_to_page(): any other chunk

/** map-pages-unwind: ranges of pages a failed pcpu_map_pages left mapped, [first address, pages]. */
export const MAX_UNWIND = 256;
export const UNWIND_WORDS = 2;

/** Destroyed chunks, newest last (a ring): [record address, creation number], so a use-after-free can name the chunk. */
export const MAX_GRAVE = 64;
export const GRAVE_WORDS = 2;
