// Failure injection for the emulated allocators: fail every call of a site
// with a probability, or exactly the Nth call of one site. The state lives in
// shared memory so that a controlled run makes the same decisions on replay.

import type { Shm } from '../shm/layout.ts';
import { MM } from './records.ts';
import { rngBelow, rngSeed } from '../shm/rng.ts';
import { rawLock, rawUnlock } from '../sync/raw.ts';

export enum FailSite {
  any = 0,
  kmalloc = 1,
  vmalloc = 2,
  alloc_pages = 3,
  get_vm_areas = 4,
  map_pages = 5,
}

export const FAIL_SITES = ['kmalloc', 'vmalloc', 'alloc_pages', 'get_vm_areas', 'map_pages'] as const;

export interface FailSpec {
  /** Probability of failing each matching call, in parts per million. */
  ppm?: number;
  /** Only this site (default: every site). */
  site?: FailSite;
  /** Fail exactly the Nth matching call (1-based), then never again. */
  nth?: number;
  seed?: number;
}

export function failConfigure(shm: Shm, spec: FailSpec): void {
  const { w, L } = shm;
  const h = L.mm;
  w[h + MM.FAIL_PROB_PPM] = spec.ppm ?? 0;
  w[h + MM.FAIL_SITE] = spec.site ?? FailSite.any;
  w[h + MM.FAIL_NTH] = spec.nth ?? 0;
  w[h + MM.FAIL_CALLS] = 0;
  w[h + MM.FAIL_INJECTED] = 0;
  rngSeed(w, h + MM.FAIL_RNG, spec.seed ?? 1);
}

/** Should this call of `site` fail? Counts the call either way. */
export function failShould(shm: Shm, site: FailSite): boolean {
  const { w, L } = shm;
  const h = L.mm;
  const only = w[h + MM.FAIL_SITE];
  if (only !== FailSite.any && only !== site) return false;
  const nth = w[h + MM.FAIL_NTH]!;
  const ppm = w[h + MM.FAIL_PROB_PPM]!;
  if (nth === 0 && ppm === 0) return false;
  const calls = Atomics.add(w, h + MM.FAIL_CALLS, 1) + 1;
  let fail = nth !== 0 && calls === nth;
  if (!fail && ppm !== 0) {
    rawLock(w, h + MM.FAIL_LOCK);
    fail = rngBelow(w, h + MM.FAIL_RNG, 1_000_000) < ppm;
    rawUnlock(w, h + MM.FAIL_LOCK);
  }
  if (fail) Atomics.add(w, h + MM.FAIL_INJECTED, 1);
  return fail;
}

export function failInjected(shm: Shm): number {
  return shm.w[shm.L.mm + MM.FAIL_INJECTED]!;
}
