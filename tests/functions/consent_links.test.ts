// The withdrawal link's must-show (issue 13), through the `consent` function in-process: a
// forged, expired or replayed link is refused and changes nothing; a real one withdraws, and the
// next marketing message to that customer is blocked (consent_withdrawn); a link sent to one
// customer cannot withdraw another; a key rotation keeps links working inside its overlap and
// refuses them after the old key's retire_at. One-click (RFC 8058) bodies withdraw too, and a
// marketing email sent through SendGrid offers its link as one-click unsubscribe headers.
import assert from "node:assert/strict";
import app from "../../functions/consent/app.ts";
import { sendgridBody } from "../../functions/_shared/providers/sendgrid.ts";
import { adminSql, dbTest } from "./_helpers.ts";
import { ledgerSize, linkFixture, marketingState, tamper } from "./_consent_links.ts";

const granted = ["sms", "email", "whatsapp", "telegram", "voice"].map((ch) =>
  `${ch}:granted:web_form`
);
const withdrawn = ["sms", "email", "whatsapp", "telegram", "voice"].map((ch) =>
  `${ch}:withdrawn:withdrawal_link`
);

/** Taps the link (POST), as the page's form does unless told otherwise. */
async function tap(token: string, body = "lang=en") {
  const response = await app.request(`/consent/w/${token}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body,
  });
  return { status: response.status, html: await response.text() };
}

/** The next marketing email to the customer, through the gate: its status and reason. */
async function nextMarketing(customerId: string) {
  const [row] = await adminSql()`
    select e.status, e.blocked_reason from private.enqueue_messages(${
    adminSql().json({
      customer_id: customerId,
      channel: "email",
      idempotency_key: `test:${crypto.randomUUID()}`,
      body: "Another offer",
      subject: "Offer",
      purpose: "marketing",
    })
  }::jsonb) e`;
  return row as { status: string; blocked_reason: string | null };
}

dbTest("consent links: forged, tampered, malformed and expired links change nothing", async () => {
  const f = await linkFixture();
  const before = await ledgerSize(f.customerId);
  const [expired] = await adminSql()`
    select private.consent_link_token(${f.messageId}, now() - interval '1 second') as token`;
  const cases: [string, string, number][] = [
    ["its message id changed", tamper(f.token, 8), 404],
    ["its expiry changed", tamper(f.token, 28), 404],
    ["its signature changed", tamper(f.token, 45), 404],
    ["cut short", f.token.slice(0, 40), 404],
    ["not base64url", "!".repeat(52), 404],
    ["expired", expired.token, 410],
  ];
  for (const [what, token, status] of cases) {
    const get = await app.request(`/consent/w/${encodeURIComponent(token)}`);
    assert.equal(get.status, status, `GET of a link ${what}`);
    assert.match(await get.text(), /<!doctype html>/);
    const post = await tap(encodeURIComponent(token));
    assert.equal(post.status, status, `POST of a link ${what}`);
    assert.doesNotMatch(post.html, /Offers stopped/);
  }
  assert.deepEqual(await marketingState(f.customerId), granted, "consent unchanged");
  assert.equal(await ledgerSize(f.customerId), before, "no ledger row");
  assert.equal((await nextMarketing(f.customerId)).blocked_reason === "consent_withdrawn", false);
});

dbTest(
  "consent links: a real link withdraws once; the next marketing message is blocked",
  async () => {
    const f = await linkFixture();
    const other = await linkFixture();
    const before = await nextMarketing(f.customerId);
    assert.notEqual(before.blocked_reason, "consent_withdrawn");

    const done = await tap(f.token);
    assert.equal(done.status, 200);
    assert.match(done.html, /Offers stopped/);
    assert.deepEqual(await marketingState(f.customerId), withdrawn);
    const [evidence] = await adminSql()`
    select array_agg(distinct evidence ->> 'message_id') as ids from public.consent_ledger
     where customer_id = ${f.customerId} and source = 'withdrawal_link'`;
    assert.deepEqual(evidence.ids, [f.messageId], "the message is the evidence");

    const after = await nextMarketing(f.customerId);
    assert.deepEqual(after, { status: "blocked", blocked_reason: "consent_withdrawn" });

    assert.deepEqual(
      await marketingState(other.customerId),
      granted,
      "the other customer untouched",
    );
    assert.notEqual((await nextMarketing(other.customerId)).blocked_reason, "consent_withdrawn");

    const size = await ledgerSize(f.customerId);
    const replay = await tap(f.token);
    assert.equal(replay.status, 410, "a replay is refused");
    assert.match(replay.html, /already used/);
    const replayGet = await app.request(`/consent/w/${f.token}`);
    assert.equal(replayGet.status, 410);
    await replayGet.body?.cancel();
    assert.equal(await ledgerSize(f.customerId), size, "and writes nothing");
  },
);

dbTest("consent links: an RFC 8058 one-click POST withdraws", async () => {
  const f = await linkFixture();
  const done = await tap(f.token, "List-Unsubscribe=One-Click");
  assert.equal(done.status, 200);
  assert.deepEqual(await marketingState(f.customerId), withdrawn);
});

dbTest("consent links: a link names its own customer only", async () => {
  const a = await linkFixture();
  const b = await linkFixture("gopal.agent@py360.test");
  // Splice B's message id into A's token: the signature no longer holds.
  const raw = (t: string) =>
    Uint8Array.from(atob(t.replaceAll("-", "+").replaceAll("_", "/")), (ch) => ch.charCodeAt(0));
  const spliced = raw(a.token);
  spliced.set(raw(b.token).slice(3, 19), 3);
  const token = btoa(String.fromCharCode(...spliced)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
  assert.equal((await tap(token)).status, 404);
  assert.deepEqual(await marketingState(b.customerId), granted);
  assert.deepEqual(await marketingState(a.customerId), granted);
  assert.equal((await tap(a.token)).status, 200);
  assert.deepEqual(await marketingState(a.customerId), withdrawn);
  assert.deepEqual(await marketingState(b.customerId), granted, "A's link left B alone");
});

dbTest("consent links: after a rotation the old key verifies until its retire_at", async () => {
  const inside = await linkFixture();
  const after = await linkFixture();
  const sql = adminSql();
  const [{ kid: oldKid }] = await sql`
    select kid from private.link_signing_keys where retire_at is null`;
  await sql`select private.rotate_link_signing_key('30 days')`;
  try {
    assert.equal((await tap(inside.token)).status, 200, "inside the overlap the old key works");
    assert.deepEqual(await marketingState(inside.customerId), withdrawn);
    // The overlap passes (the key's retire_at moved into the past, as the clock would).
    await sql`update private.link_signing_keys set retire_at = now() - interval '1 second'
               where kid = ${oldKid}`;
    assert.equal((await tap(after.token)).status, 404, "after retire_at it is refused");
    assert.deepEqual(await marketingState(after.customerId), granted, "consent unchanged");
    const [fresh] = await sql`select private.consent_link_url(${after.messageId}) as url`;
    assert.equal((await tap((fresh.url as string).split("/w/")[1])).status, 200, "new links work");
  } finally {
    await sql`update private.link_signing_keys set retire_at = now() + interval '1 hour'
               where kid = ${oldKid} and retire_at < now()`;
  }
});

Deno.test("consent links: a marketing email offers its link as RFC 8058 one-click headers", () => {
  const link = `http://127.0.0.1:54321/functions/v1/consent/w/${"A".repeat(52)}`;
  const email = {
    id: crypto.randomUUID(),
    channel: "email" as const,
    to: "c@example.test",
    subject: "An offer",
    body: `An offer.\n\nTo stop offers: ${link}`,
  };
  assert.deepEqual(sendgridBody({ ...email, purpose: "marketing" }, "from@example.test").headers, {
    "List-Unsubscribe": `<${link}>`,
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
  });
  assert.equal(
    "headers" in sendgridBody({ ...email, purpose: "service" }, "from@example.test"),
    false,
    "a service email has none",
  );
  assert.equal(
    "headers" in sendgridBody({ ...email, purpose: "marketing", body: "No link" }, "f@e.test"),
    false,
    "nor a marketing email without its link",
  );
});
