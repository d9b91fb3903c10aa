// Handlers of /api/campaigns, run as the caller: RLS decides which campaigns a manager sees and
// writes (their subtree's; an admin's all), and the private.*_campaign functions decide who may
// preview, launch, pause, resume, cancel and read stats (42501 → 403 for agents and analysts,
// P0002 → 404 outside the subtree, 55000 → 409 for a wrong state, 22023 → 422 for a bad filter or
// variants). The API adds a 403 for agents and analysts on list, create and get, and nicer 422s.
import type { RouteHandler } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller, type Tx } from "../../_shared/db.ts";
import { notFound, ProblemError } from "../../_shared/errors.ts";
import type {
  CampaignCountsSchema,
  CampaignCreateSchema,
  CampaignSchema,
  CampaignStatsRowSchema,
  CampaignSummarySchema,
  cancelCampaign,
  createCampaign,
  getCampaign,
  getCampaignStats,
  launchCampaign,
  listCampaigns,
  pauseCampaign,
  previewCampaign,
  resumeCampaign,
} from "./routes.ts";

type Campaign = z.infer<typeof CampaignSchema>;
type CampaignSummary = z.infer<typeof CampaignSummarySchema>;
type CampaignCounts = z.infer<typeof CampaignCountsSchema>;
type CampaignStatsRow = z.infer<typeof CampaignStatsRowSchema>;
type CampaignStatus = Campaign["status"];

/**
 * The 403 of list, create and get for anyone but managers and admins (agents, analysts, users
 * without an active profile), as the campaign functions' own 42501 does for the others.
 */
async function requireCampaignRunner(tx: Tx): Promise<void> {
  const [caller] = await tx<{ role: string | null }[]>`
    select private.current_app_role()::text as role`;
  if (caller.role !== "admin" && caller.role !== "manager") {
    throw new ProblemError(403, "Forbidden", "Only managers and admins run campaigns.");
  }
}

/** SQL: the fields every campaign answer has, of the campaign aliased `c`. */
const campaignColumns = (tx: Tx) =>
  tx`c.id, c.name, c.scope_node_id, c.created_by, c.channel, c.purpose, c.template_code,
     c.audience_filter, c.start_at,
     case when c.spread_rate_per_hour is null then null
          else json_build_object('rate_per_hour', c.spread_rate_per_hour,
                                 'window_start', to_char(c.spread_window_start, 'HH24:MI'),
                                 'window_end', to_char(c.spread_window_end, 'HH24:MI')) end
       as spread,
     c.status, c.launched_at, c.paused_at, c.cancelled_at, c.cancelled_reason, c.completed_at,
     c.created_at, c.updated_at`;

/** The campaign `id` with its variants (by code) and steps (in order), or undefined if hidden. */
async function selectCampaign(tx: Tx, id: string): Promise<Campaign | undefined> {
  const [row] = await tx<Campaign[]>`
    select ${campaignColumns(tx)},
           coalesce((select json_agg(json_build_object('id', v.id, 'code', v.code,
                                       'template_code', v.template_code, 'weight', v.weight)
                                     order by v.code)
                       from public.campaign_variants v where v.campaign_id = c.id), '[]')
             as variants,
           coalesce((select json_agg(json_build_object('id', s.id, 'position', s.position,
                                       'channel', s.channel, 'template_code', s.template_code,
                                       'wait_hours', extract(epoch from s.wait)::float8 / 3600,
                                       'condition', s.condition)
                                     order by s.position)
                       from public.campaign_steps s where s.campaign_id = c.id), '[]') as steps
      from public.campaigns c
     where c.id = ${id}`;
  return row;
}

/** GET /campaigns: the caller's visible campaigns, newest first, with variant and step counts. */
export const list: RouteHandler<typeof listCampaigns, AppEnv> = async (c) => {
  const { status, limit } = c.req.valid("query");
  const data = await asCaller(c.get("claims"), async (tx) => {
    await requireCampaignRunner(tx);
    return await tx<CampaignSummary[]>`
      select ${campaignColumns(tx)},
             (select count(*)::int from public.campaign_variants v where v.campaign_id = c.id)
               as variant_count,
             (select count(*)::int from public.campaign_steps s where s.campaign_id = c.id)
               as step_count
        from public.campaigns c
       where ${status ?? null}::public.campaign_status is null
          or c.status = ${status ?? null}::public.campaign_status
       order by c.created_at desc, c.id desc
       limit ${limit}`;
  });
  return c.json({ data }, 200);
};

type CampaignCreate = z.infer<typeof CampaignCreateSchema>;

/** Every (channel, template code) the campaign would send, to check they exist before saving. */
function templatesUsed(body: CampaignCreate): { channel: string; code: string }[] {
  const first = body.variants?.map((v) => v.template_code) ?? [body.template_code!];
  return [
    ...first.map((code) => ({ channel: body.channel, code })),
    ...(body.steps ?? []).map((s) => ({ channel: s.channel, code: s.template_code })),
  ];
}

/**
 * POST /campaigns: the draft, its variants and steps in one transaction. The scope defaults to
 * the caller's own node (profiles.node_id); RLS refuses one outside a manager's subtree (42501 →
 * 403). 422 for a template code with no active template on its channel.
 */
export const create: RouteHandler<typeof createCampaign, AppEnv> = async (c) => {
  const body = c.req.valid("json");
  const campaign = await asCaller(c.get("claims"), async (tx) => {
    await requireCampaignRunner(tx);
    const [{ scope }] = await tx<{ scope: string | null }[]>`
      select coalesce(${body.scope_node_id ?? null}::uuid, private.current_node_id()) as scope`;
    if (!scope) {
      throw new ProblemError(
        422,
        "Unprocessable Content",
        "scope_node_id is required: you have no hierarchy node of your own.",
      );
    }
    const missing = await tx<{ template: string }[]>`
      select distinct w.channel || ' ' || w.code as template
        from jsonb_to_recordset(${tx.json(templatesUsed(body))}::jsonb) w (channel text, code text)
       where not exists (select 1 from public.templates t
                          where t.code = w.code and t.channel::text = w.channel and t.active)
       order by 1`;
    if (missing.length > 0) {
      throw new ProblemError(
        422,
        "Unprocessable Content",
        `No active template: ${missing.map((m) => m.template).join(", ")}.`,
      );
    }
    const [{ id }] = await tx<{ id: string }[]>`
      insert into public.campaigns (name, scope_node_id, channel, purpose, template_code,
                                    audience_filter, start_at, spread_rate_per_hour,
                                    spread_window_start, spread_window_end)
      values (${body.name}, ${scope}, ${body.channel}, ${body.purpose},
              ${body.template_code ?? null}, ${tx.json(body.audience_filter ?? {})}::jsonb,
              ${body.start_at ?? null}::timestamptz, ${body.spread?.rate_per_hour ?? null}::integer,
              ${body.spread?.window_start ?? null}::time, ${body.spread?.window_end ?? null}::time)
      returning id`;
    if (body.variants) {
      await tx`
        insert into public.campaign_variants (campaign_id, code, template_code, weight)
        select ${id}, v.code, v.template_code, v.weight
          from jsonb_to_recordset(${tx.json(body.variants)}::jsonb)
            v (code text, template_code text, weight smallint)`;
    }
    // Positions 2, 3, ... in the order given (the campaign's own message is step 1).
    const steps = (body.steps ?? []).map((step, i) => ({ ...step, position: i + 2 }));
    if (steps.length > 0) {
      await tx`
        insert into public.campaign_steps (campaign_id, position, channel, template_code, wait,
                                           condition)
        select ${id}, s.position, s.channel::public.channel_type, s.template_code,
               make_interval(hours => s.wait_hours), s.condition::public.campaign_step_condition
          from jsonb_to_recordset(${tx.json(steps)}::jsonb)
            s (position smallint, channel text, template_code text, wait_hours integer,
               condition text)`;
    }
    return await selectCampaign(tx, id);
  });
  // Inserted under the same RLS that reads it back, so it is there; a 404 if that ever changed.
  if (!campaign) throw notFound("campaign");
  return c.json(campaign, 201);
};

/** GET /campaigns/{id}: 404 when RLS hides it (another subtree's, or none). */
export const get: RouteHandler<typeof getCampaign, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const campaign = await asCaller(c.get("claims"), async (tx) => {
    await requireCampaignRunner(tx);
    return await selectCampaign(tx, id);
  });
  if (!campaign) throw notFound("campaign");
  return c.json(campaign, 200);
};

/** SQL: private.campaign_counts aliased `r` as CampaignCountsSchema (cost as exact text). */
const countColumns = (tx: Tx) =>
  tx`r.audience, r.queued, r.deferred, r.blocked, r.blocked_reasons,
     pg_catalog.trim_scale(r.estimated_cost_paise)::text as estimated_cost_paise, r.created`;

/**
 * A preview or a launch goes through the gate once per recipient (about 0.3 ms each on two
 * cores: 30 s for 100,000), far past the desk's statement timeout (8 s for `authenticated` on
 * Supabase). A pause, a resume and a cancel rewrite every queued message of the campaign (a
 * resume of 10,000 on a busy two-core machine took more than 8 s: 503). Their transactions,
 * and only they, may take up to this long. A campaign scheduled with a start_at launches in the
 * job instead, with no such limit.
 */
const wholeAudience = { statementTimeout: "120s" };

/** GET /campaigns/{id}/preview: private.preview_campaign(id, now()); nothing is kept. */
export const preview: RouteHandler<typeof previewCampaign, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const [counts] = await asCaller(
    c.get("claims"),
    (tx) =>
      tx<CampaignCounts[]>`
        select ${countColumns(tx)} from private.preview_campaign(${id}::uuid, now()) r`,
    wholeAudience,
  );
  return c.json(counts, 200);
};

/** POST /campaigns/{id}/launch: private.launch_campaign(id) (on now()), and the status after it. */
export const launch: RouteHandler<typeof launchCampaign, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const result = await asCaller(c.get("claims"), async (tx) => {
    const [counts] = await tx<CampaignCounts[]>`
      select ${countColumns(tx)} from private.launch_campaign(${id}::uuid) r`;
    const [{ status }] = await tx<{ status: CampaignStatus }[]>`
      select c.status from public.campaigns c where c.id = ${id}`;
    return { ...counts, status };
  }, wholeAudience);
  return c.json(result, 200);
};

/** Runs a state change (pause, resume, cancel) as the caller: its count and the new status. */
function changeState(
  claims: AppEnv["Variables"]["claims"],
  id: string,
  change: (tx: Tx) => Promise<{ n: number }[]>,
): Promise<{ status: CampaignStatus; n: number }> {
  return asCaller(claims, async (tx) => {
    const [{ n }] = await change(tx);
    const [{ status }] = await tx<{ status: CampaignStatus }[]>`
      select c.status from public.campaigns c where c.id = ${id}`;
    return { status, n };
  }, wholeAudience);
}

/** POST /campaigns/{id}/pause: 409 unless running. */
export const pause: RouteHandler<typeof pauseCampaign, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const { status, n } = await changeState(
    c.get("claims"),
    id,
    (tx) => tx<{ n: number }[]>`select private.pause_campaign(${id}::uuid) as n`,
  );
  return c.json({ status, messages_held: n }, 200);
};

/** POST /campaigns/{id}/resume: 409 unless paused. */
export const resume: RouteHandler<typeof resumeCampaign, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const { status, n } = await changeState(
    c.get("claims"),
    id,
    (tx) => tx<{ n: number }[]>`select private.resume_campaign(${id}::uuid) as n`,
  );
  return c.json({ status, messages_resumed: n }, 200);
};

/** POST /campaigns/{id}/cancel: 409 when already cancelled or completed. */
export const cancel: RouteHandler<typeof cancelCampaign, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const { status, n } = await changeState(
    c.get("claims"),
    id,
    (tx) => tx<{ n: number }[]>`select private.cancel_campaign(${id}::uuid) as n`,
  );
  return c.json({ status, messages_cancelled: n }, 200);
};

/** GET /campaigns/{id}/stats: private.campaign_stats rows; rates as numbers, cost as text. */
export const stats: RouteHandler<typeof getCampaignStats, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const data = await asCaller(c.get("claims"), (tx) =>
    tx<CampaignStatsRow[]>`
      select s.variant, s.recipients, s.queued, s.sent, s.delivered, s.read, s.failed, s.blocked,
             s.cancelled, pg_catalog.trim_scale(s.cost_paise)::text as cost_paise, s.converted,
             s.paid, s.delivery_rate::float8 as delivery_rate,
             s.delivery_difference::float8 as delivery_difference, s.delivery_significant,
             s.read_rate::float8 as read_rate, s.read_difference::float8 as read_difference,
             s.read_significant, s.payment_rate::float8 as payment_rate,
             s.payment_difference::float8 as payment_difference, s.payment_significant,
             s.conversion_rate::float8 as conversion_rate,
             s.conversion_difference::float8 as conversion_difference, s.conversion_significant
        from private.campaign_stats(${id}::uuid) s
       order by s.variant`);
  return c.json({ data }, 200);
};
