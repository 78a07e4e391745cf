// pcpu_mem_alloc / pcpu_mem_free: small objects from kzalloc, large ones
// from vmalloc (zeroed). The size decides which free to call, so callers
// must pass the same size back.

import type { Cpu } from '../sync/cpu.ts';
import { kfree, kzalloc, vfree, vmalloc } from '../mm/kernel-api.ts';
import type { Tag } from '../mm/heap.ts';
import type { PcpuState } from './chunk.ts';

/** `bytes` of memory; `nominal` (default: bytes) is the size the kernel asks for, which decides kzalloc or vzalloc. */
export function memAlloc(cpu: Cpu, st: PcpuState, bytes: number, tag: Tag, nominal = bytes): number {
  return nominal <= st.pageSize ? kzalloc(cpu, bytes, tag) : vmalloc(cpu, bytes, tag);
}

export function memFree(cpu: Cpu, st: PcpuState, p: number, bytes: number): void {
  if (bytes <= st.pageSize) kfree(cpu, p);
  else vfree(cpu, p);
}
