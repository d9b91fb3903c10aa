// How the benchmarks print: section titles, rows of right-aligned figures, counts.

/** A section's title, after a blank line. */
export function heading(text: string): void {
  console.log(`\n${text}`);
}

/**
 * A printer of rows of figures: a label padded to `labelWidth` characters, then right-aligned
 * cells of 12.
 */
export function rowPrinter(labelWidth: number): (cells: string[]) => void {
  return (cells) =>
    console.log(
      `  ${cells[0].padEnd(labelWidth)} ${cells.slice(1).map((c) => c.padStart(12)).join("  ")}`,
    );
}

/** A count with thousands separated (20,000). */
export function count(n: number): string {
  return n.toLocaleString("en-US");
}
