/**
 * Command codec (digest §1.2, §2): text (cookie already removed) ⇄ typed RtppCommand.
 * `parseCommand` never throws: a bad command yields the `E<n>` rtpproxy would answer.
 */
import {
  RtppErrorCode as E,
  type RtppCommand,
  type RtppParseResult,
  type RtppSubcommand,
  type UpdateCommand,
} from '../types.js';
import { parseUpdateModifiers, sameModifiers, serializeUpdateModifiers } from './modifiers.js';
import { MAX_TOKENS, tokenize, trimBlanks, urlQuote, urlUnquote } from './tokenize.js';

export interface ParseCommandOptions {
  /** Tokens per command or sub-command (rtpproxy: 24). */
  readonly maxTokens?: number;
  /** Characters per command (rtpproxy reads 8191 bytes). */
  readonly maxLength?: number;
}

/** Most sub-commands after `&&` (rtpproxy: 16 slots, one reserved). */
export const MAX_SUBCOMMANDS = 15;
export const MAX_COMMAND_LENGTH = 8191;

const fail = (code: number, reason: string): RtppParseResult => ({
  ok: false,
  error: { code, reason },
});

/** [min, max] argument counts, command word included (digest §2 table). */
const ARGC: Record<string, readonly [number, number]> = {
  U: [5, 8],
  L: [5, 6],
  D: [3, 4],
  P: [5, 6],
  S: [3, 4],
  R: [3, 4],
  C: [4, 5],
  N: [3, 4],
  Q: [3, 15],
  V: [1, 1],
  VF: [2, 2],
  I: [1, 1],
  G: [1, MAX_TOKENS],
  X: [1, 1],
};

/** Commands that accept `&&` sub-commands. */
const SUBC_ALLOWED = new Set(['U', 'L', 'Q']);

function onlyChars(mods: string, allowed: string): boolean {
  for (let i = 0; i < mods.length; i++) {
    if (allowed.indexOf(mods[i]!.toLowerCase()) < 0) return false;
  }
  return true;
}

function hasChar(mods: string, c: string): boolean {
  return mods.indexOf(c) >= 0 || mods.indexOf(c.toUpperCase()) >= 0;
}

export function parseCommand(text: string, options: ParseCommandOptions = {}): RtppParseResult {
  const maxTokens = options.maxTokens ?? MAX_TOKENS;
  if (text.length > (options.maxLength ?? MAX_COMMAND_LENGTH)) {
    return fail(E.PARSE_1, 'command too long');
  }
  const all = tokenize(text);
  if (all === undefined) return fail(E.PARSE_1, 'NUL byte in command');
  if (all.length === 0) return fail(E.PARSE_1, 'empty command');

  // split off `&&` sub-commands
  let tokens = all;
  const subcommands: RtppSubcommand[] = [];
  const amp = all.indexOf('&&');
  if (amp >= 0) {
    tokens = all.slice(0, amp);
    let start = amp + 1;
    for (;;) {
      const next = all.indexOf('&&', start);
      const part = all.slice(start, next < 0 ? all.length : next);
      if (part.length === 0) return fail(E.PARSE_1, 'empty sub-command');
      if (part.length > maxTokens) return fail(E.PARSE_1, 'too many tokens in a sub-command');
      subcommands.push({ word: part[0]!, args: part.slice(1) });
      if (subcommands.length > MAX_SUBCOMMANDS) return fail(E.PARSE_1, 'too many sub-commands');
      if (next < 0) break;
      start = next + 1;
    }
    if (tokens.length === 0) return fail(E.PARSE_1, 'no command before &&');
  }
  if (tokens.length > maxTokens) return fail(E.PARSE_1, 'too many tokens');

  const word = tokens[0]!;
  let kind = word[0]!.toUpperCase();
  let modifiers = word.slice(1);
  if (kind === 'V' && (modifiers === 'F' || modifiers === 'f')) {
    kind = 'VF';
    modifiers = '';
  }
  const range = ARGC[kind];
  if (range === undefined) return fail(E.CMDUNKN, `unknown command "${word}"`);
  const argc = tokens.length;
  if (argc < range[0] || argc > range[1]) {
    return fail(E.PARSE_NARGS, `${kind}: ${argc} arguments, expected ${range[0]}..${range[1]}`);
  }
  if (subcommands.length > 0 && !SUBC_ALLOWED.has(kind)) {
    return fail(E.PARSE_SUBC, `${kind} takes no sub-commands`);
  }
  const raw = trimBlanks(text);
  const a = tokens;
  const toTag = (i: number) => (argc > i ? { toTag: a[i]! } : {});

  let command: RtppCommand;
  switch (kind) {
    case 'U':
    case 'L': {
      const parsed = parseUpdateModifiers(modifiers);
      if (!parsed.ok) return fail(parsed.code, parsed.reason);
      let notify: UpdateCommand['notify'];
      let to: string | undefined;
      if (argc === 6 || argc === 8) to = a[5];
      if (argc >= 7) {
        const tag = urlUnquote(a[argc - 1]!);
        if (tag === undefined) return fail(E.PARSE_10, 'bad URL escape in notify tag');
        notify = { socket: a[argc - 2]!, tag };
      }
      command = {
        kind,
        raw,
        modifiers,
        mods: parsed.mods,
        callId: a[1]!,
        remoteIp: a[2]!,
        remotePort: a[3]!,
        fromTag: a[4]!,
        ...(to === undefined ? {} : { toTag: to }),
        ...(notify === undefined ? {} : { notify }),
        subcommands,
      } as UpdateCommand;
      break;
    }
    case 'D':
      if (!onlyChars(modifiers, 'w')) return fail(E.PARSE_4, 'bad D modifier');
      command = {
        kind,
        raw,
        modifiers,
        weak: modifiers.length > 0,
        callId: a[1]!,
        fromTag: a[2]!,
        ...toTag(3),
      };
      break;
    case 'P': {
      if (!onlyChars(modifiers, '0123456789')) return fail(E.PARSE_6, 'bad P count');
      command = {
        kind,
        raw,
        modifiers,
        count: modifiers.length === 0 ? 1 : Number(modifiers),
        callId: a[1]!,
        prompt: a[2]!,
        codecs: a[3]!,
        fromTag: a[4]!,
        ...toTag(5),
      };
      break;
    }
    case 'S':
      if (modifiers.length > 0) return fail(E.PARSE_MODS, 'S takes no modifiers');
      command = { kind, raw, modifiers, callId: a[1]!, fromTag: a[2]!, ...toTag(3) };
      break;
    case 'R':
      if (hasChar(modifiers, 'p')) return fail(E.PARSE_2, 'p is not a modifier of R');
      if (!onlyChars(modifiers, 's')) return fail(E.PARSE_3, 'bad R modifier');
      command = {
        kind,
        raw,
        modifiers,
        single: modifiers.length > 0,
        callId: a[1]!,
        fromTag: a[2]!,
        ...toTag(3),
      };
      break;
    case 'C':
      if (!onlyChars(modifiers, 'sp')) return fail(E.PARSE_3, 'bad C modifier');
      command = {
        kind,
        raw,
        modifiers,
        single: hasChar(modifiers, 's'),
        reportPort: hasChar(modifiers, 'p'),
        callId: a[1]!,
        target: a[2]!,
        fromTag: a[3]!,
        ...toTag(4),
      };
      break;
    case 'N':
      if (!onlyChars(modifiers, 'a')) return fail(E.PARSE_3, 'bad N modifier');
      command = {
        kind,
        raw,
        modifiers,
        both: modifiers.length > 0,
        callId: a[1]!,
        fromTag: a[2]!,
        ...toTag(3),
      };
      break;
    case 'Q':
      if (!onlyChars(modifiers, 'v')) return fail(E.PARSE_8, 'bad Q modifier');
      command = {
        kind,
        raw,
        modifiers,
        verbose: modifiers.length > 0,
        callId: a[1]!,
        fromTag: a[2]!,
        ...toTag(3),
        counters: a.slice(4),
        subcommands,
      };
      break;
    case 'V':
      if (modifiers.length > 0) return fail(E.PARSE_MODS, 'V takes no modifiers');
      command = { kind, raw, modifiers };
      break;
    case 'VF':
      command = { kind, raw, modifiers, date: a[1]! };
      break;
    case 'I':
      if (!onlyChars(modifiers, 'bl')) return fail(E.PARSE_7, 'bad I modifier');
      command = {
        kind,
        raw,
        modifiers,
        brief: hasChar(modifiers, 'b'),
        load: hasChar(modifiers, 'l'),
      };
      break;
    case 'G':
      if (!onlyChars(modifiers, 'v')) return fail(E.PARSE_5, 'bad G modifier');
      command = { kind, raw, modifiers, verbose: modifiers.length > 0, names: a.slice(1) };
      break;
    default:
      // X
      if (modifiers.length > 0) return fail(E.PARSE_MODS, 'X takes no modifiers');
      command = { kind: 'X', raw, modifiers };
  }
  return { ok: true, command };
}

/** rtpproxy answers E35 for U/L modifiers it does not know; the codec keeps them. */
export function strictUpdateCheck(cmd: RtppCommand): RtppParseResult {
  if ((cmd.kind === 'U' || cmd.kind === 'L') && cmd.mods.unknown.length > 0) {
    return fail(E.INVLARG_5, `unknown modifier "${cmd.mods.unknown}"`);
  }
  return { ok: true, command: cmd };
}

function tail(toTag: string | undefined): string {
  return toTag === undefined ? '' : ` ${toTag}`;
}

function subText(subs: readonly RtppSubcommand[]): string {
  let out = '';
  for (const s of subs)
    out += s.args.length === 0 ? ` && ${s.word}` : ` && ${s.word} ${s.args.join(' ')}`;
  return out;
}

/**
 * The command as text, without cookie or newline: `raw` when the command is unchanged,
 * otherwise its canonical form.
 */
export function serializeCommand(cmd: RtppCommand): string {
  if (cmd.raw !== undefined) return cmd.raw;
  switch (cmd.kind) {
    case 'U':
    case 'L': {
      const mods = parseModsMatch(cmd.modifiers, cmd)
        ? cmd.modifiers
        : serializeUpdateModifiers(cmd.mods);
      let out = `${cmd.kind}${mods} ${cmd.callId} ${cmd.remoteIp} ${cmd.remotePort} ${cmd.fromTag}${tail(cmd.toTag)}`;
      if (cmd.notify !== undefined) out += ` ${cmd.notify.socket} ${urlQuote(cmd.notify.tag)}`;
      return out + subText(cmd.subcommands);
    }
    case 'D':
      return `D${cmd.weak ? 'w' : ''} ${cmd.callId} ${cmd.fromTag}${tail(cmd.toTag)}`;
    case 'P':
      return `P${cmd.count} ${cmd.callId} ${cmd.prompt} ${cmd.codecs} ${cmd.fromTag}${tail(cmd.toTag)}`;
    case 'S':
      return `S ${cmd.callId} ${cmd.fromTag}${tail(cmd.toTag)}`;
    case 'R':
      return `R${cmd.single ? 's' : ''} ${cmd.callId} ${cmd.fromTag}${tail(cmd.toTag)}`;
    case 'C':
      return `C${cmd.single ? 's' : ''}${cmd.reportPort ? 'p' : ''} ${cmd.callId} ${cmd.target} ${cmd.fromTag}${tail(cmd.toTag)}`;
    case 'N':
      return `N${cmd.both ? 'a' : ''} ${cmd.callId} ${cmd.fromTag}${tail(cmd.toTag)}`;
    case 'Q': {
      let out = `Q${cmd.verbose ? 'v' : ''} ${cmd.callId} ${cmd.fromTag}${tail(cmd.toTag)}`;
      if (cmd.counters.length > 0) out += ` ${cmd.counters.join(' ')}`;
      return out + subText(cmd.subcommands);
    }
    case 'V':
      return 'V';
    case 'VF':
      return `VF ${cmd.date}`;
    case 'I':
      return `I${cmd.brief ? 'b' : ''}${cmd.load ? 'l' : ''}`;
    case 'G':
      return cmd.names.length > 0
        ? `G${cmd.verbose ? 'v' : ''} ${cmd.names.join(' ')}`
        : `G${cmd.verbose ? 'v' : ''}`;
    case 'X':
      return 'X';
  }
}

/** True when the verbatim modifier string still says what `mods` says. */
function parseModsMatch(modifiers: string, cmd: UpdateCommand): boolean {
  const parsed = parseUpdateModifiers(modifiers);
  return parsed.ok && sameModifiers(parsed.mods, cmd.mods);
}
