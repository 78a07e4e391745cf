// Percpu pointers to real bytes: per_cpu_ptr() and memory accesses through
// the emulated page tables, so that touching an unmapped page is a page
// fault and touching a freed page is a use-after-free, as on real hardware
// with the kernel's debugging options on.

import { PAGE_ALLOCATED, PAGE_BOOTMEM, PAGE_FREED } from '../mm/records.ts';
import { pageState } from '../mm/pages.ts';
import { vmToPfn } from '../mm/vm.ts';
import type { Cpu } from '../sync/cpu.ts';
import { F } from '../sync/sites.ts';
import type { PcpuState } from './chunk.ts';

export const FAULT_UNMAPPED = -1;
export const FAULT_FREED = -2;

/** per_cpu_ptr(ptr, cpu): the address of CPU `cpuNr`'s copy. */
export function perCpuPtr(st: PcpuState, ptr: number, cpuNr: number): number {
  return ptr + st.unitOffset(cpuNr);
}

/** The byte offset in shared memory behind a kernel address, or a FAULT_ code. */
export function translate(st: PcpuState, addr: number): number {
  const L = st.L;
  let pfn: number;
  if (addr >= L.vmBase) {
    pfn = vmToPfn(st.shm, addr, st.pageShift);
    if (pfn < 0) return FAULT_UNMAPPED;
  } else {
    pfn = (addr - L.linBase) >>> st.pageShift;
    if (addr < L.linBase || pfn >= L.nrPages) return FAULT_UNMAPPED;
  }
  const state = pageState(st.shm, pfn);
  if (state === PAGE_FREED) return FAULT_FREED;
  if (state !== PAGE_ALLOCATED && state !== PAGE_BOOTMEM) return FAULT_UNMAPPED;
  return L.pageData + pfn * st.pageSize + (addr & (st.pageSize - 1));
}

function fault(cpu: Cpu, addr: number, at: number, write: boolean): never {
  const hex = addr.toString(16).padStart(8, '0');
  if (at === FAULT_FREED) {
    cpu.report('use-after-free', `BUG: KASAN: use-after-free in percpu access`, `${write ? 'Write' : 'Read'} of size 4 at addr ${hex} by ${cpu.name}: the page was freed`);
  }
  cpu.report('page-fault', `BUG: unable to handle kernel paging request at ${hex}`, `${write ? 'write' : 'read'} access by ${cpu.name} to a percpu address with no page behind it (unpopulated or depopulated)`);
  throw new Error('unreachable');
}

/** Read `n` (1-4) bytes, little endian, any alignment, at a kernel address. */
export function readWord(cpu: Cpu, st: PcpuState, addr: number, n = 4): number {
  const b = st.shm.b;
  const at0 = translate(st, addr);
  if (at0 >= 0 && (addr & (st.pageSize - 1)) + n <= st.pageSize) {
    // one page: one translation
    let v = 0;
    for (let i = 0; i < n; i++) v |= b[at0 + i]! << (8 * i);
    return v;
  }
  let v = 0;
  for (let i = 0; i < n; i++) {
    const at = translate(st, addr + i);
    if (at < 0) {
      cpu.enter(F.percpu_access);
      fault(cpu, addr + i, at, false);
    }
    v |= b[at]! << (8 * i);
  }
  return v;
}

/** Write the low `n` (1-4) bytes of `value`, little endian, at a kernel address. */
export function writeWord(cpu: Cpu, st: PcpuState, addr: number, value: number, n = 4): void {
  const b = st.shm.b;
  const at0 = translate(st, addr);
  if (at0 >= 0 && (addr & (st.pageSize - 1)) + n <= st.pageSize) {
    for (let i = 0; i < n; i++) b[at0 + i] = (value >>> (8 * i)) & 0xff;
    return;
  }
  for (let i = 0; i < n; i++) {
    const at = translate(st, addr + i);
    if (at < 0) {
      cpu.enter(F.percpu_access);
      fault(cpu, addr + i, at, true);
    }
    b[at] = (value >>> (8 * i)) & 0xff;
  }
}

/** Read a byte without faulting (checkers); -1 when there is no page. */
export function peekByte(st: PcpuState, addr: number): number {
  const at = translate(st, addr);
  return at < 0 ? -1 : st.shm.b[at]!;
}

/** memset(addr, 0, size) through the page tables: a hole is a page fault. */
export function clearRange(st: PcpuState, cpu: Cpu, addr: number, size: number): void {
  let a = addr;
  const end = addr + size;
  while (a < end) {
    const pageEnd = Math.min(end, ((a >>> st.pageShift) + 1) << st.pageShift);
    const at = translate(st, a);
    if (at < 0) {
      cpu.report('page-fault', `BUG: unable to handle kernel paging request at ${a.toString(16).padStart(8, '0')}`,
        'IP: memset: no page behind the area being cleared');
    }
    clearBytes(st, at, pageEnd - a);
    a = pageEnd;
  }
}

/** memset(0) of n bytes at byte offset `at`: by words where it can (a byte fill on shared memory is a slow path). */
function clearBytes(st: PcpuState, at: number, n: number): void {
  if (((at | n) & 3) === 0) st.w.fill(0, at >>> 2, (at + n) >>> 2);
  else st.shm.b.fill(0, at, at + n);
}
