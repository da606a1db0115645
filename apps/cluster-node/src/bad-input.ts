/**
 * What the node does with SIP it cannot read, wherever that is found (the transport's parser,
 * the transaction layer's validation, the router): a counter per parse reason
 * (`sip:bad_input_<reason>`, a fixed set) and one warning per source per minute with the
 * number of lines held back, so a sender of garbage cannot fill the log.
 */
import { type Logger, LogLimiter } from '@sipedge/core';
import type { Counter, StatisticsRegistry } from '@sipedge/mi';
import { type Endpoint, PARSE_REASONS, type ParseReason, type SipParseError } from '@sipedge/sip';

export class BadInput {
  readonly #counters: Record<ParseReason, Counter>;
  readonly #log: Logger;
  readonly #throttle = new LogLimiter();

  constructor(deps: { stats: StatisticsRegistry; logger: Logger }) {
    this.#log = deps.logger;
    const counters = {} as Record<ParseReason, Counter>;
    for (const r of PARSE_REASONS) {
      counters[r] = deps.stats.counter(
        'sip',
        `bad_input_${r.replace(/-/g, '_')}`,
        `SIP messages that did not parse or validate: ${r.replace(/-/g, ' ')}`,
      );
    }
    this.#counters = counters;
  }

  /** Counts one message that did not parse or validate; a warning once per source per minute. */
  readonly record = (err: SipParseError, from: Endpoint): void => {
    this.#counters[err.reason].inc();
    const suppressed = this.#throttle.admit(from.address);
    if (suppressed === undefined) return;
    this.#log.warn(
      {
        from: `${from.transport}:${from.address}:${from.port}`,
        reason: err.reason,
        err: err.message.slice(0, 200),
        suppressed,
      },
      'SIP bad input',
    );
  };
}
