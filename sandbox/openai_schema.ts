// The sandbox's OpenAI structured outputs: the strict-mode rules a `response_format` JSON schema
// must follow (VENDORS.md §5: every property required, `additionalProperties: false` on every
// object, a subset of keywords, optional = a `null` union), checked with OpenAI's error wording,
// and a deterministic instance of such a schema derived from a seed (the prompt's hash).

/** A JSON schema node, as the request carried it. */
type Schema = Record<string, unknown>;

/**
 * Keywords strict mode refuses (the openai SDK's own list of what it cannot send strictly,
 * lib/transform.ts JSON_SCHEMA_UNSUPPORTED_SCHEMA_KEYWORDS).
 */
const notPermitted = new Set([
  "$anchor",
  "$dynamicAnchor",
  "$dynamicRef",
  "$recursiveAnchor",
  "$recursiveRef",
  "allOf",
  "contains",
  "contentEncoding",
  "contentMediaType",
  "contentSchema",
  "dependentRequired",
  "dependentSchemas",
  "dependencies",
  "else",
  "if",
  "maxContains",
  "maxProperties",
  "minContains",
  "minProperties",
  "not",
  "oneOf",
  "patternProperties",
  "prefixItems",
  "propertyNames",
  "then",
  "unevaluatedItems",
  "unevaluatedProperties",
  "uniqueItems",
]);
const types = new Set(["string", "number", "integer", "boolean", "object", "array", "null"]);
/** OpenAI's documented limits: nesting depth and values of one enum. */
const maxDepth = 10;
const maxEnumValues = 1000;

function isSchema(value: unknown): value is Schema {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A context path as OpenAI prints it: a Python tuple, `()`, `('items',)`, `('properties', 'a')`. */
function context(path: string[]): string {
  if (path.length === 0) return "()";
  const items = path.map((p) => `'${p}'`);
  return path.length === 1 ? `(${items[0]},)` : `(${items.join(", ")})`;
}

/** Resolves a local `$ref` (`#`, `#/$defs/X`, `#/definitions/X`) against the root, or null. */
function resolveRef(root: Schema, ref: string): Schema | null {
  if (ref === "#") return root;
  const match = ref.match(/^#\/(\$defs|definitions)\/(.+)$/);
  if (!match) return null;
  const defs = root[match[1]];
  const name = decodeURIComponent(match[2]).replaceAll("~1", "/").replaceAll("~0", "~");
  const found = isSchema(defs) ? defs[name] : undefined;
  return isSchema(found) ? found : null;
}

/**
 * Why `schema` breaks OpenAI's strict structured-output rules, as the message of OpenAI's 400
 * (`Invalid schema for response_format '<name>': In context=(…), …`), or null when it is fine.
 */
export function strictSchemaProblem(schema: unknown, name: string): string | null {
  const prefix = `Invalid schema for response_format '${name}'`;
  if (!isSchema(schema)) return `${prefix}: schema must be a JSON Schema object.`;
  if (schema.type !== "object") {
    const got = schema.type === undefined
      ? "anyOf" in schema ? "anyOf" : "none"
      : JSON.stringify(schema.type);
    return `${prefix}: schema must be a JSON Schema of 'type: "object"', got 'type: ${got}'.`;
  }
  const problem = check(schema, schema, [], 0);
  return problem === null ? null : `${prefix}: ${problem}`;
}

function check(node: unknown, root: Schema, path: string[], depth: number): string | null {
  const at = `In context=${context(path)}`;
  if (!isSchema(node)) return `${at}, schema must be a JSON Schema object.`;
  if (depth > maxDepth) {
    return `${at}, the schema exceeds the maximum nesting depth of ${maxDepth} levels.`;
  }
  for (const keyword of Object.keys(node)) {
    if (notPermitted.has(keyword)) return `${at}, '${keyword}' is not permitted.`;
  }
  for (const defsKey of ["$defs", "definitions"]) {
    const defs = node[defsKey];
    if (defs === undefined) continue;
    if (!isSchema(defs)) return `${at}, '${defsKey}' must be an object.`;
    for (const [key, def] of Object.entries(defs)) {
      const problem = check(def, root, [...path, defsKey, key], depth + 1);
      if (problem) return problem;
    }
  }
  if (typeof node.$ref === "string") {
    return resolveRef(root, node.$ref) === null
      ? `${at}, reference to component '${node.$ref}' which was not found in the schema.`
      : null;
  }
  if (node.enum !== undefined) {
    if (!Array.isArray(node.enum) || node.enum.length === 0) {
      return `${at}, 'enum' must be a non-empty array.`;
    }
    if (node.enum.length > maxEnumValues) {
      return `${at}, 'enum' has ${node.enum.length} values, more than the ${maxEnumValues} allowed.`;
    }
  }
  if (Array.isArray(node.anyOf)) {
    if (node.anyOf.length === 0) return `${at}, 'anyOf' must be a non-empty array.`;
    for (const [i, branch] of node.anyOf.entries()) {
      const problem = check(branch, root, [...path, "anyOf", String(i)], depth + 1);
      if (problem) return problem;
    }
    return null;
  }
  const declared = Array.isArray(node.type) ? node.type : [node.type];
  if (node.type === undefined) {
    if (node.enum !== undefined || "const" in node) return null;
    return `${at}, schema must have a 'type' key.`;
  }
  for (const type of declared) {
    if (typeof type !== "string" || !types.has(type)) {
      return `${at}, ${JSON.stringify(type)} is not a valid type.`;
    }
  }
  if (declared.includes("object")) {
    const properties = node.properties ?? {};
    if (!isSchema(properties)) return `${at}, 'properties' must be an object.`;
    if (node.additionalProperties !== false) {
      return `${at}, 'additionalProperties' is required to be supplied and to be false.`;
    }
    const required = node.required ?? [];
    const keys = Object.keys(properties);
    if (!Array.isArray(required)) {
      return `${at}, 'required' is required to be supplied and to be an array including every key in properties.`;
    }
    const missing = keys.find((key) => !required.includes(key));
    if (missing !== undefined) {
      return `${at}, 'required' is required to be supplied and to be an array including every key in properties. Missing '${missing}'.`;
    }
    const extra = required.find((key) => !keys.includes(key as string));
    if (extra !== undefined) return `${at}, Extra required key '${extra}' supplied.`;
    for (const [key, child] of Object.entries(properties)) {
      const problem = check(child, root, [...path, "properties", key], depth + 1);
      if (problem) return problem;
    }
  }
  if (declared.includes("array")) {
    if (!isSchema(node.items)) return `${at}, 'items' must be a schema.`;
    const problem = check(node.items, root, [...path, "items"], depth + 1);
    if (problem) return problem;
  }
  return null;
}

/** FNV-1a over a string, finalised: 32 unsigned bits, the same on every run. */
function fnv(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  // MurmurHash3's finaliser, so that keys differing in their last character differ everywhere.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/** A deterministic number in [0, 1) for a seed and a path in the schema. */
function unit(seed: string, path: string): number {
  return fnv(`${seed}|${path}`) / 0x1_0000_0000;
}

/**
 * A value valid for `schema` (already checked with `strictSchemaProblem`), the same for the same
 * `seed` and different across seeds: strings from the seed and the property name (formats date,
 * date-time, time, email, uuid honoured; minLength/maxLength kept; `pattern` is not), enums and
 * unions chosen by the seed (a union's non-null member), numbers within their bounds, arrays of
 * minItems..maxItems items (1–3 when unbounded), every property of every object.
 */
export function schemaInstance(schema: Schema, seed: string): unknown {
  return instance(schema, schema, seed, "$", "answer", 0);
}

function instance(
  node: unknown,
  root: Schema,
  seed: string,
  path: string,
  name: string,
  depth: number,
): unknown {
  // A schema whose every instance is infinite (a required, non-nullable self-reference).
  if (!isSchema(node) || depth > 60) return null;
  if (typeof node.$ref === "string") {
    return instance(resolveRef(root, node.$ref), root, seed, path, name, depth + 1);
  }
  const deep = depth > 8;
  if ("const" in node) return node.const;
  if (Array.isArray(node.enum)) {
    const values = node.enum.filter((v) => v !== null);
    const pool = values.length > 0 ? values : node.enum;
    return pool[Math.floor(unit(seed, path) * pool.length)];
  }
  if (Array.isArray(node.anyOf)) {
    const isNull = (b: unknown) => isSchema(b) && b.type === "null";
    const nonNull = node.anyOf.filter((b) => !isNull(b));
    const pool = deep && nonNull.length < node.anyOf.length
      ? node.anyOf.filter(isNull)
      : nonNull.length > 0
      ? nonNull
      : node.anyOf;
    const branch = pool[Math.floor(unit(seed, `${path}|anyOf`) * pool.length)];
    return instance(branch, root, seed, path, name, depth + 1);
  }
  const declared = (Array.isArray(node.type) ? node.type : [node.type]) as string[];
  const type = declared.find((t) => t !== "null") ?? declared[0];
  switch (type) {
    case "object": {
      const properties = isSchema(node.properties) ? node.properties : {};
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(properties)) {
        out[key] = instance(child, root, seed, `${path}.${key}`, key, depth + 1);
      }
      return out;
    }
    case "array": {
      const min = typeof node.minItems === "number" ? node.minItems : deep ? 0 : 1;
      const max = typeof node.maxItems === "number" ? node.maxItems : Math.max(min, 3);
      const count = deep ? min : min + Math.floor(unit(seed, `${path}#n`) * (max - min + 1));
      return Array.from(
        { length: count },
        (_, i) => instance(node.items, root, seed, `${path}[${i}]`, name, depth + 1),
      );
    }
    case "integer":
    case "number":
      return numberFor(node, type, unit(seed, path));
    case "boolean":
      return unit(seed, path) < 0.5;
    case "string":
      return stringFor(node, seed, path, name);
    default:
      return null;
  }
}

function numberFor(node: Schema, type: "integer" | "number", u: number): number {
  const num = (key: string) => typeof node[key] === "number" ? node[key] as number : undefined;
  const step = num("multipleOf") ?? (type === "integer" ? 1 : 0.01);
  let low = num("minimum") ??
    (num("exclusiveMinimum") !== undefined ? num("exclusiveMinimum")! + step : undefined);
  let high = num("maximum") ??
    (num("exclusiveMaximum") !== undefined ? num("exclusiveMaximum")! - step : undefined);
  if (low === undefined && high === undefined) [low, high] = [0, 100];
  else if (low === undefined) low = high! - 100;
  else if (high === undefined) high = low + 100;
  // Wide bounds (zod writes ±2^53-1 for every int): a small range from 0 or the lower bound.
  if (high! - low! > 1_000_000) {
    low = Math.min(Math.max(low!, 0), high!);
    high = Math.min(high!, low + 100);
  }
  const first = Math.ceil(low! / step);
  const last = Math.floor(high! / step);
  if (last < first) return low!;
  const value = (first + Math.floor(u * (last - first + 1))) * step;
  return type === "integer" ? Math.round(value) : Number(value.toFixed(6));
}

function stringFor(node: Schema, seed: string, path: string, name: string): string {
  const hex = fnv(`${seed}|${path}`).toString(16).padStart(8, "0");
  const day = 1 + (fnv(`${seed}|${path}|d`) % 28);
  const month = 1 + (fnv(`${seed}|${path}|m`) % 12);
  const date = `2026-${String(month).padStart(2, "0")}-${String(day).padStart(2, "0")}`;
  switch (node.format) {
    case "date":
      return date;
    case "date-time":
      return `${date}T10:30:00Z`;
    case "time":
      return "10:30:00";
    case "email":
      return `sandbox-${hex}@example.com`;
    case "uuid": {
      const more = [1, 2, 3].map((i) => fnv(`${seed}|${path}|${i}`).toString(16).padStart(8, "0"))
        .join("");
      const all = hex + more;
      return `${all.slice(0, 8)}-${all.slice(8, 12)}-4${all.slice(13, 16)}-8${all.slice(17, 20)}-${
        all.slice(20, 32)
      }`;
    }
  }
  if (typeof node.pattern === "string") {
    const matching = fromPattern(node.pattern, seed, path);
    if (matching !== null) return matching;
  }
  let text = `Sandbox ${name.replace(/[_-]+/g, " ")} ${hex}`;
  const min = typeof node.minLength === "number" ? node.minLength : 0;
  const max = typeof node.maxLength === "number" ? node.maxLength : Infinity;
  while (text.length < min) text += ` ${hex}`;
  return text.slice(0, Math.max(min, Math.min(max, text.length)));
}

/** Characters a negated class or `.` may pick from. */
const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("");
const classEscapes: Record<string, string> = {
  d: "0123456789",
  w: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_",
  s: " ",
};

/**
 * A string matching a simple regular expression (literals, escapes \d \w \s, classes with
 * ranges, groups with alternatives, quantifiers ? * + {n,m}), chosen by the seed; null when the
 * pattern is beyond this little generator or the result does not match (checked with RegExp).
 */
function fromPattern(pattern: string, seed: string, path: string): string | null {
  let picks = 0;
  const pick = (n: number) => Math.floor(unit(seed, `${path}~${picks++}`) * n);

  /** The top-level alternatives of the span starting at `from` and where it ends (`)` or end). */
  function split(from: number): { parts: Array<[number, number]>; end: number } {
    const parts: Array<[number, number]> = [];
    let depth = 0;
    let start = from;
    let i = from;
    while (i < pattern.length) {
      const c = pattern[i];
      if (c === "\\") i += 2;
      else if (c === "[") i = classEnd(i) + 1;
      else if (c === "(") (depth++, i++);
      else if (c === ")") {
        if (depth === 0) break;
        depth--;
        i++;
      } else if (c === "|" && depth === 0) {
        parts.push([start, i]);
        start = ++i;
      } else i++;
    }
    parts.push([start, i]);
    return { parts, end: i };
  }

  /** Text for one of the alternatives starting at `from`. */
  function alternatives(from: number): string {
    const { parts } = split(from);
    const [a, b] = parts[pick(parts.length)];
    return sequence(a, b);
  }

  function sequence(from: number, to: number): string {
    let pos = from;
    let out = "";
    while (pos < to) {
      const c = pattern[pos];
      let atom: () => string;
      if (c === "^" || c === "$") {
        pos++;
        continue;
      }
      if (c === "(") {
        pos++;
        if (pattern.startsWith("?:", pos)) pos += 2;
        else if (pattern[pos] === "?") throw new Error("lookaround");
        const inner = pos;
        pos = split(inner).end + 1;
        atom = () => alternatives(inner);
      } else if (c === "[") {
        const close = classEnd(pos);
        const chars = classChars(pattern.slice(pos + 1, close));
        pos = close + 1;
        atom = () => chars[pick(chars.length)];
      } else if (c === "\\") {
        const e = pattern[pos + 1];
        pos += 2;
        if (/[DWSbBpPuxck0-9]/.test(e)) throw new Error("escape");
        const chars = classEscapes[e];
        atom = chars ? () => chars[pick(chars.length)] : () => e;
      } else if (c === ".") {
        pos++;
        atom = () => printable[pick(printable.length)];
      } else {
        pos++;
        atom = () => c;
      }
      const [min, max, next] = quantifier(pos);
      pos = next;
      const count = min + pick(max - min + 1);
      for (let i = 0; i < count; i++) out += atom();
    }
    return out;
  }

  function quantifier(pos: number): [number, number, number] {
    const c = pattern[pos];
    let q: [number, number] = [1, 1];
    if (c === "?") (q = [0, 1], pos++);
    else if (c === "*") (q = [0, 3], pos++);
    else if (c === "+") (q = [1, 3], pos++);
    else if (c === "{") {
      const m = pattern.slice(pos).match(/^\{(\d+)(,(\d*))?\}/);
      if (m) {
        const min = Number(m[1]);
        const max = m[2] === undefined ? min : m[3] === "" ? min + 3 : Number(m[3]);
        q = [min, Math.max(min, max)];
        pos += m[0].length;
      }
    }
    if (pattern[pos] === "?") pos++;
    return [q[0], q[1], pos];
  }

  function classEnd(open: number): number {
    let i = open + 1;
    if (pattern[i] === "^") i++;
    if (pattern[i] === "]") i++;
    while (i < pattern.length && pattern[i] !== "]") i += pattern[i] === "\\" ? 2 : 1;
    if (i >= pattern.length) throw new Error("class");
    return i;
  }

  function classChars(body: string): string {
    const negated = body.startsWith("^");
    let set = "";
    for (let i = negated ? 1 : 0; i < body.length; i++) {
      let c = body[i];
      if (c === "\\") {
        const e = body[++i];
        if (classEscapes[e]) {
          set += classEscapes[e];
          continue;
        }
        c = e;
      }
      if (body[i + 1] === "-" && i + 2 < body.length) {
        const escaped = body[i + 2] === "\\";
        const end = escaped ? body[i + 3] : body[i + 2];
        for (let code = c.charCodeAt(0); code <= end.charCodeAt(0); code++) {
          set += String.fromCharCode(code);
        }
        i += escaped ? 3 : 2;
      } else set += c;
    }
    if (!negated) return set;
    const rest = Array.from(printable).filter((ch) => !set.includes(ch)).join("");
    if (rest === "") throw new Error("empty class");
    return rest;
  }

  try {
    const text = alternatives(0);
    return new RegExp(pattern, "u").test(text) ? text : null;
  } catch {
    return null;
  }
}
