import { describe, expect, it } from 'vitest';
import { logFormat, prettyAvailable } from './logger.js';

describe('logFormat', () => {
  it('json is json everywhere', () => {
    expect(logFormat({ level: 'info', format: 'json' }, true)).toBe('json');
  });
  it('auto is pretty only on a terminal with pino-pretty installed', () => {
    expect(logFormat({ level: 'info', format: 'auto' }, false)).toBe('json');
    expect(logFormat({ level: 'info', format: 'auto' }, true)).toBe(
      prettyAvailable() ? 'pretty' : 'json',
    );
  });
  it('pretty falls back to json without pino-pretty', () => {
    expect(logFormat({ level: 'info', format: 'pretty' }, false)).toBe(
      prettyAvailable() ? 'pretty' : 'json',
    );
  });
});
