/**
 * RTP/RTCP port pairs from the `-m`/`-M` range: the RTP port is even, RTCP is RTP + 1. A cursor
 * walks the range round-robin, so a freed pair is handed out again once the cursor comes back to
 * it, and a recently freed pair is not reused at once (stray packets of the old call go nowhere).
 */
export class PortRange {
  readonly min: number;
  readonly max: number;
  readonly #used = new Set<number>();
  #cursor: number;

  constructor(min: number, max: number) {
    const first = min % 2 === 0 ? min : min + 1;
    if (
      !Number.isInteger(min) ||
      !Number.isInteger(max) ||
      first < 1 ||
      max > 65535 ||
      first + 1 > max
    ) {
      throw new RangeError(`port range ${min}-${max} holds no even/odd pair`);
    }
    this.min = first;
    this.max = max;
    this.#cursor = first;
  }

  /** How many pairs the range holds. */
  get capacity(): number {
    return Math.floor((this.max - this.min + 1) / 2);
  }

  get inUse(): number {
    return this.#used.size;
  }

  /**
   * Reserves the next free pair for which `tryBind(rtpPort)` resolves to a value (it resolves
   * undefined when the kernel refused the port, e.g. another program holds it). Resolves
   * undefined when every pair was tried.
   */
  async allocate<T>(
    tryBind: (rtpPort: number) => Promise<T | undefined>,
  ): Promise<{ port: number; value: T } | undefined> {
    const n = this.capacity;
    for (let tried = 0; tried < n; tried++) {
      const port = this.#cursor;
      this.#cursor = port + 2 + 1 > this.max ? this.min : port + 2;
      if (this.#used.has(port)) continue;
      this.#used.add(port);
      const value = await tryBind(port);
      if (value !== undefined) return { port, value };
      this.#used.delete(port);
    }
    return undefined;
  }

  release(port: number): void {
    this.#used.delete(port);
  }
}
