/**
 * The daemon's pino logger: pretty on a terminal when pino-pretty is installed, JSON
 * otherwise (or as `logging.format` says).
 */
import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';
import type { NodeConfig } from './config.js';

/** Whether the optional pino-pretty package can be loaded from here. */
export function prettyAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/** The format actually used for a `logging` section on this stdout. */
export function logFormat(
  logging: NodeConfig['logging'],
  isTty: boolean = process.stdout.isTTY === true,
): 'json' | 'pretty' {
  if (logging.format === 'json') return 'json';
  if (!prettyAvailable()) return 'json';
  if (logging.format === 'pretty') return 'pretty';
  return isTty ? 'pretty' : 'json';
}

export function createLogger(logging: NodeConfig['logging'], name: string): Logger {
  const options = { level: logging.level, base: { name } };
  if (logFormat(logging) === 'pretty') {
    return pino(options, pino.transport({ target: 'pino-pretty', options: { colorize: true } }));
  }
  return pino(options, pino.destination({ dest: 1, sync: false }));
}
