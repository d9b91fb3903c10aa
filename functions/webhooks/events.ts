// What every vendor route of the webhooks shares: the event shape private.record_message_events
// takes, the one database round trip per delivery (concurrent deliveries share it), and the
// refusals (401, 400, 503) as problem+json.
import { ProblemError } from "../_shared/errors.ts";
import type { Config } from "../_shared/config.ts";
import { asServiceInOneTrip } from "../_shared/db.ts";
import type { ProviderCode } from "../_shared/providers/mod.ts";

/** Our statuses a vendor event can mean (public.message_status); null records the event only. */
export type EventStatus = "sent" | "delivered" | "read" | "failed" | "undeliverable";

/** Why an event puts an address on public.suppressions. */
export type SuppressReason = "hard_bounce" | "complaint" | "invalid_number" | "unsubscribed";

/**
 * One vendor event as private.record_message_events (migration 20261129010400) takes it.
 * - `event_key`: the vendor's event identity, unique per provider (1-300 characters): Twilio
 *   MessageSid:MessageStatus, the SNS MessageId, WhatsApp wamid:status, SendGrid sg_event_id.
 * - `kind`: status (a delivery report), inbound (a customer wrote), subscription (SNS handshake).
 * - `message_id` (our messages.id, a uuid, only when the vendor echoed a well-formed one) and/or
 *   `provider_message_id` (the vendor's id): how the row finds its message; neither matching
 *   keeps the event with message_id null, for reconciliation.
 * - `status`: what it means for the message (null: recorded only); `vendor_status`: the vendor's
 *   own word for it, stored as message_events.status.
 * - `error_code`, `error`: the vendor's code and a readable reason, for failures.
 * - `occurred_at`: ISO-8601, when the vendor says it happened (absent: now).
 * - `cost_paise`: the actual cost in paise, when the event reports one; `cost_rate`: instead, the
 *   key of the MESSAGE_RATES_PAISE setting whose rate is the cost (filled in by recordEvents'
 *   statement, so the setting is read in the same call).
 * - `suppress` with `address` and `channel`: the address to put on the suppression list (email
 *   lower-case, phones E.164); for inbound events `address`/`channel` say who wrote, on what.
 * - `reply`: an inbound message's text (opt-out words withdraw marketing consent).
 * - `opt_out` with `address` and `channel` (email): the vendor reports that the person at the
 *   address opted out (SendGrid's unsubscribe, group_unsubscribe, and a drop for an address on
 *   its unsubscribe list): marketing consent on that channel is withdrawn for every customer at
 *   the address and their queued marketing there cancelled, as an SMS STOP does; the address is
 *   not suppressed (receipts and service reminders still go).
 * - `payload`: the event as received.
 */
export interface VendorEvent {
  event_key: string;
  kind: "status" | "inbound" | "subscription";
  message_id?: string | null;
  provider_message_id?: string | null;
  status: EventStatus | null;
  vendor_status: string;
  error_code?: string | null;
  error?: string | null;
  occurred_at?: string | null;
  cost_paise?: number | null;
  cost_rate?: string | null;
  suppress?: SuppressReason | null;
  /** A WhatsApp failure SMS can get round (the provider's table says `fallback`): the
   * message's SMS twin is queued. */
  fallback?: boolean;
  address?: string | null;
  channel?: "sms" | "email" | "whatsapp" | null;
  reply?: string | null;
  opt_out?: boolean;
  payload: unknown;
}

/** What private.record_message_events answers: counts of the delivery's events. */
export interface RecordResult {
  received: number;
  new: number;
  messages_moved: number;
  suppressed: number;
  opted_out: number;
}

/** Records a delivery's events for a provider, once committed (one statement, maybe shared). */
export type RecordEvents = (provider: ProviderCode, events: VendorEvent[]) => Promise<RecordResult>;

/** What the vendor routes need: the configuration (read per request) and the recorder. */
export interface WebhookDeps {
  config: () => Config;
  record: RecordEvents;
  /** Fetches an SNS SubscribeURL (default: the global fetch). */
  fetch: typeof fetch;
}

/** Calls recording one provider's deliveries at once, at most (each takes a connection). */
const maxCallsInFlight = 2;
/** Events one call records at most (a delivery is never split). */
const maxEventsPerCall = 500;

/** A delivery waiting for its call. */
interface Waiting {
  events: VendorEvent[];
  resolve: (result: RecordResult) => void;
  reject: (error: unknown) => void;
}

/** Per provider: the deliveries waiting, and the calls in flight. */
const queues = new Map<ProviderCode, { waiting: Waiting[]; inFlight: number }>();

/**
 * Records a delivery's events: `select private.record_message_events(provider, events)` as
 * service_role, one statement in one round trip (asServiceInOneTrip). Deliveries that arrive
 * while `maxCallsInFlight` calls for their provider are out go together in the next call (the
 * function takes any number of events, stores each vendor event once, moves each message's
 * status forward only, and locks the messages in id order); if such a shared call fails, each of
 * its deliveries is recorded alone, so one delivery's failure is its own. Events repeating an
 * event_key are recorded once (the first). An event with `cost_rate` and no `cost_paise` gets that
 * rate from the MESSAGE_RATES_PAISE setting inside the same statement. Resolves, once its events
 * are committed, to the counts of the call that recorded them; rejects with what the database
 * threw (the route answers 5xx and the vendor retries).
 */
export const recordEvents: RecordEvents = (provider, events) => {
  const seen = new Set<string>();
  const unique = events.filter((event) => {
    if (seen.has(event.event_key)) return false;
    seen.add(event.event_key);
    return true;
  }).map(withoutNul);
  let queue = queues.get(provider);
  if (!queue) queues.set(provider, queue = { waiting: [], inFlight: 0 });
  const recorded = new Promise<RecordResult>((resolve, reject) =>
    queue.waiting.push({ events: unique, resolve, reject })
  );
  pump(provider, queue);
  return recorded;
};

/** Starts calls for the waiting deliveries while fewer than maxCallsInFlight are out. */
function pump(provider: ProviderCode, queue: { waiting: Waiting[]; inFlight: number }) {
  while (queue.inFlight < maxCallsInFlight && queue.waiting.length > 0) {
    const batch = [queue.waiting.shift()!];
    let size = batch[0].events.length;
    while (
      queue.waiting.length > 0 && size + queue.waiting[0].events.length <= maxEventsPerCall
    ) {
      size += queue.waiting[0].events.length;
      batch.push(queue.waiting.shift()!);
    }
    queue.inFlight++;
    recordTogether(provider, batch).finally(() => {
      queue.inFlight--;
      pump(provider, queue);
    });
  }
}

/** One call for `batch`; if it fails and held several deliveries, one call for each. */
async function recordTogether(provider: ProviderCode, batch: Waiting[]): Promise<void> {
  try {
    const result = await recordCall(provider, batch.flatMap((delivery) => delivery.events));
    for (const delivery of batch) delivery.resolve(result);
  } catch (error) {
    if (batch.length === 1) return batch[0].reject(error);
    await Promise.all(
      batch.map((delivery) =>
        recordCall(provider, delivery.events).then(delivery.resolve, delivery.reject)
      ),
    );
  }
}

/** The statement itself. */
async function recordCall(provider: ProviderCode, events: VendorEvent[]): Promise<RecordResult> {
  const [row] = await asServiceInOneTrip<{ result: RecordResult }[]>`
    select private.record_message_events(${provider}, coalesce((
      select jsonb_agg(case when e ? 'cost_rate' and e ->> 'cost_paise' is null
                            then e || jsonb_build_object('cost_paise',
                                   (private.setting('MESSAGE_RATES_PAISE') ->> (e ->> 'cost_rate'))::numeric)
                            else e end
                       order by x.n)
        from jsonb_array_elements(${events}::jsonb) with ordinality x (e, n)),
      '[]'::jsonb)) as result`;
  return row.result;
}

/**
 * The event with every NUL character removed from its strings: Postgres text and jsonb cannot
 * hold one, and a signed delivery must not fail (and be retried forever) for a byte we do not need.
 */
function withoutNul(event: VendorEvent): VendorEvent {
  const clean = (value: unknown): unknown =>
    typeof value === "string"
      ? value.replaceAll("\0", "")
      : Array.isArray(value)
      ? value.map(clean)
      : value && typeof value === "object"
      ? Object.fromEntries(Object.entries(value).map(([k, v]) => [clean(k), clean(v)]))
      : value;
  return clean(event) as VendorEvent;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `value` when it is a uuid (our message id as a vendor echoes it back), else null: a value we
 * did not send must not fail the whole delivery at the database's uuid cast.
 */
export function ourMessageId(value: unknown): string | null {
  return typeof value === "string" && uuidPattern.test(value) ? value.toLowerCase() : null;
}

/** The bare address of `Name <user@host>` or `user@host`, lower-case (as suppressions hold it). */
export function emailAddress(written: string): string {
  const angled = written.match(/<([^<>]+)>\s*$/);
  return (angled ? angled[1] : written).trim().toLowerCase();
}

/** An E.164 phone number (`+` and 7 to 15 digits). */
export const e164 = /^\+[1-9][0-9]{6,14}$/;

/** Unix seconds (a number or its decimal string) as ISO-8601, or null when not a valid time. */
export function unixSecondsToIso(value: unknown): string | null {
  const seconds = typeof value === "string" && /^[0-9]{1,12}$/.test(value)
    ? Number(value)
    : typeof value === "number" && Number.isInteger(value) && value >= 0
    ? value
    : null;
  return seconds === null ? null : new Date(seconds * 1000).toISOString();
}

/** An ISO-8601 time as the vendor wrote it, or null when it does not parse. */
export function isoTime(value: unknown): string | null {
  if (typeof value !== "string" || Number.isNaN(Date.parse(value))) return null;
  return new Date(value).toISOString();
}

/**
 * The 401 of a delivery whose signature is missing, forged, altered or stale. It says no more
 * than that (no reason an attacker could iterate on); the log has the reason.
 */
export function signatureRefused(vendor: string): ProblemError {
  return new ProblemError(
    401,
    "Unauthorized",
    `The ${vendor} signature is missing or does not verify.`,
  );
}

/** The 503 of a vendor whose webhook secret is not configured (nothing can be verified). */
export function notConfigured(vendor: string, variables: string): ProblemError {
  return new ProblemError(
    503,
    "Service Unavailable",
    `The ${vendor} webhook is not configured on this server (set ${variables}).`,
  );
}

/** The 400 of a correctly signed delivery whose content we cannot read. */
export function malformed(detail: string): ProblemError {
  return new ProblemError(400, "Bad Request", detail);
}
