// What the allocator calls out to besides the CPU context: the workqueue
// (to schedule the reclaim work), the specification checker (at the moments
// a 2.6.35 rule applies) and the recorder of the known issues' mechanisms
// (where a latent 2.6.35 bug fires). The checkers are null when checks are
// off; the allocator never depends on what they do.

import type { Cpu } from '../sync/cpu.ts';

/** Hooks the workqueue provides to the allocator. */
export interface WorkHooks {
  /** schedule_work(&pcpu_reclaim_work); never sleeps. */
  scheduleReclaim(cpu: Cpu): void;
}

/** The specification checker's hooks (src/check/spec.ts). */
export interface SpecHooks {
  beforeAlloc(cpu: Cpu, chunk: number, size: number, align: number): void;
  afterAlloc(cpu: Cpu, chunk: number, size: number, align: number, off: number): void;
  beforeFree(cpu: Cpu, chunk: number, off: number): void;
  afterFree(cpu: Cpu, chunk: number, off: number): void;
  noChunkFits(cpu: Cpu, size: number, align: number): void;
  chunkCreated(cpu: Cpu, chunk: number): void;
  freeBegin(cpu: Cpu): void;
  freeEnd(cpu: Cpu, chunk: number): void;
  reclaimBegin(): void;
  reclaimEnd(cpu: Cpu, destroyed: readonly number[]): void;
  allocFailed(): void;
}

/**
 * Where the known issues of 2.6.35 fire (src/check/known.ts records each
 * firing, so that the report it leads to can be told from a new bug with
 * the same symptom).
 */
export interface MechanismHooks {
  /** pcpu_alloc's slot walk: pcpu_alloc_area failed on `chunk` while the walk was on `slot` (pcpu_lock held). */
  walkScanFailed(cpu: Cpu, chunk: number, slot: number): void;
  /** pcpu_alloc's walk is over (an area was found, or the allocation gave up). */
  walkDone(cpu: Cpu): void;
  /** percpu-km's no-op populate handed out [off, off + size) of `chunk` without clearing it. */
  kmHandedOut(cpu: Cpu, chunk: number, off: number, size: number): void;
  /** pcpu_map_pages failed with `err` and unmapped only the CPUs before `unitCpu`: its pages [start, end) stay mapped. */
  mapPagesLeftMapped(cpu: Cpu, chunk: number, unitCpu: number, start: number, end: number, err: number): void;
  /** per_cpu_ptr_to_phys took `path` (src/check/records.ts, PHYS_*) for `addr` and found `pfn` (-1: none). */
  physPath(cpu: Cpu, addr: number, path: number, pfn: number): void;
}

/**
 * What the allocator says when it gives up for lack of room (src/check/failures.ts
 * confirms it with its own first fit, at that moment). Every other failure is
 * justified by what the checker sees on its own: the request's arguments, or a
 * memory call that failed (injected, or the emulator's capacity).
 */
export interface FailureHooks {
  /**
   * pcpu_lock held: pcpu_alloc gives up because `chunk` has no room for
   * (size, align): the reserved chunk for a reserved request (2.6.35); in
   * 4.1 also the populated pages of a chunk for an atomic request.
   */
  noRoom(cpu: Cpu, chunk: number, size: number, align: number): void;
  /** 4.1, pcpu_lock held: an atomic request walked every chunk and found no populated room in any. */
  noRoomAtomic(cpu: Cpu, size: number, align: number): void;
  /** 4.1, pcpu_lock held: an atomic request gives up on `chunk` because its map would have to grow first. */
  mapShort(cpu: Cpu, chunk: number): void;
}

/** The lifecycle checker (src/check/lifecycle.ts): a chunk is about to be destroyed, and must be out of use. */
export interface LifecycleHooks {
  /** pcpu_free_chunk is about to free `chunk`'s map and record: it must be off every list, its work items idle. */
  chunkDestroying(cpu: Cpu, chunk: number): void;
}
