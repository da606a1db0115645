import type { Logger } from 'pino';

/** Something to undo when the node stops, or when its start fails half way. */
export type Cleanup = () => Promise<void> | void;

/** The undo steps of a node's start, run in reverse order of registration. */
export class Cleanups {
  readonly #steps: Cleanup[] = [];
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  push(step: Cleanup): void {
    this.#steps.push(step);
  }

  /** Runs every step, last first; a failing step is logged and the others still run. */
  async run(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        await step();
      } catch (err) {
        this.#logger.warn({ err }, 'cleanup after a failed start');
      }
    }
  }
}
