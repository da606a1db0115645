import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Flow tokens an edge proxy puts in the user part of its Path / Record-Route URI (RFC 5626
 * §5.2): the flow id with an HMAC, so that a request coming back through the edge can be sent
 * down exactly the connection the registration came in on, and forged tokens are refused.
 */
export class FlowTokenCodec {
  readonly #secret: Buffer;

  constructor(secret: Buffer | string) {
    this.#secret = typeof secret === 'string' ? Buffer.from(secret) : secret;
    if (this.#secret.length < 16)
      throw new RangeError('flow token secret must be at least 16 bytes');
  }

  #mac(flowId: string): Buffer {
    return createHmac('sha256', this.#secret).update(flowId).digest().subarray(0, 10);
  }

  /** A URI-user-safe token (base64url) for a flow id. */
  encode(flowId: string): string {
    return Buffer.concat([this.#mac(flowId), Buffer.from(flowId)]).toString('base64url');
  }

  /** The flow id, or undefined when the token is malformed or was not made with this secret. */
  decode(token: string): string | undefined {
    if (token.length > 512 || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
    const raw = Buffer.from(token, 'base64url');
    if (raw.length <= 10) return undefined;
    const flowId = raw.subarray(10).toString();
    const want = this.#mac(flowId);
    return timingSafeEqual(want, raw.subarray(0, 10)) ? flowId : undefined;
  }
}
