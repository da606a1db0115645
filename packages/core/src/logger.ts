/**
 * The part of pino's API that sipedge's libraries log through: a pino logger (or a child of
 * one) fits as it is. The first argument is the structured part, an object (an error goes in
 * as `{ err }`), the second the message.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

function drop(): void {}

/** A logger that drops everything: what a library logs to when it is given none. */
export const noopLogger: Logger = Object.freeze({
  debug: drop,
  info: drop,
  warn: drop,
  error: drop,
});
