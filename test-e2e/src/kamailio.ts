/**
 * Kamailio 5.6 as the registrar sipedge is measured against: usrloc in memory (db_mode 0) or
 * write-through to SQLite (db_mode 1), `save("location")` for every REGISTER, optionally
 * replicated to peers with dmq_usrloc.
 */
import {
  KAMAILIO,
  KAMAILIO_MODULES,
  type Proc,
  requirePeer,
  runProcess,
} from '@sipedge/test-utils';

export function kamailioRegistrarConfig(options: {
  sipPort: number;
  /** UDP worker processes (default 2, the cores of the benchmark machine). */
  children?: number;
  /** dmq: this node's own port and the notification peer (another Kamailio's dmq address). */
  dmq?: { port: number; notify: number };
  /** A binrpc control socket (`unix:/path`) for kamcmd (statistics, ul.dump). */
  ctl?: string;
  /**
   * usrloc `db_mode 1` (write-through) on this SQLite file in WAL mode; the file must already
   * hold Kamailio's `version` and `location` tables (`kamailioSqliteLocation`).
   */
  sqlite?: string;
  /** usrloc `hash_size` (2^n slots per domain; Kamailio's default 10 suits a few thousand AoRs). */
  hashSize?: number;
}): string {
  const dmq = options.dmq;
  const ctl = options.ctl;
  const sqlite = options.sqlite;
  return `#!KAMAILIO
debug=1
log_stderror=yes
children=${options.children ?? 2}
disable_tcp=yes
auto_aliases=no
listen=udp:127.0.0.1:${options.sipPort}
${dmq === undefined ? '' : `listen=udp:127.0.0.1:${dmq.port}\n`}
mpath="${KAMAILIO_MODULES}/"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
${dmq === undefined ? '' : 'loadmodule "dmq.so"\nloadmodule "dmq_usrloc.so"\n'}${ctl === undefined ? '' : `loadmodule "ctl.so"\nloadmodule "kex.so"\nmodparam("ctl", "binrpc", "${ctl}")\n`}
${options.hashSize === undefined ? '' : `modparam("usrloc", "hash_size", ${options.hashSize})\n`}${
  sqlite === undefined
    ? 'modparam("usrloc", "db_mode", 0)\n'
    : `loadmodule "db_sqlite.so"
modparam("db_sqlite", "db_set_journal_mode", "${sqlite}=WAL;")
modparam("usrloc", "db_url", "sqlite:///${sqlite}")
modparam("usrloc", "db_mode", 1)
`
}modparam("registrar", "max_expires", 7200)
${
  dmq === undefined
    ? ''
    : `modparam("dmq", "server_address", "sip:127.0.0.1:${dmq.port}")
modparam("dmq", "notification_address", "sip:127.0.0.1:${dmq.notify}")
modparam("dmq", "multi_notify", 0)
modparam("dmq_usrloc", "enable", 1)
`
}
request_route {
${
  dmq === undefined
    ? ''
    : `  if ($Rp == ${dmq.port} && is_method("KDMQ")) {
    dmq_handle_message();
    exit;
  }
`
}  if (is_method("REGISTER")) {
    if (!save("location")) sl_reply_error();
    exit;
  }
  sl_send_reply("404", "Not here");
}
`;
}

/** Kamailio's own SQLite schema for usrloc, as Debian's kamailio-sqlite-modules ships it. */
export const KAMAILIO_SQLITE_SCHEMA = '/usr/share/kamailio/db_sqlite';

/**
 * Creates `file` with the `version` and `location` tables from Kamailio's schema files (with
 * the sqlite3 shell); fails loudly when the package or the shell is missing.
 */
export async function kamailioSqliteLocation(file: string): Promise<void> {
  const { execFile } = await import('node:child_process');
  const { readFileSync } = await import('node:fs');
  const sql = ['standard-create.sql', 'usrloc-create.sql']
    .map((f) => readFileSync(`${KAMAILIO_SQLITE_SCHEMA}/${f}`, 'utf8'))
    .join('\n');
  await new Promise<void>((resolve, reject) => {
    const p = execFile('/usr/bin/sqlite3', [file], { timeout: 10_000 }, (err, _out, stderr) =>
      err === null ? resolve() : reject(new Error(`sqlite3 ${file}: ${stderr || err.message}`)),
    );
    p.stdin?.end(`PRAGMA journal_mode=WAL;\n${sql}`);
  });
}

/** `usrloc:location_contacts` (contacts held) of a Kamailio through its ctl socket (kamcmd). */
export async function kamailioContacts(ctl: string): Promise<number> {
  const { execFile } = await import('node:child_process');
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      '/usr/sbin/kamcmd',
      ['-s', ctl, 'stats.fetch', 'usrloc:location_contacts'],
      { timeout: 10_000 },
      (err, stdout) => (err === null ? resolve(stdout) : reject(err)),
    ),
  );
  const m = /location_contacts:\s*(\d+)/.exec(out);
  if (m === null) throw new Error(`kamcmd said: ${out}`);
  return Number(m[1]);
}

/**
 * Kamailio in the foreground with `shmMb` of shared memory (the test-utils helper gives 32 MB,
 * too little for dmq's transactions under a REGISTER load); stop() stops its process group.
 */
export async function startKamailioBench(
  dir: string,
  configFile: string,
  shmMb = 256,
): Promise<Proc> {
  requirePeer(KAMAILIO);
  return runProcess(
    KAMAILIO,
    ['-DD', '-E', '-f', configFile, '-Y', dir, '-w', dir, '-m', String(shmMb), '-M', '16'],
    { cwd: dir, group: true },
  );
}
