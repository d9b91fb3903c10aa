// The drain: what every host of the dispatcher runs (the `dispatch` edge function, the local
// worker). One batch at a time, in two round trips to the database: one statement claims under a
// lease, takes send permits (the rate limit and the circuit breakers all instances share) and
// hands back what may not go yet; the rest is sent concurrently through the providers; one
// statement records the batch's results. The
// rules (retries, fallback providers, dead letters, suppressions) are the database's
// (migration 20261129010300_create_message_dispatch); this file only moves messages to vendors.
// A message that carries a document (messages.document_id: a receipt, a renewal notice) has it
// rendered and stored first (documents/ensure.ts); WhatsApp sends it as the template's document
// header, email and SMS carry its /d/ link in their text already.
import { asServiceInOneTrip } from "./db.ts";
import { type Attachment, documentAttachment } from "./documents/ensure.ts";
import type { outboxChannels } from "./domain.ts";
import { isConnectionFailure } from "./errors.ts";
import { log } from "./log.ts";
import type { OutboundMessage, Provider, ProviderCode, SendResult } from "./providers/types.ts";

/** A claimed message as private.claim_messages() returns it (private.claimed_message). */
export interface ClaimedMessage {
  id: string;
  attempts: number;
  channel: (typeof outboxChannels)[number];
  purpose: "transactional" | "service" | "marketing";
  provider: ProviderCode | null;
  recipient: string | null;
  subject: string | null;
  body: string;
  whatsapp_name: string | null;
  whatsapp_language: string | null;
  whatsapp_parameters: string[] | null;
  dlt_entity_id: string | null;
  dlt_header: string | null;
  dlt_template_id: string | null;
  /** The email's HTML part (messages.body_html, read beside the claim; staff notifications). */
  body_html?: string | null;
  /** The document the message carries (messages.document_id, read beside the claim). */
  document_id?: string | null;
  /** The WhatsApp template's header format (templates.whatsapp_header_format): `document`
   * takes the message's document as its header parameter. */
  whatsapp_header?: string | null;
}

/** How one drain behaves. */
export interface DrainOptions {
  /** This dispatcher's name, which holds the leases (unique per process). */
  worker: string;
  /** The providers that may send, by code; a message for any other provider falls back. */
  providers: Partial<Record<ProviderCode, Provider>>;
  /** Messages claimed at a time (1-1000). Default 100. */
  batchSize?: number;
  /** Sends in flight at once. Default 32. */
  concurrency?: number;
  /** The providers' deadline for one send (PROVIDER_TIMEOUT_MS), in milliseconds: a send starts
   * only while it can end within its batch's lease (leaseWindow). Default 10 000. */
  sendTimeoutMs?: number;
  /** Stop after this many milliseconds (a batch in hand is finished first). Default 10 000. */
  budgetMs?: number;
  /** Stops the drain: no further batch is claimed and the batch in hand starts no further send
   * (those are handed back unsent), but the sends in flight finish (each within its deadline)
   * and are recorded. Aborting them would leave messages the vendor may have accepted to be
   * sent again, and count our own stop as the vendor's failure. */
  signal?: AbortSignal;
  /** Batches in hand at once: while one batch's sends are out or its results are being
   * recorded, the next is claimed (the sends of all share `concurrency`). Default 2. */
  lanes?: number;
  /** How long a batch's results are offered again while the database is unreachable (a
   * restart, a failover) before the drain gives up on them. Default 30 000 ms. */
  recordPatienceMs?: number;
  /** Makes a message's document ready to send: stored, and a link to it (default:
   * documentAttachment of documents/ensure.ts, through the configured object store). */
  attach?: (documentId: string) => Promise<Attachment>;
}

/** What a drain did, in messages. */
export interface DrainStats {
  batches: number;
  /** Taken from the queue: claimed, or held back at send time (blocked, deferred, cancelled,
   * dead, over the day's quota). */
  picked: number;
  claimed: number;
  sent: number;
  failed: number;
  /** Handed back unsent: no send permit yet, or its send could not start within the lease. */
  released: number;
}

/**
 * The message as its provider takes it: WhatsApp templates with their body parameters and, when
 * the template has a document header, the message's `attachment` as its parameter
 * ({type: "document", document: {link, filename}}). Email and SMS ignore the attachment: their
 * text carries the document's /d/ link.
 */
export function outboundMessage(claimed: ClaimedMessage, attachment?: Attachment): OutboundMessage {
  const message: OutboundMessage = {
    id: claimed.id,
    channel: claimed.channel,
    to: claimed.recipient ?? "",
    body: claimed.body,
    subject: claimed.subject ?? undefined,
    purpose: claimed.purpose,
  };
  if (claimed.channel === "email" && claimed.body_html) message.html = claimed.body_html;
  if (claimed.channel === "whatsapp") {
    message.whatsapp = claimed.whatsapp_name
      ? {
        template: {
          name: claimed.whatsapp_name,
          language: claimed.whatsapp_language ?? "en",
          components: [
            ...(attachment && claimed.whatsapp_header === "document"
              ? [{
                type: "header",
                parameters: [{ type: "document", document: { ...attachment } }],
              }]
              : []),
            ...((claimed.whatsapp_parameters ?? []).length > 0
              ? [{
                type: "body",
                parameters: (claimed.whatsapp_parameters ?? []).map((text) => ({
                  type: "text",
                  text,
                })),
              }]
              : []),
          ],
        },
      }
      : { text: claimed.body };
  }
  if (claimed.dlt_entity_id && claimed.dlt_template_id) {
    message.dlt = {
      entityId: claimed.dlt_entity_id,
      templateId: claimed.dlt_template_id,
      senderId: claimed.dlt_header ?? undefined,
    };
  }
  return message;
}

/** When the sends of one batch may start and must end, as epoch milliseconds. */
export interface LeaseWindow {
  /** No send of the batch starts after this. */
  startBy: number;
  /** Every send of the batch is over by this; the rest of the lease is for their results. */
  endBy: number;
}

/**
 * The sending window of a batch claimed at `claimedAt` (epoch ms, read before the claim was
 * asked for, so never later than the database's claim time) under a lease of `leaseSeconds`
 * (MESSAGE_LEASE_SECONDS). The last tenth of the lease, at least 500 ms, is kept for recording the
 * results: `endBy`. A send starts no later than a whole send deadline (`timeoutMs`) before it, so
 * it ends, answered or timed out, while the lease holds; a deadline longer than half the time to
 * endBy (a lease too short for PROVIDER_TIMEOUT_MS) is cut to that half, and such sends are cut
 * at endBy. A message whose send did not start in time is handed back unsent: a send made after
 * the lease ran out races the dispatcher that took the message over (the message goes twice).
 */
export function leaseWindow(
  claimedAt: number,
  leaseSeconds: number,
  timeoutMs: number,
): LeaseWindow {
  const leaseMs = leaseSeconds * 1000;
  const endBy = claimedAt + leaseMs - Math.max(500, leaseMs / 10);
  return { startBy: endBy - Math.min(timeoutMs, (endBy - claimedAt) / 2), endBy };
}

/** A result as private.record_send_results() takes it. */
interface RecordedResult {
  id: string;
  attempt: number;
  ok: boolean;
  provider_message_id?: string;
  cost_paise?: number;
  disposition?: string;
  code?: string;
  message?: string;
  retry_after_ms?: number;
  address_dead?: boolean;
  throttled?: boolean;
}

function recorded(claimed: ClaimedMessage, result: SendResult): RecordedResult {
  return result.ok
    ? {
      id: claimed.id,
      attempt: claimed.attempts,
      ok: true,
      provider_message_id: result.providerMessageId,
      cost_paise: result.costPaise,
    }
    : {
      id: claimed.id,
      attempt: claimed.attempts,
      ok: false,
      disposition: result.disposition,
      code: result.code,
      message: result.message,
      retry_after_ms: result.retryAfterMs,
      address_dead: result.addressDead ?? false,
      throttled: result.throttled ?? false,
    };
}

/** Runs each job with at most `limit` running at once (shared by every batch of a drain). */
export type Limiter = <T>(job: () => Promise<T>) => Promise<T>;

/** A Limiter allowing `limit` jobs at once, the rest waiting in turn. */
function limiter(limit: number): Limiter {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (job) => {
    if (running < limit) running++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await job();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}

/** A claimed message with what the claim decided for it on this host. */
interface Decided extends ClaimedMessage {
  /** send: a permit is in hand; held: handed back (no permit yet); unconfigured: no provider
   * here (recorded as a fallback). */
  action: "send" | "held" | "unconfigured";
  /** Whether the claim statement's own snapshot held the message row (so body_html,
   * document_id and whatsapp_header were read): false for a message committed after the
   * statement began and before private.claim_messages() picked it. */
  seen: boolean;
}

/**
 * Fills in body_html, document_id and whatsapp_header of the claimed messages to send that the
 * claim statement could not see (`seen` false): its join reads public.messages as of the
 * statement's start, while private.claim_messages() picks messages committed until it runs (a
 * receipt queued just as the worker woke). One more round trip, only when that happened; the
 * rows are ours under the lease and committed, so this read sees them. Without it a WhatsApp
 * receipt went with no document header (Meta's 132000) and a staff email with no HTML part.
 * Throws what the database throws (the claimed messages come back after their lease).
 */
async function readUnseenExtras(claimed: Decided[]): Promise<void> {
  const unseen = claimed.filter((message) => !message.seen && message.action === "send");
  if (unseen.length === 0) return;
  const rows = await asServiceInOneTrip<
    {
      id: string;
      body_html: string | null;
      document_id: string | null;
      whatsapp_header: string | null;
    }[]
  >`
    select msg.id, msg.body_html, msg.document_id, t.whatsapp_header_format as whatsapp_header
      from public.messages msg
      left join public.templates t on t.id = msg.template_id
     where msg.id = any (array(select jsonb_array_elements_text(${
    unseen.map((message) => message.id)
  }::jsonb))::uuid[])`;
  const byId = new Map(rows.map((extras) => [extras.id, extras]));
  for (const message of unseen) {
    const extras = byId.get(message.id);
    if (!extras) continue;
    message.body_html = extras.body_html;
    message.document_id = extras.document_id;
    message.whatsapp_header = extras.whatsapp_header;
    message.seen = true;
  }
}

/**
 * Records a batch's results and hands back (lease_ran_short) the messages whose sends did not
 * start in time, offering them again while the database cannot be reached, for up to
 * `patienceMs`: the messages are out at their vendors, and a result lost here would send each
 * of them again once its lease ran out. Offering twice is harmless: private.record_send_results
 * and private.release_messages take only messages still `sending` under this worker (the
 * results, at the claimed attempt). Throws the database's error when it is not a connection
 * failure, or when patience runs out.
 */
async function recordResults(
  worker: string,
  results: RecordedResult[],
  handedBack: string[],
  patienceMs = 30_000,
) {
  const giveUpAt = Date.now() + patienceMs;
  for (let waitMs = 100;; waitMs = Math.min(waitMs * 2, 2_000)) {
    try {
      if (handedBack.length === 0) {
        await asServiceInOneTrip`select private.record_send_results(${worker}, ${results}::jsonb)`;
      } else {
        await asServiceInOneTrip`
          select private.record_send_results(${worker}, ${results}::jsonb),
                 private.release_messages(${worker},
                   array(select jsonb_array_elements_text(${handedBack}::jsonb))::uuid[],
                   now(), now(), 'lease_ran_short')`;
      }
      return;
    } catch (error) {
      if (!isConnectionFailure(error) || Date.now() + waitMs > giveUpAt) throw error;
      log("warn", "dispatch: cannot record results yet; offering them again", {
        worker,
        results: results.length,
        error,
      });
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}

/**
 * One batch in two round trips: one statement claims up to `batchSize`, takes the send permits
 * for the providers this host has, and hands back (release_messages) what the permits do not
 * cover, each message due when the provider's bucket will hold its permit; the sends go out
 * concurrently, each only while it can end within the lease (leaseWindow); one statement records
 * the results and hands back the messages not sent in time. Returns the batch's counts (picked
 * 0: nothing was due; released counts both kinds handed back).
 */
export async function drainBatch(
  options: DrainOptions,
  limit: Limiter = limiter(options.concurrency ?? 32),
): Promise<Omit<DrainStats, "batches">> {
  const { worker, providers } = options;
  const batchSize = options.batchSize ?? 100;
  const configured = Object.keys(providers).filter((code) =>
    providers[code as ProviderCode] !== undefined
  );
  // The claim (private.claim_messages) in its two steps, the lease (private.lease_batch: what to
  // send, and how many messages it took from the queue) and the quotas, with the lookup of each
  // message's HTML part and document (not among the claim's columns) between them: the quotas
  // and the permits lock rows every dispatcher shares until this statement commits, so they come
  // last. The lookup sees the messages committed when the statement began; the claim's own
  // queries, later ones too (seen: false), whose columns are read after it (readUnseenExtras).
  // It finds the batch by primary key (id = any): as a join, the planner read the whole outbox
  // for each batch while it held fewer than about 50,000 messages or its statistics said it was
  // empty. The worker's name stays in the statement's first kilobyte, which pg_stat_activity
  // shows.
  const claimedAt = Date.now();
  const [row] = await asServiceInOneTrip<
    { picked: number; messages: Decided[] | null; released: number; lease_seconds: number }[]
  >`
    with batch as materialized (
      select b.picked, b.leased from private.lease_batch(${worker}, ${batchSize}) b
    ),
    leased as materialized (
      select l.* from batch b cross join lateral unnest(b.leased) with ordinality as l
    ),
    extras as materialized (
      select msg.id, msg.body_html, msg.document_id,
             (select t.whatsapp_header_format from public.templates t
               where t.id = msg.template_id) as whatsapp_header
        from public.messages msg
       where msg.id = any (array(select x.id from leased x))
    ),
    claimed as materialized (
      -- The condition on extras is checked once, before the quotas run: so the lookup runs
      -- first, whichever side the join below reads first.
      select c.*
        from private.apply_daily_quotas(array(
               select row(x.id, x.attempts, x.channel, x.purpose, x.provider, x.recipient,
                          x.subject, x.body, x.whatsapp_name, x.whatsapp_language,
                          x.whatsapp_parameters, x.dlt_entity_id, x.dlt_header,
                          x.dlt_template_id)::private.claimed_message
                 from leased x order by x.ordinality)) with ordinality as c
       where (select count(*) from extras) >= 0
    ),
    mine as materialized (
      select c.*, c.provider = any (array(select jsonb_array_elements_text(${configured}::jsonb)))
                    as configured,
             e.body_html, e.document_id, e.whatsapp_header, e.id is not null as seen,
             row_number() over (partition by c.provider order by c.ordinality) as rank
        from claimed c
        left join extras e on e.id = c.id
    ),
    wanted as (
      select jsonb_object_agg(m.provider, m.count) as asked
        from (select provider, count(*) from mine where configured group by provider) m
    ),
    permits as materialized (
      select p.* from wanted w cross join lateral private.take_send_permits(w.asked) p
       where w.asked is not null
    ),
    decided as materialized (
      select m.*,
             case when not coalesce(m.configured, false) then 'unconfigured'
                  when m.rank <= coalesce(p.permits, 0) then 'send'
                  else 'held' end as action,
             case when p.breaker = 'closed' and m.rank > p.permits
                  -- The bucket refills a permit every (retry_at - now()) / (asked - permits)
                  -- seconds (asked: the provider's count in wanted): the h-th message held
                  -- comes due with its own permit (to 0.1 s), not all of them with the last
                  -- one's, which left the bucket full and idle while they waited, then sent one
                  -- second's worth and held the rest again.
                  then now() + make_interval(secs => ceil(
                         extract(epoch from p.retry_at - now()) * (m.rank - p.permits)
                         / ((select (w.asked ->> m.provider)::integer from wanted w) - p.permits)
                         * 10) / 10.0)
                  else coalesce(p.retry_at, now() + interval '1 second') end as retry_at
        from mine m
        left join permits p on p.provider = m.provider
    ),
    released as materialized (
      select private.release_messages(${worker}, array_agg(d.id), d.retry_at) as count
        from decided d where d.action = 'held'
       group by d.retry_at
    )
    select (select b.picked from batch b) as picked,
           (select json_agg(d order by d.ordinality) from decided d) as messages,
           (select coalesce(sum(r.count), 0)::integer from released r) as released,
           -- The lease just taken, read as private.lease_batch reads it.
           coalesce((private.setting('MESSAGE_LEASE_SECONDS') #>> '{}')::integer, 60)
             as lease_seconds`;
  const claimed = row.messages ?? [];
  const stats = {
    picked: row.picked,
    claimed: claimed.length,
    sent: 0,
    failed: 0,
    released: row.released,
  };
  if (claimed.length === 0) return stats;
  await readUnseenExtras(claimed);
  const timeoutMs = options.sendTimeoutMs ?? 10_000;
  const window = leaseWindow(claimedAt, row.lease_seconds, timeoutMs);
  const handedBack: string[] = [];

  const toSend: ClaimedMessage[] = [];
  const results: RecordedResult[] = [];
  for (const message of claimed) {
    if (message.action === "unconfigured") {
      // Not configured here: the channel's fallback provider, or failed with the reason.
      results.push({
        id: message.id,
        attempt: message.attempts,
        ok: false,
        disposition: "fallback",
        code: "not_configured",
        message: `provider ${message.provider ?? "(none)"} is not configured`,
      });
    } else if (message.action === "send") {
      toSend.push(message);
    }
  }

  // A send starts only while it can end within the lease and the host is not stopping; a message
  // that may not start is handed back unsent (as lease_ran_short, to be claimed again at once).
  const mayStart = () => Date.now() <= window.startBy && !options.signal?.aborted;
  await Promise.all(toSend.map((message) =>
    limit(async () => {
      // Waited too long for a free send, or the host is stopping.
      if (!mayStart()) return void handedBack.push(message.id);
      const provider = providers[message.provider as ProviderCode] as Provider;
      if (
        message.channel === "whatsapp" && message.whatsapp_name &&
        message.whatsapp_header === "document" && !message.document_id
      ) {
        // The approved template has a document header and there is no document to fill it:
        // WhatsApp would refuse it (132000). Not sent, never reaching the vendor.
        log("warn", "dispatch: a WhatsApp template with a document header has no document", {
          message_id: message.id,
        });
        results.push(recorded(message, {
          ok: false,
          disposition: "permanent",
          code: "document_missing",
          message: "the template has a document header and the message carries no document",
        }));
        return;
      }
      let attachment: Attachment | undefined;
      if (message.document_id) {
        try {
          attachment = await (options.attach ?? documentAttachment)(message.document_id);
        } catch (error) {
          // Not sent without its document: retried like a vendor's transient failure. Marked
          // throttled, as the vendor never saw it: its circuit breaker must not count it.
          log("warn", "dispatch: a message's document is not ready", {
            message_id: message.id,
            document_id: message.document_id,
            error,
          });
          results.push(recorded(message, {
            ok: false,
            disposition: "transient",
            code: "document_unavailable",
            message: "the message's document could not be rendered or stored",
            throttled: true,
          }));
          return;
        }
      }
      // Its document took the time, or the host is stopping meanwhile.
      if (!mayStart()) return void handedBack.push(message.id);
      // A send deadline longer than the window leaves (a lease too short for it): cut at endBy.
      const leaseLeft = window.endBy - Date.now();
      const cut = leaseLeft < timeoutMs ? AbortSignal.timeout(Math.max(0, leaseLeft)) : undefined;
      let result: SendResult;
      try {
        result = await provider.send(outboundMessage(message, attachment), cut);
        // Cut by our lease, not failed by the vendor: its circuit breaker must not count it, and
        // like a timeout it may have reached the vendor (its retry waits for the callback).
        if (!result.ok && cut?.aborted) {
          result = {
            ...result,
            code: "timeout",
            message: `cut at the end of the lease (it may have reached ${provider.code})`,
            throttled: true,
          };
        }
      } catch (error) {
        // Providers classify every vendor failure; a throw is our bug, retried like a timeout.
        log("error", "dispatch: a provider threw", { provider: provider.code, error });
        result = {
          ok: false,
          disposition: "transient",
          code: "provider_error",
          message: "the provider failed unexpectedly",
        };
      }
      results.push(recorded(message, result));
    })
  ));

  if (results.length > 0 || handedBack.length > 0) {
    await recordResults(worker, results, handedBack, options.recordPatienceMs);
  }
  stats.sent = results.filter((r) => r.ok).length;
  stats.failed = results.length - stats.sent;
  stats.released += handedBack.length;
  if (handedBack.length > 0) {
    log("warn", "dispatch: sends not started within the lease were handed back", {
      worker,
      handed_back: handedBack.length,
      lease_seconds: row.lease_seconds,
    });
  }
  return stats;
}

/**
 * Drains batch after batch until nothing is due, the budget is spent or the signal fires.
 * Throws what the database throws (the caller retries on its next tick): a message claimed
 * before a failure comes back after its lease.
 */
export async function drain(options: DrainOptions): Promise<DrainStats> {
  const deadline = Date.now() + (options.budgetMs ?? 10_000);
  const total: DrainStats = {
    batches: 0,
    picked: 0,
    claimed: 0,
    sent: 0,
    failed: 0,
    released: 0,
  };
  const limit = limiter(options.concurrency ?? 32);
  let done = false;
  const lane = async () => {
    while (!done && Date.now() < deadline && !options.signal?.aborted) {
      const batch = await drainBatch(options, limit);
      // Nothing due. A batch held back whole at send time is not the end: those messages left
      // the due set, and more may be behind them.
      if (batch.picked === 0) break;
      total.batches++;
      total.picked += batch.picked;
      total.claimed += batch.claimed;
      total.sent += batch.sent;
      total.failed += batch.failed;
      total.released += batch.released;
      // Everything to send held back (no permits): wait for the next tick rather than spin.
      if (batch.claimed > 0 && batch.released === batch.claimed) done = true;
    }
  };
  // A lane that fails stops the others at their next batch; the first error is thrown.
  const lanes = Array.from(
    { length: Math.max(1, options.lanes ?? 2) },
    () =>
      lane().catch((error) => {
        done = true;
        throw error;
      }),
  );
  const outcomes = await Promise.allSettled(lanes);
  const failure = outcomes.find((outcome) => outcome.status === "rejected");
  if (failure) throw (failure as PromiseRejectedResult).reason;
  return total;
}
