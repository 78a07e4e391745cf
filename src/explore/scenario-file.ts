// Scenarios from a file: `percpu-stress run ./my-scenario.ts`. The file has
// the shape of the built-in scenarios (scenarios/*.ts) and exports one as
// its default export (or as `scenario`). It is bundled with esbuild (the
// build tool the project already uses) into one CommonJS module, in memory,
// and loaded in a thread of its own, never on the main thread: the main
// thread calls its config(), fail() and program() through a synchronous
// channel with limits in CPU time (a loop) and in wall time spent blocked
// (Atomics.wait, a synchronous child process), so a file that loops or
// blocks for ever, throws, exits or returns garbage is bad input (one line
// saying which, exit 2), not a hang or a crash. Every program it returns is
// checked op by op (checkProgram) and every config key by type before a CPU
// thread sees it.

import { closeSync, readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { buildSync } from 'esbuild';
import { SCENARIOS, registerExternal, scenarioByName } from '../../scenarios/index.ts';
import type { Scenario, ScenarioContext } from '../../scenarios/lib/scenario.ts';

type FailSpec = ReturnType<NonNullable<Scenario['fail']>>;
import { checkProgram } from '../../scenarios/lib/program.ts';
import { DEFAULTS, MAX_CPUS, type Config } from '../shm/config.ts';
import { SCENARIO, openInput } from '../io/inputs.ts';
import { UsageError, quote } from '../report/errors.ts';

/**
 * The CPU time one call into a scenario file (loading it, config(), program(),
 * fail()) may take on its thread: CPU time, not wall time, so that a loaded
 * host never makes a good file bad input. (Where a thread's CPU time cannot be
 * read, Linux's /proc missing, the limit is wall time, six times longer.)
 */
export const SCENARIO_CALL_LIMIT_MS = 10_000;
/**
 * How long a call may stay blocked: its thread asleep (not runnable, so not
 * waiting for a CPU however loaded the host is) without using any CPU time.
 */
export const SCENARIO_BLOCKED_LIMIT_MS = 10_000;
const WALL_FALLBACK_MS = 60_000;
/**
 * Whatever the thread does, a call ends within this much wall time: a file
 * that mixes short sleeps with short bursts of work (never blocked for
 * long, never 10 s of CPU) would otherwise take as long as it likes. Twelve
 * times the CPU limit: a good file on a host with every core busy 4x (as CI
 * makes it) stays far inside it.
 */
export const SCENARIO_WALL_LIMIT_MS = 120_000;
/** Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on every Linux ABI Node runs on). */
const USER_HZ = 100;

/** A call into a scenario file that the command's budget ended: no verdict (exit 5), not bad input. */
export class ScenarioBudgetError extends Error {}

let commandDeadline = 0;
/** Later ends some parts of the command have (a shrink's own budget), while they run. */
const extensions = new Set<{ t: number }>();
/** The end a call into a scenario file may not outlast (Date.now() ms, 0: none). */
function callDeadline(): number {
  let t = commandDeadline;
  if (t) for (const e of extensions) t = Math.max(t, e.t);
  return t;
}

/** The command's own end (Date.now() ms, 0: none): a call into a scenario file never outlasts it. */
export function setScenarioDeadline(t: number): void {
  commandDeadline = t;
}

/** While a part of the command with its own budget runs (shrinking a finding), calls may last until `t`; the release ends that. */
export function extendScenarioDeadline(t: number): () => void {
  const e = { t };
  extensions.add(e);
  return () => extensions.delete(e);
}

// The loader thread's code: plain CommonJS, evaluated as is (no build step, no TypeScript loader).
const HOST = `
const { workerData } = require('node:worker_threads');
const { createRequire } = require('node:module');
const { port, flag } = workerData;
// this thread's id in /proc (its CPU time and state are read from there by the caller)
try { Atomics.store(flag, 1, Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop())); } catch (e) { Atomics.store(flag, 1, -1); }
// the thread ending (process.exit, an error thrown outside any call) ends the caller's wait at once
process.on('exit', () => { Atomics.store(flag, 0, 2); Atomics.notify(flag, 0); });
let s = null;
const firstLine = (e) => { try { return String(e && e.message !== undefined ? e.message : e).split('\\n')[0]; } catch (x) { return 'an exception that cannot be shown'; } };
function load(m) {
  const mod = { exports: {} };
  try {
    new Function('exports', 'require', 'module', '__filename', '__dirname', m.code)(mod.exports, createRequire(m.file), mod, m.file, require('node:path').dirname(m.file));
  } catch (e) { return { error: 'threw: ' + firstLine(e) }; }
  const x = mod.exports;
  s = x && (x.default !== undefined ? x.default : x.scenario);
  if (typeof s !== 'object' || s === null) return { error: 'exports no scenario (export default { name, description, config, program })' };
  const t = (k) => typeof s[k];
  return { value: { name: s.name, description: s.description, fuzzOps: s.fuzzOps, minOps: s.minOps,
    config: t('config'), program: t('program'), fail: t('fail'), boot: t('boot') } };
}
function answer(m) {
  if (m.op === 'load') return load(m);
  const v = m.op === 'config' ? s.config(m.cpus, m.seed) : m.op === 'fail' ? s.fail(m.seed) : s.program(m.ctx);
  return { value: v };
}
port.on('message', (m) => {
  let r;
  // (a getter of the scenario object that throws is a throw like any other)
  try { r = answer(m); } catch (e) { r = { error: 'threw: ' + firstLine(e) }; }
  try { port.postMessage(r); } catch (e) { port.postMessage({ error: 'returned something that cannot be passed on (' + firstLine(e) + ')' }); }
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
});
`;

type Request =
  | { op: 'load'; file: string; code: string }
  | { op: 'config'; cpus: number; seed: number }
  | { op: 'fail'; seed: number }
  | { op: 'program'; ctx: ScenarioContext };

/** One scenario file in its own thread, called synchronously. */
class Host {
  private readonly port: MessagePort;
  /** [answered (1) or the thread ended (2), the thread's /proc task id (0 until it runs, -1 if there is none)] */
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
    const cpu0 = this.sample()?.cpuMs ?? null;
    let last = cpu0;
    let blockedSince: number | null = null;
    let why: string | null = null;
    for (;;) {
      if (Atomics.wait(this.flag, 0, 0, 100) !== 'timed-out') break;
      const now = Date.now();
      const st = this.sample();
      if (st === null && this.flag[1]! > 0) {
        why = 'ended its thread (process.exit, or it crashed)';
        break;
      }
      const cpu = st?.cpuMs ?? null;
      const used = cpu !== null && cpu0 !== null ? cpu - cpu0 : (now - start) / (WALL_FALLBACK_MS / SCENARIO_CALL_LIMIT_MS);
      if (used >= SCENARIO_CALL_LIMIT_MS) {
        why = `did not return within ${SCENARIO_CALL_LIMIT_MS / 1000} s of CPU time: an endless loop`;
        break;
      }
      // asleep without using CPU time: not waiting for a CPU (a runnable thread is R), waiting for
      // something that may never come
      if (st !== null && st.state !== 'R' && cpu === last) {
        blockedSince ??= now;
        if (now - blockedSince >= SCENARIO_BLOCKED_LIMIT_MS) {
          why = `was blocked for ${SCENARIO_BLOCKED_LIMIT_MS / 1000} s without using CPU time (Atomics.wait, a synchronous child process, a read that never ends)`;
          break;
        }
      } else blockedSince = null;
      last = cpu;
      // (and a backstop in wall time, so that nothing waits for ever whatever the thread does)
      if (now - start >= SCENARIO_WALL_LIMIT_MS) {
        why = `did not return within ${SCENARIO_WALL_LIMIT_MS / 1000} s of wall time (it neither blocked for long nor used 10 s of CPU time: sleeping and working in turn)`;
        break;
      }
      const end = callDeadline();
      if (end && now >= end) {
        this.stop();
        throw new ScenarioBudgetError(`scenario file ${this.arg}: ${what} was still running when the budget ended`);
      }
    }
    if (this.flag[0] === 2) why = 'ended its thread (process.exit, or an error thrown outside any call)';
    const msg = why === null ? receiveMessageOnPort(this.port)?.message as { value?: unknown; error?: string } | undefined : undefined;
    if (!msg) {
      this.stop();
      bad(this.arg, `${what} ${why ?? 'gave no answer (out of memory?)'}`);
    }
    if (msg.error !== undefined) bad(this.arg, `${what} ${msg.error}`);
    return msg.value;
  }

  private stop(): void {
    this.dead = true;
    // a synchronous child process it waits for would keep the thread (and so the command) alive
    // past terminate(): its children, and theirs (a shell's), go first
    const tid = this.flag[1]!;
    if (tid > 0) for (const pid of descendants(`/proc/${process.pid}/task/${tid}/children`)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    void this.worker.terminate();
  }

  /** The thread's CPU time so far (ms) and its state (R running, S sleeping...), or null where they cannot be read. */
  private sample(): { cpuMs: number; state: string } | null {
    const tid = this.flag[1]!;
    if (tid <= 0) return tid === 0 ? { cpuMs: 0, state: 'R' } : null;
    try {
      const stat = readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return { cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / USER_HZ, state: f[0]! };
    } catch {
      return null;
    }
  }
}

/** The processes a thread started, and theirs, from /proc's children lists (none where there is no /proc). */
function descendants(childrenFile: string): number[] {
  const out: number[] = [];
  const files = [childrenFile];
  while (files.length && out.length < 10_000) {
    let text = '';
    try {
      text = readFileSync(files.pop()!, 'utf8');
    } catch {
      continue;
    }
    for (const w of text.trim().split(/\s+/).filter(Boolean)) {
      const pid = Number(w);
      out.push(pid);
      try {
        for (const t of readdirSync(`/proc/${pid}/task`)) files.push(`/proc/${pid}/task/${t}/children`);
      } catch {
        // it ended
      }
    }
  }
  return out;
}

const loaded = new Map<string, Scenario>();

/** Does a scenario argument name a file rather than a built-in scenario? */
export function isScenarioPath(arg: string): boolean {
  return arg.includes('/') || /\.(ts|mts|js|mjs|cjs)$/.test(arg);
}

function bad(path: string, why: string): never {
  throw new UsageError(`scenario file ${path}: ${why}`);
}

/** The file bundled into one CommonJS module, in memory (no temporary file: TMPDIR need not exist). */
function compile(arg: string, path: string): string {
  try {
    const r = buildSync({ entryPoints: [path], bundle: true, platform: 'node', format: 'cjs', write: false, logLevel: 'silent', target: 'node20' });
    return r.outputFiles[0]!.text;
  } catch (e) {
    const first = (e as { errors?: { text: string; location?: { line: number; column: number } | null }[] }).errors?.[0];
    bad(arg, first ? `${first.location ? `line ${first.location.line}: ` : ''}${first.text}` : 'does not compile');
  }
}

interface Shape {
  name: unknown; description: unknown; fuzzOps: unknown; minOps: unknown;
  config: string; program: string; fail: string; boot: string;
}

/**
 * A config's keys of the types the machine takes (a value of the wrong type
 * would reach the machine's planner as something it cannot read), and the
 * CPU count it was asked for. Unknown keys and ranges are the planner's to
 * refuse (ConfigError).
 */
function checkConfigTypes(arg: string, what: string, cfg: Record<string, unknown>, cpus: number): void {
  for (const [k, v] of Object.entries(cfg)) {
    if (!Object.hasOwn(DEFAULTS, k) || v === undefined) continue;
    const want = (DEFAULTS as unknown as Record<string, unknown>)[k];
    const ok = Array.isArray(want) ? Array.isArray(v) && v.length <= MAX_CPUS && v.every((x) => Number.isSafeInteger(x)) : typeof v === typeof want && (typeof v !== 'number' || Number.isFinite(v));
    if (!ok) bad(arg, `${what} returned ${k}: ${quote(JSON.stringify(v) ?? String(v))}, expected ${Array.isArray(want) ? 'a list of integers, one per CPU' : `a ${typeof want}`}`);
  }
  if (cfg.cpus !== undefined && cfg.cpus !== cpus) bad(arg, `${what} returned cpus: ${String(cfg.cpus)}: a scenario runs on the CPUs it is given (--cpus), so it must return cpus: ${cpus} or leave it out`);
}

/** Load, check and register the scenario a file exports (once per path). */
export function loadScenarioFile(arg: string): Scenario {
  const path = resolve(arg);
  const done = loaded.get(path);
  if (done) return done;
  // a regular file of a sane size (esbuild would wait on a FIFO for ever)
  closeSync(openInput(arg, SCENARIO, (why) => new UsageError(`scenario file ${why.replace(/^cannot read (.*): (\w+)$/, '$1: $2')}`)).fd);
  const code = compile(arg, path);
  const host = new Host(arg);
  const shape = host.call({ op: 'load', file: path, code }, 'loading it') as Shape;
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
      const what = `config(${cpus}, ${seed})`;
      const cfg = host.call({ op: 'config', cpus, seed }, what);
      if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) bad(arg, `${what} returned no object`);
      checkConfigTypes(arg, what, cfg as Record<string, unknown>, cpus);
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
