// Money crosses the wire as integer paise. Postgres keeps it in bigint (int8), which can hold more
// than a JavaScript number can say exactly (2^53); postgres.js hands int8 over as a string. These
// parsers turn int8, and integers inside json / jsonb, into numbers, and refuse any that would not
// survive the trip, so a wrong amount is an error, never a silently rounded figure.
import type postgres from "postgres";

/** Thrown when the database hands over an integer beyond Number.MAX_SAFE_INTEGER. */
export class UnsafeIntegerError extends RangeError {
  constructor(readonly text: string) {
    super(`integer ${text} is beyond 2^53 - 1 and cannot be represented exactly in JSON`);
    this.name = "UnsafeIntegerError";
  }
}

/** An int8 column's text (`"1250000"`) as a number; UnsafeIntegerError beyond ±(2^53 - 1). */
export function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new UnsafeIntegerError(text);
  return value;
}

/**
 * A json / jsonb value parsed as JSON.parse does, except that an integer beyond ±(2^53 - 1), which
 * JSON.parse would silently round, is an UnsafeIntegerError (`json_build_object` carries money too).
 */
export function parseJson(text: string): unknown {
  return JSON.parse(text, (_key, value) => {
    if (typeof value === "number" && Number.isInteger(value) && !Number.isSafeInteger(value)) {
      throw new UnsafeIntegerError(String(value));
    }
    return value;
  });
}

/**
 * postgres.js `types` for the functions' pool: int8 (oid 20) as a number and json / jsonb
 * (oids 114, 3802) guarded as above. The json entry serialises as postgres.js's own does.
 */
export const paiseTypes: Record<string, postgres.PostgresType> = {
  int8: {
    to: 20,
    from: [20],
    serialize: (value: number | bigint | string) => String(value),
    parse: parseInt8,
  },
  json: {
    to: 114,
    from: [114, 3802],
    serialize: (value: unknown) => JSON.stringify(value),
    parse: parseJson,
  },
};
