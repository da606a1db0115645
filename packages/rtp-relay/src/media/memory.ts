/**
 * An in-memory UDP network for tests: sockets bound on it deliver to each other synchronously,
 * with no kernel involved. Used by the engine's unit tests and usable by other packages' tests.
 */
import type { MediaSocket, MediaTransport, PacketHandler } from './transport.js';

export class MemoryNetwork implements MediaTransport {
  readonly #bound = new Map<string, PacketHandler>();
  /** Ports that `bind` refuses, as if another program held them. */
  readonly taken = new Set<number>();
  /** Datagrams sent to an address nobody bound. */
  lost = 0;

  bind(address: string, port: number, onPacket: PacketHandler): Promise<MediaSocket> {
    const key = `${address}|${port}`;
    if (this.#bound.has(key) || this.taken.has(port)) {
      return Promise.reject(
        Object.assign(new Error(`bind ${address}:${port}: EADDRINUSE`), { code: 'EADDRINUSE' }),
      );
    }
    this.#bound.set(key, onPacket);
    let open = true;
    return Promise.resolve({
      port,
      send: (data: Uint8Array, p: number, a: string) => {
        if (!open) return;
        const to = this.#bound.get(`${a}|${p}`);
        if (to === undefined) this.lost++;
        else to(Buffer.from(data), port, address);
      },
      close: () => {
        if (!open) return;
        open = false;
        this.#bound.delete(key);
      },
    });
  }

  isBound(address: string, port: number): boolean {
    return this.#bound.has(`${address}|${port}`);
  }

  get boundCount(): number {
    return this.#bound.size;
  }
}
