/**
 * The part of pino's API that sipedge's libraries log through: a pino logger (or a child of
 * one) fits as it is. The first argument is the structured part (an object, or an error),
 * the second the message.
 */
export interface Logger {
  debug(obj: unknown, msg?: string): void;
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
}

function drop(): void {}

/** A logger that drops everything: what a library logs to when it is given none. */
export const noopLogger: Logger = Object.freeze({
  debug: drop,
  info: drop,
  warn: drop,
  error: drop,
});
