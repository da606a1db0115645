/**
 * The base of every error a sipedge package throws on purpose.
 *
 * `code` is a stable string a program can branch on, count and log: upper snake case, the
 * package's name first (its npm name without the scope, upper-cased, `-` as `_`), then what
 * went wrong — `RTPP_TIMEOUT`, `RTP_CLUSTER_CONFIG`, `SIP_PARSE_CSEQ`, `USRLOC_BAD_AOR`,
 * `MI_PARAMS`. A family whose errors carry a reason appends it: `SIP_PARSE_<REASON>`,
 * `CLUSTERER_BIN_<REASON>`. A released code is never renamed; new ones may appear.
 *
 * `cause` is the underlying error where there is one (a socket error, a zod error …).
 * `name` is the subclass's name, so logs and stack traces say which family it is.
 */
export class SipedgeError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}
