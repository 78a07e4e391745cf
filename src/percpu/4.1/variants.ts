// The table a 4.1 machine boots from: 4.1's functions, with the backend's
// compiled in as the kernel's build picks percpu-vm.c or percpu-km.c, and
// the variants that replace some of them. Adding a later fix is one file
// (later/) and one line here.

import type { Backend } from '../../shm/config.ts';
import type { HistoricalBug, LaterFix } from '../variant.ts';
import { processOneWork } from '../../workqueue/workqueue.ts';
import {
  type PcpuOps, allocAccount, allocChunk, argsIllegal, freeAccount, allocMutex, balanceWorkfn, emptyPopUpdate, extendAreaMap, freePercpu, initMapExtend, mapExtendService,
  mapExtendUnlink, mapExtendWorkfn, pcpuAlloc, perCpuPtrToPhys, populateFailFree, walkSlot,
} from './core.ts';
import { allocArea, chunkDepopulated, chunkPopulated, freeArea, needToExtend } from './area-map.ts';
import * as vm from './backend-vm.ts';
import * as km from './backend-km.ts';
import { nrEmptyLocked } from './later/nr-empty-locked.ts';
import { allocMutexHeld } from './later/alloc-mutex-held.ts';
import { mapExtendByBalance } from './later/map-extend-by-balance.ts';
import { walkSafe } from './later/walk-safe.ts';
import { allocAreaFirstHead } from './later/alloc-area-first-head.ts';
import { mapPagesUnwind } from './later/map-pages-unwind.ts';
import { kmPopulatedUnit } from './later/km-populated-unit.ts';
import { populateFailCounted } from './later/populate-fail-counted.ts';
import { alignPowerOfTwo } from './later/align-power-of-two.ts';

export type { HistoricalBug, LaterFix } from '../variant.ts';

const COMMON = {
  alloc: pcpuAlloc, argsIllegal, allocAccount, freeAccount, walkSlot, allocMutex, emptyPopUpdate, populateFailFree, free: freePercpu, needToExtend, extendAreaMap, mapExtendWorkfn, initMapExtend,
  mapExtendUnlink, mapExtendService, balanceWorkfn, allocArea, freeArea, chunkPopulated, chunkDepopulated, allocChunk, perCpuPtrToPhys, processOneWork,
};

/** Linux 4.1 with percpu-vm.c. */
export const BASELINE_VM: Readonly<PcpuOps> = {
  ...COMMON, populateChunk: vm.populateChunk, depopulateChunk: vm.depopulateChunk, createChunk: vm.createChunk, destroyChunk: vm.destroyChunk,
  mapPages: vm.mapPages,
};

/** Linux 4.1 with percpu-km.c (pcpu_map_pages is percpu-vm's alone). */
export const BASELINE_KM: Readonly<PcpuOps> = {
  ...COMMON, populateChunk: km.populateChunk, depopulateChunk: km.depopulateChunk, createChunk: km.createChunk, destroyChunk: km.destroyChunk,
  mapPages: vm.mapPages,
};

/** Historical bugs injectable into 4.1 (--inject): none yet. */
export const BUGS: readonly HistoricalBug<PcpuOps>[] = [];

/**
 * Later kernels' fixes of 4.1's known issues, booted by fix-verification
 * replays (a bit each): the three commits that fixed what the harness found
 * in 4.1 (4.7 and 4.11), and this tool's fixes of what no later kernel
 * changed (commit '').
 */
export const FIXES: readonly LaterFix<PcpuOps>[] = [
  nrEmptyLocked, allocMutexHeld, mapExtendByBalance, walkSafe, allocAreaFirstHead, mapPagesUnwind, kmPopulatedUnit, populateFailCounted, alignPowerOfTwo,
];

export function fixFor(knownIssue: string): LaterFix<PcpuOps> | undefined {
  return FIXES.find((f) => f.fixes === knownIssue);
}

/** The functions a 4.1 machine with `backend` boots with bug number `bug` (0: none) and the set of fixes `fixes`. */
export function opsFor(backend: Backend, bug: number, fixes: number): PcpuOps {
  let ops: PcpuOps = { ...(backend === 'km' ? BASELINE_KM : BASELINE_VM), ...(BUGS[bug - 1]?.ops ?? {}) };
  const booted = FIXES.filter((f, i) => (fixes & (1 << i)) !== 0 && (f.backend === undefined || f.backend === backend));
  // a fix another booted fix supersedes is not booted: that one's functions fix its issue too
  for (const f of booted) if (!booted.some((g) => g.supersedes?.includes(f.name))) ops = { ...ops, ...f.ops };
  return ops;
}

// every fix boots with every other one (or is superseded by it)
FIXES.forEach((f, i) => FIXES.forEach((g, j) => {
  const overlap = Object.keys(f.ops).some((k) => k in g.ops);
  if (i < j && overlap && !f.supersedes?.includes(g.name) && !g.supersedes?.includes(f.name)) throw new Error(`fixes ${f.name} and ${g.name} replace the same function`);
}));
