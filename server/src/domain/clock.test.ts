import { describe, expect, it } from 'vitest';
import { DAY, iso } from './clock.ts';

describe('iso', () => {
  it('formats exactly as Date#toISOString across the years, leap days and every field boundary', () => {
    const instants = [
      0, 1, 999, 1000, 59_999, 60_000, 3_599_999, 3_600_000, DAY - 1, DAY,
      Date.UTC(1972, 1, 29, 23, 59, 59, 999), Date.UTC(1999, 11, 31, 23, 59, 59, 999), Date.UTC(2000, 1, 29),
      Date.UTC(2000, 2, 1), Date.UTC(2100, 1, 28, 12), Date.UTC(2100, 2, 1), Date.UTC(2400, 1, 29), Date.UTC(2026, 10, 28, 17, 29, 12, 345),
      Date.UTC(9999, 11, 31, 23, 59, 59, 999),
    ];
    // And a day at a time over four centuries, at an hour that moves through the day.
    for (let day = 0; day < 146_097 * 1.1; day += 1) instants.push(day * DAY + ((day * 3_600_017) % DAY));
    // And random instants up to year 9999.
    let seed = 42;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 100_000; i++) instants.push(Math.floor(random() * 253_402_300_800_000));
    for (const ms of instants) {
      if (iso(ms) !== new Date(ms).toISOString()) expect(iso(ms)).toBe(new Date(ms).toISOString());
    }
    expect(instants.length).toBeGreaterThan(250_000);
  });

  it('leaves what it does not format to Date: before 1970, after 9999, fractions, and invalid times', () => {
    for (const ms of [-1, -DAY * 400, 253_402_300_800_000, 1.5]) expect(iso(ms)).toBe(new Date(ms).toISOString());
    expect(() => iso(Number.NaN)).toThrow(RangeError);
    expect(() => iso(8.64e15 + 1)).toThrow(RangeError);
  });
});
