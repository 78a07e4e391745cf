// Shared test fixtures: a booted single-thread machine and small utilities.

import test from 'ava';
import { Kernel, bootMachine, newShm, planMachine, type BootOptions } from '../src/run/machine.ts';
import { Runner } from '../src/run/main/runner.ts';
import type { Config } from '../src/shm/config.ts';
import type { Percpu } from '../src/percpu/2.6.35/core.ts';
import { OP_WORDS } from '../scenarios/lib/program.ts';

export function machine(partial: Partial<Config> = {}, boot: BootOptions = {}): { k: Kernel; log: string[] } {
  const spec = planMachine(partial);
  const shm = newShm(spec);
  const log = bootMachine(spec, shm, boot);
  return { k: new Kernel(spec, shm), log };
}

/** A 2.6.35 machine's allocator, with its own functions and hooks (tests that reach inside the port). */
export function v2635(k: Kernel): Percpu {
  if (k.pcpu.kernel !== '2.6.35') throw new Error(`a ${k.pcpu.kernel} machine`);
  return k.pcpu as Percpu;
}

/** The trace command's default first chunk: s4096 r8192 d20480 u32768 on one CPU. */
export function traceMachine(partial: Partial<Config> = {}): Kernel {
  return machine({ cpus: 1, staticSize: 4096, reservedSize: 8192, dynSize: 20480, unitSize: 32768, ...partial }).k;
}

/** Map of the chunk holding percpu pointer p. */
export function mapOf(k: Kernel, p: number): number[] {
  return k.st.mapArray(k.pcpu.chunkAddrSearch(k.cpu(0), p));
}

/** Allocate `n` areas of the given sizes in turn; returns the pointers (0 = failed). */
export function allocMany(k: Kernel, n: number, sizes: readonly number[] = [4, 8, 16, 32, 64, 128, 256, 1024, 4096]): number[] {
  const cpu = k.cpu(0);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const size = sizes[i % sizes.length]!;
    out.push(k.pcpu.pcpuAlloc(cpu, size, Math.min(size, 8), false));
  }
  return out;
}

/** Free everything and let the reclaim work run: the machine should be back to one free chunk. */
export function teardown(k: Kernel, ptrs: number[]): void {
  const cpu = k.cpu(0);
  for (const p of ptrs) if (p) k.pcpu.freePercpu(cpu, p);
  k.runReclaimIfPending();
}

/** One runner (and so one worker pool) for a test file, closed after it. */
export function sharedRunner(): () => Runner {
  let runner: Runner | undefined;
  test.before(() => {
    runner = new Runner();
  });
  test.after.always(async () => {
    await runner?.close();
  });
  return () => runner!;
}

/** A CPU program from its ops, each [code, a, b, c]. */
export function prog(...ops: number[][]): Int32Array {
  const p = new Int32Array(ops.length * OP_WORDS);
  ops.forEach((o, i) => p.set(o, i * OP_WORDS));
  return p;
}
