// Analysts' logins: a LOGIN role per person, a member of the `analyst` group role (migration
// 20261129225120), which reads the `analytics` schema and nothing else. Used by
// `npm run analyst -- add|remove|list`.
//
// Postgres does not pass a role's settings on to its members: each login gets the group's
// settings (statement and idle timeouts, read-only transactions) copied onto it, and
// search_path = analytics so `select * from cases` reads analytics.cases. The password is drawn
// here and sent only as a SCRAM-SHA-256 verifier, so its clear text reaches neither the server's
// statement log nor pg_stat_statements.
import { Buffer } from "node:buffer";
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import type postgres from "postgres";
import { z } from "zod";

/** The group role every analyst login is a member of. */
export const analystGroup = "analyst";
/** Every login this module makes is named `analyst_<name>`: never a platform or desk role. */
export const loginPrefix = "analyst_";
/** Sessions one analyst may hold at once, so one person cannot use up the connections. */
export const connectionLimit = 5;

/**
 * A person's short name as given on the command line (2-30 characters: lower-case ASCII letters,
 * digits and `_`, starting with a letter), turned into their login role `analyst_<name>`.
 */
export const analystName = z
  .string()
  .regex(
    /^[a-z][a-z0-9_]{1,29}$/,
    "a name is 2 to 30 characters: lower-case letters, digits and _, starting with a letter " +
      "(e.g. priya or priya_s)",
  )
  .transform((name) => `${loginPrefix}${name}`);

/** A refusal to show the person as it is (exit 1), not a crash. */
export class AnalystLoginError extends Error {
  override name = "AnalystLoginError";
}

/** A new random password: 24 bytes as 32 URL-safe base64 characters (192 bits). */
export function generatePassword(): string {
  return randomBytes(24).toString("base64url");
}

/**
 * The SCRAM-SHA-256 verifier Postgres stores for `password` (RFC 5802 / 7677, as Postgres's own
 * `pg_fe_scram_build_secret` builds it): `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`,
 * base64. `password` must be ASCII (SASLprep leaves it unchanged); generatePassword's always is.
 */
export function scramSha256Verifier(
  password: string,
  salt: Uint8Array = randomBytes(16),
  iterations = 4096,
): string {
  if (!/^[\x21-\x7e]+$/.test(password)) {
    throw new AnalystLoginError("the password must be printable ASCII");
  }
  const salted = pbkdf2Sync(password, salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
  return `SCRAM-SHA-256$${iterations}:${b64(salt)}$${b64(storedKey)}:${b64(serverKey)}`;
}

/** One analyst login as `list` shows it. */
export interface AnalystLogin {
  role: string;
  /** Sessions it holds now. */
  sessions: number;
  connectionLimit: number;
  /** Its comment: who made it and when. */
  note: string | null;
}

/** The group role's settings (`name=value`), which every login copies. */
async function groupSettings(sql: postgres.Sql): Promise<Array<[string, string]>> {
  const rows = await sql<{ setting: string }[]>`
    select unnest(s.setconfig) as setting
      from pg_catalog.pg_db_role_setting s
     where s.setrole = ${analystGroup}::regrole and s.setdatabase = 0
     order by 1`;
  return rows.map(({ setting }) => {
    const at = setting.indexOf("=");
    return [setting.slice(0, at), setting.slice(at + 1)];
  });
}

async function requireGroup(sql: postgres.Sql): Promise<void> {
  const [row] = await sql`select to_regrole(${analystGroup}) is not null as present`;
  if (!row.present) {
    throw new AnalystLoginError(
      `The ${analystGroup} group role is missing: apply the migrations (npm run db -- start).`,
    );
  }
}

/**
 * Creates the login `analyst_<name>` with a new password: a member of `analyst` and of nothing
 * else, no privileged attribute, at most `connectionLimit` sessions, the group's settings and
 * search_path = analytics. Returns the role and its password (shown once; only its verifier is
 * stored). Errors: AnalystLoginError when the name is invalid, the group role is missing or the
 * role exists already (nothing is changed then).
 */
export async function addAnalystLogin(
  sql: postgres.Sql,
  name: string,
): Promise<{ role: string; password: string }> {
  const role = parseName(name);
  await requireGroup(sql);
  const password = generatePassword();
  const verifier = scramSha256Verifier(password);
  const settings = await groupSettings(sql);
  await sql.begin(async (tx) => {
    const [exists] = await tx`select to_regrole(${role}) is not null as present`;
    if (exists.present) {
      throw new AnalystLoginError(
        `${role} exists already: remove it first, or choose another name.`,
      );
    }
    // Utility statements take no parameters: Postgres quotes the name and the verifier itself.
    const statements = await tx<{ statement: string }[]>`
      select format('create role %I with login inherit nosuperuser nocreatedb nocreaterole '
                    'noreplication nobypassrls connection limit %s password %L in role %I',
                    ${role}::text, ${connectionLimit}::int, ${verifier}::text,
                    ${analystGroup}::text) as statement
      union all
      select format('alter role %I set %s = %L', ${role}::text, s.name, s.value)
        from unnest(${settings.map(([key]) => key)}::text[],
                    ${settings.map(([, value]) => value)}::text[]) as s (name, value)
      union all
      select format('alter role %I set search_path = analytics', ${role}::text)
      union all
      select format('comment on role %I is %L', ${role}::text,
                    'Analyst login made by npm run analyst on ' || now()::date ||
                    ': a member of analyst, reads analytics only.')`;
    for (const { statement } of statements) await tx.unsafe(statement);
  });
  return { role, password };
}

/**
 * Drops the login `analyst_<name>` after ending its sessions. Refuses (AnalystLoginError,
 * nothing changed) a name that is invalid, a role that does not exist, and a role that is not a
 * plain analyst login (no login, not a member of analyst, a member of another role, or holding
 * a privileged attribute). Returns the role and how many sessions were ended.
 */
export async function removeAnalystLogin(
  sql: postgres.Sql,
  name: string,
): Promise<{ role: string; sessionsEnded: number }> {
  const role = parseName(name);
  await requireGroup(sql);
  return await sql.begin(async (tx) => {
    const [found] = await tx`
      select r.rolcanlogin
             and exists (select 1 from pg_catalog.pg_auth_members m
                          where m.member = r.oid and m.roleid = ${analystGroup}::regrole)
             and not exists (select 1 from pg_catalog.pg_auth_members m
                              where m.member = r.oid and m.roleid <> ${analystGroup}::regrole)
             and not (r.rolsuper or r.rolcreaterole or r.rolcreatedb or r.rolreplication
                      or r.rolbypassrls) as plain
        from pg_catalog.pg_roles r
       where r.rolname = ${role}`;
    if (!found) throw new AnalystLoginError(`There is no role ${role}.`);
    if (!found.plain) {
      throw new AnalystLoginError(
        `${role} is not a plain analyst login (a login member of ${analystGroup} only): ` +
          "not removed.",
      );
    }
    const [ended] = await tx`
      select count(*) filter (where pg_catalog.pg_terminate_backend(a.pid))::int as n
        from pg_catalog.pg_stat_activity a
       where a.usename = ${role}`;
    const [drop] = await tx`select format('drop role %I', ${role}::text) as statement`;
    await tx.unsafe(drop.statement);
    return { role, sessionsEnded: ended.n };
  });
}

/** Every login that is a member of `analyst`, by name. */
export async function listAnalystLogins(sql: postgres.Sql): Promise<AnalystLogin[]> {
  await requireGroup(sql);
  const rows = await sql<
    { role: string; sessions: number; connection_limit: number; note: string | null }[]
  >`
    select r.rolname as role,
           (select count(*)::int from pg_catalog.pg_stat_activity a
             where a.usename = r.rolname) as sessions,
           r.rolconnlimit as connection_limit,
           pg_catalog.shobj_description(r.oid, 'pg_authid') as note
      from pg_catalog.pg_auth_members m
      join pg_catalog.pg_roles r on r.oid = m.member
     where m.roleid = ${analystGroup}::regrole and r.rolcanlogin
     order by r.rolname`;
  return rows.map((row) => ({
    role: row.role,
    sessions: row.sessions,
    connectionLimit: row.connection_limit,
    note: row.note,
  }));
}

function parseName(name: string): string {
  const parsed = analystName.safeParse(name);
  if (!parsed.success) {
    throw new AnalystLoginError(
      `Invalid name ${JSON.stringify(name)}: ${parsed.error.issues[0].message}.`,
    );
  }
  return parsed.data;
}
