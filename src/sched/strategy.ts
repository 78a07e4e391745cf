// The one small interface every scheduling strategy implements. A strategy
// keeps its state in shared memory (SC words), so whichever thread holds the
// run token makes the next decision and the sequence of decisions depends
// only on the seed and on what the CPUs did.

import type { Layout } from '../shm/layout.ts';

export enum Mode {
  os = 0,
  random = 1,
  pct = 2,
  replay = 3,
  pos = 4,
  urw = 5,
  /** fuzz only: rotate the strategies (and PCT depths) over the campaign */
  portfolio = 6,
}

export const MODE_NAMES = ['os', 'random', 'pct', 'replay', 'pos', 'urw', 'portfolio'] as const;

/** What a strategy sees at a scheduling point. */
export interface Choice {
  w: Int32Array;
  L: Layout;
  /** The entity at the point (it may not be runnable: blocked, idle). */
  current: number;
  /** Runnable entities, ascending, in runnable[0..count). */
  runnable: Int32Array;
  count: number;
  /** Could entity e take an interrupt now (irqs on, one pending)? */
  canIrq(e: number): boolean;
  /** Global step number of this point. */
  step: number;
  /** Uniform integer in [0, n) from the shared PRNG. */
  rand(n: number): number;
}

export interface StrategyOptions {
  seed: number;
  entities: number;
  /** PCT bug depth d (d-1 priority change points). */
  depth: number;
  /** PCT: expected number of steps k, for placing the change points. */
  expectedSteps: number;
  /** URW: the expected scheduling points of each entity (default: expectedSteps split evenly). */
  entitySteps?: readonly number[];
}

export interface Strategy {
  readonly mode: Mode;
  /** Set the strategy's shared state up (main thread, before the run). */
  init(w: Int32Array, L: Layout, o: StrategyOptions): void;
  /** The action at this point: entity * 2 + (1 to deliver an interrupt to it first). */
  choose(c: Choice): number;
}

/** Deliver a pending interrupt half of the time, when the entity can take one. */
export function withIrq(c: Choice, e: number): number {
  return e * 2 + (c.canIrq(e) && c.rand(2) === 1 ? 1 : 0);
}

/** The deterministic default: stay on the current entity if it can run, else the lowest runnable. */
export function fallback(c: Choice): number {
  for (let i = 0; i < c.count; i++) if (c.runnable[i] === c.current) return c.current * 2;
  return c.runnable[0]! * 2;
}
