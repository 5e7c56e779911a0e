import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { nodeCrypto } from '../node-crypto.ts';
import { crc32 } from './crypto.ts';
import { BASE62, checksum, formatKey, generateKey, isWellFormedKey, keyHint, newId, toBase62 } from './key-format.ts';

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

  it('agrees with the plain definition (alphabet by regular expression, checksum as a string) on near misses', () => {
    const plain = (prefix: string, secret: string): boolean =>
      secret.length === prefix.length + 36 &&
      secret.startsWith(prefix) &&
      /^[0-9A-Za-z]+$/.test(secret.slice(prefix.length)) &&
      checksum(nodeCrypto, secret.slice(0, -6)) === secret.slice(-6);
    let seed = 7;
    const random = (n: number) => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % n;
    // Next to the alphabet's ranges, outside ASCII, and a lone surrogate.
    const odd = ['/', ':', '@', '[', '`', '{', ' ', '\u00e9', '\u0660', '\ud83d'];
    const keys: string[] = [];
    // Keys whose checksum starts with one and two zeros (CRC32 below 62^5 and 62^4).
    for (let found = 0; found < 2; ) {
      const random30 = Array.from({ length: 30 }, () => BASE62[random(62)]).join('');
      const key = formatKey(nodeCrypto, 'hey_', random30);
      if (key.slice(-6).startsWith(found === 0 ? '0' : '00')) {
        keys.push(key);
        found++;
      }
    }
    for (let i = 0; i < 300; i++) keys.push(generateKey(nodeCrypto, 'hey_'));
    // A character outside the alphabet with a checksum that matches it: only the alphabet check can refuse these.
    const outsiders = odd.map((c) => formatKey(nodeCrypto, 'hey_', `${'a'.repeat(15)}${c}${'b'.repeat(14)}`));
    for (const key of outsiders) expect(isWellFormedKey(nodeCrypto, 'hey_', key), key).toBe(false);
    let checked = 0;
    for (const key of keys) {
      const variants = [key];
      for (let k = 0; k < 20; k++) {
        const at = random(key.length);
        const c = random(3) === 0 ? odd[random(odd.length)]! : BASE62[random(62)]!;
        variants.push(key.slice(0, at) + c + key.slice(at + 1));
      }
      for (const v of variants) {
        expect(isWellFormedKey(nodeCrypto, 'hey_', v), v).toBe(plain('hey_', v));
        checked++;
      }
    }
    expect(keys[0]!.slice(-6)).toMatch(/^0/);
    expect(keys[1]!.slice(-6)).toMatch(/^00/);
    expect(checked).toBeGreaterThan(6000);
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
