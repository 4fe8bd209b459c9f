/** How reconnection waits: exponential, capped, with jitter. */
export interface BackoffOptions {
  /** The first delay, in ms (default 250). */
  initialDelay?: number;
  /** The largest delay, in ms (default 10 000). */
  maxDelay?: number;
  /** Each failed attempt multiplies the delay by this (default 2). */
  factor?: number;
  /** The share of each delay that is random, 0 to 1 (default 0.5: a delay of d waits between
   * d/2 and d), so that many clients cut off together do not come back together. */
  jitter?: number;
}

/** The delay before reconnection attempt `attempt` (0 for the first retry). */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialDelay ?? 250;
  const max = options.maxDelay ?? 10_000;
  const factor = options.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0.5));
  const ceiling = Math.min(max, initial * Math.pow(factor, Math.max(0, attempt)));
  return Math.round(ceiling * (1 - jitter * random()));
}
