/** The four ASCII bytes every BIN packet starts with. */
export const BIN_MARKER = Buffer.from('P4CK', 'latin1');
/** Marker, u32 total length, i16 version: the fixed part before the capability length. */
export const BIN_HEADER_SIZE = 10;
/** Header + capability length + a 1-byte capability + the i32 type (`MIN_BIN_PACKET_SIZE`). */
export const BIN_MIN_PACKET = 17;
/** `BIN_MAX_BUF_LEN` of OpenSIPS 3.x (`TCP_BUF_SIZE`). */
export const BIN_MAX_PACKET = 65535;
/** Strings and the capability name carry an unsigned 16-bit length. */
export const BIN_MAX_STR = 65535;

export const CAP_INTERNAL = 'clusterer-internal';
export const CAP_EXTRA = 'clusterer-extra';

/** `BIN_VERSION` of the clusterer's own packets. */
export const CLUSTERER_BIN_VERSION = 1;
/** `BIN_SYNC_VERSION` of SYNC_REQ / SYNC / SYNC_END on OpenSIPS 3.3–3.6. */
export const CLUSTERER_SYNC_VERSION = 3;

/** `clusterer_msg_type` of OpenSIPS 3.2–3.6 (REMOVE_NODE inserted at 6 in 3.2). */
export const MsgType = {
  PING: 0,
  PONG: 1,
  LS_UPDATE: 2,
  FULL_TOP_UPDATE: 3,
  UNKNOWN_ID: 4,
  NODE_DESCRIPTION: 5,
  REMOVE_NODE: 6,
  GENERIC_MSG: 7,
  MI_CMD: 8,
  CAP_UPDATE: 9,
  SYNC_REQ: 10,
  SYNC: 11,
  SYNC_END: 12,
  SHTAG_ACTIVE: 13,
} as const;

/** Link state values carried in LS_UPDATE (`LS_UP` / `LS_DOWN`). */
export const LS_UP = 0;
export const LS_DOWN = 1;

/** `SYNC_CHUNK_START_MARKER` in front of every chunk of a SYNC packet. */
export const SYNC_CHUNK_START_MARKER = 101010101;
/** Type given to SYNC packets when handed to the owning module (`SYNC_PACKET_TYPE`). */
export const SYNC_PACKET_TYPE = 101;

/**
 * Input limits (docs/protocols/bin-clusterer.md §8): nodes and neighbours per update, path length,
 * MI params.
 */
export const MAX_NODES = 128;
export const MAX_PATH_DECODE = 128;
export const UPDATE_MAX_PATH_LEN = 25;
export const MAX_MI_PARAMS = 10;
export const MAX_CAPS_PER_NODE = 128;
