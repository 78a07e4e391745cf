// The CPU worker pool: piscina with a fixed number of threads that never
// idle out, one long task per emulated CPU (or kworker) per run. Threads and
// their per-thread Kernel views are reused from run to run; the shared
// memory travels in the task payload (never in a transfer list).

import { Piscina } from 'piscina';
import type { CpuTask, CpuTaskResult } from './cpu-task.ts';

const WORKER = new URL('../../workers/cpu.ts', import.meta.url).href;

export class CpuPool {
  private pool: Piscina;

  constructor(readonly threads: number) {
    this.pool = CpuPool.make(threads);
  }

  private static make(threads: number): Piscina {
    return new Piscina({
      filename: WORKER, minThreads: threads, maxThreads: threads, idleTimeout: Infinity,
      concurrentTasksPerWorker: 1, maxQueue: 'auto',
    });
  }

  /** Run one task per CPU at once; resolves when all have returned. */
  runAll(tasks: CpuTask[], signal?: AbortSignal): Promise<CpuTaskResult[]> {
    if (tasks.length > this.threads) throw new RangeError(`${tasks.length} tasks for ${this.threads} threads`);
    return Promise.all(tasks.map((t) => this.pool.run(t, signal ? { signal } : {}) as Promise<CpuTaskResult>));
  }

  /** Last resort when a thread is stuck in code that never reaches a scheduling point. */
  async respawn(): Promise<void> {
    await this.pool.destroy();
    this.pool = CpuPool.make(this.threads);
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
