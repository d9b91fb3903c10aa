// The simulated renewal desk's engine: a month of the desk played day by day on a running stack.
// Each day pg_cron's jobs run with that day's as_of (11:00 IST; the month lies in the past, so
// the worker sends what they queue at once), the desk opens payment links and launches its
// offers through the API, the worker drains the outbox through the sandbox, then the sandbox
// plays the customers (STOP replies, payments; read receipts, bounces and refused numbers come
// from the vendors themselves) and, on one day, Twilio's outage. After each day the funnel is
// read and handed to `onDay`.
import postgres from "postgres";
import { defaultFaults } from "../../../sandbox/mod.ts";
import {
  type Book,
  bookZoneManager,
  deactivateTemplates,
  ensureTemplates,
  loadBook,
  offerTemplate,
} from "./book.ts";
import { addDays, istAt, istDate } from "./clock.ts";
import { type Forecast, forecastNextMonth } from "./forecast.ts";
import { type Funnel, type PersonaFigures, readFunnel, readPersonaFigures } from "./funnel.ts";
import { personas } from "./personas.ts";
import { DeskApi, type DeskStack, inParallel, sandboxControl } from "./surfaces.ts";

export type { DeskStack } from "./surfaces.ts";

/** How to run the month. */
export interface SimulationOptions {
  /** Simulated days, 1-60; the month ends yesterday (IST). */
  days: number;
  /** Policies in the book (one customer each). */
  policies: number;
  /** Seed of the book and the customers' behaviour. */
  seed: number;
  /** Names the book (policy numbers, the customers' city); default `SIM<seed>`. */
  tag?: string;
  /** The book's customers' language (two letters, default en): the WhatsApp and SMS templates
   * the run saves are in it, and switched off after the run. A test sharing its database with
   * others picks one nobody else uses. */
  language?: string;
  /** A simulated day lasts at least 86,400 / speed seconds; absent: as fast as it goes. */
  speed?: number;
  /** The day (1-based) Twilio is down; default the middle day. 0: no outage. */
  outageDay?: number;
  /** Days the desk launches its WhatsApp offer; default a third and two thirds in. */
  campaignDays?: number[];
  /** Called after each day with its report. */
  onDay?: (report: DayReport) => void;
  /** Longest wait for the worker to drain a day, in ms (default 60,000). */
  drainTimeoutMs?: number;
}

/** What happened on one day beyond the funnel. */
export interface DayEvents {
  /** The cadence's outcomes (queued, blocked, skipped_engaged, tasks_opened...). */
  cadence: Record<string, number>;
  /** Cases the daily jobs opened, moved to pending_lapse, lapsed. */
  opened: number;
  pendingLapse: number;
  lapsed: number;
  /** Payment links the desk opened, cases it marked contacted. */
  links: number;
  contacted: number;
  /** Customers who paid, replied STOP. */
  paid: number;
  stops: number;
  /** The offer launched that day: its audience and what the gate did with it. */
  campaign?: { name: string; audience: number; queued: number; blocked: number };
  /** The vendor down that day. */
  outage?: string;
  /** Time the worker took to drain the day, ms, and whether it finished in time. */
  drainMs: number;
  drained: boolean;
  /** The book's messages still queued after the drain, not claimable yet (due more than a
   * minute later), by why they wait (`deferred_reason`, else `retry` or `other`). */
  stillQueued: Record<string, number>;
  /** Real time the day took, ms: pg_cron's jobs, the desk's API calls, the drain, the
   * customers' turn. */
  timings: {
    jobsMs: number;
    deskMs: number;
    drainMs: number;
    customersMs: number;
    totalMs: number;
  };
}

/** One simulated day's report. */
export interface DayReport {
  day: number;
  days: number;
  /** IST date. */
  date: string;
  asOf: Date;
  funnel: Funnel;
  events: DayEvents;
}

/** A payment a customer made through the sandbox. */
export interface PlayedPayment {
  customerId: string;
  caseId: string;
  paymentLinkId: string;
  /** Paise, as the sandbox captured it. */
  amount: number;
  day: number;
}

/** The whole month. */
export interface SimulationResult {
  book: Book;
  firstDay: string;
  lastDay: string;
  reports: DayReport[];
  /** The funnel once the last day's callbacks and payments have settled. */
  final: Funnel;
  /** STOP replies: who and when (real time). */
  stops: { customerId: string; at: Date; day: number }[];
  payments: PlayedPayment[];
  campaigns: { id: string; name: string; day: number; audience: number }[];
  /** The outage, and the book's SMS that went by the fallback (aws_sns): all of them, and
   * those that had failed on Twilio first (the rest went while its breaker was open). */
  outage: {
    vendor: string;
    day: number;
    date: string;
    onFallback: number;
    afterFailures: number;
  } | null;
  /** The book's messages still queued at the month's end, not claimable yet, by why they wait
   * (as `DayEvents.stillQueued`); empty when the worker sent everything. */
  stillQueued: Record<string, number>;
  /** When the run began (alerts raised from then on count), and its length in ms. */
  startedAt: Date;
  elapsedMs: number;
  forecast: Forecast;
  /** The book's figures per persona at the month's end. */
  personas: PersonaFigures[];
}

/** Settings while the month runs, merged into the current ones and put back after the run. A
 * day lasts seconds, so the retries' backoff and the providers' breaker pause do too (else one
 * outage would span days). Quiet hours and promotional hours are held open (equal ends: always):
 * the gate judged each message at its simulated day's as_of (11:00 IST, inside both windows),
 * and the worker's re-check at claim time reads the real clock, which at night (21:00-10:00
 * IST) would hold the month's messages queued until the next morning. PROMOTIONAL_HOURS' rule
 * refuses equal ends (TRAI's 10:00-21:00), so they are written past the check (`writeSettings`). */
const compressedSettings: Record<string, Record<string, number | string>> = {
  MESSAGE_RETRY: { max_attempts: 2, base_seconds: 1, max_seconds: 2 },
  PROVIDER_BREAKER: { open_seconds: 2 },
  QUIET_HOURS: { start: "00:00", end: "00:00" },
  PROMOTIONAL_HOURS: { start: "00:00", end: "00:00" },
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `write` in one transaction with the settings' check (trigger _050_check_value) off, as
 * tests/database/helpers/30_settings.sql does: the simulation holding the promotional hours
 * open, which PROMOTIONAL_HOURS' rule refuses to everyone else. Only the table's owner may
 * (the run's databaseUrl is the superuser's); no other session sees the check off.
 */
async function writeSettings(
  sql: postgres.Sql,
  write: (tx: postgres.TransactionSql) => Promise<unknown>,
): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`alter table public.app_settings disable trigger _050_check_value`;
    await write(tx);
    await tx`alter table public.app_settings enable always trigger _050_check_value`;
  });
}

/**
 * Plays `options.days` days of the renewal desk on the running `stack` and returns the month.
 * Writes its own book (customers tagged by city) and the templates it needs into the stack's
 * database; every figure counts only that book. Clears the sandbox's faults of the vendors it
 * uses first. MESSAGE_RETRY and PROVIDER_BREAKER are shortened and QUIET_HOURS and
 * PROMOTIONAL_HOURS held open for the run (`compressedSettings`) and put back after it (a key
 * that was absent is removed again); Twilio's outage is lifted and the run's templates switched
 * off whatever happens.
 */
export async function simulateDesk(
  stack: DeskStack,
  options: SimulationOptions,
): Promise<SimulationResult> {
  const { days } = options;
  if (!Number.isInteger(days) || days < 1 || days > 60) throw new Error("days must be 1 to 60");
  const startedAt = new Date();
  const sql = postgres(stack.databaseUrl, { max: 4, onnotice: () => {} });
  const api = new DeskApi(stack, sql);
  const firstDay = addDays(istDate(startedAt), -days);
  const lastDay = addDays(firstDay, days - 1);
  const outageDay = options.outageDay ?? Math.ceil(days / 2);
  const campaignDays = options.campaignDays ??
    [...new Set([Math.ceil(days / 3), Math.ceil((2 * days) / 3)])];
  const tag = options.tag ?? `SIM${options.seed}`;

  const language = options.language ?? "en";
  const saved = await sql<{ key: string; value: Record<string, unknown> }[]>`
    select key, value from public.app_settings where key = any(${Object.keys(compressedSettings)})`;
  let templates: string[] = [];
  try {
    // Fair weather at the vendors the month relies on (a fault left by someone else's run
    // would change what the customers see); the outage comes on its day.
    for (const vendor of ["twilio", "aws_sns", "aws_ses", "whatsapp_cloud", "razorpay"]) {
      const fair = await sandboxControl(stack.sandboxUrl, vendor, defaultFaults());
      if (fair.status !== 200) throw new Error(`the sandbox's ${vendor}: ${fair.status}`);
    }
    templates = await ensureTemplates(sql, stack.sandboxUrl, language);
    const book = await loadBook(sql, {
      policies: options.policies,
      seed: options.seed,
      tag,
      firstDay,
      days,
      language,
    });
    // Merged with the current values (a key held in part keeps its other fields).
    await writeSettings(sql, (tx) =>
      tx`
        insert into public.app_settings as s (key, value, description)
        select j.key, coalesce(c.value, '{}') || j.value,
               'Set by the simulated desk for its run (removed after it).'
          from jsonb_each(${tx.json(compressedSettings)}::jsonb) j
          left join public.app_settings c on c.key = j.key
            on conflict (key) do update set value = excluded.value`);

    const byCustomer = new Map(book.customers.map((c) => [c.customerId, c]));
    /** caseId → the link the desk opened for it. */
    const links = new Map<string, OpenedLink>();
    const paidCases = new Set<string>();
    const stopped = new Set<string>();
    const result: Omit<
      SimulationResult,
      "final" | "elapsedMs" | "forecast" | "personas" | "stillQueued"
    > = {
      book,
      firstDay,
      lastDay,
      reports: [],
      stops: [],
      payments: [],
      campaigns: [],
      outage: outageDay >= 1 && outageDay <= days
        ? {
          vendor: "twilio",
          day: outageDay,
          date: addDays(firstDay, outageDay - 1),
          onFallback: 0,
          afterFailures: 0,
        }
        : null,
      startedAt,
    };

    for (let day = 1; day <= days; day++) {
      const dayStarted = performance.now();
      const date = addDays(firstDay, day - 1);
      const asOf = istAt(date, "11:00");
      const events: DayEvents = {
        cadence: {},
        opened: 0,
        pendingLapse: 0,
        lapsed: 0,
        links: 0,
        contacted: 0,
        paid: 0,
        stops: 0,
        drainMs: 0,
        drained: true,
        stillQueued: {},
        timings: { jobsMs: 0, deskMs: 0, drainMs: 0, customersMs: 0, totalMs: 0 },
      };
      let lap = performance.now();
      const split = () => {
        const now = performance.now();
        const ms = Math.round(now - lap);
        lap = now;
        return ms;
      };
      const outage = result.outage?.day === day;
      if (outage) {
        await sandboxControl(stack.sandboxUrl, "twilio", { outage: true });
        events.outage = "twilio";
      }

      // pg_cron's part, in the order its schedule runs them on a day.
      const [{ daily }] = await sql`select private.run_daily_renewal_jobs(${asOf}) as daily`;
      events.opened = daily.opened ?? 0;
      events.pendingLapse = daily.pending_lapse ?? 0;
      events.lapsed = daily.lapsed ?? 0;
      await sql`select * from private.score_lapse_risk(${asOf})`;
      for (const row of await sql`select * from private.run_reminder_cadence(${asOf})`) {
        events.cadence[row.outcome] = Number(row.cases);
      }
      await sql`select * from private.escalate_overdue_tasks(${asOf})`;
      await sql`select * from private.advance_campaign_flows(${asOf})`;
      events.timings.jobsMs = split();

      // The desk: its offer on the campaign days, payment links 30 days before expiry.
      if (campaignDays.includes(day)) {
        const campaign = await launchOffer(api, sql, book, day, asOf);
        result.campaigns.push({ ...campaign, day });
        events.campaign = campaign;
      }
      events.links = await openPaymentLinks(api, sql, book, date, day, links);
      events.timings.deskMs = split();

      const drain = await drainOutbox(sql, book.city, options.drainTimeoutMs ?? 60_000);
      events.drainMs = drain.ms;
      events.drained = drain.done;
      events.stillQueued = drain.stillQueued;
      events.timings.drainMs = split();
      if (outage) {
        // pg_cron's alert job, while the breaker is still open.
        await sql`select private.evaluate_alerts(now())`;
        await sandboxControl(stack.sandboxUrl, "twilio", { outage: false });
      }
      events.contacted = await markContacted(api, sql, book);

      // The customers.
      const stops = await replyStop(stack.sandboxUrl, sql, book, stopped);
      for (const customerId of stops) {
        result.stops.push({ customerId, at: new Date(), day });
      }
      events.stops = stops.length;
      const payers = [...links].filter(([caseId, link]) => {
        if (paidCases.has(caseId)) return false;
        const customer = byCustomer.get(link.customerId);
        if (!customer) return false;
        const persona = personas[customer.persona];
        if (persona.pays === "first_link") return link.day === day;
        return persona.pays === "late" && customer.paysOn !== null && customer.paysOn <= date;
      });
      const paid = await inParallel(payers, 4, async ([caseId, link]) => {
        const answer = await sandboxControl(stack.sandboxUrl, "razorpay/pay", {
          paymentLinkId: link.id,
        });
        const payment = answer.body.payment as { amount?: number; status?: string } | undefined;
        if (answer.status !== 200 || payment?.status !== "captured") return null;
        paidCases.add(caseId);
        return {
          customerId: link.customerId,
          caseId,
          paymentLinkId: link.id,
          amount: Number(payment.amount),
          day,
        };
      });
      const made = paid.filter((p): p is PlayedPayment => p !== null);
      result.payments.push(...made);
      events.paid = made.length;
      await settle(sql, book.city, result.payments.length, result.stops.length);
      events.timings.customersMs = split();

      await sql`select private.evaluate_alerts(now())`;
      const funnel = await readFunnel(sql, book.city, startedAt);
      events.timings.totalMs = Math.round(performance.now() - dayStarted);
      const report = { day, days, date, asOf, funnel, events };
      result.reports.push(report);
      options.onDay?.(report);
      if (options.speed) {
        const rest = (86_400_000 / options.speed) - (performance.now() - dayStarted);
        if (rest > 0) await sleep(rest);
      }
    }

    // The last receipts and callbacks, then the month's figures.
    const lastDrain = await drainOutbox(sql, book.city, options.drainTimeoutMs ?? 60_000);
    await sql`select private.evaluate_alerts(now())`;
    const final = await readFunnel(sql, book.city, startedAt);
    const forecast = await forecastNextMonth(sql, {
      city: book.city,
      from: addDays(lastDay, 1),
      to: addDays(lastDay, 30),
      campaigns: result.campaigns,
      monthDays: days,
      firstDay,
    });
    const personaFigures = await readPersonaFigures(sql, book);
    if (result.outage) {
      const [sms] = await sql`
        select count(*)::int as fallback,
               count(*) filter (where m.last_error_code is not null)::int as after_failures
          from public.messages m join public.customers cu on cu.id = m.customer_id
         where cu.city = ${book.city} and m.channel = 'sms' and m.provider = 'aws_sns'`;
      result.outage.onFallback = sms.fallback;
      result.outage.afterFailures = sms.after_failures;
    }
    return {
      ...result,
      final,
      forecast,
      personas: personaFigures,
      stillQueued: lastDrain.stillQueued,
      elapsedMs: Date.now() - startedAt.getTime(),
    };
  } finally {
    await sandboxControl(stack.sandboxUrl, "twilio", { outage: false }).catch(() => {});
    await deactivateTemplates(sql, templates).catch(() => {});
    const absent = Object.keys(compressedSettings).filter((k) => !saved.some((s) => s.key === k));
    await writeSettings(sql, async (tx) => {
      for (const { key, value } of saved) {
        await tx`update public.app_settings set value = ${tx.json(value as postgres.JSONValue)}
                  where key = ${key}`;
      }
      if (absent.length > 0) await tx`delete from public.app_settings where key = any(${absent})`;
    }).catch(() => {});
    await sql.end();
  }
}

/** A payment link the desk opened: Razorpay's id, the day, the case's customer. */
interface OpenedLink {
  id: string;
  day: number;
  customerId: string;
}

/**
 * The desk's offer: a WhatsApp marketing campaign to the book's open cases (its customers'
 * city), created by the zone's manager through the API and launched at the day's as_of as
 * pg_cron's launch job launches a campaign whose start has come.
 */
async function launchOffer(
  api: DeskApi,
  sql: postgres.Sql,
  book: Book,
  day: number,
  asOf: Date,
): Promise<{ id: string; name: string; audience: number; queued: number; blocked: number }> {
  const name = `Renewal offer, day ${day} (${book.tag})`;
  const created = await api.call(bookZoneManager, "POST", "/campaigns", {
    name,
    channel: "whatsapp",
    purpose: "marketing",
    template_code: offerTemplate.code,
    audience_filter: { city: book.city },
  });
  if (created.status !== 201) {
    throw new Error(`the offer was refused: ${created.status} ${JSON.stringify(created.body)}`);
  }
  const id = String(created.body.id);
  const [counts] = await sql`select * from private.launch_campaign(${id}::uuid, ${asOf})`;
  return {
    id,
    name,
    audience: Number(counts.audience),
    queued: Number(counts.queued) + Number(counts.deferred ?? 0),
    blocked: Number(counts.blocked),
  };
}

/**
 * The desk opens a payment link (through the API, as the admin) for each open case of the book
 * due within 30 days of `date` that has none yet, and moves it to payment_pending. Returns how
 * many it opened; `links` gains them.
 */
async function openPaymentLinks(
  api: DeskApi,
  sql: postgres.Sql,
  book: Book,
  date: string,
  day: number,
  links: Map<string, OpenedLink>,
): Promise<number> {
  const due = await sql<{ id: string; customer_id: string; stage: string }[]>`
    select c.id, c.customer_id, c.stage
      from public.renewal_cases c
      join public.customers cu on cu.id = c.customer_id
     where cu.city = ${book.city}
       and c.stage not in ('renewed', 'lapsed', 'lost', 'not_taken')
       and c.due_date <= ${date}::date + 30
     order by c.due_date, c.id`;
  const fresh = due.filter((c) => !links.has(c.id));
  const opened = await inParallel(fresh, 8, async (c) => {
    const link = await api.call("admin@py360.test", "POST", `/cases/${c.id}/payment-links`, {});
    if (link.status !== 201 && link.status !== 200) return false;
    links.set(c.id, { id: String(link.body.payment_link_id), day, customerId: c.customer_id });
    if (c.stage !== "payment_pending") {
      await api.call("admin@py360.test", "PATCH", `/cases/${c.id}`, { stage: "payment_pending" });
    }
    return true;
  });
  return opened.filter(Boolean).length;
}

/** The desk marks contacted every new case of the book whose customer a message reached. */
async function markContacted(api: DeskApi, sql: postgres.Sql, book: Book): Promise<number> {
  const reached = await sql<{ id: string }[]>`
    select c.id
      from public.renewal_cases c
      join public.customers cu on cu.id = c.customer_id
     where cu.city = ${book.city} and c.stage = 'new'
       and exists (select 1 from public.messages m
                    where m.case_id = c.id and m.status in ('delivered', 'read'))`;
  const moved = await inParallel(reached, 8, async (c) => {
    const answer = await api.call("admin@py360.test", "PATCH", `/cases/${c.id}`, {
      stage: "contacted",
    });
    return answer.status === 200;
  });
  return moved.filter(Boolean).length;
}

/**
 * STOP replies: each customer of a persona that replies STOP, once a marketing WhatsApp message
 * has reached them, answers it with STOP through the sandbox (a signed inbound webhook). Returns
 * who replied; `stopped` gains them.
 */
async function replyStop(
  sandboxUrl: string,
  sql: postgres.Sql,
  book: Book,
  stopped: Set<string>,
): Promise<string[]> {
  const stoppers = book.customers.filter((c) => personas[c.persona].repliesStop)
    .map((c) => c.customerId).filter((id) => !stopped.has(id));
  if (stoppers.length === 0) return [];
  const reached = await sql<{ customer_id: string; phone: string }[]>`
    select distinct m.customer_id, cu.phone
      from public.messages m
      join public.customers cu on cu.id = m.customer_id
     where m.customer_id = any(${stoppers}::uuid[]) and m.channel = 'whatsapp'
       and m.purpose = 'marketing' and m.status in ('delivered', 'read')`;
  const replied = await inParallel(reached, 4, async (r) => {
    const answer = await sandboxControl(sandboxUrl, "whatsapp_cloud/reply", {
      from: r.phone,
      text: "STOP",
    });
    if (answer.status !== 200) return null;
    stopped.add(r.customer_id);
    return r.customer_id;
  });
  return replied.filter((id): id is string => id !== null);
}

/**
 * Waits until the worker has sent every message of the book it can claim (nothing queued or
 * sending that is due within a minute, which includes retries) and the vendors' callbacks have
 * come (nothing left `sent` on a vendor that reports delivery; SNS reports none), or `timeoutMs`
 * passes. Returns the time taken (ms), whether it finished in time, and the book's messages left
 * queued for later (due more than a minute on), by why they wait: with quiet and promotional
 * hours held open for the run there should be none, so the caller reports any loudly.
 */
async function drainOutbox(
  sql: postgres.Sql,
  city: string,
  timeoutMs: number,
): Promise<{ ms: number; done: boolean; stillQueued: Record<string, number> }> {
  const started = performance.now();
  let lastAwaiting = -1;
  let stillSince = performance.now();
  let done = false;
  while (performance.now() - started < timeoutMs) {
    const [row] = await sql`
      select count(*) filter (where m.status in ('queued', 'sending')
                                and m.next_attempt_at < now() + interval '1 minute')::int as due,
             count(*) filter (where m.status = 'sent'
                                and m.provider in ('whatsapp_cloud', 'twilio', 'aws_ses', 'sendgrid')
                                and m.sent_at > now() - interval '1 minute')::int as awaiting
        from public.messages m
       where m.customer_id in (select id from public.customers where city = ${city})
         and m.status in ('queued', 'sending', 'sent')`;
    if (row.due === 0 && row.awaiting === 0) {
      done = true;
      break;
    }
    if (row.awaiting !== lastAwaiting) {
      lastAwaiting = row.awaiting;
      stillSince = performance.now();
    }
    // Callbacks that have not come within 5 s of the last progress are not coming.
    if (row.due === 0 && performance.now() - stillSince > 5000) {
      done = true;
      break;
    }
    await sleep(150);
  }
  const later = await sql<{ reason: string; n: number }[]>`
    select coalesce(m.deferred_reason::text, case when m.attempts > 0 then 'retry' else 'other' end)
             as reason,
           count(*)::int as n
      from public.messages m
     where m.customer_id in (select id from public.customers where city = ${city})
       and m.status = 'queued' and m.next_attempt_at >= now() + interval '1 minute'
     group by 1 order by 1`;
  const ms = Math.round(performance.now() - started);
  return { ms, done, stillQueued: Object.fromEntries(later.map((r) => [r.reason, r.n])) };
}

/**
 * Waits (at most 30 s) until the webhooks of the customers' actions have landed: `payments`
 * captured payments on the book's cases and `stops` withdrawn WhatsApp marketing consents.
 */
async function settle(sql: postgres.Sql, city: string, payments: number, stops: number) {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    const [row] = await sql`
      select (select count(*) from public.payments p
                join public.renewal_cases c on c.id = p.case_id
                join public.customers cu on cu.id = c.customer_id
               where cu.city = ${city} and p.status = 'captured')::int as payments,
             (select count(*) from public.consents k
                join public.customers cu on cu.id = k.customer_id
               where cu.city = ${city} and k.channel = 'whatsapp' and k.purpose = 'marketing'
                 and k.status = 'withdrawn')::int as stops`;
    if (row.payments >= payments && row.stops >= stops) return;
    await sleep(150);
  }
}
