// The CPU worker pool: piscina with a fixed number of threads that never
// idle out. Every thread loads the built plain-JavaScript worker
// (dist/cpu-worker.js) without the TypeScript loader the main thread may be
// running under; the build is brought up to date first (bin/build.js), so a
// thread never runs anything but what the sources say.

import { Piscina } from 'piscina';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { ensureBuilt, DIST_DIR } from '../../../bin/build.js';
import type { CpuTask, CpuTaskResult, SessionTask } from '../messages.ts';

export const WORKER_FILE = join(DIST_DIR, 'cpu-worker.js');

/**
 * A CPU thread keeps almost nothing on its own heap (the machine is shared
 * memory): a small young generation keeps 65 threads of a 64-CPU machine
 * well under a gigabyte.
 */
export const WORKER_LIMITS = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 512 };

let built: Promise<boolean> | null = null;

/** Bring the build up to date once per process (the launcher already did, for the CLI). */
export function ensureWorkerBuilt(): Promise<boolean> {
  if ((globalThis as { __percpuStressBuildChecked?: boolean }).__percpuStressBuildChecked) return Promise.resolve(false);
  built ??= ensureBuilt();
  return built;
}

/**
 * The main thread's node options minus anything that loads TypeScript
 * (tsx's --import/--require/--loader): pool threads run plain JavaScript.
 * Profiling and memory options pass through.
 */
export function workerExecArgv(argv: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const takesValue = /^(--import|--require|-r|--loader|--experimental-loader)$/.test(a);
    const value = takesValue ? argv[i + 1] ?? '' : a;
    if (/tsx|ts-node/.test(value)) {
      if (takesValue) i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

export class CpuPool {
  private pool: Piscina;

  private constructor(readonly threads: number) {
    this.pool = CpuPool.make(threads);
  }

  static async create(threads: number): Promise<CpuPool> {
    await ensureWorkerBuilt();
    return new CpuPool(threads);
  }

  private static make(threads: number): Piscina {
    // V8 flags are the process's: threads made from now on can collect on demand when a machine is forgotten
    setFlagsFromString('--expose-gc');
    return new Piscina({
      filename: WORKER_FILE, minThreads: threads, maxThreads: threads, idleTimeout: Infinity,
      concurrentTasksPerWorker: 1, maxQueue: 'auto', execArgv: workerExecArgv(), resourceLimits: WORKER_LIMITS,
    });
  }

  /** Run one task per CPU at once; resolves when all have returned. */
  runAll(tasks: CpuTask[], signal?: AbortSignal): Promise<CpuTaskResult[]> {
    if (tasks.length > this.threads) throw new RangeError(`${tasks.length} tasks for ${this.threads} threads`);
    return Promise.all(tasks.map((t) => this.pool.run(t, signal ? { signal } : {}) as Promise<CpuTaskResult>));
  }

  /** Start a thread's long-lived session; resolves when the session ends. */
  session(task: SessionTask): Promise<number> {
    return this.pool.run(task, { transferList: [task.port] }) as Promise<number>;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
