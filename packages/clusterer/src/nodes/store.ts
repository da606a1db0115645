import type Database from 'better-sqlite3';
import { ClustererConfigError } from '../errors.js';
import { type NodeConfig, parseBinUrl } from './node-info.js';

/** Where db_mode=1 nodes come from; the SQLite implementation is `SqliteNodeStore`. */
export interface NodeStore {
  /** Every row of the clusters that contain `myNodeId` (at most 128 rows). */
  load(myNodeId: number): NodeConfig[];
  /** Persist a node's `state` column (clusterer_set_status). */
  setState?(clusterId: number, nodeId: number, enabled: boolean): void;
}

/** The OpenSIPS `clusterer` table (version 4), for SQLite. */
export const CLUSTERER_TABLE_SQL = `CREATE TABLE IF NOT EXISTS clusterer (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  cluster_id INTEGER NOT NULL,
  node_id INTEGER NOT NULL,
  url CHAR(64) NOT NULL,
  state INTEGER DEFAULT 1 NOT NULL,
  no_ping_retries INTEGER DEFAULT 3 NOT NULL,
  priority INTEGER DEFAULT 50 NOT NULL,
  sip_addr CHAR(64),
  flags CHAR(64),
  description CHAR(64),
  CONSTRAINT clusterer_clusterer_idx UNIQUE (cluster_id, node_id)
)`;

const MAX_ROWS = 128;
const MAX_CLUSTERS = 64;

interface Row {
  id: number;
  cluster_id: number;
  node_id: number;
  url: string;
  state: number;
  no_ping_retries: number;
  priority: number;
  sip_addr: string | null;
  flags: string | null;
  description: string | null;
}

export class SqliteNodeStore implements NodeStore {
  readonly #db: Database.Database;
  readonly #table: string;
  readonly #log: (msg: string) => void;

  constructor(db: Database.Database, table = 'clusterer', log: (msg: string) => void = () => {}) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(table))
      throw new ClustererConfigError(`bad table name "${table}"`);
    this.#db = db;
    this.#table = table;
    this.#log = log;
  }

  load(myNodeId: number): NodeConfig[] {
    const clusters = this.#db
      .prepare(
        `SELECT DISTINCT cluster_id FROM ${this.#table} WHERE node_id = ? ORDER BY cluster_id`,
      )
      .all(myNodeId) as { cluster_id: number }[];
    if (clusters.length > MAX_CLUSTERS)
      throw new ClustererConfigError(`node ${myNodeId} is in more than 64 clusters`);
    const out: NodeConfig[] = [];
    for (const { cluster_id } of clusters) {
      const rows = this.#db
        .prepare(`SELECT * FROM ${this.#table} WHERE cluster_id = ? ORDER BY id`)
        .all(cluster_id) as Row[];
      for (const r of rows) {
        if (out.length >= MAX_ROWS) throw new ClustererConfigError('more than 128 clusterer rows');
        try {
          parseBinUrl(String(r.url));
        } catch (e) {
          if (r.node_id === myNodeId) throw e;
          this.#log(`skipping clusterer row ${r.id}: bad url "${r.url}"`);
          continue;
        }
        out.push({
          clusterId: r.cluster_id,
          nodeId: r.node_id,
          url: String(r.url),
          dbId: r.id,
          enabled: r.state !== 0,
          noPingRetries: r.no_ping_retries,
          priority: r.priority,
          sipAddr: r.sip_addr ?? '',
          seed: (r.flags ?? '').toLowerCase().startsWith('seed'),
          description: r.description ?? '',
        });
      }
    }
    return out;
  }

  setState(clusterId: number, nodeId: number, enabled: boolean): void {
    this.#db
      .prepare(`UPDATE ${this.#table} SET state = ? WHERE cluster_id = ? AND node_id = ?`)
      .run(enabled ? 1 : 0, clusterId, nodeId);
  }
}
