/**
 * MI throughput and latency: calls/s and p50/p99 over HTTP keep-alive and over WebSocket, at
 * concurrency 1 and 16, plus the in-process JSON-RPC engine. Server and client share this
 * process (and its CPU), on 127.0.0.1. BENCH_MS sets the time per case (default 2000).
 */
import { MiClient } from '../src/client/client.js';
import { createMiCore } from '../src/core/create.js';
import { handleJsonRpc } from '../src/rpc/engine.js';
import { MiServer } from '../src/transport/server.js';

const DURATION = Number(process.env.BENCH_MS ?? 2000);
const METHOD = 'sr_get_status';
const PARAMS = ['core'];

interface Figures {
  calls: number;
  perSec: number;
  p50: number;
  p99: number;
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function measure(concurrency: number, call: () => Promise<unknown>): Promise<Figures> {
  // warm-up
  for (let i = 0; i < 200; i++) await call();
  const lat: number[] = [];
  const start = performance.now();
  const end = start + DURATION;
  const worker = async (): Promise<void> => {
    while (performance.now() < end && lat.length < 5_000_000) {
      const t0 = performance.now();
      await call();
      lat.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - start) / 1000;
  const sorted = Float64Array.from(lat).sort();
  return {
    calls: lat.length,
    perSec: lat.length / elapsed,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
  };
}

function print(name: string, f: Figures): void {
  console.log(
    `${name.padEnd(34)} ${Math.round(f.perSec).toString().padStart(8)} calls/s   p50 ${f.p50.toFixed(3)} ms   p99 ${f.p99.toFixed(3)} ms   (${f.calls} calls)`,
  );
}

async function main(): Promise<void> {
  const core = createMiCore({ eventSockets: false });
  const server = new MiServer({
    registry: core.registry,
    events: core.events,
    stats: core.stats,
    port: 0,
    maxConnections: 64,
  });
  await server.start();
  console.log(
    `MI benchmark: ${METHOD} ${JSON.stringify(PARAMS)}, ${DURATION} ms per case, node ${process.version}`,
  );
  try {
    const body = JSON.stringify({ jsonrpc: '2.0', method: METHOD, params: PARAMS, id: 1 });
    print('engine in-process (c=1)', await measure(1, () => handleJsonRpc(core.registry, body)));
    for (const c of [1, 16]) {
      const http = new MiClient({ url: server.url, maxSockets: c });
      print(`HTTP keep-alive (c=${c})`, await measure(c, () => http.call(METHOD, PARAMS)));
      http.close();
    }
    for (const c of [1, 16]) {
      const ws = new MiClient({ url: server.wsUrl });
      print(`WebSocket, one connection (c=${c})`, await measure(c, () => ws.call(METHOD, PARAMS)));
      ws.close();
    }
  } finally {
    await server.stop();
  }
}

await main();
