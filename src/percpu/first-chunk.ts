// The first chunk: pcpu_embed_first_chunk / pcpu_page_first_chunk place the
// units in boot memory, then pcpu_setup_first_chunk builds the unit maps,
// the slot lists, the static chunk (static + reserved area, or static +
// dynamic area when there is no reserved area) and, with a reserved area,
// a second chunk over the same memory for the dynamic area. Both are
// immutable, fully populated, use 2-entry static maps and are never freed.
//
// CONTEXT: boot, on the main thread, before any CPU runs.

import type { Shm } from '../shm/layout.ts';
import { C, PC } from './records.ts';
import { MM } from '../mm/records.ts';
import type { Config } from '../shm/config.ts';
import { pageReserveBoot } from '../mm/pages.ts';
import { bootmemAlloc, bootmemInit } from '../mm/heap.ts';
import { vmGetArea, vmMapPage } from '../mm/vm.ts';
import { NR_CPUS, dumpAllocInfo, verifyAllocInfo, type AllocInfo } from './alloc-info.ts';
import { sizeToSlotRaw, chunkRelocate } from './area-map.ts';
import { setBit, type PcpuState } from './chunk.ts';

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
 * Place the first chunk and set the allocator up. Returns the boot log
 * lines in the kernel's order: the PERCPU: line, then the pcpu-alloc dump.
 */
export function setupFirstChunk(st: PcpuState, cfg: Config, ai: AllocInfo): string[] {
  const { shm, w, h, L } = st; // h: the allocator's header block
  verifyAllocInfo(cfg, ai);
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

  // the static chunk: static + reserved (or + dynamic) area
  const chunkWords = L.chunkWords;
  const newChunk = (seq: number): number => {
    const c = bootmemAlloc(shm, chunkWords);
    w.fill(0, c, c + chunkWords);
    st.initListHead(c);
    w[c + C.BASE_ADDR] = base;
    w[c + C.MAP] = bootmemAlloc(shm, 2);
    w[c + C.MAP_ALLOC] = 2;
    w[c + C.IMMUTABLE] = 1;
    w[c + C.SEQ] = seq;
    for (let p = 0; p < st.unitPages; p++) setBit(w, c + C.POPULATED, p, true);
    return c;
  };
  const push = (c: number, v: number): void => {
    w[w[c + C.MAP]! + w[c + C.MAP_USED]!] = v;
    w[c + C.MAP_USED]!++;
  };
  let dyn = ai.dynSize;
  const schunk = newChunk(0);
  if (ai.reservedSize) {
    w[schunk + C.FREE_SIZE] = ai.reservedSize;
    w[h + PC.RESERVED_CHUNK] = schunk;
    w[h + PC.RESERVED_LIMIT] = ai.staticSize + ai.reservedSize;
  } else {
    w[schunk + C.FREE_SIZE] = dyn;
    dyn = 0; // the static chunk covers the dynamic area
  }
  w[schunk + C.CONTIG_HINT] = w[schunk + C.FREE_SIZE]!;
  push(schunk, -ai.staticSize);
  if (w[schunk + C.FREE_SIZE]) push(schunk, w[schunk + C.FREE_SIZE]!);
  let seq = 1;
  let dchunk = 0;
  if (dyn) {
    dchunk = newChunk(seq++);
    w[dchunk + C.FREE_SIZE] = dyn;
    w[dchunk + C.CONTIG_HINT] = dyn;
    push(dchunk, -w[h + PC.RESERVED_LIMIT]!);
    push(dchunk, dyn);
  }
  w[h + PC.FIRST_CHUNK] = dchunk || schunk;
  w[h + PC.CHUNK_SEQ] = seq;
  w[h + PC.NR_CHUNKS] = 1;
  w[h + PC.NR_MAX_CHUNKS] = 1;
  st.attach(); // the first and reserved chunks are known now
  chunkRelocate(st, dchunk || schunk, -1);
  return log;
}
