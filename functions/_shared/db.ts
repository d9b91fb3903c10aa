// The database from the edge functions: postgres.js on FUNCTIONS_DB_URL, with every request's
// queries run the way PostgREST runs them, so row-level security decides what a caller sees.
//
// Fails closed. The pool logs in as a role with no rights of its own (`api_authenticator`,
// migration 20261129006000), like PostgREST's `authenticator`; the pool itself is private to this
// module, and the only ways to it are asCaller() and asService(), which switch to an API role
// first. Before the first query the login is checked, and a superuser, a BYPASSRLS role, a role
// that inherits its memberships or holds any privilege of its own on a table in `public` or
// `private` is refused: the API then answers 503 rather than run with rights nobody meant.
// tests/functions/db_boundary.test.ts proves nothing else in functions/ reaches postgres.
//
// Every transaction also carries the id of the HTTP request it serves in `request.id` (set
// locally, as the role): the audit log records it (migration *_make_audit_log_immutable). The id
// travels with the request's async work (request_context.ts, entered by createApp's middleware),
// so no call site passes it.
import postgres from "postgres";
import { config } from "./config.ts";
import { ProblemError } from "./errors.ts";
import { log } from "./log.ts";
import { paiseTypes } from "./paise.ts";
import { currentRequestId } from "./request_context.ts";

/** A transaction running as one API role, handed to the work of asCaller() / asService(). */
export type Tx = postgres.TransactionSql;

/** The roles a JWT may carry; anything else is refused before it reaches the database. */
export const apiRoles = ["anon", "authenticated", "service_role"] as const;
/** One of apiRoles. */
export type ApiRole = typeof apiRoles[number];

/** The verified claims of a caller's token; `role` is what the transaction switches to. */
export interface Claims {
  role: ApiRole;
  sub?: string;
  email?: string;
  [claim: string]: unknown;
}

let pool: postgres.Sql | undefined;
let vetting: Promise<postgres.Sql> | undefined;

/** Why the pool's login may not be used, or an empty list when it is safe. */
async function loginProblems(sql: postgres.Sql): Promise<string[]> {
  // Text and int results only, so nothing here depends on the pool's type parsers.
  const [login] = await sql`
    with own_tables as (
      select format('%I.%I', n.nspname, c.relname) as name
        from pg_catalog.pg_class c
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       where n.nspname in ('public', 'private')
         and c.relkind in ('r', 'p', 'v', 'm', 'f')
         and (pg_catalog.has_table_privilege(session_user, c.oid,
                'select, insert, update, delete, truncate, references, trigger')
              or pg_catalog.has_any_column_privilege(session_user, c.oid,
                'select, insert, update, references'))
    ),
    missing_roles as (
      select wanted
        from unnest(string_to_array(${apiRoles.join(",")}, ',')) wanted
       where not exists (select from pg_catalog.pg_roles api
                          where api.rolname = wanted
                            and pg_catalog.pg_has_role(session_user, api.oid, 'member'))
    )
    select r.rolname::text as name, r.rolsuper as superuser, r.rolbypassrls as bypassrls,
           r.rolcreaterole as createrole, r.rolinherit as inherit,
           (select count(*)::int from own_tables) as table_count,
           (select string_agg(t.name, ', ' order by t.name)
              from (select name from own_tables order by name limit 5) t) as tables,
           (select string_agg(m.wanted, ', ' order by m.wanted) from missing_roles m)
             as missing_roles
      from pg_catalog.pg_roles r
     where r.rolname = session_user`;
  const problems: string[] = [];
  if (login.superuser) problems.push("it is a superuser");
  if (login.bypassrls) problems.push("it bypasses row-level security (BYPASSRLS)");
  if (login.createrole) problems.push("it may create roles (CREATEROLE)");
  if (login.inherit) problems.push("it inherits its roles' privileges (make it NOINHERIT)");
  if (login.table_count > 0) {
    const more = login.table_count > 5 ? ` and ${login.table_count - 5} more` : "";
    problems.push(`it holds privileges of its own on ${login.tables}${more}`);
  }
  if (login.missing_roles) problems.push(`it is not a member of ${login.missing_roles}`);
  return problems.map((problem) => `login role "${login.name}": ${problem}`);
}

/** The 503 a request gets while the pool's login is refused or the database unreachable. */
export class DatabaseUnavailable extends ProblemError {
  constructor(readonly reason: string) {
    super(503, "Service Unavailable", "The database is not available; the log says why.");
    // The precise reason goes to the log and to code that catches it, not to the caller.
    this.message = reason;
  }
}

/** The pool, once its login has passed the checks above; they run once per process. */
function vettedPool(): Promise<postgres.Sql> {
  vetting ??= (async () => {
    pool ??= postgres(config().FUNCTIONS_DB_URL, {
      prepare: false, // also works behind a transaction-mode pooler (Supavisor)
      max: config().DB_POOL_SIZE,
      idle_timeout: 20,
      connect_timeout: 10,
      connection: { application_name: config().DB_APPLICATION_NAME },
      onnotice: () => {},
      types: paiseTypes, // int8 and json integers as numbers, refused beyond 2^53 (paise.ts)
    });
    let problems: string[];
    try {
      problems = await loginProblems(pool);
    } catch (error) {
      log("error", "database: cannot check the functions' login", { error });
      throw new DatabaseUnavailable(`cannot reach the database: ${(error as Error).message}`);
    }
    if (problems.length > 0) {
      const reason = `Refusing the database login of FUNCTIONS_DB_URL: ${problems.join("; ")}. ` +
        "Connect as a login role with no rights of its own that is a NOINHERIT member of anon, " +
        "authenticated and service_role (api_authenticator).";
      log("error", "database: login refused", { reason });
      throw new DatabaseUnavailable(reason);
    }
    return pool;
  })();
  // A refusal or an outage is not remembered: the next request checks again.
  vetting.catch(() => (vetting = undefined));
  return vetting;
}

/** Closes the pool (scripts and tests; a function instance keeps it for its lifetime). */
export async function closeDb(): Promise<void> {
  const closing = pool;
  pool = undefined;
  vetting = undefined;
  await closing?.end({ timeout: 5 });
}

/** What asCaller() may change about its transaction. */
export interface CallerOptions {
  /** The transaction's statement_timeout (e.g. "120s") instead of the role's own: for the few
   * requests whose work grows with the book (a campaign's preview and launch). */
  statementTimeout?: string;
}

/**
 * Runs `work` in one transaction as the caller: `role` switched to the JWT's role and the claims
 * in `request.jwt.claims`, exactly as PostgREST does, so auth.uid() and RLS apply; `request.id`
 * is the current request's id (empty outside a request), which the audit log records. Throws
 * DatabaseUnavailable (a 503) when the pool's login is refused or the database cannot be reached.
 */
export async function asCaller<T>(
  claims: Claims,
  work: (tx: Tx) => Promise<T>,
  options: CallerOptions = {},
): Promise<T> {
  if (!apiRoles.includes(claims.role)) throw new Error(`refusing database role ${claims.role}`);
  const sql = await vettedPool();
  return await sql.begin(async (tx) => {
    // A role's own settings (statement_timeout: 8s for authenticated, 3s for anon on Supabase)
    // apply at login, not on a switch of role; PostgREST sets them per transaction, so do we.
    // A longer limit asked for is set in this same statement, which runs under the login's
    // limit: no statement of the caller's ever runs under the role's shorter one first.
    await tx`select set_config('role', ${claims.role}, true),
                    set_config('request.jwt.claims', ${JSON.stringify(claims)}, true),
                    set_config('request.id', ${currentRequestId() ?? ""}, true),
                    set_config('statement_timeout', coalesce(${options.statementTimeout ?? null}, (
                      select split_part(setting, '=', 2)
                        from pg_catalog.pg_db_role_setting s
                        join pg_catalog.pg_roles r on r.oid = s.setrole
                       cross join unnest(s.setconfig) setting
                       where r.rolname = ${claims.role}
                         and s.setdatabase in (0, (select d.oid from pg_catalog.pg_database d
                                                    where d.datname = current_database()))
                         and starts_with(setting, 'statement_timeout=')
                       order by s.setdatabase desc
                       limit 1), current_setting('statement_timeout')), true)`;
    return await work(tx);
  }) as T;
}

/**
 * Calls `onNotify` with each payload NOTIFYed on `channel` (the outbox's `messages_queued`), on
 * a connection of its own that reconnects by itself; resolves to a function that stops
 * listening. LISTEN needs no privilege, so this runs as the pool's login without a role.
 */
export async function listen(
  channel: string,
  onNotify: (payload: string) => void,
): Promise<() => Promise<void>> {
  const sql = await vettedPool();
  const { unlisten } = await sql.listen(channel, onNotify);
  return unlisten;
}

/** Trusted paths (jobs, webhooks after their signature check): service_role, bypassing RLS. */
export function asService<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
  return asCaller({ role: "service_role" }, work);
}

/** A value asServiceInOneTrip() inlines: text, a finite number, a boolean, null, a Date, or an
 * object or array (as its JSON text; cast it in the SQL, e.g. `${events}::jsonb`). */
export type InlineValue = string | number | boolean | null | Date | object;

/** `value` as a Postgres literal: E'...' with backslashes and quotes doubled (PQescapeLiteral's
 * rule, right whatever standard_conforming_strings says); a NUL, which text cannot hold, throws. */
function inlineLiteral(value: InlineValue): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`refusing to inline the number ${value}`);
    return `(${value})`;
  }
  if (typeof value === "boolean") return value ? "true" : "false";
  const text = value instanceof Date
    ? value.toISOString()
    : typeof value === "string"
    ? value
    : JSON.stringify(value);
  if (text.includes("\0")) throw new Error("refusing to inline a NUL character");
  return `E'${text.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;
}

/** asCaller's role switch for service_role, as text (the same statement timeout lookup and the
 * current request id). */
const serviceRoleSwitch = () =>
  `select set_config('role', 'service_role', true),
  set_config('request.jwt.claims', '{"role":"service_role"}', true),
  set_config('request.id', ${inlineLiteral(currentRequestId() ?? "")}, true),
  set_config('statement_timeout', coalesce((
    select split_part(setting, '=', 2)
      from pg_catalog.pg_db_role_setting s
      join pg_catalog.pg_roles r on r.oid = s.setrole
     cross join unnest(s.setconfig) setting
     where r.rolname = 'service_role'
       and s.setdatabase in (0, (select d.oid from pg_catalog.pg_database d
                                  where d.datname = current_database()))
       and starts_with(setting, 'statement_timeout=')
     order by s.setdatabase desc
     limit 1), current_setting('statement_timeout')), true)`;

/**
 * asService() for one statement in one round trip (the dispatcher's claim and results, the
 * webhooks' record): the role switch and the statement go to the server as one simple-protocol
 * query, which Postgres runs as one implicit transaction (both or neither; the role and claims
 * end with it). asService() costs six round trips here: begin, commit, and two per query with
 * parameters (with `prepare: false` postgres.js asks the server for their types first). The
 * interpolated values are inlined as escaped literals, never as SQL. Returns the statement's
 * rows; throws what the database throws, or DatabaseUnavailable like asCaller().
 */
export async function asServiceInOneTrip<T extends readonly unknown[]>(
  strings: TemplateStringsArray,
  ...values: InlineValue[]
): Promise<T> {
  const statement = strings.reduce((text, part, i) =>
    `${text}${inlineLiteral(values[i - 1])}${part}`
  );
  const sql = await vettedPool();
  const results = await sql.unsafe(`${serviceRoleSwitch()};\n${statement}`) as unknown as T[];
  return results[1];
}
