// First-chunk geometry: pcpu_build_alloc_info() and pcpu_dump_alloc_info().
// Pure computation on the main thread (the kernel runs it once at boot from
// bootmem); the result is copied into the shared header by setupFirstChunk.

import { ConfigError, PCPU_MIN_UNIT_SIZE, type Config } from '../shm/config.ts';

export const NR_CPUS = 0xffff; // marks an unused unit in a group's cpu map
const LOCAL_DISTANCE = 10;
const REMOTE_DISTANCE = 20;

export type { AllocInfo, GroupInfo } from '../shm/geometry.ts';
import type { AllocInfo, GroupInfo } from '../shm/geometry.ts';

function roundup(x: number, y: number): number {
  return Math.ceil(x / y) * y;
}

/** How a kernel sizes the first chunk from the static, reserved and dynamic sizes asked for. */
export type FcSizes = (cfg: Config, staticSize: number, reservedSize: number, dyn: number) => { sizeSum: number; dyn: number };

/** 2.6.35's pcpu_calc_fc_sizes: page-align the sum and let a non-zero dyn absorb the slack. */
export function calcFcSizes(cfg: Config, staticSize: number, reservedSize: number, dyn: number): { sizeSum: number; dyn: number } {
  const sizeSum = roundup(staticSize + reservedSize + Math.max(dyn, 0), cfg.pageSize);
  return { sizeSum, dyn: dyn !== 0 ? sizeSum - staticSize - reservedSize : 0 };
}

/**
 * Group CPUs by proximity and pick units-per-allocation so that at most a
 * third of a unit per CPU is wasted and no more allocations than needed are
 * used (the kernel's ">=75% address space usage" rule).
 */
export function buildAllocInfo(cfg: Config, reservedSize: number, dynIn: number, atomSize: number, useDistance: boolean, sizes: FcSizes = calcFcSizes): AllocInfo {
  const page = cfg.pageSize;
  const { sizeSum, dyn } = sizes(cfg, cfg.staticSize, reservedSize, dynIn);
  const minUnitSize = Math.max(sizeSum, cfg.unitSize, PCPU_MIN_UNIT_SIZE);
  const allocSize = roundup(minUnitSize, atomSize);
  const badUpa = (upa: number): boolean => allocSize % upa !== 0 || (allocSize / upa) % page !== 0;
  let upa = Math.floor(allocSize / minUnitSize);
  while (badUpa(upa)) upa--;
  const maxUpa = upa;

  const distance = (a: number, b: number): number =>
    cfg.nodes[a] === cfg.nodes[b] ? LOCAL_DISTANCE : REMOTE_DISTANCE;
  const groupMap = new Array<number>(cfg.cpus).fill(0);
  const groupCnt = new Array<number>(cfg.cpus).fill(0);
  let nrGroups = 1;
  for (let cpu = 0; cpu < cfg.cpus; cpu++) {
    let group = 0;
    for (let tcpu = 0; tcpu < cpu; tcpu++) {
      if (groupMap[tcpu] === group && useDistance &&
          (distance(cpu, tcpu) > LOCAL_DISTANCE || distance(tcpu, cpu) > LOCAL_DISTANCE)) {
        group++;
        nrGroups = Math.max(nrGroups, group + 1);
        tcpu = -1; // rescan every lower CPU against the next group
      }
    }
    groupMap[cpu] = group;
    groupCnt[group] = (groupCnt[group] ?? 0) + 1;
  }

  let lastAllocs = Number.MAX_SAFE_INTEGER;
  let bestUpa = 1;
  for (upa = maxUpa; upa; upa--) {
    if (badUpa(upa)) continue;
    let allocs = 0;
    let wasted = 0;
    for (let g = 0; g < nrGroups; g++) {
      const cnt = groupCnt[g] ?? 0;
      const thisAllocs = Math.ceil(cnt / upa);
      allocs += thisAllocs;
      wasted += thisAllocs * upa - cnt;
    }
    if (wasted > Math.floor(cfg.cpus / 3)) continue;
    if (allocs > lastAllocs) break;
    lastAllocs = allocs;
    bestUpa = upa;
  }
  upa = bestUpa;

  const unitSize = allocSize / upa;
  const groups: GroupInfo[] = [];
  let unit = 0;
  for (let g = 0; g < nrGroups && (groupCnt[g] ?? 0) > 0; g++) {
    const cpuMap: number[] = [];
    for (let cpu = 0; cpu < cfg.cpus; cpu++) if (groupMap[cpu] === g) cpuMap.push(cpu);
    const nrUnits = roundup(cpuMap.length, upa);
    while (cpuMap.length < nrUnits) cpuMap.push(NR_CPUS);
    groups.push({ baseOffset: unit * unitSize, nrUnits, cpuMap });
    unit += nrUnits;
  }
  return { staticSize: cfg.staticSize, reservedSize, dynSize: dyn, unitSize, atomSize, allocSize, groups };
}

/**
 * The ai a config describes: the embed or page first-chunk helper's call of
 * buildAllocInfo, or, when the config pins unitSize, exactly the given sizes
 * in one unit per CPU (what a trace's setup line means).
 */
export function allocInfoFor(cfg: Config): AllocInfo {
  if (cfg.unitSize !== 0) return pinnedAllocInfo(cfg);
  if (cfg.firstChunk === 'page') return buildAllocInfo(cfg, cfg.reservedSize, -1, cfg.pageSize, false);
  return buildAllocInfo(cfg, cfg.reservedSize, cfg.dynSize, cfg.atomSize, true);
}

/** A config that pins unitSize: exactly the given sizes, one unit per CPU (what a trace's setup line means). */
export function pinnedAllocInfo(cfg: Config): AllocInfo {
  const groups = groupsOnePerUnit(cfg, cfg.unitSize);
  return {
    staticSize: cfg.staticSize, reservedSize: cfg.reservedSize, dynSize: Math.max(cfg.dynSize, 0),
    unitSize: cfg.unitSize, atomSize: cfg.pageSize, allocSize: cfg.unitSize, groups,
  };
}

function groupsOnePerUnit(cfg: Config, unitSize: number): GroupInfo[] {
  const byNode = new Map<number, number[]>();
  for (let cpu = 0; cpu < cfg.cpus; cpu++) {
    const n = cfg.nodes[cpu] ?? 0;
    const list = byNode.get(n) ?? [];
    list.push(cpu);
    byNode.set(n, list);
  }
  const groups: GroupInfo[] = [];
  let unit = 0;
  for (const cpus of byNode.values()) {
    groups.push({ baseOffset: unit * unitSize, nrUnits: cpus.length, cpuMap: cpus });
    unit += cpus.length;
  }
  return groups;
}

/** The PCPU_SETUP_BUG_ON checks of pcpu_setup_first_chunk, as a config error. */
export function verifyAllocInfo(cfg: Config, ai: AllocInfo): void {
  const sum = ai.staticSize + ai.reservedSize + ai.dynSize;
  const fail = (cond: string): never => {
    throw new ConfigError(`PERCPU: failed to initialize, ${cond} (${dumpAllocInfo(ai, cfg.cpus).split('\n')[0]})`);
  };
  if (ai.groups.length <= 0) fail('ai->nr_groups <= 0');
  if (!ai.staticSize) fail('!ai->static_size');
  if (ai.unitSize < sum) fail('ai->unit_size < size_sum');
  if (ai.unitSize % cfg.pageSize) fail('ai->unit_size & ~PAGE_MASK');
  if (ai.unitSize < PCPU_MIN_UNIT_SIZE) fail('ai->unit_size < PCPU_MIN_UNIT_SIZE');
  const seen = new Set<number>();
  for (const g of ai.groups) {
    for (const cpu of g.cpuMap) {
      if (cpu === NR_CPUS) continue;
      if (cpu >= cfg.cpus) fail('cpu > nr_cpu_ids');
      if (seen.has(cpu)) fail('unit_map[cpu] != UINT_MAX');
      seen.add(cpu);
    }
  }
  if (seen.size !== cfg.cpus) fail('unit_map[cpu] == UINT_MAX');
}

function rounddownPow2(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

/** pcpu_dump_alloc_info: the "pcpu-alloc: s… r… d… u… alloc=…*…" lines. */
export function dumpAllocInfo(ai: AllocInfo, nrCpus: number): string {
  let groupWidth = 1;
  for (let v = Math.floor(ai.groups.length / 10); v; v = Math.floor(v / 10)) groupWidth++;
  let cpuWidth = 1;
  for (let v = Math.floor(nrCpus / 10); v; v = Math.floor(v / 10)) cpuWidth++;
  const empty = '--------'.slice(0, Math.min(cpuWidth, 8));
  const upa = ai.allocSize / ai.unitSize;
  const width = upa * (cpuWidth + 1) + groupWidth + 3;
  const apl = rounddownPow2(Math.max(Math.floor(60 / width), 1));
  const pad = (n: number, w: number): string => String(n).padStart(w, '0');
  let out = `pcpu-alloc: s${ai.staticSize} r${ai.reservedSize} d${ai.dynSize} u${ai.unitSize} alloc=${ai.allocSize / ai.atomSize}*${ai.atomSize}`;
  let alloc = 0;
  let allocEnd = 0;
  ai.groups.forEach((gi, group) => {
    let unit = 0;
    let unitEnd = 0;
    for (allocEnd += gi.nrUnits / upa; alloc < allocEnd; alloc++) {
      if (!(alloc % apl)) out += '\npcpu-alloc: ';
      out += `[${pad(group, groupWidth)}] `;
      for (unitEnd += upa; unit < unitEnd; unit++) {
        const cpu = gi.cpuMap[unit] ?? NR_CPUS;
        out += cpu !== NR_CPUS ? `${pad(cpu, cpuWidth)} ` : `${empty} `;
      }
    }
  });
  return out + '\n';
}
