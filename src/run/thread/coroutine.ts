// How the in-thread engine starts an entity: `coroutine(playEntity(...))`.
// In the suspending form of the sources (bin/suspend.js) a call to a
// function that reaches a scheduling point returns its generator, and a
// call passed straight to a function tagged @coroutine is left that way
// (not delegated to): this function then hands the generator on. In the
// plain form there is no generator to hand on, and saying so is all it can
// do.

/** A started entity: resumed by the engine until it is done. */
export type Coroutine = Iterator<unknown, unknown, undefined>;

/**
 * The generator of a call to a function that reaches a scheduling point.
 * @coroutine
 */
export function coroutine(started: unknown): Coroutine {
  if (started === null || typeof started !== 'object' || typeof (started as Coroutine).next !== 'function') {
    throw new Error('the in-thread engine runs only from the suspending form of the sources (dist/inthread-worker.js, made by bin/build.js)');
  }
  return started as Coroutine;
}
