// Next month's spend per vendor, forecast from the book as it stands at the month's end: the
// ladder's steps that fall next month, this month's channel mix and unit costs, the offers'
// reach, and the daily rate of the other messages (receipts, stage notices).
import type postgres from "postgres";
import { billedStatuses } from "./funnel.ts";

/** What the forecast is about. */
export interface ForecastInput {
  /** The book's customers' city. */
  city: string;
  /** Next month: IST dates, inclusive. */
  from: string;
  to: string;
  /** This month's offers and their audiences. */
  campaigns: { audience: number }[];
  /** This month: its first IST day and its length. */
  firstDay: string;
  monthDays: number;
}

/** One line of the forecast: a vendor and a kind of message. */
export interface ForecastRow {
  vendor: string;
  /** WhatsApp utility, WhatsApp marketing, SMS, email. */
  kind: string;
  /** Billed messages expected. */
  messages: number;
  /** Average billed cost this month, paise a message. */
  unitPaise: number;
  /** SMS: segments a message on average this month. */
  segments?: number;
  spendPaise: number;
}

/** The forecast, with the figures it is computed from. */
export interface Forecast {
  from: string;
  to: string;
  rows: ForecastRow[];
  totalPaise: number;
  basis: {
    /** Policies of the book not renewed or closed with ladder steps next month, and the steps. */
    policies: number;
    steps: number;
    /** This month's reminders: how many, the share of those settled (not queued or sending)
     * that no vendor billed (blocked, failed, cancelled), and how many were still queued or
     * sending at the month's end (left out of the channel mix). */
    reminders: number;
    remindersNotBilled: number;
    remindersQueued: number;
    /** The book's messages of every stream still queued or sending at the month's end. */
    queued: number;
    /** This month's offers: campaigns, the same rate over next month's 30 days, their
     * audiences together, billed offers; the cases open at the month's end. */
    campaigns: number;
    campaignsNextMonth: number;
    audience: number;
    offersBilled: number;
    openCases: number;
    /** Other messages (receipts, notices) billed this month, and a day on average. */
    otherBilled: number;
    otherPerDay: number;
  };
  /** How it is computed, in sentences. */
  explanation: string[];
}

type Stream = "reminders" | "offers" | "other";

/** Reads the book and this month's messages and forecasts next month's spend per vendor. */
export async function forecastNextMonth(
  sql: postgres.Sql,
  input: ForecastInput,
): Promise<Forecast> {
  const billed = billedStatuses as unknown as string[];
  const [ladder] = await sql`
    select count(*)::int as steps, count(distinct p.id)::int as policies
      from public.policies p
      join public.customers cu on cu.id = p.customer_id
      left join public.renewal_cases c on c.policy_id = p.id
      join public.reminder_rules r
        on r.product_line = p.product_line and r.active and r.kind = 'message'
     where cu.city = ${input.city}
       and (c.id is null or c.stage not in ('renewed', 'lapsed', 'lost', 'not_taken'))
       and p.end_date + r.offset_days between ${input.from}::date and ${input.to}::date
       and (r.applies_until is null
            or (r.applies_until = 'grace_end' and r.offset_days <=
                coalesce((private.setting('GRACE_DAYS') ->> p.product_line::text)::integer, 0))
            or (r.applies_until = 'ncb_deadline' and p.ncb_percent > 0 and r.offset_days <=
                coalesce((private.setting('NCB_RETENTION_DAYS') #>> '{}')::integer, 90)))`;
  const [open] = await sql`
    select count(*)::int as n
      from public.renewal_cases c join public.customers cu on cu.id = c.customer_id
     where cu.city = ${input.city} and c.stage not in ('renewed', 'lapsed', 'lost', 'not_taken')`;
  const mix = await sql<{
    stream: Stream;
    channel: string;
    provider: string | null;
    category: string | null;
    messages: number;
    billed: number;
    pending: number;
    spend: string;
    estimated: string;
  }[]>`
    select case when m.idempotency_key like 'cadence:%' then 'reminders'
                when m.campaign_id is not null then 'offers' else 'other' end as stream,
           m.channel::text, m.provider, t.whatsapp_category::text as category,
           count(*)::int as messages,
           count(*) filter (where m.status = any(${billed}::public.message_status[]))::int as billed,
           count(*) filter (where m.status in ('queued', 'sending'))::int as pending,
           coalesce(sum(coalesce(m.cost_paise, m.estimated_cost_paise, 0))
                      filter (where m.status = any(${billed}::public.message_status[])), 0) as spend,
           coalesce(sum(m.estimated_cost_paise)
                      filter (where m.status = any(${billed}::public.message_status[])), 0) as estimated
      from public.messages m
      join public.customers cu on cu.id = m.customer_id
      left join public.templates t on t.id = m.template_id
     where cu.city = ${input.city}
     group by 1, 2, 3, 4`;
  const [rates] = await sql`select private.setting('MESSAGE_RATES_PAISE') as value`;
  const segmentRate = Number(rates.value?.sms_segment ?? 25);

  const total = (stream: Stream) =>
    mix.filter((m) => m.stream === stream).reduce((sum, m) => sum + m.messages, 0);
  const billedOf = (stream: Stream) =>
    mix.filter((m) => m.stream === stream).reduce((sum, m) => sum + m.billed, 0);
  const pendingOf = (stream: Stream) =>
    mix.filter((m) => m.stream === stream).reduce((sum, m) => sum + m.pending, 0);
  /** Messages whose fate is known (billed, blocked, failed, cancelled): the channel mix's base.
   * Those still queued or sending are neither billed nor refused yet. */
  const settled = (stream: Stream) => total(stream) - pendingOf(stream);
  const audience = input.campaigns.reduce((sum, c) => sum + c.audience, 0);
  // This month's offers at the same rate over next month's 30 days.
  const campaignsNextMonth = (input.campaigns.length / input.monthDays) * 30;
  // Each stream's expected message count next month (before the channel mix), all on 30 days.
  const expected: Record<Stream, number> = {
    reminders: ladder.steps,
    offers: audience === 0 ? 0 : campaignsNextMonth * open.n * (total("offers") / audience),
    other: (total("other") / input.monthDays) * 30,
  };

  const rows = new Map<string, ForecastRow & { estimated: number; billedNow: number }>();
  for (const m of mix) {
    if (m.billed === 0 || m.provider === null) continue;
    const messages = expected[m.stream] * (m.billed / settled(m.stream));
    const kind = m.channel === "whatsapp"
      ? `WhatsApp ${m.category === "marketing" ? "marketing" : "utility"}`
      : m.channel === "sms"
      ? "SMS"
      : "email";
    const key = `${m.provider}|${kind}`;
    const row = rows.get(key) ??
      {
        vendor: m.provider,
        kind,
        messages: 0,
        unitPaise: 0,
        spendPaise: 0,
        estimated: 0,
        billedNow: 0,
      };
    const unit = Number(m.spend) / m.billed;
    row.messages += messages;
    row.spendPaise += messages * unit;
    row.estimated += Number(m.estimated);
    row.billedNow += m.billed;
    rows.set(key, row);
  }
  const lines = [...rows.values()].map(({ estimated, billedNow, ...row }) => ({
    ...row,
    messages: Math.round(row.messages),
    unitPaise: row.messages === 0 ? 0 : row.spendPaise / row.messages,
    spendPaise: Math.round(row.spendPaise * 100) / 100,
    ...(row.kind === "SMS" ? { segments: estimated / segmentRate / billedNow } : {}),
  })).sort((a, b) => b.spendPaise - a.spendPaise);
  const totalPaise = lines.reduce((sum, row) => sum + row.spendPaise, 0);

  const reminders = total("reminders");
  const remindersSettled = settled("reminders");
  const remindersQueued = pendingOf("reminders");
  const queued = mix.reduce((sum, m) => sum + m.pending, 0);
  const remindersNotBilled = remindersSettled === 0
    ? 0
    : 1 - billedOf("reminders") / remindersSettled;
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  const share = (channel: string) =>
    remindersSettled === 0
      ? 0
      : mix.filter((m) => m.stream === "reminders" && m.channel === channel)
        .reduce((sum, m) => sum + m.billed, 0) / remindersSettled;
  const offersSettled = settled("offers");
  const campaignsText = Number.isInteger(campaignsNextMonth)
    ? String(campaignsNextMonth)
    : campaignsNextMonth.toFixed(1);
  const explanation = [
    `Reminders: the ladder's message steps (public.reminder_rules) dated ${input.from} to ` +
    `${input.to} for the book's ${ladder.policies} policies not yet renewed or closed ` +
    `(${ladder.steps} steps; an upper bound, as a renewal before a step cancels it), split by ` +
    `this month's reminders: ${pct(share("whatsapp"))} billed on WhatsApp, ` +
    `${pct(share("sms"))} by SMS, ${pct(share("email"))} by email, ${pct(remindersNotBilled)} ` +
    `never billed (blocked, failed, cancelled), with each vendor's provider split (the outage ` +
    `day's SMS on the fallback included)` +
    (remindersQueued > 0
      ? `; ${remindersQueued} reminder(s) still queued or sending at the month's end are ` +
        `neither, and left out of the split.`
      : "."),
    `Offers: this month's ${input.campaigns.length} WhatsApp marketing campaign(s) in ` +
    `${input.monthDays} day(s), at the same rate ${campaignsText} over next month's 30 days, ` +
    `each to the ${open.n} cases open at the month's end (this month's reached ${audience} ` +
    `together), ${pct(offersSettled === 0 ? 0 : billedOf("offers") / offersSettled)} of them ` +
    `billed as this month (the rest blocked: no marketing consent, or withdrawn by STOP` +
    (pendingOf("offers") > 0 ? `; ${pendingOf("offers")} still queued, left out` : "") +
    `).`,
    `Receipts and notices: this month's ${total("other")} other messages at the same daily rate.`,
    `Unit costs: what each vendor billed this month a message (its reported price, else the ` +
    `gate's estimate from MESSAGE_RATES_PAISE); SMS at ₹${(segmentRate / 100).toFixed(2)} a ` +
    `segment, times this month's segments a message (₹-sign and long texts take two).`,
  ];
  return {
    from: input.from,
    to: input.to,
    rows: lines,
    totalPaise: Math.round(totalPaise * 100) / 100,
    basis: {
      policies: ladder.policies,
      steps: ladder.steps,
      reminders,
      remindersNotBilled,
      remindersQueued,
      queued,
      campaigns: input.campaigns.length,
      campaignsNextMonth,
      audience,
      offersBilled: billedOf("offers"),
      openCases: open.n,
      otherBilled: billedOf("other"),
      otherPerDay: total("other") / input.monthDays,
    },
    explanation,
  };
}
