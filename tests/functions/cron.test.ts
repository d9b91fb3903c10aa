// pg_cron's runner must reach the database: by default it connects over TCP, where the local
// clusters ask for a password it does not have, and every job failed. The clusters point it at
// their Unix socket (local connections are trusted). pg_cron 1.4 schedules by the minute, so this
// checks the connection it will use rather than waiting for a run.
import assert from "node:assert/strict";
import { adminSql, dbTest } from "./_helpers.ts";

dbTest("cron: pg_cron's runner connects through the cluster's socket", async () => {
  const [row] = await adminSql()`
    select current_setting('cron.host') as host, current_setting('port') as port,
           current_setting('unix_socket_directories') as sockets`;
  assert.match(row.host, /^\//, "a socket directory, not a TCP host");
  assert.equal(row.host, row.sockets);
  const socket = await Deno.stat(`${row.host}/.s.PGSQL.${row.port}`);
  assert.ok(socket.isSocket, "the server listens there");
});
