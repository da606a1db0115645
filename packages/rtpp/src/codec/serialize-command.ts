/**
 * Command serialiser: typed RtppCommand → text (no cookie, no newline), the verbatim `raw` while
 * the command is unchanged.
 */
import { RtppArgumentError } from '../errors.js';
import type { RtppCommand, RtppSubcommand, UpdateCommand, UpdateModifiers } from '../types.js';
import { parseUpdateModifiers, sameModifiers, serializeUpdateModifiers } from './modifiers.js';
import { urlQuote } from './tokenize.js';

/** True when `s` can travel as one token: non-empty, no blank or NUL, not `&&`. */
function isToken(s: string): boolean {
  const n = s.length;
  if (n === 0 || s === '&&') return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 0) return false;
  }
  return true;
}

function check(what: string, s: string): string {
  if (!isToken(s)) {
    throw new RtppArgumentError(`${what} ${JSON.stringify(s)} cannot be sent as one token`);
  }
  return s;
}

function tail(toTag: string | undefined): string {
  return toTag === undefined ? '' : ` ${check('to_tag', toTag)}`;
}

function subText(subs: readonly RtppSubcommand[]): string {
  let out = '';
  for (const s of subs) {
    out += ` && ${check('sub-command', s.word)}`;
    for (const a of s.args) out += ` ${check('sub-command argument', a)}`;
  }
  return out;
}

function listText(what: string, items: readonly string[]): string {
  let out = '';
  for (const x of items) out += ` ${check(what, x)}`;
  return out;
}

/** The U/L modifier string: the verbatim one while it still says what `mods` says. */
function updateModifiersText(cmd: UpdateCommand): string {
  const verbatim = cmd.modifiers;
  if (verbatim.length === 0 ? isEmptyMods(cmd.mods) : sameAsParsed(verbatim, cmd.mods)) {
    return verbatim.length === 0 ? verbatim : check('modifiers', verbatim);
  }
  const m = cmd.mods;
  if (m.ptime !== undefined && !(Number.isInteger(m.ptime) && m.ptime > 0 && m.ptime < 1000)) {
    throw new RtppArgumentError(`ptime ${m.ptime} is not 1..999`);
  }
  if (m.codecs?.some((c) => !(Number.isSafeInteger(c) && c >= 0))) {
    throw new RtppArgumentError(`codec list ${m.codecs.join(',')} is not a list of numbers`);
  }
  if (m.localLabel !== undefined && (m.localLabel === '' || m.localLabel.indexOf('}') >= 0)) {
    throw new RtppArgumentError(`local label ${JSON.stringify(m.localLabel)} is not sendable`);
  }
  if (m.localLabel !== undefined && m.localAddress !== undefined) {
    throw new RtppArgumentError('both a local address and a local label: l takes one');
  }
  if (m.bridge.length > 2 || m.bridge.some((b) => b !== 'e' && b !== 'i')) {
    throw new RtppArgumentError(`bridge ${JSON.stringify(m.bridge)} is not up to two of e/i`);
  }
  for (let i = 0; i < m.unknown.length; i++) {
    const c = m.unknown.charCodeAt(i);
    if (c === 54 || 'aseiwnzclr'.indexOf(String.fromCharCode(c | 0x20)) >= 0) {
      throw new RtppArgumentError(`"${m.unknown[i]}" in unknown modifiers is a known modifier`);
    }
  }
  for (const a of [m.localAddress, m.remoteAddress]) {
    if (a !== undefined && !isModifierAddress(a)) {
      throw new RtppArgumentError(`address ${JSON.stringify(a)} cannot follow l/r`);
    }
  }
  const text = serializeUpdateModifiers(m);
  if (text.length > 0) check('modifiers', text);
  return text;
}

/** What rtpproxy's `extractaddr` reads back: digits and dots, or hex digits and colons. */
function isModifierAddress(a: string): boolean {
  if (a.length === 0) return false;
  let v4 = true;
  let v6 = true;
  for (let i = 0; i < a.length; i++) {
    const c = a.charCodeAt(i);
    const digit = c >= 48 && c <= 57;
    if (!(digit || c === 46)) v4 = false;
    if (!(digit || c === 58 || ((c | 0x20) >= 97 && (c | 0x20) <= 102))) v6 = false;
  }
  return v4 || v6;
}

function isEmptyMods(m: UpdateModifiers): boolean {
  return (
    !m.asymmetric &&
    !m.symmetric &&
    !m.ipv6 &&
    !m.weak &&
    !m.newPort &&
    m.bridge.length === 0 &&
    m.unknown === '' &&
    m.ptime === undefined &&
    m.codecs === undefined &&
    m.localAddress === undefined &&
    m.localLabel === undefined &&
    m.remoteAddress === undefined
  );
}

/** Modifier strings seen lately and what they mean (clients repeat a handful of them); at most
 * 256 strings of at most 64 characters. */
const modsMeaning = new Map<string, UpdateModifiers | null>();
const MODS_MEANING_SIZE = 256;

function sameAsParsed(verbatim: string, mods: UpdateModifiers): boolean {
  let meaning = modsMeaning.get(verbatim);
  if (meaning === undefined) {
    const parsed = parseUpdateModifiers(verbatim);
    meaning = parsed.ok ? parsed.mods : null;
    if (verbatim.length <= 64) {
      if (modsMeaning.size >= MODS_MEANING_SIZE) modsMeaning.clear();
      modsMeaning.set(verbatim, meaning);
    }
  }
  return meaning !== null && sameModifiers(meaning, mods);
}

/**
 * The command as text, without cookie or newline: `raw` when the command is unchanged,
 * otherwise its canonical form (U/L keep their verbatim modifier string while it still means
 * what `mods` says). Notify tags are URL-quoted. Throws RtppArgumentError for a hand-made
 * command that cannot be sent (an empty tag, a blank inside a call-id, …).
 */
export function serializeCommand(cmd: RtppCommand): string {
  if (cmd.raw !== undefined) return cmd.raw;
  switch (cmd.kind) {
    case 'U':
    case 'L': {
      let out = `${cmd.kind}${updateModifiersText(cmd)} ${check('call_id', cmd.callId)} ${check('remote_ip', cmd.remoteIp)} ${check('remote_port', cmd.remotePort)} ${check('from_tag', cmd.fromTag)}${tail(cmd.toTag)}`;
      if (cmd.notify !== undefined) {
        if (cmd.kind === 'L') throw new RtppArgumentError('L takes no notify arguments');
        out += ` ${check('notify_socket', cmd.notify.socket)} ${check('notify_tag', urlQuote(cmd.notify.tag))}`;
      }
      return out + subText(cmd.subcommands);
    }
    case 'D':
      return `D${cmd.weak ? 'w' : ''} ${check('call_id', cmd.callId)} ${check('from_tag', cmd.fromTag)}${tail(cmd.toTag)}`;
    case 'P':
      if (!Number.isInteger(cmd.count) || Math.abs(cmd.count) > 2147483647) {
        throw new RtppArgumentError(`play count ${cmd.count} is not an integer`);
      }
      return `P${cmd.count === 1 ? '' : cmd.count} ${check('call_id', cmd.callId)} ${check('prompt', cmd.prompt)} ${check('codecs', cmd.codecs)} ${check('from_tag', cmd.fromTag)}${tail(cmd.toTag)}`;
    case 'S':
      return `S ${check('call_id', cmd.callId)} ${check('from_tag', cmd.fromTag)}${tail(cmd.toTag)}`;
    case 'R':
      return `R${cmd.single ? 's' : ''} ${check('call_id', cmd.callId)} ${check('from_tag', cmd.fromTag)}${tail(cmd.toTag)}`;
    case 'C':
      return `C${cmd.single ? 's' : ''}${cmd.reportPort ? 'p' : ''} ${check('call_id', cmd.callId)} ${check('target', cmd.target)} ${check('from_tag', cmd.fromTag)}${tail(cmd.toTag)}`;
    case 'N':
      return `N${cmd.both ? 'a' : ''} ${check('call_id', cmd.callId)} ${check('from_tag', cmd.fromTag)}${tail(cmd.toTag)}`;
    case 'Q': {
      if (cmd.counters.length > 0 && cmd.toTag === undefined) {
        throw new RtppArgumentError('Q counter names need a to_tag');
      }
      return `Q${cmd.verbose ? 'v' : ''} ${check('call_id', cmd.callId)} ${check('from_tag', cmd.fromTag)}${tail(cmd.toTag)}${listText('counter', cmd.counters)}${subText(cmd.subcommands)}`;
    }
    case 'V':
      return 'V';
    case 'VF':
      return `VF ${check('date', cmd.date)}`;
    case 'I':
      return `I${cmd.brief ? 'b' : ''}${cmd.load ? 'l' : ''}`;
    case 'G':
      return `G${cmd.verbose ? 'v' : ''}${listText('counter', cmd.names)}`;
    case 'X':
      return 'X';
  }
}
