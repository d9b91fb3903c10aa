// The running stack the journeys use: the gateway in its own process serves the functions with
// a user's token and refuses a request without one, as Supabase's relay does.
import assert from "node:assert/strict";
import { api, journey, json, tokenFor } from "./_stack.ts";

journey("the stack: the gateway serves the API to a signed-in user only", async () => {
  const me = await json<{ email: string }>(
    await api("/me", { token: await tokenFor("arjun.agent@py360.test") }),
  );
  assert.equal(me.email, "arjun.agent@py360.test");
  const anonymous = await api("/me");
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.headers.get("content-type"), "application/problem+json");
  await anonymous.body?.cancel();
});
