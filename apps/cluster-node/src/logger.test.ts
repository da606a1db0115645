import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { logFormat, prettyStream } from './logger.js';

describe('logFormat', () => {
  it('json and pretty are what they say, terminal or not', () => {
    expect(logFormat({ level: 'info', format: 'json' }, true)).toBe('json');
    expect(logFormat({ level: 'info', format: 'pretty' }, false)).toBe('pretty');
  });
  it('auto is pretty on a terminal, json elsewhere', () => {
    expect(logFormat({ level: 'info', format: 'auto' }, true)).toBe('pretty');
    expect(logFormat({ level: 'info', format: 'auto' }, false)).toBe('json');
  });
});

describe('prettyStream', () => {
  it('writes one line per event, with the time, level, name, message and fields', () => {
    let out = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        out += chunk.toString();
        done();
      },
    });
    const logger = pino({ base: { name: 'node1' } }, prettyStream(sink, false));
    logger.info({ proto: 'udp', nested: { a: 1 } }, 'SIP listening');
    logger.warn('data declared synced without a donor');
    const lines = out.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(node1\): SIP listening \{"proto":"udp","nested":\{"a":1\}\}$/,
    );
    expect(lines[1]).toMatch(/WARN \(node1\): data declared synced without a donor$/);
  });
});
