import { describe, expect, it } from 'vitest';
import { canonicalAor } from './aor.js';
import { UsrlocError } from './errors.js';

describe('canonicalAor', () => {
  it('plain sip:user@host keys and the URIs that need the full parse give the RFC 3261 AoR', () => {
    const cases: [string, string][] = [
      ['sip:alice@example.com', 'alice@example.com'],
      ["sip:a.b-c_d!~*'()&=+$,@x.example.org", "a.b-c_d!~*'()&=+$,@x.example.org"],
      ['sip:alice@192.0.2.1', 'alice@192.0.2.1'],
      ['sip:alice@EXAMPLE.com', 'alice@example.com'],
      ['sip:al%69ce@example.com', 'alice@example.com'],
      ['sip:alice@example.com:5060;transport=udp', 'alice@example.com'],
      ['sips:alice@example.com', 'alice@example.com'],
      ['<sip:alice@example.com>', 'alice@example.com'],
      ['alice@example.com', 'alice@example.com'],
      ['sip:Alice:secret@example.com', 'Alice@example.com'],
      ['sip:example.com', 'example.com'],
    ];
    for (const [input, aor] of cases) expect([input, canonicalAor(input)]).toEqual([input, aor]);
  });

  it('honours use_domain, case_sensitive and max_aor_len on the plain form too', () => {
    expect(canonicalAor('sip:alice@example.com', { useDomain: false })).toBe('alice');
    expect(canonicalAor('sip:Alice@example.com', { caseInsensitiveUser: true })).toBe(
      'alice@example.com',
    );
    expect(() => canonicalAor('sip:alice@example.com', { maxLength: 10 })).toThrow(UsrlocError);
    expect(() => canonicalAor('sip:alice@a_b')).toThrow(UsrlocError);
    expect(() => canonicalAor('tel:+15551234')).toThrow(UsrlocError);
  });
});
