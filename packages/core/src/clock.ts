/** What `Clock.setTimeout` returns, to be given back to `Clock.clearTimeout` and nothing else. */
export type TimerHandle = unknown;

/**
 * Time and timers, injected so that tests and the simulators run on virtual time
 * (`VirtualClock` from `@sipedge/core/testing`).
 *
 * `now()` is in milliseconds. Which instant it counts from belongs to the clock: a time read
 * from one clock is compared only with times read from the same clock. `setTimeout` calls
 * `fn` once, `ms` milliseconds from now (0 for a negative `ms`), unless `clearTimeout` is
 * called with its handle first; clearing a fired or cleared timer does nothing.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

function unrefTimeout(fn: () => void, ms: number): TimerHandle {
  const timer = setTimeout(fn, ms);
  timer.unref();
  return timer;
}

function clearNodeTimeout(handle: TimerHandle): void {
  clearTimeout(handle as NodeJS.Timeout);
}

/**
 * Wall-clock time (`Date.now()`, milliseconds since the epoch), for times that are shown,
 * stored or sent: expiry dates, timestamps in reports. Its timers are Node's, unref'd: a
 * library's timer never keeps the process alive by itself.
 */
export const systemClock: Clock = Object.freeze({
  now: (): number => Date.now(),
  setTimeout: unrefTimeout,
  clearTimeout: clearNodeTimeout,
});

/**
 * Monotonic time (`performance.now()`, milliseconds since the process started), for durations
 * that must not jump when the wall clock is set: retransmit schedules, round-trip times,
 * TTLs. Its timers are the same unref'd Node timers as `systemClock`'s.
 */
export const monotonicClock: Clock = Object.freeze({
  now: (): number => performance.now(),
  setTimeout: unrefTimeout,
  clearTimeout: clearNodeTimeout,
});
