/**
 * `&&` sub-commands (docs/protocols/rtpproxy.md §2.4; rtpproxy src/commands/rpcpv1_ul_subc.c
 * `rtpp_subcommand_ul_opts_parse`) read into what they ask for. The command keeps them as
 * `{ word, args }` tokens so that they forward unchanged; a server reads them with
 * `readSubcommand`.
 */
import type { RtppSubcommand, UpdateModifiers } from '../types.js';
import { parseUpdateModifiers } from './modifiers.js';

export type SubcommandView =
  /** `M<module>:<instance> args…`: handed to a loadable module (OpenSIPS: catch_dtmf). */
  | {
      readonly kind: 'module';
      readonly module: number;
      readonly instance: number;
      readonly args: readonly string[];
    }
  /** `D[w]`: delete the session after the main command succeeded (`Q … && D`, 20230314). */
  | { readonly kind: 'delete'; readonly weak: boolean }
  /** `S[r] ttl=N` / `S[r] tos=N`: set TTL or TOS of this (or, with r, the reverse) direction. */
  | {
      readonly kind: 'set';
      readonly reverse: boolean;
      readonly param: 'ttl' | 'tos';
      readonly value: number;
    }
  /** `L[mods] addr port` after a U with a to_tag: set up the other leg too (20260308). */
  | {
      readonly kind: 'lookup';
      readonly modifiers: string;
      readonly mods: UpdateModifiers;
      readonly remoteIp: string;
      readonly remotePort: string;
    }
  /** `C call_id from_tag to_tag` after a U with a to_tag: fork that session's streams here. */
  | {
      readonly kind: 'copy';
      readonly callId: string;
      readonly fromTag: string;
      readonly toTag: string;
    };

/** A `strtol` decimal that must use the whole string, within 32 bits. */
export function strtolWhole(s: string): number | undefined {
  const n = s.length;
  let i = 0;
  let neg = false;
  const c0 = s.charCodeAt(0);
  if (c0 === 43 || c0 === 45) {
    neg = c0 === 45;
    i = 1;
  }
  if (i === n || n - i > 10) return undefined;
  let v = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
    v = v * 10 + (c - 48);
  }
  if (v > 2147483647) return undefined;
  return neg ? -v : v;
}

function positive(s: string): number | undefined {
  const v = strtolWhole(s);
  return v !== undefined && v > 0 ? v : undefined;
}

/**
 * What a sub-command asks for, or undefined when rtpproxy would refuse it (`E3`). Whether an
 * `L` or `C` may follow the main command (only a U with a to_tag) and whether the `L`'s remote
 * address resolves are for the caller, which knows the main command.
 */
export function readSubcommand(
  sub: RtppSubcommand,
  options?: { readonly bridging?: boolean },
): SubcommandView | undefined {
  const w = sub.word;
  const args = sub.args;
  switch (w.charCodeAt(0) | 0x20) {
    case 109: {
      // M<mod>:<inst>, both >= 1
      const colon = w.indexOf(':');
      if (colon < 2) return undefined;
      const module = positive(w.slice(1, colon));
      const instance = positive(w.slice(colon + 1));
      if (module === undefined || instance === undefined) return undefined;
      return { kind: 'module', module, instance, args };
    }
    case 100: {
      // D[w], alone
      if (args.length !== 0) return undefined;
      for (let i = 1; i < w.length; i++) if ((w.charCodeAt(i) | 0x20) !== 119) return undefined;
      return { kind: 'delete', weak: w.length > 1 };
    }
    case 115: {
      // S[r] ttl=N | tos=N (any second letter other than r means this direction)
      if (args.length !== 1 || w.length > 2) return undefined;
      const a = args[0]!;
      const param = a.startsWith('ttl=') ? 'ttl' : a.startsWith('tos=') ? 'tos' : undefined;
      const value = param === undefined ? undefined : positive(a.slice(4));
      if (param === undefined || value === undefined) return undefined;
      return {
        kind: 'set',
        reverse: w.length === 2 && (w.charCodeAt(1) | 0x20) === 114,
        param,
        value,
      };
    }
    case 108: {
      // L[mods] addr port
      if (args.length !== 2) return undefined;
      const modifiers = w.slice(1);
      const m = parseUpdateModifiers(modifiers, {
        rejectUnknown: true,
        bridging: options?.bridging !== false,
      });
      if (!m.ok) return undefined;
      return { kind: 'lookup', modifiers, mods: m.mods, remoteIp: args[0]!, remotePort: args[1]! };
    }
    case 99: // C call_id from_tag to_tag
      if (w.length !== 1 || args.length !== 3) return undefined;
      return { kind: 'copy', callId: args[0]!, fromTag: args[1]!, toTag: args[2]! };
    default:
      return undefined;
  }
}
