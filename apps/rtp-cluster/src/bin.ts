#!/usr/bin/env -S node --max-semi-space-size=64
/**
 * `rtp-cluster`: the standalone balancer daemon, with rtp_cluster.py's flags. The `#!` line
 * carries DAEMON_NODE_FLAGS (options.ts; a test keeps the two equal).
 * Exit codes: 0 ok (and `-d` with a valid configuration), 2 bad flags or configuration,
 * 1 a failure at start-up.
 */
import { spawn } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RtpClusterConfigError } from '@sipedge/rtp-cluster';
import pino from 'pino';
import pinoPretty from 'pino-pretty';
import { startDaemon } from './daemon.js';
import { daemonNodeArgs, parseDaemonArgs, readConfigFile, USAGE, UsageError } from './options.js';

const version = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

/** One line per event on stdout, coloured on a terminal. */
function prettyStream(): pinoPretty.PrettyStream {
  return pinoPretty({
    destination: 1,
    sync: true,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
  });
}

async function main(argv: string[]): Promise<number> {
  let options: ReturnType<typeof parseDaemonArgs>;
  try {
    options = parseDaemonArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`rtp-cluster: ${err.message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (options.version) {
    process.stdout.write(`rtp-cluster ${version}\n`);
    return 0;
  }

  let config: ReturnType<typeof readConfigFile>;
  try {
    config = readConfigFile(options.configFile);
  } catch (err) {
    const why = err instanceof RtpClusterConfigError ? err.message : (err as Error).message;
    process.stderr.write(`rtp-cluster: ${options.configFile}: ${why}\n`);
    return 2;
  }
  if (options.dryRun) {
    const members = config.clusters.reduce((n, c) => n + c.rtpproxies.length, 0);
    process.stdout.write(
      `rtp-cluster: ${options.configFile}: ${config.clusters.length} clusters and ${members} RTP proxies, configuration OK\n`,
    );
    return 0;
  }

  if (!options.foreground) {
    // rtp_cluster daemonizes: run ourselves detached in the foreground, logging to the file
    const log = openSync(options.logFile, 'a');
    const self = [fileURLToPath(import.meta.url), ...argv, '-f'];
    const child = spawn(process.execPath, [...daemonNodeArgs(process.execArgv), ...self], {
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...process.env, SIPEDGE_RTPC_LOGFILE: options.logFile },
    });
    child.unref();
    return 0;
  }

  const logFile = process.env.SIPEDGE_RTPC_LOGFILE;
  // the log file of a detached daemon stays JSON lines (rotated with SIGUSR1)
  const pretty =
    logFile === undefined &&
    (options.logFormat === 'pretty' ||
      (options.logFormat === 'auto' && process.stdout.isTTY === true));
  const destination =
    logFile === undefined ? pino.destination(1) : pino.destination({ dest: logFile, sync: false });
  const logger = pino(
    { level: options.logLevel, base: { name: 'rtp-cluster' } },
    pretty ? prettyStream() : destination,
  );
  logger.info({ config: options.configFile }, 'reading config');

  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  try {
    daemon = await startDaemon(options, logger, config);
  } catch (err) {
    logger.fatal({ err }, 'start-up failed');
    destination.flushSync?.();
    process.stderr.write(`rtp-cluster: ${(err as Error).message}\n`);
    return 1;
  }
  for (const [name, sockets] of daemon.controlSockets) {
    process.stdout.write(`rtp-cluster: cluster ${name} listening on ${sockets.join(', ')}\n`);
  }
  if (daemon.miUrl !== undefined) process.stdout.write(`rtp-cluster: MI at ${daemon.miUrl}\n`);
  process.stdout.write(`rtp-cluster: ready, admin socket ${options.cliSocket}\n`);

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'stopping');
      daemon
        .stop()
        .catch((err: unknown) => logger.error({ err }, 'stop failed'))
        .finally(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGUSR1', () => {
      if (logFile !== undefined) destination.reopen();
      logger.info({}, 'log file reopened');
    });
    process.on('SIGHUP', () => {
      daemon.reload().catch((err: unknown) => logger.error({ err }, 'reload failed'));
    });
  });
  destination.flushSync?.();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`rtp-cluster: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
