// The scenario registry: `percpu-stress run all` runs them in this order.
import type { Scenario } from './lib/scenario.ts';
import { allocFreeStorm } from './alloc-free-storm.ts';
import { irqFree } from './irq-free.ts';
import { reclaimRace } from './reclaim-race.ts';
import { mapExtendRace } from './map-extend-race.ts';
import { reserved } from './reserved.ts';
import { oom } from './oom.ts';
import { boot } from './boot.ts';
import { km } from './km.ts';
import { extendWalk } from './extend-walk.ts';
import { reclaimExtend } from './reclaim-extend.ts';
import { reclaimPopulate } from './reclaim-populate.ts';
import { reclaimRequeue } from './reclaim-requeue.ts';
import { benchMix } from './bench-mix.ts';
import { tinySizes } from './tiny-sizes.ts';
import { physLookup } from './phys-lookup.ts';
import { atomicContexts } from './atomic-contexts.ts';
import { atomicExhaust } from './atomic-exhaust.ts';
import { balanceRace } from './balance-race.ts';
import { atomicKm } from './atomic-km.ts';
import { oomAtomic } from './oom-atomic.ts';
import { oddRequests } from './odd-requests.ts';
import { runsOn } from './lib/scenario.ts';
import type { KernelVersion } from '../src/shm/config.ts';

/** Every scenario, in the order `run all` runs those of its kernel. */
export const SCENARIOS: readonly Scenario[] = [
  allocFreeStorm, irqFree, reclaimRace, mapExtendRace, reserved, oom, boot, km, extendWalk, reclaimExtend, reclaimPopulate, reclaimRequeue, tinySizes, physLookup,
  // Linux 4.1's protocol: atomic allocations, the balance work, map extension work
  atomicContexts, atomicExhaust, balanceRace, atomicKm, oomAtomic, oddRequests,
];

/** The scenarios that run on `kernel` (`run all`, `fuzz all`). */
export function scenariosOf(kernel: KernelVersion): Scenario[] {
  return SCENARIOS.filter((s) => runsOn(s, kernel));
}

/** Every scenario a run can name, by a small number threads agree on. */
const BY_ID: readonly Scenario[] = [...SCENARIOS, benchMix];

/** Scenarios loaded from a file (percpu-stress run ./my-scenario.ts), with their paths. */
const EXTERNAL = new Map<Scenario, string>();
/** The id threads see for a scenario loaded from a file: its programs always come from the main thread. */
export const EXTERNAL_ID = -1;
const EXTERNAL_STUB: Scenario = {
  name: 'external', description: 'a scenario loaded from a file by the main thread', config: () => ({}),
  program: () => new Int32Array(0),
};

export function registerExternal(s: Scenario, path: string): void {
  EXTERNAL.set(s, path);
}

/** The file a scenario was loaded from, or undefined for a built-in one. */
export function externalPath(s: Scenario): string | undefined {
  return EXTERNAL.get(s);
}

export function scenarioId(s: Scenario): number {
  if (EXTERNAL.has(s)) return EXTERNAL_ID;
  const i = BY_ID.indexOf(s);
  if (i < 0) throw new Error(`scenario ${s.name} is not registered`);
  return i;
}

export function scenarioById(id: number): Scenario {
  if (id === EXTERNAL_ID) return EXTERNAL_STUB;
  const s = BY_ID[id];
  if (!s) throw new Error(`no scenario number ${id}`);
  return s;
}

/** Every scenario by name, including those `all` leaves out (the benchmark's mix). */
export function scenarioByName(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name) ?? (name === benchMix.name ? benchMix : undefined);
}
