/**
 * The daemon's pino logger: on a terminal one coloured line per event (pino-pretty), JSON lines
 * otherwise, or as `logging.format` says.
 */
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { NodeConfig } from './config.js';

/** The format used for a `logging` section on this stdout: `auto` is pretty on a terminal. */
export function logFormat(
  logging: NodeConfig['logging'],
  isTty: boolean = process.stdout.isTTY === true,
): 'json' | 'pretty' {
  if (logging.format !== 'auto') return logging.format;
  return isTty ? 'pretty' : 'json';
}

/**
 * pino-pretty as people read a terminal: one line per event (`[12:00:01.234] INFO (node1): SIP
 * listening {"proto":"udp",…}`), colours where the terminal has them (or `FORCE_COLOR` says),
 * written synchronously so that nothing is lost at exit.
 */
export function prettyStream(
  destination: 1 | 2 | NodeJS.WritableStream = 1,
  colorize?: boolean,
): pretty.PrettyStream {
  return pretty({
    destination,
    sync: true,
    ...(colorize === undefined ? {} : { colorize }),
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
  });
}

export function createLogger(logging: NodeConfig['logging'], name: string): Logger {
  const options = { level: logging.level, base: { name } };
  if (logFormat(logging) === 'pretty') return pino(options, prettyStream(1));
  return pino(options, pino.destination({ dest: 1, sync: false }));
}
