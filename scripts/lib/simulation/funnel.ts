// The simulated desk's funnel at a moment: the book's cases by stage, its messages by status,
// the premium collected, the spend by vendor, and the alerts raised since the run began. Read
// from the database as the desk's reports would, counting only the book's own customers (found
// by their city), so that other data in the same database never enters the figures.
import type postgres from "postgres";
import type { Book } from "./book.ts";
import { type PersonaName, personaNames } from "./personas.ts";

/** The case stages in funnel order. */
export const stageOrder = [
  "new",
  "contacted",
  "quoted",
  "payment_pending",
  "renewed",
  "pending_lapse",
  "lapsed",
  "lost",
  "not_taken",
] as const;

/** The message statuses in pipeline order. */
export const statusOrder = [
  "queued",
  "sending",
  "sent",
  "delivered",
  "read",
  "failed",
  "undeliverable",
  "cancelled",
  "blocked",
  "dead",
] as const;

/** Statuses of messages a vendor accepted, and so billed: the spend counts these. */
export const billedStatuses = ["sent", "delivered", "read", "undeliverable"] as const;

/** The funnel's figures. */
export interface Funnel {
  cases: number;
  /** Cases per stage (stages with none are absent); sums to `cases`. */
  stages: Record<string, number>;
  messages: number;
  /** Messages per status (absent: none); sums to `messages`. */
  statuses: Record<string, number>;
  /** Captured payments of the book's cases: count and paise. */
  payments: number;
  collectedPaise: number;
  /** Spend per provider in paise: each billed message's cost as the vendor reported it, else
   * the gate's estimate. */
  spendPaise: Record<string, number>;
  spendTotalPaise: number;
  /** Alerts raised, or seen again, since the run began (system-wide: an alert is about a
   * provider or the outbox, not a customer), per rule; and how many are still open. */
  alerts: Record<string, number>;
  alertsOpen: number;
}

/**
 * The funnel of the book whose customers live in `city`, with the alerts raised or seen at or
 * after `since`. One read-only statement.
 */
export async function readFunnel(sql: postgres.Sql, city: string, since: Date): Promise<Funnel> {
  const [row] = await sql`
    with book as materialized (
      select id from public.customers where city = ${city}
    ),
    cases as materialized (
      select c.id, c.stage from public.renewal_cases c where c.customer_id in (select id from book)
    ),
    messages as materialized (
      select m.status, m.provider, m.cost_paise, m.estimated_cost_paise
        from public.messages m where m.customer_id in (select id from book)
    )
    select (select count(*) from cases)::int as cases,
           (select coalesce(jsonb_object_agg(stage, n), '{}')
              from (select stage, count(*)::int as n from cases group by stage) s) as stages,
           (select count(*) from messages)::int as messages,
           (select coalesce(jsonb_object_agg(status, n), '{}')
              from (select status, count(*)::int as n from messages group by status) s) as statuses,
           (select count(*) from public.payments p
             where p.case_id in (select id from cases) and p.status = 'captured')::int as payments,
           (select coalesce(sum(p.amount), 0) from public.payments p
             where p.case_id in (select id from cases) and p.status = 'captured')::bigint
             as collected,
           (select coalesce(jsonb_object_agg(provider, paise), '{}')
              from (select provider, sum(coalesce(cost_paise, estimated_cost_paise, 0)) as paise
                      from messages
                     where status = any(${billedStatuses as unknown as string[]}::public.message_status[])
                     group by provider) s) as spend,
           (select coalesce(jsonb_object_agg(rule, n), '{}')
              from (select rule, count(*)::int as n from public.alerts
                     where raised_at >= ${since} or last_seen_at >= ${since}
                     group by rule) a) as alerts,
           (select count(*) from public.alerts
             where (raised_at >= ${since} or last_seen_at >= ${since})
               and status = 'open')::int as alerts_open`;
  const spend = Object.fromEntries(
    Object.entries(row.spend as Record<string, number | string>).map((
      [provider, paise],
    ) => [provider, Number(paise)]),
  );
  return {
    cases: row.cases,
    stages: row.stages,
    messages: row.messages,
    statuses: row.statuses,
    payments: row.payments,
    collectedPaise: Number(row.collected),
    spendPaise: spend,
    spendTotalPaise: Object.values(spend).reduce((sum, paise) => sum + paise, 0),
    alerts: row.alerts,
    alertsOpen: row.alerts_open,
  };
}

/** Per persona: customers, who paid, renewed cases, messages and read ones, STOP replies. */
export interface PersonaFigures {
  persona: PersonaName;
  customers: number;
  paid: number;
  renewed: number;
  messages: number;
  read: number;
  stops: number;
}

/** The book's figures per persona, from the database (payments captured, cases renewed,
 * messages and those read, WhatsApp marketing consents withdrawn). */
export async function readPersonaFigures(sql: postgres.Sql, book: Book): Promise<PersonaFigures[]> {
  const rows = await sql<
    {
      id: string;
      paid: number;
      renewed: number;
      messages: number;
      read: number;
      stopped: boolean;
    }[]
  >`
    select cu.id,
           (select count(*) from public.payments p join public.renewal_cases c on c.id = p.case_id
             where c.customer_id = cu.id and p.status = 'captured')::int as paid,
           (select count(*) from public.renewal_cases c
             where c.customer_id = cu.id and c.stage = 'renewed')::int as renewed,
           (select count(*) from public.messages m where m.customer_id = cu.id)::int as messages,
           (select count(*) from public.messages m
             where m.customer_id = cu.id and m.status = 'read')::int as read,
           exists (select 1 from public.consents k
                    where k.customer_id = cu.id and k.channel = 'whatsapp'
                      and k.purpose = 'marketing' and k.status = 'withdrawn') as stopped
      from public.customers cu
     where cu.city = ${book.city}`;
  const byId = new Map(rows.map((r) => [r.id, r]));
  return personaNames.map((persona) => {
    const mine = book.customers.filter((c) => c.persona === persona)
      .map((c) => byId.get(c.customerId)).filter((r) => r !== undefined);
    const sum = (pick: (r: typeof rows[number]) => number) =>
      mine.reduce((total, r) => total + pick(r), 0);
    return {
      persona,
      customers: mine.length,
      paid: sum((r) => (r.paid > 0 ? 1 : 0)),
      renewed: sum((r) => r.renewed),
      messages: sum((r) => r.messages),
      read: sum((r) => r.read),
      stops: sum((r) => (r.stopped ? 1 : 0)),
    };
  });
}
