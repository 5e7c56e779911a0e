/** Time is a dependency so tests (and the mocks) can move it. Milliseconds since the epoch. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to. */
export class ManualClock implements Clock {
  #now: number;
  constructor(start: number | string | Date = Date.now()) {
    this.#now = new Date(start).getTime();
  }
  now(): number {
    return this.#now;
  }
  set(to: number | string | Date): void {
    this.#now = new Date(to).getTime();
  }
  advance(ms: number): void {
    this.#now += ms;
  }
}

export const SECOND = 1000;
export const DAY = 86_400_000;

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
