/** The mean of the last `size` samples (store round trips): a ring, no array shifting. */
export class RecentMean {
  readonly #samples: number[] = [];
  readonly #size: number;
  #next = 0;
  #sum = 0;

  constructor(size = 64) {
    this.#size = size;
  }

  add(sample: number): void {
    if (this.#samples.length < this.#size) this.#samples.push(sample);
    else {
      this.#sum -= this.#samples[this.#next] ?? 0;
      this.#samples[this.#next] = sample;
    }
    this.#sum += sample;
    this.#next = (this.#next + 1) % this.#size;
  }

  /** 0 before the first sample. */
  get mean(): number {
    return this.#samples.length === 0 ? 0 : this.#sum / this.#samples.length;
  }
}
