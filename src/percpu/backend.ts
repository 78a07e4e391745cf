// The five-function seam between the allocator core and how chunks are
// backed (mm/percpu-vm.c or mm/percpu-km.c, chosen per run like
// CONFIG_NEED_PER_CPU_KM). The core never knows which one it talks to.

import type { Cpu } from '../sync/cpu.ts';
import type { PcpuState } from './chunk.ts';
import type { MechanismHooks } from './hooks.ts';

export interface ChunkBackend {
  /** Populate and clear [off, off+size) in every unit. CONTEXT: pcpu_alloc_mutex; may sleep. */
  populate(cpu: Cpu, chunk: number, off: number, size: number): number;
  /** Depopulate [off, off+size). CONTEXT: pcpu_alloc_mutex. */
  depopulate(cpu: Cpu, chunk: number, off: number, size: number): void;
  /** A new, empty chunk not yet on any list, or 0. May sleep. */
  create(cpu: Cpu): number;
  /** Destroy a fully depopulated chunk. */
  destroy(cpu: Cpu, chunk: number): void;
  /** The page frame behind an address (page -> chunk lookup in free), or -1. */
  addrToPfn(addr: number): number;
}

/** What a backend needs from the core: the chunk record allocator. */
export interface ChunkRecords {
  allocChunk(cpu: Cpu): number;
  freeChunk(cpu: Cpu, chunk: number): void;
  /** Address of page `page` of `chunk` in the unit of `cpuNr`. */
  chunkAddr(chunk: number, cpuNr: number, page: number): number;
}

/** What pcpu_map_pages needs of percpu-vm (src/percpu/2.6.35/backend-vm.ts is the one). */
export interface VmPages {
  readonly st: PcpuState;
  readonly rec: ChunkRecords;
  /** The known issues' mechanism recorder, or null. */
  readonly known: MechanismHooks | null;
  /** Index of (cpu, page) in the temp pages array. */
  pageIdx(cpuNr: number, page: number): number;
}

export const ENOMEM = -12;
