// A receipt never leaves without its document, however its message races the claim (seen by the
// simulated desk: about 2 WhatsApp receipts in 580 refused with 132000, the header's document
// parameter missing). The dispatcher's claim statement reads each message's document, HTML part
// and WhatsApp header format by joining public.messages beside private.claim_messages(); the
// claim's own queries see every message committed until they run, the join only those committed
// when the statement began. A receipt queued in between (the worker woken by its NOTIFY) was
// claimed with no document and no header format, and WhatsApp got the approved template without
// its document header. Here the claim is held (the test holds app_settings, which the claim reads
// first) while the receipt's message is queued and committed, then let go: the message must go
// with its document header, once.
import assert from "node:assert/strict";
import { parseConfig } from "../../functions/_shared/config.ts";
import { closeDb } from "../../functions/_shared/db.ts";
import { drainBatch } from "../../functions/_shared/dispatch.ts";
import { buildProviders } from "../../functions/_shared/providers/mod.ts";
import type { OutboundMessage, Provider } from "../../functions/_shared/providers/types.ts";
import { startSandbox } from "../../sandbox/mod.ts";
import { sandboxEnv } from "../../scripts/lib/sandbox_env.ts";
import { adminSql, createCase, dbTest } from "./_helpers.ts";
import { grantConsent } from "./_messaging.ts";

const sandbox = await startSandbox();
const built = buildProviders(parseConfig({
  ...sandboxEnv(sandbox, "http://127.0.0.1:9/functions/v1"),
  FUNCTIONS_DB_URL: Deno.env.get("FUNCTIONS_DB_URL"),
}));

/** What the WhatsApp provider was handed, by our message id (then sent to the sandbox). */
const handed = new Map<string, OutboundMessage[]>();
const whatsapp = built.whatsapp_cloud as Provider;
const providers = {
  ...built,
  whatsapp_cloud: {
    ...whatsapp,
    send: (message: OutboundMessage, signal?: AbortSignal) => {
      handed.set(message.id, [...(handed.get(message.id) ?? []), message]);
      return whatsapp.send(message, signal);
    },
  } satisfies Provider,
};

/** The document the dispatcher would attach: a link named for it (no store needed here). */
const attach = (documentId: string) =>
  Promise.resolve({ link: `https://store.test/${documentId}.pdf`, filename: "receipt.pdf" });

/** A case's customer opted in to WhatsApp, and a pending document of the case to carry. */
async function customerWithDocument() {
  const fixture = await createCase("farah.agent@py360.test");
  await grantConsent(fixture.customerId, "whatsapp", "transactional");
  const [document] = await adminSql()`
    select r.id from private.register_generated_document('renewal_notice', ${fixture.caseId}) r`;
  return { ...fixture, documentId: document.id as string };
}

/** Waits (at most 10 s) until the claim statement of `worker` waits for a lock. */
async function claimWaiting(worker: string) {
  const giveUpAt = Date.now() + 10_000;
  while (Date.now() < giveUpAt) {
    const rows = await adminSql()`
      select 1 from pg_catalog.pg_stat_activity
       where wait_event_type = 'Lock' and position(${worker} in query) > 0`;
    if (rows.length > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`the claim of ${worker} never waited`);
}

async function messageState(id: string) {
  const [row] = await adminSql()`
    select status::text, attempts, last_error_code, document_id
      from public.messages where id = ${id}`;
  return row;
}

/** The WhatsApp requests the sandbox accepted for our message id. */
async function accepted(messageId: string) {
  const response = await fetch(
    `${sandbox.url}/_inspect/whatsapp_cloud/requests?ourId=${messageId}`,
  );
  assert.equal(response.status, 200);
  return await response.json() as {
    template?: string;
    params: { template?: { components: { type: string; parameters: unknown[] }[] } };
  }[];
}

dbTest(
  "receipts claim race: a receipt queued while the claim runs goes with its document header",
  async () => {
    const { customerId, caseId, documentId } = await customerWithDocument();
    const worker = `receipts-race-${crypto.randomUUID()}`;
    const key = `receipt-race:${crypto.randomUUID()}`;

    // Hold the claim: it reads app settings first, after its statement has begun.
    const holder = await adminSql().reserve();
    let drained: ReturnType<typeof drainBatch> | undefined;
    let messageId = "";
    let committed = false;
    try {
      await holder`begin`;
      await holder`lock table public.app_settings in access exclusive mode`;
      drained = drainBatch({ worker, providers, batchSize: 1000, attach });
      await claimWaiting(worker);
      // The receipt's message, queued and given its document as queue_payment_message does,
      // committed while the claim waits.
      const [queued] = await holder`
        select e.message_id from private.enqueue_messages(${
        holder.json({
          customer_id: customerId,
          case_id: caseId,
          channel: "whatsapp",
          template_code: "payment_receipt",
          priority: 0,
          idempotency_key: key,
          variables: { customer_name: "Race Customer", amount_paid: "₹15,000.00" },
        })
      }::jsonb) e`;
      messageId = queued.message_id;
      await holder`update public.messages set document_id = ${documentId} where id = ${messageId}`;
      await holder`commit`;
      committed = true;
    } finally {
      // Never leave app_settings locked for the other tests, whatever failed.
      if (!committed) await holder`rollback`.catch(() => {});
      holder.release();
      if (!committed) await drained?.catch(() => {});
    }
    await drained;

    // Never handed to WhatsApp without its document header.
    for (const message of handed.get(messageId) ?? []) {
      const components = message.whatsapp?.template?.components ?? [];
      assert.deepEqual(
        components[0],
        {
          type: "header",
          parameters: [{
            type: "document",
            document: { link: `https://store.test/${documentId}.pdf`, filename: "receipt.pdf" },
          }],
        },
        "a WhatsApp receipt goes with its document header",
      );
    }
    const state = await messageState(messageId);
    assert.notEqual(state.last_error_code, "132000", "WhatsApp never refused it");
    assert.equal(state.document_id, documentId);

    // The held claim picked it (the race happened) and sent it at once, with the header, once.
    assert.equal(state.status, "sent", JSON.stringify(state));
    assert.equal(state.attempts, 1, "one attempt counted");
    const requests = await accepted(messageId);
    assert.equal(requests.length, 1, "sent once");
    assert.equal(requests[0].template, "payment_receipt");
    const components = requests[0].params.template!.components;
    assert.deepEqual(components.map((c) => [c.type, c.parameters.length]), [
      ["header", 1],
      ["body", 2],
    ]);
    assert.equal(handed.get(messageId)?.length, 1, "handed to the provider once");
  },
);

dbTest(
  "receipts claim race: a WhatsApp template with a document header and no document is not sent",
  async () => {
    const { customerId, caseId } = await customerWithDocument();
    const [queued] = await adminSql()`
      select e.message_id from private.enqueue_messages(${
      adminSql().json({
        customer_id: customerId,
        case_id: caseId,
        channel: "whatsapp",
        template_code: "payment_receipt",
        priority: 0,
        idempotency_key: `receipt-none:${crypto.randomUUID()}`,
        variables: { customer_name: "No Document", amount_paid: "₹15,000.00" },
      })
    }::jsonb) e`;
    const messageId = queued.message_id as string;
    assert.equal((await messageState(messageId)).status, "queued");
    await drainBatch({
      worker: `receipts-none-${crypto.randomUUID()}`,
      providers,
      batchSize: 1000,
      attach,
    });
    const state = await messageState(messageId);
    assert.equal(state.status, "failed", JSON.stringify(state));
    assert.equal(state.last_error_code, "document_missing");
    assert.equal(state.document_id, null);
    assert.equal(handed.get(messageId), undefined, "never handed to WhatsApp");
    assert.equal((await accepted(messageId)).length, 0, "WhatsApp received nothing");
  },
);

dbTest("receipts claim race: close the sandbox", async () => {
  await sandbox.close();
  await closeDb();
});
