/** Errors of @sipedge/rtp-cluster, each with a stable `code`. */
export class RtpClusterError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}
