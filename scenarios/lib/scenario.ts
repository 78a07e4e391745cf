// A scenario: a machine config, a seeded program generator per CPU, an
// interrupt plan (which CPUs hand frees to whose interrupt handlers) and a
// one-line description. The same (scenario, cpus, seed) always yields the
// same programs.

import { KERNELS, type Config, type KernelVersion } from '../../src/shm/config.ts';
import type { FailSpec } from '../../src/mm/fail.ts';
import { OP_WORDS, ProgramBuilder } from './program.ts';
import type { SizeMix } from './sizes.ts';

export interface ScenarioContext {
  cpu: number;
  cpus: number;
  seed: number;
  /** Ops this CPU should run (a batch: free-running runs ask for more batches). */
  ops: number;
  batch: number;
  /** A size mix replacing the scenario's standard sizes (--sizes), or undefined. */
  sizes?: SizeMix;
}

export interface Scenario {
  name: string;
  description: string;
  /** The kernels whose protocol it exercises (default: every kernel). */
  kernels?: readonly KernelVersion[];
  /** Machine config for `cpus` CPUs and a seed (layouts may vary by seed). */
  config(cpus: number, seed: number): Partial<Config>;
  /** Failure injection for the run. */
  fail?(seed: number): FailSpec;
  /** Early-boot program for CPU 0 (irqs off, before the other CPUs start). */
  boot?(seed: number, cpus: number): Int32Array;
  /** One batch of a CPU's program. */
  program(ctx: ScenarioContext): Int32Array;
  /** Ops per CPU for a controlled fuzz run (short runs find races faster); default 30. */
  fuzzOps?: number;
  /** The ops a run needs at least (a directed set-up whose waits need their completes). */
  minOps?: number;
}

/** Does scenario `s` run on `kernel`? */
export function runsOn(s: Scenario, kernel: KernelVersion): boolean {
  return (s.kernels ?? KERNELS).includes(kernel);
}

export function builder(name: string, ctx: ScenarioContext, maxSlots?: number): ProgramBuilder {
  const b = new ProgramBuilder(`${name}/${ctx.seed}/${ctx.cpu}/${ctx.batch}`, maxSlots);
  b.sizes = ctx.sizes ?? null;
  return b;
}

/**
 * The standard op mix: sizes 4..4096 with align = min(size, 8) (or the
 * builder's size mix), at most `maxLive` live.
 */
export const STD_SIZES = [4, 8, 16, 32, 64, 128, 256, 1024, 4096] as const;

/**
 * Now and then a big area (a chunk of its own, soon empty again: chunk
 * creation and reclaim) or a free handed to another CPU's interrupt handler.
 */
export function spice(b: ProgramBuilder, ctx: ScenarioContext, bigRate: number, irqRate: number): boolean {
  const r = b.rng();
  if (r < bigRate) return b.alloc(b.pick([8192, 16384, 32768] as const), 8);
  if (r < bigRate + irqRate && ctx.cpus > 1 && b.liveCount > 0) return b.irqFreeRandom((ctx.cpu + 1 + b.int(ctx.cpus - 1)) % ctx.cpus);
  return false;
}

/**
 * The rest of the program language, now and then: a touch of a live area
 * (its stamps checked in every copy), a few scheduling points of delay, a
 * burst of small counters allocated at once and freed again later. Every op
 * thus runs on every machine shape the scenarios boot.
 */
export function sundries(b: ProgramBuilder, rate: number): boolean {
  const r = b.rng();
  if (r >= rate) return false;
  if (r < rate * 0.4) b.touchRandom();
  else if (r < rate * 0.7) b.delay(1 + b.int(4));
  else if (r < rate * 0.85) b.burst(2 + b.int(6), b.pick([4, 8, 16] as const), 4);
  else b.unburst(1 + b.int(4));
  return true;
}

export function stdMix(b: ProgramBuilder, ops: number, maxLive: number, extra?: (b: ProgramBuilder) => boolean): void {
  while (b.length < ops) {
    if (extra?.(b)) continue;
    if (b.liveCount < maxLive && (b.liveCount === 0 || b.rng() < 0.55)) {
      if (b.sizes !== null) {
        const i = b.int(b.sizes.length >> 1) * 2;
        b.alloc(b.sizes[i]!, b.sizes[i + 1]!);
      } else {
        const size = b.pick(STD_SIZES);
        b.alloc(size, Math.min(size, 8));
      }
    } else {
      b.freeRandom();
    }
  }
}

/**
 * Directed scenarios set a race up in their first batch; in free-running runs
 * the batches after it keep the CPUs busy with the standard mix, big areas
 * and interrupt frees (so chunks keep being created and reclaimed).
 */
export function afterDirected(name: string, ctx: ScenarioContext): Int32Array {
  const b = builder(`${name}/mix`, ctx);
  stdMix(b, ctx.ops, 32, (x) => spice(x, ctx, 0.03, 0.1));
  return b.build();
}

export interface DirectedSpec {
  name: string;
  description: string;
  config: Scenario['config'];
  fuzzOps: number;
  /** Write CPU `cpu`'s part of the race (CPUs 0 and 1 take part; the others idle). */
  setUp(b: ProgramBuilder, cpu: number): void;
}

/** A directed scenario: the race in the first batch, the standard mix after it. */
export function directed(d: DirectedSpec): Scenario {
  return {
    name: d.name, description: d.description, config: d.config, fuzzOps: d.fuzzOps, minOps: d.fuzzOps,
    program(ctx) {
      if (ctx.batch > 0) return afterDirected(d.name, ctx);
      const b = builder(d.name, ctx);
      if (ctx.cpus >= 2) d.setUp(b, ctx.cpu);
      return b.build();
    },
  };
}

/** The first `ops` ops of every CPU's program (batch 0). */
export function generatePrograms(s: Scenario, cpus: number, seed: number, ops: number, sizes?: SizeMix): Int32Array[] {
  return Array.from({ length: cpus }, (_, cpu) => s.program({ cpu, cpus, seed, ops, batch: 0, sizes }).slice(0, ops * OP_WORDS));
}
