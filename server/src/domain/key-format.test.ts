import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { nodeCrypto } from '../node-crypto.ts';
import { crc32 } from './crypto.ts';
import { formatKey, generateKey, isWellFormedKey, keyHint, newId, toBase62 } from './key-format.ts';

describe('key format', () => {
  it('matches the product test vector', () => {
    expect(formatKey(nodeCrypto, 'hey_', '0'.repeat(30))).toBe('hey_0000000000000000000000000000003UpZ4E');
  });

  it('generates keys secret scanners recognise, with a valid checksum', () => {
    for (let i = 0; i < 200; i++) {
      const key = generateKey(nodeCrypto, 'hey_');
      expect(key).toMatch(/^hey_[0-9A-Za-z]{36}$/);
      expect(isWellFormedKey(nodeCrypto, 'hey_', key)).toBe(true);
    }
  });

  it('rejects any single-character change, a wrong prefix, and wrong lengths', () => {
    const key = generateKey(nodeCrypto, 'hey_');
    for (let i = 4; i < key.length; i++) {
      const c = key[i] === 'a' ? 'b' : 'a';
      expect(isWellFormedKey(nodeCrypto, 'hey_', key.slice(0, i) + c + key.slice(i + 1))).toBe(false);
    }
    expect(isWellFormedKey(nodeCrypto, 'acme_', key)).toBe(false);
    expect(isWellFormedKey(nodeCrypto, 'hey_', key.slice(0, -1))).toBe(false);
    expect(isWellFormedKey(nodeCrypto, 'hey_', key + 'a')).toBe(false);
    expect(isWellFormedKey(nodeCrypto, 'hey_', 'hey_' + '-'.repeat(36))).toBe(false);
  });

  it('supports a configured prefix', () => {
    const key = generateKey(nodeCrypto, 'acme_');
    expect(key).toMatch(/^acme_[0-9A-Za-z]{36}$/);
    expect(isWellFormedKey(nodeCrypto, 'acme_', key)).toBe(true);
  });

  it('the portable CRC32 equals zlib.crc32', () => {
    for (const s of ['', 'a', 'hey_' + '0'.repeat(30), 'The quick brown fox']) expect(crc32(s)).toBe(zlibCrc32(s));
  });

  it('writes base62 big-endian, left-padded', () => {
    expect(toBase62(0, 6)).toBe('000000');
    expect(toBase62(61, 2)).toBe('0z');
    expect(toBase62(62, 2)).toBe('10');
    expect(toBase62(0xffffffff, 6)).toBe('4gfFC3');
  });

  it('hints show the prefix and the last four characters only', () => {
    expect(keyHint('hey_', 'hey_0000000000000000000000000000003UpZ4E')).toBe('hey_...pZ4E');
  });

  it('ids sort by creation time', () => {
    const a = newId(nodeCrypto, 'key', 1_700_000_000_000);
    const b = newId(nodeCrypto, 'key', 1_700_000_000_001);
    expect(a < b).toBe(true);
    expect(a).toMatch(/^key_[0-9A-Za-z]{22}$/);
  });
});

describe('ids made in the same millisecond', () => {
  it('sort in the order they were made', () => {
    const ids = Array.from({ length: 100 }, (_, i) => newId(nodeCrypto, 'evt', 1_700_000_000_000, i));
    expect([...ids].sort()).toEqual(ids);
  });
});
