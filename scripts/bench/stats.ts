/** Order statistics for the bench's figures. */

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The value at fraction `q` of the sorted values (nearest rank). */
export function quantile(values: number[], q: number): number {
  return [...values].sort((a, b) => a - b)[Math.round(q * (values.length - 1))]!;
}
