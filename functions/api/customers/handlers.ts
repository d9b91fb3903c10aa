// Handlers of /api/customers, each one statement run as the caller: RLS decides which customers,
// policies, cases, consents and messages exist for them; the column grants decide what they may
// change.
import type { RouteHandler } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller, asService } from "../../_shared/db.ts";
import type { CustomerSchema } from "../../_shared/domain.ts";
import { notFound } from "../../_shared/errors.ts";
import { phoneSearchForm } from "../../_shared/phone.ts";
import { customerJson, personJson, policyJson } from "../sql.ts";
import { type ProfileFigures, profileSummary } from "./profile_summary.ts";
import {
  communicationDays,
  type CustomerProfileSchema,
  type getCustomerProfile,
  type patchCustomer,
  type searchCustomers,
} from "./routes.ts";

type CustomerProfile = z.infer<typeof CustomerProfileSchema>;
/** What the profile's statement reads: the profile without its figures' split and summary. */
type ProfileRow =
  & Omit<CustomerProfile, "risk" | "engagement" | "payment_behaviour" | "ai_summary">
  & { figures: ProfileFigures; read_at: string };
type Customer = z.infer<typeof CustomerSchema>;

/**
 * GET /customers?q=: a phone number (in any written form) is looked up under RLS through the
 * phone index; a name fragment goes through private.search_customers(), which applies the
 * customers select policy's rule itself so the trigram index can serve it. One row more than
 * asked tells whether there are more.
 */
export const search: RouteHandler<typeof searchCustomers, AppEnv> = async (c) => {
  const { q, limit } = c.req.valid("query");
  const phone = phoneSearchForm(q);
  const rows = await asCaller(c.get("claims"), (tx) =>
    phone
      ? tx<{ customer: Customer }[]>`
          select ${customerJson(tx, "cu")} as customer from public.customers cu
           where cu.phone = ${phone}
           order by cu.full_name, cu.id limit ${limit + 1}`
      : tx<{ customer: Customer }[]>`
          select ${customerJson(tx, "cu")} as customer
            from private.search_customers(${q}, ${limit + 1}) as cu
           order by cu.full_name, cu.id`);
  return c.json({
    data: rows.slice(0, limit).map((row) => row.customer),
    more: rows.length > limit,
  }, 200);
};

/**
 * When the model wrote the answer of the ai_requests row `requestId`: the row's own time, or for
 * a cache hit its source row's (cached_from), which may be another user's row: read as
 * service_role, only the time leaves.
 */
async function answerWrittenAt(requestId: string): Promise<string | null> {
  const [row] = await asService((tx) =>
    tx<{ written_at: string }[]>`
      select coalesce(src.created_at, r.created_at) as written_at
        from public.ai_requests r
        left join public.ai_requests src on src.id = r.cached_from
       where r.id = ${requestId}`
  );
  return row ? new Date(row.written_at).toISOString() : null;
}

/**
 * GET /customers/{id}/profile: 404 when the customer does not exist or is not the caller's.
 * One statement under RLS: the profile, the communication summary, and the figures of risk,
 * engagement and payment behaviour (private.customer_profile_figures, which counts only what the
 * caller may see). Then the summary in words (profile_summary.ts): the assistant's, kept until the
 * figures change, or the rules'; it never makes the profile fail or answer 429.
 */
export const profile: RouteHandler<typeof getCustomerProfile, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const claims = c.get("claims");
  const [row] = await asCaller(claims, (tx) =>
    tx<ProfileRow[]>`
    select
      ${customerJson(tx, "cu")} as customer,
      coalesce((
        select json_agg(${policyJson(tx, "p")} order by p.end_date desc)
          from public.policies p where p.customer_id = cu.id), '[]') as policies,
      coalesce((
        select json_agg(json_build_object(
                 'id', rc.id, 'case_number', rc.case_number, 'policy_id', rc.policy_id,
                 'stage', rc.stage, 'priority', rc.priority, 'due_date', rc.due_date,
                 'outstanding', public.case_outstanding(rc.id),
                 'assignee', ${personJson(tx, "a")})
                 order by rc.due_date desc)
          from public.renewal_cases rc
          left join public.profiles a on a.id = rc.assignee_id
         where rc.customer_id = cu.id), '[]') as cases,
      coalesce((
        select json_agg(json_build_object(
                 'channel', cs.channel, 'purpose', cs.purpose, 'status', cs.status,
                 'source', cs.source, 'recorded_at', cs.recorded_at)
                 order by cs.channel, cs.purpose)
          from public.consents cs where cs.customer_id = cu.id), '[]') as consents,
      json_build_object(
        'since', now() - make_interval(days => ${communicationDays}),
        'counts', coalesce((
          select json_agg(json_build_object('channel', s.channel, 'status', s.status,
                                            'messages', s.messages)
                          order by s.channel, s.status)
            from (select m.channel, m.status, count(*)::int as messages
                    from public.messages m
                   where m.customer_id = cu.id
                     and m.created_at >= now() - make_interval(days => ${communicationDays})
                   group by m.channel, m.status) s), '[]'),
        'last_message_at', (
          select m.created_at from public.messages m where m.customer_id = cu.id
           order by m.created_at desc limit 1),
        'whatsapp_window_until', (
          select w.last_inbound_at + interval '24 hours' from public.whatsapp_windows w
           where w.customer_id = cu.id and w.last_inbound_at + interval '24 hours' > now())
      ) as communications,
      private.customer_profile_figures(cu.id, ${communicationDays}) as figures,
      now() as read_at
    from public.customers cu
    where cu.id = ${id}`);
  if (!row) throw notFound("customer");
  const { figures, read_at: readAt, ...rest } = row;
  const summary = await profileSummary({
    claims,
    customerId: id,
    customerName: rest.customer.full_name,
    figures,
    now: new Date(readAt).toISOString(),
    writtenAt: answerWrittenAt,
  });
  const answer: CustomerProfile = {
    ...rest,
    risk: figures.risk,
    engagement: figures.engagement,
    payment_behaviour: figures.payment_behaviour,
    ai_summary: summary,
  };
  return c.json(answer, 200);
};

/**
 * PATCH /customers/{id}: sets only the fields named, the phone already normalised to E.164 by
 * the schema. A customer the caller cannot see is a 404 (RLS filters the update to no row).
 */
export const patch: RouteHandler<typeof patchCustomer, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const change = c.req.valid("json");
  const columns = Object.keys(change) as (keyof typeof change)[];
  const [row] = await asCaller(c.get("claims"), (tx) =>
    tx<{ customer: Customer }[]>`
      update public.customers cu set ${tx(change, columns)}
       where cu.id = ${id}
      returning ${customerJson(tx, "cu")} as customer`);
  if (!row) throw notFound("customer");
  return c.json(row.customer, 200);
};
