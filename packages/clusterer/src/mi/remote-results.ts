import type { Clock, TimerHandle } from '@sipedge/core';

/** One remote node's answer to an MI command sent over the cluster. */
export interface RemoteMiResult {
  node_id: number;
  result?: unknown;
  error?: { code: number; message: string };
}

interface Pending {
  cmd: string;
  resolve: (r: RemoteMiResult) => void;
  timer: TimerHandle;
}

/**
 * Results of MI commands sent to other nodes (`cluster_send_mi`, `cluster_broadcast_mi`),
 * matched by node and command name; a node that does not answer in time (an OpenSIPS node
 * never does) gets a 408 entry.
 */
export class RemoteMiResults {
  readonly #pending = new Map<number, Pending[]>();
  readonly #clock: Clock;
  readonly #timeoutMs: number;

  constructor(clock: Clock, timeoutMs: number) {
    this.#clock = clock;
    this.#timeoutMs = timeoutMs;
  }

  /** Wait for the result of `cmd` from `nodeId` (call before sending the command). */
  await(nodeId: number, cmd: string): Promise<RemoteMiResult> {
    return new Promise((resolve) => {
      const list = this.#pending.get(nodeId) ?? [];
      this.#pending.set(nodeId, list);
      const entry: Pending = {
        cmd,
        resolve,
        timer: this.#clock.setTimeout(() => {
          const i = list.indexOf(entry);
          if (i >= 0) list.splice(i, 1);
          resolve({
            node_id: nodeId,
            error: { code: 408, message: 'No result from node (timeout)' },
          });
        }, this.#timeoutMs),
      };
      list.push(entry);
    });
  }

  /** The command could not be sent: stop waiting for the latest wait on it. */
  cancel(nodeId: number, cmd: string): void {
    const list = this.#pending.get(nodeId);
    const i = list?.findLastIndex((p) => p.cmd === cmd) ?? -1;
    if (list === undefined || i < 0) return;
    const [p] = list.splice(i, 1);
    if (p !== undefined) this.#clock.clearTimeout(p.timer);
  }

  /** A result reply from `srcId` (JSON `{cmd, result}` or `{cmd, error}`); others are ignored. */
  onResult(srcId: number, msg: string): void {
    let parsed: { cmd?: unknown; result?: unknown; error?: { code: number; message: string } };
    try {
      parsed = JSON.parse(msg) as typeof parsed;
    } catch {
      return;
    }
    const list = this.#pending.get(srcId);
    const i = list?.findIndex((p) => p.cmd === parsed.cmd) ?? -1;
    if (list === undefined || i < 0) return;
    const [p] = list.splice(i, 1);
    if (p === undefined) return;
    this.#clock.clearTimeout(p.timer);
    const r: RemoteMiResult = { node_id: srcId };
    if (parsed.error !== undefined) r.error = parsed.error;
    else r.result = parsed.result;
    p.resolve(r);
  }

  /** Answer every wait with a 500 "closed". */
  close(): void {
    for (const list of this.#pending.values()) {
      for (const p of list) {
        this.#clock.clearTimeout(p.timer);
        p.resolve({ node_id: -1, error: { code: 500, message: 'closed' } });
      }
    }
    this.#pending.clear();
  }
}
