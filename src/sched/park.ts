// Where an entity waits for the run token: the one place a controlled run
// gives its thread away. On the real threads it is a futex wait on the
// entity's wake word; in the in-thread engine, whose entities are
// coroutines of one thread, the build's suspending form (bin/suspend.js)
// makes its body a `yield` that hands the thread back to the engine, which
// resumes whichever entity holds the token. Every function that can reach
// this one becomes a generator there, and nothing else does.

/**
 * Sleep until `w[at]` is no longer `value` (or `ms` pass).
 * @suspend
 */
export function park(w: Int32Array, at: number, value: number, ms: number): void {
  Atomics.wait(w, at, value, ms);
}
