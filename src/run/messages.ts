// What crosses the thread boundary besides the control block
// (src/run/control.ts): the tasks a pool thread is given, the messages a
// session receives, and what a thread sends back. Plain data only: custom
// error classes cross threads as plain Error, so violations travel as data.

import type { MessagePort } from 'node:worker_threads';
import type { MachineSpec } from './machine.ts';
import type { Violation } from '../report/violation.ts';
import type { RunSpec } from './spec.ts';
import type { RunResult } from '../report/result.ts';

/** A thread's long-lived session (src/run/thread/session.ts). */
export interface SessionTask {
  kind: 'session';
  ctl: SharedArrayBuffer;
  thread: number;
  port: MessagePort;
}

/** One locking self-test program (src/run/thread/selftest.ts). */
export interface SelftestTask {
  kind: 'selftest';
  sab: SharedArrayBuffer;
  spec: MachineSpec;
  cpu: number;
  program: string;
  args: number[];
}

export type CpuTask = SelftestTask | SessionTask;

/** One whole controlled run for the in-thread engine's pool thread (src/run/thread/inthread.ts). */
export interface InThreadRun {
  spec: RunSpec;
  /** Wall time (Date.now()) the run must end by, as incomplete if need be (0: none). */
  budgetEnd: number;
  /** Play the replay that verifies the run's claimed findings with their fixes too, right after it (Engine.verifyKnown). */
  verify: boolean;
}

/** What the in-thread engine's thread is given: runs to play in turn. */
export interface InThreadTask {
  runs: InThreadRun[];
  /** The engine's stop word (Int32Array[1]): non-zero asks the runs to stop (interrupted). */
  stop: SharedArrayBuffer;
  /** A word per run (Int32Array[runs.length]): non-zero, its caller no longer wants it (not started: not played; played: no fix replay). */
  drop: SharedArrayBuffer;
}

/** What it answers for each run: its result, that it was dropped before it started, or what went wrong (an internal error, as text). */
export type InThreadAnswer = { result: RunResult; fixReplay?: FixReplay } | { dropped: true } | { error: string };

/** The replay with fixes a run's thread played ahead (planFixReplay of the run). */
export interface FixReplay {
  /** The replay's whole set of fixes (the run's own and those verifying it). */
  fixes: number;
  result: RunResult;
}

export interface CpuTaskResult {
  cpu: number;
  violations: Violation[];
  log: string[];
  values: number[];
  oops: boolean;
  stopped: boolean;
}

/** Messages to a session: a machine to attach, the program buffer. */
export type SessionMessage =
  | { type: 'machine'; id: number; spec: MachineSpec; sab: SharedArrayBuffer }
  | { type: 'forget'; id: number }
  | { type: 'programs'; sab: SharedArrayBuffer };

/** What a thread sends back after a run that produced violations or kernel log lines. */
export interface RunReport {
  gen: number;
  thread: number;
  violations: Violation[];
  log: string[];
}
