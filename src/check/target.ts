// What the checkers look at: the allocator's shared state and the machine
// it was booted as. The run layer's Kernel is one; the checkers never need
// more than this (and never import the layers above them).

import type { Config } from '../shm/config.ts';
import type { Shm } from '../shm/layout.ts';
import type { AllocInfo } from '../percpu/alloc-info.ts';
import type { PcpuState } from '../percpu/chunk.ts';
import type { Allocator } from '../percpu/allocator.ts';
import type { Workqueue } from '../workqueue/workqueue.ts';

export interface CheckTarget {
  readonly shm: Shm;
  readonly st: PcpuState;
  readonly pcpu: Allocator;
  readonly wq: Workqueue;
  readonly spec: { readonly cfg: Config; readonly ai: AllocInfo };
}
