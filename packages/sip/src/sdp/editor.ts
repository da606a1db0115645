import { SipParseError } from '../errors.js';

interface Line {
  text: string;
  readonly eol: string;
}

export interface SdpConnection {
  readonly lineIndex: number;
  readonly addrType: string;
  readonly address: string;
}

export interface SdpMedia {
  readonly index: number;
  readonly lineIndex: number;
  readonly type: string;
  readonly port: number;
  readonly proto: string;
  /** This section's own c= line, if any. */
  readonly connection: SdpConnection | undefined;
  /** `a=rtcp:` (RFC 3605) port and optional address. */
  readonly rtcp: { lineIndex: number; port: number; address: string | undefined } | undefined;
}

/**
 * A line-preserving SDP editor for media anchoring: it rewrites c=, m= ports and a=rtcp and
 * leaves every other line — order, case, line endings — exactly as it was.
 */
export class SdpEditor {
  readonly #lines: Line[] = [];

  constructor(body: Buffer | string) {
    const text = typeof body === 'string' ? body : body.toString('latin1');
    let pos = 0;
    while (pos < text.length) {
      const nl = text.indexOf('\n', pos);
      if (nl < 0) {
        this.#lines.push({ text: text.slice(pos), eol: '' });
        break;
      }
      const cr = nl > pos && text.charCodeAt(nl - 1) === 13;
      this.#lines.push({ text: text.slice(pos, cr ? nl - 1 : nl), eol: cr ? '\r\n' : '\n' });
      pos = nl + 1;
    }
    if (this.#lines.length === 0 || !this.#lines[0]!.text.startsWith('v=')) {
      throw new SipParseError('header-syntax', 'SDP must start with v=');
    }
  }

  get lines(): readonly string[] {
    return this.#lines.map((l) => l.text);
  }

  /** The session-level c= line, if any. */
  sessionConnection(): SdpConnection | undefined {
    for (let i = 0; i < this.#lines.length; i++) {
      const t = this.#lines[i]!.text;
      if (t.startsWith('m=')) return undefined;
      if (t.startsWith('c=')) return parseConnection(t, i);
    }
    return undefined;
  }

  media(): SdpMedia[] {
    const out: SdpMedia[] = [];
    let cur:
      | {
          index: number;
          lineIndex: number;
          type: string;
          port: number;
          proto: string;
          connection?: SdpConnection;
          rtcp?: SdpMedia['rtcp'];
        }
      | undefined;
    const flush = (): void => {
      if (cur !== undefined) out.push({ ...cur, connection: cur.connection, rtcp: cur.rtcp });
    };
    for (let i = 0; i < this.#lines.length; i++) {
      const t = this.#lines[i]!.text;
      if (t.startsWith('m=')) {
        flush();
        const parts = t.slice(2).split(' ');
        const port = Number.parseInt(parts[1] ?? '', 10);
        if (parts.length < 4 || !Number.isFinite(port))
          throw new SipParseError('header-syntax', `bad m= line '${t}'`);
        cur = { index: out.length, lineIndex: i, type: parts[0]!, port, proto: parts[2]! };
      } else if (cur !== undefined && t.startsWith('c=')) {
        cur.connection = parseConnection(t, i);
      } else if (cur !== undefined && t.startsWith('a=rtcp:')) {
        const parts = t.slice(7).split(' ');
        cur.rtcp = { lineIndex: i, port: Number.parseInt(parts[0] ?? '', 10), address: parts[3] };
      }
    }
    flush();
    return out;
  }

  /**
   * Rewrites the connection address: the session c= line and every media c= line, or only
   * media section `mediaIndex`'s own c= line (added after its m= line when it has none).
   */
  setConnection(address: string, options: { mediaIndex?: number } = {}): this {
    const addrType = address.includes(':') ? 'IP6' : 'IP4';
    const text = `c=IN ${addrType} ${address}`;
    if (options.mediaIndex === undefined) {
      const s = this.sessionConnection();
      if (s !== undefined)
        this.#lines[s.lineIndex]!.text = keepTtl(this.#lines[s.lineIndex]!.text, text);
      for (const m of this.media()) {
        if (m.connection !== undefined)
          this.#lines[m.connection.lineIndex]!.text = keepTtl(
            this.#lines[m.connection.lineIndex]!.text,
            text,
          );
      }
      return this;
    }
    const m = this.media()[options.mediaIndex];
    if (m === undefined) throw new RangeError(`no media section ${options.mediaIndex}`);
    if (m.connection !== undefined) this.#lines[m.connection.lineIndex]!.text = text;
    else this.#lines.splice(this.#insertAfter(m.lineIndex), 0, { text, eol: this.#eol() });
    return this;
  }

  /** Sets the port of media section `mediaIndex` on its m= line. */
  setMediaPort(mediaIndex: number, port: number): this {
    const m = this.media()[mediaIndex];
    if (m === undefined) throw new RangeError(`no media section ${mediaIndex}`);
    const line = this.#lines[m.lineIndex]!;
    const parts = line.text.split(' ');
    const slash = parts[1]!.indexOf('/');
    parts[1] = slash < 0 ? String(port) : `${port}${parts[1]!.slice(slash)}`;
    line.text = parts.join(' ');
    return this;
  }

  /** Rewrites an existing a=rtcp line of a media section (RFC 3605); adds one when `add`. */
  setRtcp(
    mediaIndex: number,
    port: number,
    address?: string,
    options: { add?: boolean } = {},
  ): this {
    const m = this.media()[mediaIndex];
    if (m === undefined) throw new RangeError(`no media section ${mediaIndex}`);
    const addr =
      address === undefined ? '' : ` IN ${address.includes(':') ? 'IP6' : 'IP4'} ${address}`;
    const text = `a=rtcp:${port}${addr}`;
    if (m.rtcp !== undefined) this.#lines[m.rtcp.lineIndex]!.text = text;
    else if (options.add === true)
      this.#lines.splice(this.#sectionEnd(m.lineIndex), 0, { text, eol: this.#eol() });
    return this;
  }

  #eol(): string {
    return this.#lines[0]!.eol || '\r\n';
  }

  /** Index where a c= line goes in a media section: after m=, i= (RFC 4566 §5 order). */
  #insertAfter(mLine: number): number {
    let i = mLine + 1;
    while (i < this.#lines.length && this.#lines[i]!.text.startsWith('i=')) i++;
    return i;
  }

  #sectionEnd(mLine: number): number {
    let i = mLine + 1;
    while (i < this.#lines.length && !this.#lines[i]!.text.startsWith('m=')) {
      if (this.#lines[i]!.text === '' && this.#lines[i]!.eol === '') break;
      i++;
    }
    return i;
  }

  toString(): string {
    let s = '';
    for (const l of this.#lines) s += l.text + l.eol;
    return s;
  }

  toBuffer(): Buffer {
    return Buffer.from(this.toString(), 'latin1');
  }
}

function parseConnection(t: string, lineIndex: number): SdpConnection {
  const parts = t.slice(2).split(' ');
  if (parts.length < 3) throw new SipParseError('header-syntax', `bad c= line '${t}'`);
  return { lineIndex, addrType: parts[1]!, address: parts[2]!.split('/')[0]! };
}

/** Keeps a multicast /ttl suffix when rewriting only the address. */
function keepTtl(old: string, next: string): string {
  const addr = old.split(' ')[2] ?? '';
  const slash = addr.indexOf('/');
  return slash < 0 ? next : next + addr.slice(slash);
}
