/**
 * The answer to a request that does not parse. RFC 3261 §8.2 wants a 400 wherever a server
 * can build one, and a client matches a response by its Via branch and CSeq: so the request
 * line and the rows a response copies (Via, From, To, Call-ID, CSeq, compact forms too) are
 * read leniently from the raw bytes and copied as they are, whatever else in the message is
 * broken. An ACK, a response, or bytes missing one of those rows get no answer.
 */
import { randomBytes } from 'node:crypto';

/** How much of a message is read for its rows (a header block longer than this gets no answer). */
const SCAN_BYTES = 16_384;

const REQUEST_LINE = /^([A-Za-z0-9.!%*_+`'~-]+) [^ ]+ SIP\/\d+\.\d+$/;

const COPIED: Readonly<Record<string, string>> = {
  via: 'via',
  v: 'via',
  from: 'from',
  f: 'from',
  to: 'to',
  t: 'to',
  'call-id': 'call-id',
  i: 'call-id',
  cseq: 'cseq',
};

/**
 * A `status reason` response to the request in `buf` that did not parse, or undefined when
 * none can be built. Via rows are copied in order; From, To, Call-ID and CSeq once each; To
 * gets a tag when it has none.
 */
export function responseToUnparseable(
  buf: Buffer,
  status: number,
  reason: string,
): Buffer | undefined {
  const text = buf.toString('latin1', 0, Math.min(buf.length, SCAN_BYTES)).replace(/^(\r?\n)+/, '');
  const end = text.search(/\r?\n\r?\n/);
  const lines = (end < 0 ? text : text.slice(0, end)).split(/\r?\n/);
  const method = REQUEST_LINE.exec(lines[0] ?? '')?.[1];
  if (method === undefined || method.toUpperCase() === 'ACK') return undefined;
  const rows = new Map<string, string[]>();
  let last: string[] | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const c = line.charCodeAt(0);
    if (c === 32 || c === 9) {
      // a folded continuation of the row before (RFC 3261 §7.3.1)
      if (last !== undefined) last[last.length - 1] += ` ${line.trim()}`;
      continue;
    }
    last = undefined;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const key = COPIED[line.slice(0, colon).trim().toLowerCase()];
    if (key === undefined) continue;
    const list = rows.get(key) ?? [];
    if (key !== 'via' && list.length > 0) continue;
    list.push(line);
    rows.set(key, list);
    last = list;
  }
  for (const key of ['via', 'from', 'to', 'call-id', 'cseq']) if (!rows.has(key)) return undefined;
  const to = rows.get('to')!;
  if (!/;\s*tag\s*=/i.test(to[0]!)) to[0] += `;tag=${randomBytes(4).toString('hex')}`;
  const out = [`SIP/2.0 ${status} ${reason}`];
  for (const key of ['via', 'from', 'to', 'call-id', 'cseq']) out.push(...rows.get(key)!);
  out.push('Content-Length: 0', '', '');
  return Buffer.from(out.join('\r\n'), 'latin1');
}
