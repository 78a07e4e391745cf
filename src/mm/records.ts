// Shared records of the emulated memory managers: their header block
// (failure injection, heap, page allocator, vmalloc space), heap object
// headers and page descriptors.

export enum MM {
  // failure injection (src/mm/fail.ts)
  FAIL_LOCK, FAIL_PROB_PPM, FAIL_SITE, FAIL_NTH, FAIL_CALLS, FAIL_RNG, FAIL_RNG1, FAIL_RNG2, FAIL_RNG3, FAIL_INJECTED,
  // heap and bootmem
  HEAP_LOCK, HEAP_TOP, HEAP_LIVE_OBJS, HEAP_LIVE_BYTES, BOOT_TOP,
  /** Bootmem objects handed out, and their table: [first word, words] each (their bounds, for checked accesses). */
  BOOT_NR, BOOT_TABLE,
  /** Heap objects freed since boot, only ever counting up (what a cached check of a chunk must notice). */
  HEAP_FREES,
  // page frames and vmalloc space
  PAGE_LOCK = BOOT_TABLE + 2 * 8, PAGE_CURSOR, PAGES_USED, PAGE_HWM, VM_LOCK, VM_SLOTS_USED,
  SIZE,
}

/** Bootmem objects recorded in MM.BOOT_TABLE, at most. */
export const MAX_BOOT_OBJS = 8;

/**
 * Heap object header (words before the payload): its state, size class,
 * requested size (the object's bounds: a checked access beyond them is
 * out of bounds even inside the size class), tag (or free-list link), and
 * who allocated and who freed it, as KASAN records them: the three
 * innermost functions (a byte each, src/sync/frames.ts) and WHO (entity + 1,
 * WHO_IRQ, WHO_VMALLOC).
 */
export enum HO { STATE, CLASS, BYTES, TAG_OR_NEXT, ALLOC_FRAMES, ALLOC_WHO, FREE_FRAMES, FREE_WHO, SIZE }
/** WHO bits: the hardirq context of its entity; the object came from vmalloc (else kmalloc). */
export const WHO_IRQ = 0x100;
export const WHO_VMALLOC = 0x200;
export const HEAP_ALLOC = 0x0a110c;
export const HEAP_FREE = 0x0f7ee0;
export const POISON_FREE = 0x6b6b6b6b; // slab's POISON_FREE byte, four times
export const HEAP_CLASSES = 24;

/** Page descriptor. INDEX is page->index, which percpu uses as the page -> chunk back-pointer. */
export enum PG { STATE, INDEX, ORDER, SIZE }
export const PAGE_NEVER_USED = 0;
export const PAGE_ALLOCATED = 1;
export const PAGE_FREED = 2;
export const PAGE_BOOTMEM = 3;
export const PAGE_POISON = 0xaa;
