// What Linux 4.1's allocator calls out to besides the CPU context and the
// workqueue: the specification checker (at the moments a 4.1 rule applies)
// and the recorder of 4.1's known issues' mechanisms. Both are null when
// checks are off; the allocator never depends on what they do.

import type { Cpu } from '../../sync/cpu.ts';

/** The 4.1 specification checker's hooks (src/check/4.1/spec.ts). */
export interface Spec41Hooks {
  /** pcpu_alloc_area is about to scan `chunk` (pcpu_lock held). */
  beforeAlloc(cpu: Cpu, chunk: number, size: number, align: number, popOnly: boolean): void;
  /** ... and returned `off`, with `occPages` occupied pages. */
  afterAlloc(cpu: Cpu, chunk: number, size: number, align: number, popOnly: boolean, off: number, occPages: number): void;
  beforeFree(cpu: Cpu, chunk: number, off: number): void;
  afterFree(cpu: Cpu, chunk: number, off: number, occPages: number): void;
  /** pcpu_alloc gave up (NULL). */
  allocFailed(atomic: boolean): void;
}

/** Where 4.1's known issues fire (src/check/4.1/known.ts records each firing). */
export interface Mechanism41Hooks {
  /** pcpu_alloc's slot walk: pcpu_alloc_area failed on `chunk` while the walk was on `slot` (pcpu_lock held). */
  walkScanFailed(cpu: Cpu, chunk: number, slot: number): void;
  /** pcpu_alloc's walk is over. */
  walkDone(cpu: Cpu): void;
  /** pcpu_alloc is about to store pcpu_nr_empty_pop_pages with no lock held. */
  emptyPopUnlocked(cpu: Cpu): void;
  /** pcpu_nr_empty_pop_pages was read as `before` and then stored over `replaced`: another store in between is an update lost. */
  countStored(cpu: Cpu, before: number, replaced: number): void;
  /** A caller holding pcpu_lock decided to extend `chunk`'s map, and is about to drop the lock to do it. */
  extendDecided(cpu: Cpu, chunk: number): void;
  /** pcpu_extend_area_map starts on `chunk` (no lock held), takes pcpu_lock to switch maps, is done. */
  extendBegin(cpu: Cpu, chunk: number): void;
  extendLocked(cpu: Cpu, chunk: number): void;
  extendDone(cpu: Cpu): void;
  /** pcpu_balance_workfn is about to destroy `chunk`. */
  destroying(cpu: Cpu, chunk: number): void;
  /** pcpu_alloc_area merges a head into the area before map[0] (there is none: it reads map[-1]). */
  headBeforeMap(cpu: Cpu, chunk: number): void;
  /** percpu-km's pcpu_create_chunk marks `nrPages` pages populated, the group's (more than a unit's when the group has several units). */
  kmPopulated(cpu: Cpu, chunk: number, nrPages: number): void;
  /**
   * pcpu_alloc freed the area at `off` (`size` bytes) of `chunk` after its
   * population failed, with no accounting: pcpu_alloc_area had counted
   * `allocPages` pages from `allocFirst` as the area's, pcpu_free_area counted
   * `freePages` from `freeFirst`.
   */
  populateFailFreed(cpu: Cpu, chunk: number, off: number, size: number, allocFirst: number, allocPages: number, freeFirst: number, freePages: number): void;
  /** pcpu_map_pages failed (`err`) mapping unit `unitCpu` and left its pages [start, end) mapped. */
  mapPagesLeftMapped(cpu: Cpu, chunk: number, unitCpu: number, start: number, end: number, err: number): void;
}
