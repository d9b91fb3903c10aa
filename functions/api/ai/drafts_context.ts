// What a draft is written from, read in one statement as the caller (row-level security decides
// whether the case exists for them): the case, its policy and customer, what is owed, its open
// payment link, the WhatsApp window, the templates of the intent's codes, and every template
// variable the case can fill, formatted as the gate's producers format them.
import type { Tx } from "../../_shared/db.ts";
import { notFound } from "../../_shared/errors.ts";
import type { IntentCase } from "./drafts_intents.ts";

/** A template a draft may be made from (active, of one of the intent's codes). */
export interface DraftTemplate {
  id: string;
  code: string;
  channel: "sms" | "email" | "whatsapp";
  language: string;
  purpose: "transactional" | "service" | "marketing";
  subject: string | null;
  body: string;
  whatsapp_status: string | null;
}

/** The case as a draft sees it; IST dates `YYYY-MM-DD`, money in paise. */
export interface DraftContext extends IntentCase {
  case_id: string;
  customer_id: string;
  customer_name: string;
  /** The customer's language as stored (`hi`, `hi-IN`). */
  customer_language: string;
  preferred_channel: string | null;
  agent_name: string | null;
  /** Whether the customer's last WhatsApp message keeps the 24-hour window open now. */
  whatsapp_window_open: boolean;
  /** The lapse-risk band of the case, when scored. */
  risk_band: string | null;
  templates: DraftTemplate[];
  /** Every variable the case fills, as text (amounts as ₹ and dates as `15 Jan 2027`). */
  values: Record<string, string>;
}

/**
 * The draft's context for `caseId`, with the templates of `codes` (active ones, any channel and
 * language). Throws the 404 problem when the case does not exist for the caller. The payment
 * link is the case's newest open one, as its tracked redirect when the cadence made one (so a
 * click counts), else as Razorpay's short URL.
 */
export async function readDraftContext(
  tx: Tx,
  caseId: string,
  codes: readonly string[],
): Promise<DraftContext> {
  const [row] = await tx<DraftContext[]>`
    with c as (
      select c.id, c.customer_id, c.stage, c.case_number, c.due_date, c.grace_end, c.policy_id,
             c.assignee_id, private.business_date(now()) as today,
             coalesce((private.setting('NCB_RETENTION_DAYS') #>> '{}')::integer, 90) as ncb_days
        from public.renewal_cases c
       where c.id = ${caseId}
    ),
    installment as (
      -- The next installment still owed: what "the installment of {{amount_due}}" means.
      select a.amount - a.amount_paid as owed, a.due_date
        from public.outstanding_amounts a, c
       where a.case_id = c.id and a.status in ('pending', 'overdue')
       order by a.due_date, a.installment_number
       limit 1
    ),
    link as (
      select coalesce(
               (select (private.setting('LINK_BASE_URL') #>> '{}') || '/' || tl.code
                  from public.tracked_links tl
                 where tl.case_id = c.id and tl.target_url = pl.short_url),
               pl.short_url) as url
        from public.payment_links pl, c
       where pl.case_id = c.id and pl.short_url is not null
         and pl.status in ('created', 'partially_paid') and pl.expire_by > now()
       order by pl.created_at desc
       limit 1
    )
    select c.id as case_id, c.customer_id, c.stage, p.product_line, c.due_date::text as due_date,
           c.grace_end::text as grace_end, c.today::text as today, p.ncb_percent, c.ncb_days,
           public.case_outstanding(c.id) as outstanding,
           exists (select 1 from link) as has_payment_link,
           cu.full_name as customer_name, cu.language as customer_language,
           cu.preferred_channel, a.full_name as agent_name,
           coalesce((select w.last_inbound_at > now() - interval '24 hours'
                       from public.whatsapp_windows w where w.customer_id = cu.id), false)
             as whatsapp_window_open,
           (select r.band from public.case_risk_scores r where r.case_id = c.id) as risk_band,
           coalesce((
             select json_agg(json_build_object(
                      'id', t.id, 'code', t.code, 'channel', t.channel, 'language', t.language,
                      'purpose', t.purpose, 'subject', t.subject, 'body', t.body,
                      'whatsapp_status', t.whatsapp_status)
                    order by t.code, t.channel, t.language)
               from public.templates t
              where t.code = any (${codes as string[]}::text[]) and t.active), '[]') as templates,
           jsonb_strip_nulls(jsonb_build_object(
             'customer_name', cu.full_name,
             'policy_number', p.policy_number,
             'case_number', c.case_number,
             'product_line', p.product_line,
             'insurer', p.insurer,
             'premium', private.format_inr(p.premium),
             'amount_due', private.format_inr((select i.owed from installment i)),
             'expiry_date', to_char(c.due_date, 'FMDD Mon YYYY'),
             'due_date', to_char(coalesce((select i.due_date from installment i), c.due_date),
                                 'FMDD Mon YYYY'),
             'grace_end', to_char(c.grace_end, 'FMDD Mon YYYY'),
             'ncb_percent', p.ncb_percent::text,
             'ncb_deadline', to_char(c.due_date + c.ncb_days, 'FMDD Mon YYYY'),
             'agent_name', a.full_name,
             'payment_link', (select l.url from link l))) as values
      from c
      join public.policies p on p.id = c.policy_id
      join public.customers cu on cu.id = c.customer_id
      left join public.profiles a on a.id = c.assignee_id`;
  if (!row) throw notFound("case");
  return row;
}
