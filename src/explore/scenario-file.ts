// Scenarios from a file: `percpu-stress run ./my-scenario.ts`. The file has
// the shape of the built-in scenarios (scenarios/*.ts) and exports one as
// its default export (or as `scenario`). It is bundled with esbuild (the
// build tool the project already uses) into one CommonJS module and loaded
// in a thread of its own, never on the main thread: the main thread calls
// its config(), fail() and program() through a synchronous channel with a
// time limit, so a file that loops for ever, throws for one seed or returns
// garbage is bad input (one line, exit 2), not a hang or a crash. Every
// program it returns is checked op by op (checkProgram) before a CPU thread
// sees it.

import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { buildSync } from 'esbuild';
import { SCENARIOS, registerExternal, scenarioByName } from '../../scenarios/index.ts';
import type { Scenario, ScenarioContext } from '../../scenarios/lib/scenario.ts';

type FailSpec = ReturnType<NonNullable<Scenario['fail']>>;
import { checkProgram } from '../../scenarios/lib/program.ts';
import type { Config } from '../shm/config.ts';
import { UsageError, quote } from '../report/errors.ts';

/**
 * The CPU time one call into a scenario file (loading it, config(), program(),
 * fail()) may take on its thread: CPU time, not wall time, so that a loaded
 * host never makes a good file bad input. (Where a thread's CPU time cannot be
 * read, Linux's /proc missing, the limit is wall time, six times longer.)
 */
export const SCENARIO_CALL_LIMIT_MS = 10_000;
const WALL_FALLBACK_MS = 60_000;
const WALL_BACKSTOP_MS = 600_000;
/** Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on every Linux ABI Node runs on). */
const USER_HZ = 100;

/** A call into a scenario file that the command's budget ended: no verdict (exit 5), not bad input. */
export class ScenarioBudgetError extends Error {}

let callDeadline = 0;
/** The command's own end (Date.now() ms, 0: none): a call into a scenario file never outlasts it. */
export function setScenarioDeadline(t: number): void {
  callDeadline = t;
}

// The loader thread's code: plain CommonJS, evaluated as is (no build step, no TypeScript loader).
const HOST = `
const { workerData } = require('node:worker_threads');
const { port, flag } = workerData;
// this thread's id in /proc (its CPU time is read from there by the caller)
try { Atomics.store(flag, 1, Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop())); } catch (e) { Atomics.store(flag, 1, -1); }
let s = null;
const firstLine = (e) => String(e && e.message !== undefined ? e.message : e).split('\\n')[0];
function answer(m) {
  if (m.op === 'load') {
    let mod;
    try { mod = require(m.file); } catch (e) { return { error: 'loading it threw: ' + firstLine(e) }; }
    s = mod && (mod.default !== undefined ? mod.default : mod.scenario);
    if (typeof s !== 'object' || s === null) return { error: 'exports no scenario (export default { name, description, config, program })' };
    const t = (k) => typeof s[k];
    return { value: { name: s.name, description: s.description, fuzzOps: s.fuzzOps, minOps: s.minOps,
      config: t('config'), program: t('program'), fail: t('fail'), boot: t('boot') } };
  }
  try {
    const v = m.op === 'config' ? s.config(m.cpus, m.seed) : m.op === 'fail' ? s.fail(m.seed) : s.program(m.ctx);
    return { value: v };
  } catch (e) {
    return { error: 'threw: ' + firstLine(e) };
  }
}
port.on('message', (m) => {
  let r = answer(m);
  try { port.postMessage(r); } catch (e) { port.postMessage({ error: 'returned something that cannot be passed on (' + firstLine(e) + ')' }); }
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
});
`;

type Request =
  | { op: 'load'; file: string }
  | { op: 'config'; cpus: number; seed: number }
  | { op: 'fail'; seed: number }
  | { op: 'program'; ctx: ScenarioContext };

/** One scenario file in its own thread, called synchronously. */
class Host {
  private readonly port: MessagePort;
  /** [answered, the thread's /proc task id (0 until it runs, -1 if there is none)] */
  private readonly flag = new Int32Array(new SharedArrayBuffer(8));
  private readonly worker: Worker;
  private dead = false;

  constructor(private readonly arg: string) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(HOST, {
      eval: true, workerData: { port: port2, flag: this.flag }, transferList: [port2],
      resourceLimits: { maxOldGenerationSizeMb: 512 }, stdout: false, stderr: false, execArgv: [],
    });
    // a scenario thread never keeps the process alive, and its crash is reported by the call that waits for it
    this.worker.unref();
    this.worker.on('error', () => {});
  }

  call(req: Request, what: string): unknown {
    if (this.dead) bad(this.arg, `${what}: the scenario's thread was stopped after an earlier call did not return`);
    Atomics.store(this.flag, 0, 0);
    this.port.postMessage(req);
    const start = Date.now();
    const cpu0 = this.cpuMs();
    let answered = false;
    for (;;) {
      if (Atomics.wait(this.flag, 0, 0, 100) !== 'timed-out') {
        answered = true;
        break;
      }
      const cpu = this.cpuMs();
      if (cpu === null && this.flag[1]! > 0) break; // the thread is gone: it crashed or ran out of memory
      const used = cpu !== null && cpu0 !== null ? cpu - cpu0 : (Date.now() - start) / (WALL_FALLBACK_MS / SCENARIO_CALL_LIMIT_MS);
      // (and a backstop in wall time, so that nothing waits for ever whatever the thread does)
      if (used >= SCENARIO_CALL_LIMIT_MS || Date.now() - start >= WALL_BACKSTOP_MS) break;
      if (callDeadline && Date.now() >= callDeadline) {
        this.stop();
        throw new ScenarioBudgetError(`scenario file ${this.arg}: ${what} was still running when the budget ended`);
      }
    }
    const msg = receiveMessageOnPort(this.port)?.message as { value?: unknown; error?: string } | undefined;
    if (!answered || !msg) {
      this.stop();
      bad(this.arg, `${what} did not return within ${SCENARIO_CALL_LIMIT_MS / 1000} s of CPU time: an endless loop, or out of memory`);
    }
    if (msg.error !== undefined) bad(this.arg, `${what} ${msg.error}`);
    return msg.value;
  }

  private stop(): void {
    this.dead = true;
    void this.worker.terminate();
  }

  /** The thread's CPU time so far (ms), or null where it cannot be read. */
  private cpuMs(): number | null {
    const tid = this.flag[1]!;
    if (tid <= 0) return tid === 0 ? 0 : null;
    try {
      const stat = readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return ((Number(f[11]) + Number(f[12])) * 1000) / USER_HZ;
    } catch {
      return null;
    }
  }
}

const loaded = new Map<string, Scenario>();

/** Does a scenario argument name a file rather than a built-in scenario? */
export function isScenarioPath(arg: string): boolean {
  return arg.includes('/') || /\.(ts|mts|js|mjs|cjs)$/.test(arg);
}

function bad(path: string, why: string): never {
  throw new UsageError(`scenario file ${path}: ${why}`);
}

function compile(arg: string, path: string, out: string): void {
  try {
    buildSync({ entryPoints: [path], bundle: true, platform: 'node', format: 'cjs', outfile: out, logLevel: 'silent', target: 'node20' });
  } catch (e) {
    const first = (e as { errors?: { text: string; location?: { line: number; column: number } | null }[] }).errors?.[0];
    bad(arg, first ? `${first.location ? `line ${first.location.line}: ` : ''}${first.text}` : 'does not compile');
  }
}

interface Shape {
  name: unknown; description: unknown; fuzzOps: unknown; minOps: unknown;
  config: string; program: string; fail: string; boot: string;
}

/** Load, check and register the scenario a file exports (once per path). */
export function loadScenarioFile(arg: string): Scenario {
  const path = resolve(arg);
  const done = loaded.get(path);
  if (done) return done;
  try {
    if (!statSync(path).isFile()) bad(arg, 'not a file');
  } catch (e) {
    if (e instanceof UsageError) throw e;
    bad(arg, (e as NodeJS.ErrnoException).code ?? 'cannot read it');
  }
  const dir = mkdtempSync(join(tmpdir(), 'percpu-scenario-'));
  const out = join(dir, 'scenario.cjs');
  const host = new Host(arg);
  let shape: Shape;
  try {
    compile(arg, path, out);
    shape = host.call({ op: 'load', file: out }, 'loading it') as Shape;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const name = shape.name;
  if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9-]{0,39}$/.test(name)) bad(arg, `name: expected 1-40 lower-case letters, digits and dashes, got ${quote(String(name))}`);
  if (scenarioByName(name) || SCENARIOS.some((b) => b.name === name)) bad(arg, `name: ${quote(name)} is a built-in scenario`);
  if (typeof shape.description !== 'string' || shape.description.length === 0) bad(arg, 'description: expected a one-line description');
  if (shape.config !== 'function') bad(arg, 'config: expected a function (cpus, seed) => machine config');
  if (shape.program !== 'function') bad(arg, 'program: expected a function (ctx) => Int32Array');
  if (shape.boot !== 'undefined') bad(arg, 'boot: early-boot programs run on the CPU threads and are for built-in scenarios only');
  if (shape.fail !== 'undefined' && shape.fail !== 'function') bad(arg, 'fail: expected a function (seed) => failure injection spec');
  for (const k of ['fuzzOps', 'minOps'] as const) {
    const v = shape[k];
    if (v !== undefined && (!Number.isSafeInteger(v) || (v as number) < 1 || (v as number) > 100_000)) bad(arg, `${k}: expected an integer in 1..100000, got ${quote(String(v))}`);
  }
  const sc: Scenario = {
    name, description: shape.description,
    ...(shape.fuzzOps !== undefined ? { fuzzOps: shape.fuzzOps as number } : {}),
    ...(shape.minOps !== undefined ? { minOps: shape.minOps as number } : {}),
    config(cpus: number, seed: number): Partial<Config> {
      const cfg = host.call({ op: 'config', cpus, seed }, `config(${cpus}, ${seed})`);
      if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) bad(arg, `config(${cpus}, ${seed}) returned no object`);
      return cfg as Partial<Config>;
    },
    program(ctx: ScenarioContext): Int32Array {
      const what = `program(cpu ${ctx.cpu} of ${ctx.cpus}, seed ${ctx.seed}, ${ctx.ops} ops)`;
      const p = host.call({ op: 'program', ctx }, what);
      if (!(p instanceof Int32Array)) bad(arg, `${what} must return an Int32Array of 4-word ops (use the ProgramBuilder of scenarios/lib)`);
      try {
        checkProgram(p, ctx.cpus, what);
      } catch (e) {
        bad(arg, (e as Error).message);
      }
      return p;
    },
    ...(shape.fail === 'function' ? {
      fail(seed: number): FailSpec {
        const f = host.call({ op: 'fail', seed }, `fail(${seed})`);
        if (typeof f !== 'object' || f === null) bad(arg, `fail(${seed}) returned no object`);
        return f as FailSpec;
      },
    } : {}),
  };
  // try it once: the config and a short program of each of two CPUs
  sc.config(2, 1);
  for (const cpu of [0, 1]) sc.program({ cpu, cpus: 2, seed: 1, ops: 20, batch: 0 });
  registerExternal(sc, path);
  loaded.set(path, sc);
  return sc;
}
