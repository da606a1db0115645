#!/usr/bin/env node
/**
 * `cluster-node --config FILE [--check]`.
 * Exit codes: 0 ok (and `--check` with a valid configuration), 2 bad flags or configuration
 * (the message names the key), 1 a failure at start-up.
 * Signals: SIGTERM/SIGINT stop gracefully; SIGHUP reloads the configuration file and re-reads
 * the TLS certificate files.
 */
import { readFileSync } from 'node:fs';
import { TlsConfigError } from '@sipedge/core';
import { loadNodeConfig, NodeConfigError } from './config.js';
import { createLogger, logFormat } from './logger.js';
import { startNode } from './node.js';
import { NodeTls } from './wiring/tls.js';

const USAGE = `usage: cluster-node --config FILE [--check]
  --config FILE   YAML or JSON configuration (environment SIPEDGE_<SECTION>__<KEY> overrides it)
  --check         validate the configuration and exit (0 valid, 2 invalid)
  --version       print the version
  --help          this text
`;

const version = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

interface Args {
  config?: string;
  check: boolean;
  help: boolean;
  version: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { check: false, help: false, version: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--config' || a === '-c') {
      const v = argv[++i];
      if (v === undefined) throw new NodeConfigError([`${a} needs a file`]);
      args.config = v;
    } else if (a.startsWith('--config=')) args.config = a.slice('--config='.length);
    else if (a === '--check') args.check = true;
    else if (a === '--help' || a === '-h') args.help = true;
    else if (a === '--version' || a === '-V') args.version = true;
    else throw new NodeConfigError([`unknown argument ${a}`]);
  }
  return args;
}

async function main(argv: readonly string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`cluster-node: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args.version) {
    process.stdout.write(`cluster-node ${version}\n`);
    return 0;
  }
  if (args.config === undefined) {
    process.stderr.write(`cluster-node: --config FILE is required\n${USAGE}`);
    return 2;
  }
  const file = args.config;
  let config: ReturnType<typeof loadNodeConfig>;
  try {
    config = loadNodeConfig(file, process.env);
    // every certificate, key and CA file the configuration names: readable, PEM, matching
    new NodeTls(config, file);
  } catch (err) {
    const problems =
      err instanceof NodeConfigError
        ? err.problems
        : err instanceof TlsConfigError
          ? [`tls: ${err.message}`]
          : undefined;
    if (problems === undefined) throw err;
    process.stderr.write(
      `cluster-node: bad configuration ${file}:\n${problems.map((p) => `  ${p}`).join('\n')}\n`,
    );
    return 2;
  }
  if (args.check) {
    process.stdout.write(`cluster-node: ${file}: configuration OK (node ${config.node.id})\n`);
    return 0;
  }

  const name = config.node.name ?? `node${config.node.id}`;
  const logger = createLogger(config.logging, name);
  logger.info({ config: file, format: logFormat(config.logging) }, 'starting cluster-node');
  let node: Awaited<ReturnType<typeof startNode>>;
  try {
    node = await startNode(config, { logger, configFile: file, env: process.env, version });
  } catch (err) {
    logger.fatal({ err }, 'start-up failed');
    logger.flush();
    process.stderr.write(`cluster-node: start-up failed: ${(err as Error).message}\n`);
    return 1;
  }
  const out = (line: string) => process.stdout.write(`cluster-node[${name}]: ${line}\n`);
  for (const l of node.sipListeners) out(`SIP ${l.proto} ${l.address}:${l.port}`);
  out(`BIN ${node.binAddress}`);
  out(`MI ${node.miUrl}`);
  if (node.metricsUrl !== undefined) out(`metrics ${node.metricsUrl}`);
  for (const s of node.rtpControlSockets) out(`rtp control ${s}`);
  out(`ready pid=${process.pid}`);

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'stopping');
      node
        .stop()
        .catch((err: unknown) => logger.error({ err }, 'stop failed'))
        .finally(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      node.reload().then(
        (r) =>
          out(
            `reloaded: applied [${r.applied.join(', ')}], restart needed for [${r.needsRestart.join(', ')}]`,
          ),
        (err: unknown) => {
          const why =
            err instanceof NodeConfigError ? err.problems.join('; ') : (err as Error).message;
          out(`reload failed: ${why}`);
          logger.error({ err: why }, 'reload failed, configuration unchanged');
        },
      );
    });
  });
  logger.flush();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`cluster-node: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
