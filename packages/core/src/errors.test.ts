import { describe, expect, it } from 'vitest';
import { SipedgeError } from './errors.js';

class FamilyError extends SipedgeError {}

describe('SipedgeError', () => {
  it('carries its code, its message and its cause', () => {
    const cause = new Error('ECONNRESET');
    const err = new SipedgeError('CORE_TEST', 'it broke', { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('CORE_TEST');
    expect(err.message).toBe('it broke');
    expect(err.cause).toBe(cause);
    expect(err.name).toBe('SipedgeError');
  });

  it("names a subclass's errors after the subclass, and is still a SipedgeError", () => {
    const err = new FamilyError('CORE_FAMILY', 'x');
    expect(err.name).toBe('FamilyError');
    expect(err).toBeInstanceOf(SipedgeError);
    expect(err.cause).toBeUndefined();
    expect(String(err)).toBe('FamilyError: x');
  });
});
