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
}
