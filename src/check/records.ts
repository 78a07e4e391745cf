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
  SIZE,
}

export const PHYS_LINEAR = 1; // __pa(): the first chunk in the linear map
export const PHYS_VMALLOC = 2; // vmalloc_to_page(): the first chunk, vmalloc-mapped
export const PHYS_CHUNK = 3; // pcpu_addr_to_page(): any other chunk

/** map-pages-unwind: ranges of pages a failed pcpu_map_pages left mapped, [first address, pages]. */
export const MAX_UNWIND = 32;
export const UNWIND_WORDS = 2;

/** Destroyed chunks, newest last (a ring): [record address, creation number], so a use-after-free can name the chunk. */
export const MAX_GRAVE = 64;
export const GRAVE_WORDS = 2;
