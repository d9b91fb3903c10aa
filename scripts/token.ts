// `npm run token -- <email>`: an access token for a user of the dev database, for curl and
// supabase-js, as GoTrue would issue after sign-in.
import postgres from "postgres";
import { devCluster } from "./lib/cluster.ts";
import { userToken } from "./lib/keys.ts";

const email = Deno.args[0];
const cluster = await devCluster();
if (!(await cluster.isRunning())) {
  console.error("The dev database is not running: start it with `npm start`.");
  Deno.exit(1);
}
const sql = postgres(cluster.url(), { max: 1, onnotice: () => {} });
try {
  const [user] = email
    ? await sql`select id, email, raw_app_meta_data from auth.users where email = ${email}`
    : [];
  if (!user) {
    const users = await sql`select email from auth.users order by email`;
    console.error(`${email ? `No user ${email}.` : "Name a user."} Users:`);
    for (const { email } of users) console.error(`  ${email}`);
    Deno.exit(1);
  }
  console.log(
    await userToken({ id: user.id, email: user.email, appMetadata: user.raw_app_meta_data }),
  );
} finally {
  await sql.end();
}
