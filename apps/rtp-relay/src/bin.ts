#!/usr/bin/env node
/**
 * sipedge-rtp-relay: runs in the foreground, logs to stderr (one line per event on a terminal,
 * JSON lines otherwise: `--log-format`), prints one ready line to stdout once every control
 * socket is bound, and exits 0 on SIGTERM/SIGINT.
 */
import { readFileSync } from 'node:fs';
import { type Relay, startRelay } from '@sipedge/rtp-relay';
import { LOOPBACK_SOURCES, reachableBeyondLoopback } from '@sipedge/rtpp';
import { pino } from 'pino';
import pinoPretty from 'pino-pretty';
import { parseRelayArgs, USAGE } from './config.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

const cli = parseRelayArgs(process.argv.slice(2));
if (cli.kind === 'help') {
  process.stdout.write(USAGE);
  process.exit(0);
}
if (cli.kind === 'version') {
  process.stdout.write(`sipedge-rtp-relay ${version()}\n`);
  process.exit(0);
}
if (cli.kind === 'error') {
  process.stderr.write(`sipedge-rtp-relay: ${cli.message}\n\n${USAGE}`);
  process.exit(2);
}
const config = cli.config;
const pretty =
  config.logFormat === 'pretty' || (config.logFormat === 'auto' && process.stderr.isTTY === true);
const logger = pino(
  { name: 'sipedge-rtp-relay', level: config.logLevel },
  pretty
    ? pinoPretty({
        destination: 2,
        sync: true,
        singleLine: true,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname',
      })
    : pino.destination(2),
);

// Signal handlers go in before anything is bound, so a SIGTERM that arrives right after the
// ready line (or during start-up) is a clean shutdown, never the default kill.
let relay: Relay | undefined;
let exiting = false;
const shutdown = (signal: string): void => {
  if (exiting) return;
  exiting = true;
  logger.info({ signal }, 'shutting down');
  const force = setTimeout(() => process.exit(1), 5000);
  force.unref();
  void (relay?.stop() ?? Promise.resolve()).then(() => {
    logger.flush();
    process.exit(0);
  });
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

try {
  relay = await startRelay(config, { logger });
  if (exiting) {
    // a signal came while binding: stop what was just started
    await relay.stop();
    process.exit(0);
  }
  const open = relay.control.filter(reachableBeyondLoopback);
  if (open.length > 0 && config.allowedSources.length === LOOPBACK_SOURCES.length) {
    logger.warn(
      { control: open },
      'control socket reachable from other hosts, but only loopback may send commands: add --allow',
    );
  }
  const media = [config.ipv4, config.ipv6].filter((x) => x !== undefined).join(',');
  process.stdout.write(
    `sipedge-rtp-relay ready control=${relay.control.join(',')} media=${media} ports=${config.portMin}-${config.portMax} pid=${process.pid}\n`,
  );
} catch (e) {
  logger.fatal({ err: (e as Error).message }, 'cannot start');
  process.stderr.write(`sipedge-rtp-relay: ${(e as Error).message}\n`);
  process.exit(1);
}
