/**
 * Command codec (docs/protocols/rtpproxy.md §1.2, §2): text (cookie already removed) ⇄ typed
 * RtppCommand.
 *
 * `parseCommand` never throws: a bad command yields the `E<n>` rtpproxy would answer, decided in
 * rtpproxy's own order (rtpproxy src/rtpp_command.c `rtpp_command_split`, then
 * src/rtpp_command_parse.c `rtpp_command_pre_parse`, then each command's option parser):
 *
 * 1. tokenizer: NUL, too many tokens in the command or a sub-command, more than 15 `&&`
 *    sub-commands, an empty command or sub-command → `E5`;
 * 2. unknown command letter → `E0`; wrong argument count → `E1`; modifiers on a command that takes
 *    none (S, V, VF, X) → `E2`; `&&` after a command other than U, L, Q → `E3`;
 * 3. the command's own modifiers (U/L: notify tag `E10` first, then modifiers left to right,
 *    then a remote address that has a plausible length but does not resolve `E37`;
 *    D `E8`, P `E17`, R `E6`/`E7`, C `E7`, N `E6`/`E7`, G `E9`, I `E18`);
 * 4. sub-commands (`M<mod>:<inst>`, `D[w]`, `S[r] ttl=N|tos=N`, `L[mods] addr port`,
 *    `C call_id from_tag to_tag`) → `E3` when malformed;
 * 5. Q modifiers `E19` (rtpproxy reads them last, after finding the session: for an unknown
 *    session it answers `E50` instead, which only the server can know).
 *
 * The tokenizer scans character codes into a reused index table and slices only the tokens a
 * command keeps.
 */
import {
  RtppErrorCode as E,
  type RtppCommand,
  type RtppParseResult,
  type RtppSubcommand,
  type UpdateCommand,
} from '../types.js';
import { remoteAddressStatus } from './address.js';
import { parseUpdateModifiers } from './modifiers.js';
import { readSubcommand, strtolWhole } from './subcommand.js';
import { MAX_TOKENS, urlUnquote } from './tokenize.js';

export interface ParseCommandOptions {
  /** Most tokens in a command or in one sub-command (rtpproxy: 23, see MAX_TOKENS; below 1 or NaN: that default). */
  readonly maxTokens?: number;
  /** Most characters in a command (rtpproxy reads at most 8191 bytes; negative or NaN: that default). */
  readonly maxLength?: number;
  /**
   * What to do with U/L modifier letters rtpproxy does not know (OpenSIPS passes unknown script
   * flags through): `keep` (default) returns them in `mods.unknown` and lets the caller decide
   * (see `strictUpdateCheck`); `reject` answers `E35` as rtpproxy does, at the same position.
   */
  readonly unknownModifiers?: 'keep' | 'reject';
  /**
   * Whether the server bridges two interfaces (two `-l` addresses). `false` answers `E11`/`E12`
   * for any U/L `e`/`i`, as rtpproxy without bridging does; by default they are accepted.
   */
  readonly bridging?: boolean;
}

/** Most sub-commands after `&&` (rtpproxy `MAX_SUBC_NUM` 16, one slot reserved). */
export const MAX_SUBCOMMANDS = 15;
/** Longest command body (rtpproxy reads into an 8 KiB buffer, at most 8191 bytes). */
export const MAX_COMMAND_LENGTH = 8191;

const NO_SUBCOMMANDS: readonly RtppSubcommand[] = Object.freeze([]);
const NO_STRINGS: readonly string[] = Object.freeze([]);

const fail = (code: number, reason: string): RtppParseResult => ({
  ok: false,
  error: { code, reason },
});

// Token table reused across calls (parseCommand is synchronous and re-entrant free).
let starts = new Int32Array(16 * (MAX_TOKENS + 1));
let ends = new Int32Array(16 * (MAX_TOKENS + 1));
/** Index of the first token of each segment (main command, then each sub-command). */
const segments = new Int32Array(MAX_SUBCOMMANDS + 2);

function onlyLetter(mods: string, lower: number): boolean {
  for (let i = 0; i < mods.length; i++) {
    if ((mods.charCodeAt(i) | 0x20) !== lower) return false;
  }
  return true;
}

/** rtpproxy `rtpp_subcommand_ul_opts_parse` plus the context checks: true when well-formed. */
function subcommandOk(
  sub: RtppSubcommand,
  main: string,
  mainHasTo: boolean,
  bridging: boolean,
): boolean {
  const view = readSubcommand(sub, { bridging });
  if (view === undefined) return false;
  switch (view.kind) {
    case 'lookup':
      // only after a U with a to_tag, and its remote address must resolve
      return (
        main === 'U' &&
        mainHasTo &&
        remoteAddressStatus(view.remoteIp, view.remotePort, view.mods.ipv6) !== 'invalid'
      );
    case 'copy':
      return main === 'U' && mainHasTo;
    default:
      return true;
  }
}

export function parseCommand(text: string, options?: ParseCommandOptions): RtppParseResult {
  const mt = options?.maxTokens;
  const maxTokens = mt !== undefined && mt >= 1 ? Math.floor(mt) : MAX_TOKENS;
  const ml = options?.maxLength;
  const n = text.length;
  if (n > (ml !== undefined && ml >= 0 ? ml : MAX_COMMAND_LENGTH)) {
    return fail(E.PARSE_1, 'command too long');
  }
  // a token takes at least two characters with its separator
  const room = Math.min((MAX_SUBCOMMANDS + 1) * (maxTokens + 1), (n >> 1) + 2);
  if (starts.length < room) {
    starts = new Int32Array(room);
    ends = new Int32Array(room);
  }

  // 1. tokenizer
  let count = 0; // tokens stored
  let nseg = 1;
  let inSeg = 0; // tokens in the current segment
  segments[0] = 0;
  let start = -1;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 32;
    if (c === 32 || c === 9 || c === 10 || c === 13) {
      if (start < 0) continue;
      if (i - start === 2 && text.charCodeAt(start) === 38 && text.charCodeAt(start + 1) === 38) {
        if (inSeg === 0) return fail(E.PARSE_1, 'empty command before &&');
        if (nseg > MAX_SUBCOMMANDS) return fail(E.PARSE_1, 'too many sub-commands');
        segments[nseg++] = count;
        inSeg = 0;
      } else {
        if (++inSeg > maxTokens) return fail(E.PARSE_1, 'too many tokens');
        starts[count] = start;
        ends[count] = i;
        count++;
      }
      start = -1;
    } else if (c === 0) {
      return fail(E.PARSE_1, 'NUL byte in command');
    } else if (start < 0) {
      start = i;
    }
  }
  if (inSeg === 0) return fail(E.PARSE_1, count === 0 ? 'empty command' : 'empty sub-command');
  segments[nseg] = count;
  const argc = segments[1]!;
  const firstStart = starts[0]!;
  const lastEnd = ends[count - 1]!;
  const raw = firstStart === 0 && lastEnd === n ? text : text.slice(firstStart, lastEnd);
  const tok = (k: number): string => text.slice(starts[k]!, ends[k]!);

  // 2. pre-parse: command letter, argument count, modifiers allowed, sub-commands allowed
  const wordEnd = ends[0]!;
  const letter = text.charCodeAt(firstStart) | 0x20;
  let modStart = firstStart + 1;
  let kind: RtppCommand['kind'];
  let min: number;
  let max: number;
  let takesMods = true;
  let takesSubc = false;
  switch (letter) {
    case 117: // u
      kind = 'U';
      min = 5;
      max = 8;
      takesSubc = true;
      break;
    case 108: // l
      kind = 'L';
      min = 5;
      max = 6;
      takesSubc = true;
      break;
    case 100: // d
      kind = 'D';
      min = 3;
      max = 4;
      break;
    case 112: // p
      kind = 'P';
      min = 5;
      max = 6;
      break;
    case 114: // r
      kind = 'R';
      min = 3;
      max = 4;
      break;
    case 99: // c
      kind = 'C';
      min = 4;
      max = 5;
      break;
    case 115: // s
      kind = 'S';
      min = 3;
      max = 4;
      takesMods = false;
      break;
    case 110: // n
      kind = 'N';
      min = 3;
      max = 4;
      break;
    case 118: // v
      if (modStart < wordEnd && (text.charCodeAt(modStart) | 0x20) === 102) {
        kind = 'VF';
        modStart++;
        min = 2;
        max = 2;
      } else {
        kind = 'V';
        min = 1;
        max = 1;
      }
      takesMods = false;
      break;
    case 105: // i
      kind = 'I';
      min = 1;
      max = 1;
      break;
    case 113: // q
      kind = 'Q';
      min = 3;
      max = 15; // 4 + RTPP_QUERY_NSTATS (11)
      takesSubc = true;
      break;
    case 120: // x
      kind = 'X';
      min = 1;
      max = 1;
      takesMods = false;
      break;
    case 103: // g
      kind = 'G';
      min = 1;
      max = 30; // 1 + the number of counters; the token limit comes first
      break;
    default:
      return fail(E.CMDUNKN, `unknown command "${tok(0).slice(0, 16)}"`);
  }
  if (argc < min || argc > max) {
    return fail(E.PARSE_NARGS, `${kind}: ${argc} arguments, expected ${min}..${max}`);
  }
  const modifiers = modStart >= wordEnd ? '' : text.slice(modStart, wordEnd);
  if (!takesMods && modifiers.length > 0) {
    return fail(E.PARSE_MODS, `${kind} takes no modifiers`);
  }
  if (!takesSubc && nseg > 1) return fail(E.PARSE_SUBC, `${kind} takes no sub-commands`);

  // 3. the command itself
  let command: RtppCommand;
  let badQueryModifier = false;
  switch (kind) {
    case 'U':
    case 'L': {
      let notifySocket: string | undefined;
      let notifyTag: string | undefined;
      if (argc >= 7) {
        const t = urlUnquote(tok(argc - 1));
        if (t === undefined) return fail(E.PARSE_10, 'bad URL escape in notify tag');
        notifySocket = tok(argc - 2);
        notifyTag = t;
      }
      const parsed = parseUpdateModifiers(
        modifiers,
        options === undefined
          ? undefined
          : {
              rejectUnknown: options.unknownModifiers === 'reject',
              bridging: options.bridging !== false,
            },
      );
      if (!parsed.ok) return fail(parsed.code, parsed.reason);
      const remoteIp = tok(2);
      const remotePort = tok(3);
      if (remoteAddressStatus(remoteIp, remotePort, parsed.mods.ipv6) === 'invalid') {
        return fail(E.INVLARG_7, 'remote address or port does not resolve');
      }
      const u: { -readonly [K in keyof UpdateCommand]: UpdateCommand[K] } = {
        kind,
        raw,
        modifiers,
        mods: parsed.mods,
        callId: tok(1),
        remoteIp,
        remotePort,
        fromTag: tok(4),
        subcommands: NO_SUBCOMMANDS,
      };
      if (argc === 6 || argc === 8) u.toTag = tok(5);
      if (notifySocket !== undefined && notifyTag !== undefined) {
        u.notify = { socket: notifySocket, tag: notifyTag };
      }
      command = u;
      break;
    }
    case 'D':
      if (!onlyLetter(modifiers, 119)) return fail(E.PARSE_4, 'bad D modifier');
      command = {
        kind,
        raw,
        modifiers,
        weak: modifiers.length > 0,
        callId: tok(1),
        fromTag: tok(2),
      };
      if (argc === 4) (command as { toTag?: string }).toTag = tok(3);
      break;
    case 'P': {
      let count = 1;
      if (modifiers.length > 0) {
        const v = strtolWhole(modifiers);
        if (v === undefined) return fail(E.PARSE_6, 'bad P count');
        count = v;
      }
      command = {
        kind,
        raw,
        modifiers,
        count,
        callId: tok(1),
        prompt: tok(2),
        codecs: tok(3),
        fromTag: tok(4),
      };
      if (argc === 6) (command as { toTag?: string }).toTag = tok(5);
      break;
    }
    case 'S':
      command = { kind, raw, modifiers, callId: tok(1), fromTag: tok(2) };
      if (argc === 4) (command as { toTag?: string }).toTag = tok(3);
      break;
    case 'R':
    case 'C': {
      // rtpproxy `rtpp_command_record_opts_parse`, shared by R and C
      let single = false;
      let reportPort = false;
      for (let i = 0; i < modifiers.length; i++) {
        const m = modifiers.charCodeAt(i) | 0x20;
        if (m === 115) single = true;
        else if (m === 112) {
          if (kind === 'R') return fail(E.PARSE_2, 'p is not a modifier of R');
          reportPort = true;
        } else return fail(E.PARSE_3, `bad ${kind} modifier`);
      }
      if (kind === 'R') {
        command = { kind, raw, modifiers, single, callId: tok(1), fromTag: tok(2) };
        if (argc === 4) (command as { toTag?: string }).toTag = tok(3);
      } else {
        command = {
          kind,
          raw,
          modifiers,
          single,
          reportPort,
          callId: tok(1),
          target: tok(2),
          fromTag: tok(3),
        };
        if (argc === 5) (command as { toTag?: string }).toTag = tok(4);
      }
      break;
    }
    case 'N': {
      // `a` alone, or nothing: `Na…` with more → E6, anything else → E7
      let both = false;
      if (modifiers.length > 0) {
        if ((modifiers.charCodeAt(0) | 0x20) !== 97) return fail(E.PARSE_3, 'bad N modifier');
        if (modifiers.length > 1) return fail(E.PARSE_2, 'N takes only a');
        both = true;
      }
      command = { kind, raw, modifiers, both, callId: tok(1), fromTag: tok(2) };
      if (argc === 4) (command as { toTag?: string }).toTag = tok(3);
      break;
    }
    case 'Q': {
      // rtpproxy reads Q's modifiers only when it answers (after the sub-commands, `E3`, and
      // after finding the session, `E50`); the stateless parser answers `E19` after step 4
      badQueryModifier = !onlyLetter(modifiers, 118);
      let counters = NO_STRINGS;
      if (argc > 4) {
        const list: string[] = [];
        for (let k = 4; k < argc; k++) list.push(tok(k));
        counters = list;
      }
      command = {
        kind,
        raw,
        modifiers,
        verbose: modifiers.length > 0,
        callId: tok(1),
        fromTag: tok(2),
        counters,
        subcommands: NO_SUBCOMMANDS,
      };
      if (argc >= 4) (command as { toTag?: string }).toTag = tok(3);
      break;
    }
    case 'V':
      command = { kind, raw, modifiers };
      break;
    case 'VF':
      command = { kind, raw, modifiers, date: tok(1) };
      break;
    case 'I': {
      let brief = false;
      let load = false;
      for (let i = 0; i < modifiers.length; i++) {
        const m = modifiers.charCodeAt(i) | 0x20;
        if (m === 98) brief = true;
        else if (m === 108) load = true;
        else return fail(E.PARSE_7, 'bad I modifier');
      }
      command = { kind, raw, modifiers, brief, load };
      break;
    }
    case 'G': {
      if (!onlyLetter(modifiers, 118)) return fail(E.PARSE_5, 'bad G modifier');
      let names = NO_STRINGS;
      if (argc > 1) {
        const list: string[] = [];
        for (let k = 1; k < argc; k++) list.push(tok(k));
        names = list;
      }
      command = { kind, raw, modifiers, verbose: modifiers.length > 0, names };
      break;
    }
    default:
      command = { kind: 'X', raw, modifiers };
  }

  // 4. sub-commands
  if (nseg > 1) {
    const subs: RtppSubcommand[] = [];
    const hasTo = (command as { toTag?: string }).toTag !== undefined;
    for (let s = 1; s < nseg; s++) {
      const a = segments[s]!;
      const b = segments[s + 1]!;
      let args = NO_STRINGS;
      if (b - a > 1) {
        const list: string[] = [];
        for (let k = a + 1; k < b; k++) list.push(tok(k));
        args = list;
      }
      const sub: RtppSubcommand = { word: tok(a), args };
      if (!subcommandOk(sub, kind, hasTo, options?.bridging !== false)) {
        return fail(E.PARSE_SUBC, `bad sub-command "${sub.word}"`);
      }
      subs.push(sub);
    }
    (command as { subcommands: readonly RtppSubcommand[] }).subcommands = subs;
  }
  if (badQueryModifier) return fail(E.PARSE_8, 'bad Q modifier');
  return { ok: true, command };
}

/** rtpproxy answers E35 for U/L modifiers it does not know; the codec keeps them. */
export function strictUpdateCheck(cmd: RtppCommand): RtppParseResult {
  if ((cmd.kind === 'U' || cmd.kind === 'L') && cmd.mods.unknown.length > 0) {
    return fail(E.INVLARG_5, `unknown modifier "${cmd.mods.unknown[0]}"`);
  }
  return { ok: true, command: cmd };
}
