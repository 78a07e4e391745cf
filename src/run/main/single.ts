// A seeded single-CPU run: one CPU drives a random alloc/free workload while
// the reclaim work runs on the kworker whenever it is pending. After every
// operation the touched chunk is checked, the whole state every 64
// operations and at the end, and every allocation is checked against the
// independent area model and its per-CPU stamps.

import seedrandom from 'seedrandom';
import { Oops, type Violation } from '../../report/violation.ts';
import { Kernel, bootMachine, newShm, planMachine } from '../machine.ts';
import { chunkCounters, percpuStats } from '../../percpu/stats.ts';
import type { SingleResult } from '../../report/result.ts';
export type { SingleResult } from '../../report/result.ts';
import { invariantViolation, leakViolation } from '../../check/verdict.ts';
import { AreaModel } from '../../check/model.ts';
import { ShadowStamps } from '../../check/shadow.ts';
import { F } from '../../sync/sites.ts';
import type { Backend, KernelVersion } from '../../shm/config.ts';

export interface SingleOptions {
  seed: number;
  ops: number;
  backend: Backend;
  /** The kernel generation (default 2.6.35). */
  kernel?: KernelVersion;
  cpus?: number;
  /** Full invariant pass every N operations (default 64; 1 = after every op). */
  fullCheckEvery?: number;
}


export const SIZES = [4, 8, 16, 32, 64, 128, 256, 1024, 4096] as const;

export function runSingle(opts: SingleOptions): SingleResult {
  const t0 = performance.now();
  const spec = planMachine({ cpus: opts.cpus ?? 4, backend: opts.backend, maxChunks: 256, ...(opts.kernel ? { kernel: opts.kernel } : {}) });
  const shm = newShm(spec);
  const bootLog = bootMachine(spec, shm);
  const k = new Kernel(spec, shm);
  const cpu = k.cpu(0);
  const st = k.st;
  const checker = k.gen.invariants(k);
  const model = new AreaModel();
  const rng = seedrandom(String(opts.seed));
  const live: { ptr: number; size: number; stamp: number }[] = [];
  const res: SingleResult = {
    ops: { alloc: 0, free: 0, failed: 0 }, chunksCreated: 0, chunksDestroyed: 0, reclaimRuns: 0, checks: 0,
    violations: k.violations, stats: percpuStats(k.shm), bootLog, log: k.log, ms: 0,
  };
  const fullEvery = opts.fullCheckEvery ?? 64;
  let stamp = 1;
  const check = (step: number, chunk: number): void => {
    res.checks++;
    const f = chunk ? checker.checkChunk(chunk) : checker.checkAll();
    if (f.length) {
      const v = invariantViolation(f, 0, step);
      k.onViolation(v);
      throw new Oops(v);
    }
  };
  const modelFail = (msg: string, step: number): never => {
    const v: Violation = { kind: 'shadow', cpu: 0, step, title: `percpu: model mismatch: ${msg}`, text: `percpu: model mismatch\n${msg}\n`, held: [], stack: [], fatal: true };
    k.onViolation(v);
    throw new Oops(v);
  };
  const shadow = new ShadowStamps(st, k.pcpu);
  cpu.enter(F.cpu_program);
  try {
    for (let step = 0; step < opts.ops; step++) {
      const doAlloc = live.length === 0 || (live.length < 400 && rng() < 0.55);
      if (doAlloc) {
        const size = rng() < 0.02 ? 8192 + Math.floor(rng() * 24576) : SIZES[Math.floor(rng() * SIZES.length)]!;
        const align = Math.min(size, 1 << Math.floor(rng() * 5));
        const reserved = rng() < 0.05;
        k.failures?.begin(cpu, size, align, reserved);
        const ptr = k.pcpu.pcpuAlloc(cpu, size, align, reserved);
        k.failures?.end(cpu, ptr, k.pcpu.lastError);
        if (ptr === 0) {
          res.ops.failed++;
          continue;
        }
        res.ops.alloc++;
        const chunk = k.pcpu.chunkAddrSearch(cpu, ptr);
        const off = ptr - st.baseAddr(chunk);
        const bad = model.add(chunk, off, size, align, checker.span(chunk));
        if (bad) modelFail(bad, step);
        shadow.aligned(cpu, ptr, size, align);
        shadow.stamp(cpu, ptr, size, stamp);
        live.push({ ptr, size, stamp: stamp++ });
        check(step, chunk);
      } else {
        const i = Math.floor(rng() * live.length);
        const a = live[i]!;
        live[i] = live[live.length - 1]!;
        live.pop();
        shadow.verify(cpu, a.ptr, a.size, a.stamp);
        const chunk = k.pcpu.chunkAddrSearch(cpu, a.ptr);
        model.remove(chunk, a.ptr - st.baseAddr(chunk));
        k.pcpu.freePercpu(cpu, a.ptr);
        res.ops.free++;
        check(step, chunk);
        if (k.wq.queued() && rng() < 0.5) {
          res.reclaimRuns++;
          k.runReclaimIfPending();
        }
      }
      if (fullEvery && step % fullEvery === 0) check(step, 0);
    }
    for (const a of live) k.pcpu.freePercpu(cpu, a.ptr);
    if (k.wq.queued()) {
      res.reclaimRuns++;
      k.runReclaimIfPending();
    }
    check(opts.ops, 0);
    const leaks = k.gen.leakCheck(k);
    if (leaks.length) k.onViolation(leakViolation(leaks, 0, opts.ops));
  } catch (e) {
    if (!(e instanceof Oops)) throw e;
  }
  const counters = chunkCounters(shm);
  res.chunksCreated = counters.created;
  res.chunksDestroyed = counters.destroyed;
  res.stats = percpuStats(k.shm);
  res.ms = performance.now() - t0;
  return res;
}
