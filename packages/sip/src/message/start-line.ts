/** The start line: a request line or a status line, checked as RFC 3261 §7.1 and §7.2 write it. */
import { SipParseError } from '../errors.js';
import { isTokenChar } from './params.js';

export interface StartLine {
  isRequest: boolean;
  method: string;
  uri: string;
  status: number;
  reason: string;
}

export function parseStartLine(line: string): StartLine {
  if (line.length === 0) throw new SipParseError('start-line', 'empty start line');
  if (line.startsWith('SIP/')) {
    const sp1 = line.indexOf(' ');
    if (sp1 < 0) throw new SipParseError('start-line', 'status line without code');
    checkVersion(line.slice(0, sp1));
    const sp2 = line.indexOf(' ', sp1 + 1);
    const code = line.slice(sp1 + 1, sp2 < 0 ? line.length : sp2);
    if (!isStatusCode(code)) {
      throw new SipParseError('status-code', `bad status code '${code.slice(0, 20)}'`);
    }
    return {
      isRequest: false,
      method: '',
      uri: '',
      status: Number(code),
      reason: sp2 < 0 ? '' : line.slice(sp2 + 1),
    };
  }
  const sp1 = line.indexOf(' ');
  const sp2 = sp1 < 0 ? -1 : line.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || line.indexOf(' ', sp2 + 1) >= 0) {
    throw new SipParseError('start-line', 'request line must be METHOD SP URI SP VERSION');
  }
  const method = line.slice(0, sp1);
  for (let i = 0; i < method.length; i++) {
    if (!isTokenChar(method.charCodeAt(i))) throw new SipParseError('method', 'bad method token');
  }
  const uri = line.slice(sp1 + 1, sp2);
  if (uri.length === 0) throw new SipParseError('request-uri', 'empty Request-URI');
  checkVersion(line.slice(sp2 + 1));
  return { isRequest: true, method, uri, status: 0, reason: '' };
}

function isStatusCode(code: string): boolean {
  if (code.length !== 3) return false;
  const a = code.charCodeAt(0);
  const b = code.charCodeAt(1);
  const c = code.charCodeAt(2);
  return a >= 49 && a <= 54 && b >= 48 && b <= 57 && c >= 48 && c <= 57;
}

function checkVersion(v: string): void {
  if (v === 'SIP/2.0') return;
  if (/^SIP\/[0-9]+\.[0-9]+$/i.test(v)) {
    if (v.toUpperCase() === 'SIP/2.0') return;
    throw new SipParseError('version', `unsupported version ${v}`, 505);
  }
  throw new SipParseError('start-line', `bad version '${v.slice(0, 20)}'`);
}
