/**
 * The cursor of a key's usage log. Entries are listed newest first by time, then by the number
 * the store gave each entry on arrival (`seq`), so a page ends at a point `(at, seq)` and the next
 * page starts strictly before it. Usage entries have no id: generating one per request cost more
 * than the rest of the usage bookkeeping on the request path (docs/decisions/0007-fast-path.md).
 * Portable: the memory store (and so the MSW mocks) uses it too.
 */
import { DomainError } from './errors.ts';
import type { Page, UsageEntry } from './model.ts';

export interface UsagePosition {
  at: number;
  seq: number;
}

const CURSOR = /^(\d{1,15})_(\d{1,15})$/;

export function usageCursor(position: UsagePosition): string {
  return `${position.at}_${position.seq}`;
}

/** The position a cursor names, or a 400 naming the cursor when it is not one a page gave out. */
export function parseUsageCursor(cursor: string): UsagePosition {
  const match = CURSOR.exec(cursor);
  if (!match) throw DomainError.validation([{ field: 'query/cursor', message: 'is not a cursor of this usage log' }]);
  return { at: Number(match[1]), seq: Number(match[2]) };
}

/**
 * A page from rows read newest first, one more than `limit` (the extra one only says another page
 * exists); the cursor is the position of the page's last entry.
 */
export function usagePage<R extends UsagePosition>(rows: R[], limit: number, toEntry: (row: R) => UsageEntry): Page<UsageEntry> {
  const data = rows.slice(0, limit);
  const last = data[data.length - 1];
  return { data: data.map(toEntry), next_cursor: rows.length > limit && last ? usageCursor(last) : null };
}

/** True when the entry at (at, seq) comes after `position` in newest-first order. */
export function isBefore(at: number, seq: number, position: UsagePosition | null): boolean {
  return position === null || at < position.at || (at === position.at && seq < position.seq);
}
