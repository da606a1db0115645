import { describe, expect, it } from 'vitest';
import { PortRange } from './ports.js';

const ok = async (p: number) => p;

describe('PortRange', () => {
  it('hands out even ports inside the range, round-robin, and none when full', async () => {
    const r = new PortRange(1001, 1008); // pairs 1002, 1004, 1006 (1008 has no odd partner)
    expect(r.capacity).toBe(3);
    const got = [await r.allocate(ok), await r.allocate(ok), await r.allocate(ok)].map(
      (x) => x?.port,
    );
    expect(got).toEqual([1002, 1004, 1006]);
    expect(await r.allocate(ok)).toBeUndefined();
    r.release(1004);
    expect((await r.allocate(ok))?.port).toBe(1004);
  });

  it('skips a port the bind refuses and keeps it free for later', async () => {
    const r = new PortRange(2000, 2003);
    let refuse = true;
    const first = await r.allocate(async (p) => (p === 2000 && refuse ? undefined : p));
    expect(first?.port).toBe(2002);
    refuse = false;
    expect((await r.allocate(ok))?.port).toBe(2000);
  });

  it('rejects a range without a pair', () => {
    expect(() => new PortRange(3001, 3002)).toThrow(RangeError);
  });
});
