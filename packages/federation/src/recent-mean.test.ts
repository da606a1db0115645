import { describe, expect, it } from 'vitest';
import { RecentMean } from './recent-mean.js';

describe('RecentMean', () => {
  it('averages what it holds, and only the last `size` samples', () => {
    const m = new RecentMean(3);
    expect(m.mean).toBe(0);
    m.add(2);
    m.add(4);
    expect(m.mean).toBe(3);
    m.add(6);
    m.add(8); // 2 leaves
    expect(m.mean).toBe(6);
    for (let i = 0; i < 10; i++) m.add(1);
    expect(m.mean).toBe(1);
  });
});
