// The image's HEALTHCHECK: MI `uptime` over HTTP with Node's fetch; exit 0 when it answers a
// result, 1 otherwise. SIPEDGE_MI_URL and SIPEDGE_MI_TOKEN as for the sipedge CLI.
const { env } = process;
const url = env.SIPEDGE_MI_URL ?? 'http://127.0.0.1:8888/mi';
const token = env.SIPEDGE_MI_TOKEN;
try {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'uptime' }),
    signal: AbortSignal.timeout(2000),
  });
  const reply = await response.json();
  process.exit(response.ok && reply.result !== undefined ? 0 : 1);
} catch (err) {
  process.stderr.write(`MI ${url}: ${err.message}\n`);
  process.exit(1);
}
