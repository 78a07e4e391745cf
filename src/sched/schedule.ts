// Schedules: what a controlled run decided at every scheduling point, as
// run-length pairs (action, count), where an action is entity*2 + irq (run
// that CPU or the kworker; irq = deliver one pending interrupt to it
// first). Printed as a compact string: unsigned LEB128 varints in base64url.

export type Schedule = number[]; // flat [action, count, action, count, ...]

export function encodeSchedule(s: Schedule): string {
  const bytes: number[] = [];
  for (const v of s) {
    let x = v >>> 0;
    do {
      const b = x & 0x7f;
      x >>>= 7;
      bytes.push(x ? b | 0x80 : b);
    } while (x);
  }
  return Buffer.from(bytes).toString('base64url');
}

export class ScheduleError extends Error {}

export function decodeSchedule(str: string): Schedule {
  if (!/^[A-Za-z0-9_-]*$/.test(str)) throw new ScheduleError('a schedule is base64url text');
  const bytes = Buffer.from(str, 'base64url');
  const out: number[] = [];
  let v = 0;
  let shift = 0;
  for (const b of bytes) {
    v |= (b & 0x7f) << shift;
    shift += 7;
    if (shift > 28) throw new ScheduleError('schedule varint too long');
    if (!(b & 0x80)) {
      out.push(v >>> 0);
      v = 0;
      shift = 0;
    }
  }
  if (shift !== 0) throw new ScheduleError('schedule ends in the middle of a number');
  if (out.length % 2) throw new ScheduleError('schedule has an odd number of values');
  for (let i = 1; i < out.length; i += 2) if (out[i] === 0) throw new ScheduleError('schedule has an empty run');
  return out;
}

/** Context switches in a schedule: runs that change the entity. */
export function switchesOf(s: Schedule): number {
  let n = 0;
  for (let i = 2; i < s.length; i += 2) if (s[i]! >> 1 !== s[i - 2]! >> 1) n++;
  return n;
}

export function stepsOf(s: Schedule): number {
  let n = 0;
  for (let i = 1; i < s.length; i += 2) n += s[i]!;
  return n;
}
