import { z } from 'zod';
import type { MiCommand } from './command.js';
import { MiDefinitionError } from './errors.js';

/** What `help` and the CLI show about one command. */
export interface MiCommandInfo {
  name: string;
  description: string;
  module: string;
  recipes: string[][];
  namedOnly: boolean;
  schema: Record<string, unknown>;
}

/** Holds the commands of many packages under unique names. */
export class MiRegistry {
  readonly #commands = new Map<string, MiCommand>();
  readonly #schemas = new Map<string, Record<string, unknown>>();

  /** Register one or more commands; a name already taken throws `MiDefinitionError`. */
  register(...commands: (MiCommand | readonly MiCommand[])[]): this {
    const flat = commands.flat() as MiCommand[];
    const names = new Set<string>();
    for (const c of flat) {
      if (this.#commands.has(c.name) || names.has(c.name)) {
        throw new MiDefinitionError(`command '${c.name}' is already registered`);
      }
      names.add(c.name);
    }
    for (const c of flat) this.#commands.set(c.name, c);
    return this;
  }

  /** Remove a command; true if it was there. */
  unregister(name: string): boolean {
    this.#schemas.delete(name);
    return this.#commands.delete(name);
  }

  get(name: string): MiCommand | undefined {
    return this.#commands.get(name);
  }

  has(name: string): boolean {
    return this.#commands.has(name);
  }

  /** Every command, in registration order. */
  commands(): MiCommand[] {
    return [...this.#commands.values()];
  }

  /** The JSON Schema of a command's params (`z.toJSONSchema`), or undefined if unknown. */
  schema(name: string): Record<string, unknown> | undefined {
    const cmd = this.#commands.get(name);
    if (cmd === undefined) return undefined;
    let s = this.#schemas.get(name);
    if (s === undefined) {
      s = z.toJSONSchema(cmd.params, { unrepresentable: 'any', io: 'input' }) as Record<
        string,
        unknown
      >;
      this.#schemas.set(name, s);
    }
    return s;
  }

  /** Everything `help` shows about a command. */
  info(name: string): MiCommandInfo | undefined {
    const cmd = this.#commands.get(name);
    const schema = this.schema(name);
    if (cmd === undefined || schema === undefined) return undefined;
    return {
      name: cmd.name,
      description: cmd.description,
      module: cmd.module,
      recipes: cmd.recipes.map((r) => [...r]),
      namedOnly: cmd.namedOnly,
      schema,
    };
  }
}
