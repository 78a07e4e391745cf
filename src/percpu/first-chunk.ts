// The first chunk's placement, as both kernels do it: pcpu_embed_first_chunk
// puts each group's units in boot memory on the linear map,
// pcpu_page_first_chunk maps every unit page by page into a vm area
// registered early; the static data is copied into every unit; then
// pcpu_setup_first_chunk's common part builds the unit maps, the group
// tables, the boot constants and the slot list heads. What each kernel does
// with the chunk records after that is its own (src/percpu/<kernel>/first-chunk.ts).
//
// CONTEXT: boot, on the main thread, before any CPU runs.

import type { Shm } from '../shm/layout.ts';
import { PC } from './records.ts';
import { MM } from '../mm/records.ts';
import type { Config } from '../shm/config.ts';
import { pageReserveBoot } from '../mm/pages.ts';
import { bootmemAlloc, bootmemInit } from '../mm/heap.ts';
import { vmGetArea, vmMapPage } from '../mm/vm.ts';
import { NR_CPUS, dumpAllocInfo, type AllocInfo } from './alloc-info.ts';
import { sizeToSlotRaw } from './slots.ts';
import type { PcpuState } from './chunk.ts';

export interface FirstChunkPlace {
  /** pcpu_base_addr. */
  base: number;
  /** The PERCPU: line and the pcpu-alloc dump, in the kernel's order. */
  log: string[];
  /** The CPUs with the lowest and the highest unit offsets. */
  lowUnitCpu: number;
  highUnitCpu: number;
}

/** The byte the static area of unit `cpu` holds at offset `off` (the copied __per_cpu_load). */
export function staticByte(off: number): number {
  return (off * 7 + 0x5a) & 0xff;
}

/** Boot pages for `bytes`, aligned to `align`; returns their linear address. */
function bootPages(shm: Shm, cfg: Config, bytes: number, align: number): number {
  const per = align / cfg.pageSize;
  const cursor = shm.w[shm.L.mm + MM.PAGE_CURSOR]!;
  const skip = (per - (cursor % per)) % per;
  if (skip) pageReserveBoot(shm, skip);
  const pfn = pageReserveBoot(shm, Math.ceil(bytes / cfg.pageSize));
  if (pfn < 0) throw new RangeError('not enough page frames for the first chunk');
  return shm.L.linBase + pfn * cfg.pageSize;
}

/** Copy the static percpu data into a unit (memcpy from __per_cpu_load). */
function copyStatic(shm: Shm, cfg: Config, unitAddr: number, staticSize: number, toByte: (a: number) => number): void {
  for (let off = 0; off < staticSize; off++) shm.b[toByte(unitAddr + off)] = staticByte(off);
}

/**
 * Place the first chunk and set up everything but its chunk records:
 * the caller has checked the alloc info (PCPU_SETUP_BUG_ON) first.
 */
export function placeFirstChunk(st: PcpuState, cfg: Config, ai: AllocInfo): FirstChunkPlace {
  const { shm, w, h, L } = st; // h: the allocator's header block
  const log: string[] = [];
  const sizeSum = ai.staticSize + ai.reservedSize + ai.dynSize;
  const linToByte = (a: number): number => L.pageData + (a - L.linBase);
  let base: number;
  if (cfg.firstChunk === 'embed') {
    const areas = ai.groups.map((gi) => bootPages(shm, cfg, gi.nrUnits * ai.unitSize, ai.atomSize));
    base = Math.min(...areas);
    ai.groups.forEach((gi, g) => {
      gi.baseOffset = areas[g]! - base;
      for (let i = 0; i < gi.nrUnits; i++) {
        if (gi.cpuMap[i] !== NR_CPUS) copyStatic(shm, cfg, areas[g]! + i * ai.unitSize, ai.staticSize, linToByte);
      }
    });
    log.push(`PERCPU: Embedded ${Math.floor(sizeSum / cfg.pageSize)} pages/cpu @${base.toString(16)} s${ai.staticSize} r${ai.reservedSize} d${ai.dynSize} u${ai.unitSize}`);
  } else {
    // page: every unit page by page, mapped into a vm area registered early
    base = vmGetArea(shm);
    const unitPages = ai.unitSize / cfg.pageSize;
    for (let unit = 0; unit < cfg.cpus; unit++) {
      for (let i = 0; i < unitPages; i++) {
        const pfn = (bootPages(shm, cfg, cfg.pageSize, cfg.pageSize) - L.linBase) / cfg.pageSize;
        vmMapPage(shm, base + unit * ai.unitSize + i * cfg.pageSize, pfn, st.pageShift);
      }
      const vmToByte = (a: number): number => {
        const pte = w[L.pte + ((a - L.vmBase) >>> st.pageShift)]! - 1;
        return L.pageData + pte * cfg.pageSize + (a & (cfg.pageSize - 1));
      };
      copyStatic(shm, cfg, base + unit * ai.unitSize, ai.staticSize, vmToByte);
    }
    log.push(`PERCPU: ${unitPages} ${cfg.pageSize >> 10}K pages/cpu @${base.toString(16)} s${ai.staticSize} r${ai.reservedSize} d${ai.dynSize}`);
  }
  // pcpu_embed/page_first_chunk print their PERCPU: line, then pcpu_setup_first_chunk dumps the layout
  log.push(...dumpAllocInfo(ai, cfg.cpus).replace(/\n$/, '').split('\n'));

  // unit maps and group tables
  let unit = 0;
  let firstUnitCpu = -1;
  let lastUnitCpu = -1;
  let lowUnitCpu = -1;
  let highUnitCpu = -1;
  ai.groups.forEach((gi, g) => {
    w[L.groupOff + g] = gi.baseOffset;
    w[L.groupSize + g] = gi.nrUnits * ai.unitSize;
    for (let i = 0; i < gi.nrUnits; i++) {
      const cpu = gi.cpuMap[i]!;
      if (cpu === NR_CPUS) continue;
      w[L.unitMap + cpu] = unit + i;
      w[L.unitOff + cpu] = gi.baseOffset + i * ai.unitSize;
      if (firstUnitCpu < 0) firstUnitCpu = cpu;
      lastUnitCpu = cpu;
      if (lowUnitCpu < 0 || w[L.unitOff + cpu]! < w[L.unitOff + lowUnitCpu]!) lowUnitCpu = cpu;
      if (highUnitCpu < 0 || w[L.unitOff + cpu]! > w[L.unitOff + highUnitCpu]!) highUnitCpu = cpu;
    }
    unit += gi.nrUnits;
  });
  w[h + PC.NR_UNITS] = unit;
  w[h + PC.NR_GROUPS] = ai.groups.length;
  w[h + PC.FIRST_UNIT_CPU] = firstUnitCpu;
  w[h + PC.LAST_UNIT_CPU] = lastUnitCpu;
  w[h + PC.UNIT_PAGES] = ai.unitSize / cfg.pageSize;
  w[h + PC.UNIT_SIZE] = ai.unitSize;
  w[h + PC.NR_SLOTS] = sizeToSlotRaw(ai.unitSize) + 2;
  w[h + PC.BASE_ADDR] = base;
  w[h + PC.STATIC_SIZE] = ai.staticSize;
  bootmemInit(shm);
  st.attach();
  for (let s = 0; s < st.nrSlots; s++) st.initListHead(st.slotHead(s));
  return { base, log, lowUnitCpu, highUnitCpu };
}
