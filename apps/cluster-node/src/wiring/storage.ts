/** The node's SQLite file: where it is, and the check that it belongs to this node. */
import { dirname, isAbsolute, resolve } from 'node:path';
import Database from 'better-sqlite3';

/** A path from the config, relative to the config file's directory. */
export function resolvePath(file: string, configFile: string | undefined): string {
  if (file === ':memory:' || isAbsolute(file) || configFile === undefined) return file;
  return resolve(dirname(configFile), file);
}

/** Opens the node's SQLite file and checks it belongs to this node (or stamps it). */
export function openStorage(file: string, nodeId: number): Database.Database {
  const db = new Database(file);
  if (file !== ':memory:') db.pragma('journal_mode = WAL');
  db.exec(
    'CREATE TABLE IF NOT EXISTS sipedge_node (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)',
  );
  const row = db.prepare('SELECT value FROM sipedge_node WHERE key = ?').get('node_id') as
    | { value: string }
    | undefined;
  if (row !== undefined && row.value !== String(nodeId)) {
    db.close();
    throw new Error(
      `storage.file ${file} belongs to node ${row.value}, not to node.id ${nodeId}: give each node its own file`,
    );
  }
  db.prepare('INSERT OR REPLACE INTO sipedge_node (key, value) VALUES (?, ?)').run(
    'node_id',
    String(nodeId),
  );
  db.prepare('INSERT OR REPLACE INTO sipedge_node (key, value) VALUES (?, ?)').run(
    'started_at',
    new Date().toISOString(),
  );
  return db;
}
