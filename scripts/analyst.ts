// `npm run analyst -- add <name> | remove <name> | list [--db-url URL]`: analysts' logins on the
// dev database (or the one given). `add` creates the login `analyst_<name>`, a member of the
// `analyst` group role (reads the analytics schema only), and prints its password once; `remove`
// ends its sessions and drops it; `list` shows every analyst login. For a Supabase project the
// README gives the same as SQL.
import { parseArgs } from "node:util";
import postgres from "postgres";
import {
  addAnalystLogin,
  AnalystLoginError,
  analystName,
  listAnalystLogins,
  removeAnalystLogin,
} from "./lib/analyst_logins.ts";
import { prepareDevDatabase } from "./lib/dev.ts";

const usage = "usage: npm run analyst -- add <name> | remove <name> | list [--db-url <url>]\n" +
  "  <name>: 2 to 30 lower-case letters, digits or _, starting with a letter; the login is " +
  "analyst_<name>";

let parsed;
try {
  parsed = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: { "db-url": { type: "string" } },
  });
} catch (error) {
  console.error(`${(error as Error).message}\n${usage}`);
  Deno.exit(2);
}
const [command, name, ...extra] = parsed.positionals;
const wantsName = command === "add" || command === "remove";
if (
  !["add", "remove", "list"].includes(command ?? "") || (wantsName && name === undefined) ||
  (!wantsName && name !== undefined) || extra.length > 0
) {
  console.error(usage);
  Deno.exit(2);
}
const checked = wantsName ? analystName.safeParse(name) : undefined;
if (checked && !checked.success) {
  console.error(`Invalid name ${JSON.stringify(name)}: ${checked.error.issues[0].message}.`);
  Deno.exit(2);
}

const url = parsed.values["db-url"] ?? (await prepareDevDatabase()).cluster.url();
const sql = postgres(url, { max: 1, onnotice: () => {} });
try {
  if (command === "add") {
    const { role, password } = await addAnalystLogin(sql, name);
    const connect = new URL(url);
    connect.username = role;
    connect.password = password;
    console.log(`Created ${role}: a member of analyst, reads the analytics schema only.`);
    console.log(`Password (shown this once, not stored in clear): ${password}`);
    console.log(`Connect: psql '${connect.href}'`);
  } else if (command === "remove") {
    const { role, sessionsEnded } = await removeAnalystLogin(sql, name);
    console.log(
      `Removed ${role} (${sessionsEnded} session${sessionsEnded === 1 ? "" : "s"} ended).`,
    );
  } else {
    const logins = await listAnalystLogins(sql);
    if (logins.length === 0) console.log("No analyst logins.");
    for (const login of logins) {
      console.log(
        `${login.role}\t${login.sessions} of ${login.connectionLimit} sessions\t${
          login.note ?? ""
        }`,
      );
    }
  }
} catch (error) {
  if (!(error instanceof AnalystLoginError)) throw error;
  console.error(error.message);
  Deno.exitCode = 1;
} finally {
  await sql.end();
}
