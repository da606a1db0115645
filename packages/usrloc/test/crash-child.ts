/**
 * Crash-test child: takes REGISTERs as fast as it can on a write-through SQLite location and
 * prints the index of every registration it answered 200, until it is killed (or 1,000,000).
 * Usage: node dist/test/crash-child.js <db path> [single|group]
 */
import { parseMessage } from '@sipedge/sip';
import { Location, Registrar, SqliteStore } from '../src/index.js';

const path = process.argv[2];
const group = process.argv[3] === 'group';
if (path === undefined) {
  process.stderr.write('usage: crash-child <db>\n');
  process.exit(2);
}
const location = new Location({ store: new SqliteStore({ path, mode: 'write-through' }) });
const registrar = new Registrar(location);

function register(i: number): Buffer {
  return Buffer.from(
    `REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK${i}\r\n` +
      `To: <sip:user${i}@example.com>\r\nFrom: <sip:user${i}@example.com>;tag=${i}\r\n` +
      `Call-ID: crash-${i}\r\nCSeq: 1 REGISTER\r\nContact: <sip:user${i}@192.0.2.1:5060>\r\n` +
      'Content-Length: 0\r\n\r\n',
  );
}

let i = 0;
process.stdout.write('ready\n');
function batch(): void {
  let out = '';
  if (group) {
    const items = [];
    const first = i;
    for (let k = 0; k < 32 && i < 1_000_000; k++, i++)
      items.push({ request: parseMessage(register(i)) });
    const res = registrar.saveMany(items);
    let acks = '';
    res.forEach((r, k) => {
      if (r.status === 200) acks += `${first + k}\n`;
      else out += `error ${first + k} ${r.status}\n`;
    });
    if (acks !== '') process.stdout.write(acks);
  } else {
    for (let k = 0; k < 50 && i < 1_000_000; k++, i++) {
      const res = registrar.save(parseMessage(register(i)));
      // one synchronous write per answered registration (pipes are synchronous on Linux)
      if (res.status === 200) process.stdout.write(`${i}\n`);
      else out += `error ${i} ${res.status}\n`;
    }
  }
  if (out !== '') process.stderr.write(out);
  if (i < 1_000_000) setImmediate(batch);
}
batch();
