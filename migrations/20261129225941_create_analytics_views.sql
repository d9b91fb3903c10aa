-- The analysts' views (issue 11): the desk's records in `analytics`, readable by the `analyst`
-- group role and nobody else, with personal data left out or pseudonymised.
--
-- What each view keeps, column by column:
--   * the ids of a customer's records (customer, policy, case, installment, payment, allocation,
--     refund, message, task, AI request, campaign recipient) become `*_key` pseudonyms
--     (analytics.pseudonym: a keyed hash, stable, the same in every view, so views join on them);
--   * desk users (profiles) keep their ids (`staff_id`, `agent_id`, `assignee_id`, ...), as the
--     fact tables do, and lose their names and emails; hierarchy nodes, templates, channels,
--     vendors and campaigns are the desk's configuration and keep their ids and codes;
--   * no phone number, email address, name or postal address; no free text that people type or
--     vendors write and that may hold them: message bodies, subjects, variables and recipients,
--     vendors' error messages and message ids, task outcomes, lost reasons, waiver and payment
--     references, Razorpay's ids and failure texts, AI prompts and answers (and their hashes),
--     campaign names, policy and case numbers, idempotency keys;
--   * a customer's city only when it reads as a place name (Latin letters, spaces, . ' ( ) -, at
--     most 40 characters), so a number or an address typed into it stays out.
--
-- Owner-rights views (security_invoker = false), on purpose: analysts hold no right on the base
-- tables and are no row-level-security subjects (they see every row, pseudonymised). That is safe
-- because `analytics` is not exposed through the API (supabase/config.toml) and anon,
-- authenticated and service_role hold no right on it (tests/database/83_supabase_lints). Each
-- view names its columns, so a column added to a base table later reaches no analyst until a
-- migration adds it here. No view filters rows, so none needs security_barrier. Functions a view
-- calls run as the analyst who queries it: the views call only pg_catalog's and
-- analytics.pseudonym.

comment on schema analytics is
  'For analysts (role analyst): the desk''s records as views with personal data left out or '
  'pseudonymised (*_key columns: keyed hashes, the same in every view), and daily fact tables '
  '(*_facts). Read-only; not exposed through the API. Money is in paise (₹1 = 100 paise); a date '
  'is an IST day (Asia/Kolkata); set timezone = ''Asia/Kolkata'' to read timestamps as IST.';

-- Desk configuration: the hierarchy, the desk users, templates, channels, vendors.

create view analytics.hierarchy_nodes with (security_invoker = false) as
select n.id as node_id,
       n.parent_id,
       n.level,
       n.code,
       n.name,
       n.path::text as path,
       case n.level when 'zone' then n.id when 'region' then n.parent_id
                    when 'branch' then p.parent_id when 'team' then gp.parent_id end as zone_id,
       case n.level when 'region' then n.id when 'branch' then n.parent_id
                    when 'team' then p.parent_id end as region_id,
       case n.level when 'branch' then n.id when 'team' then n.parent_id end as branch_id,
       n.active,
       n.created_at,
       n.updated_at
  from public.hierarchy_nodes n
  left join public.hierarchy_nodes p on p.id = n.parent_id
  left join public.hierarchy_nodes gp on gp.id = p.parent_id;

comment on view analytics.hierarchy_nodes is
  'The organisation: zones, regions, branches and teams, one row per node, with the ids of its '
  'zone, region and branch for roll-ups. Join staff.node_id, cases and facts (node_id) here.';
comment on column analytics.hierarchy_nodes.node_id is
  'The node''s id; node_id in staff, campaigns (scope_node_id) and the fact tables.';
comment on column analytics.hierarchy_nodes.parent_id is
  'The node directly above (node_id of another row); null for a zone.';
comment on column analytics.hierarchy_nodes.level is
  'zone, region, branch or team (type public.hierarchy_level), from the top down.';
comment on column analytics.hierarchy_nodes.code is
  'Short unique code, upper case, e.g. DEL_CP; also the node''s label in path.';
comment on column analytics.hierarchy_nodes.name is 'Display name, e.g. Connaught Place.';
comment on column analytics.hierarchy_nodes.path is
  'Codes from the zone down to this node, dot-separated, e.g. NORTH.DELHI.DEL_CP: a node''s '
  'subtree is path = ''X'' or path like ''X.%''.';
comment on column analytics.hierarchy_nodes.zone_id is
  'The zone this node is in (node_id); the node itself for a zone.';
comment on column analytics.hierarchy_nodes.region_id is
  'The region this node is in (node_id); the node itself for a region; null for a zone.';
comment on column analytics.hierarchy_nodes.branch_id is
  'The branch this node is in (node_id); the node itself for a branch; null above branches.';
comment on column analytics.hierarchy_nodes.active is 'False for a closed branch or a disbanded team.';
comment on column analytics.hierarchy_nodes.created_at is 'When the node was created.';
comment on column analytics.hierarchy_nodes.updated_at is 'When the node last changed (a rename, a move).';

create view analytics.staff with (security_invoker = false) as
select s.id as staff_id, s.role, s.node_id, s.active, s.created_at, s.updated_at
  from public.profiles s;

comment on view analytics.staff is
  'Desk users (admins, managers, agents, analysts) without name or email: their role and where '
  'they sit. staff_id is agent_id, assignee_id, sender_id, creator_id, caller_id and escalated_to '
  'in the other views and agent_id in the fact tables.';
comment on column analytics.staff.staff_id is
  'The desk user''s id (their sign-in id). Names and emails are not in analytics.';
comment on column analytics.staff.role is
  'admin, manager, agent or analyst (type public.app_role).';
comment on column analytics.staff.node_id is
  'Where they sit in the hierarchy (hierarchy_nodes.node_id): a manager manages its subtree, an '
  'agent works from it. Null for a user not placed yet.';
comment on column analytics.staff.active is
  'False for someone who left: their new cases go to colleagues of the branch.';
comment on column analytics.staff.created_at is 'When the user first signed up.';
comment on column analytics.staff.updated_at is 'When their role, node or activity last changed.';

create view analytics.templates with (security_invoker = false) as
select t.id as template_id, t.code, t.channel, t.language, t.purpose, t.whatsapp_category,
       t.whatsapp_status, t.active, t.created_at, t.updated_at
  from public.templates t;

comment on view analytics.templates is
  'Message templates (without their text): one row per code, channel and language. '
  'messages.template_id and the fact tables'' template_id join here.';
comment on column analytics.templates.template_id is
  'The template''s id (template_id in messages and the fact tables).';
comment on column analytics.templates.code is
  'Stable name shared by the channel and language variants, e.g. renewal_due_60; campaigns and '
  'their steps and variants name templates by it.';
comment on column analytics.templates.channel is 'sms, email or whatsapp (type public.channel_type).';
comment on column analytics.templates.language is
  'ISO 639-1 language (en, hi, ...), optionally with _REGION as WhatsApp spells it.';
comment on column analytics.templates.purpose is
  'The consent its messages need: transactional, service or marketing (type public.consent_purpose).';
comment on column analytics.templates.whatsapp_category is
  'Meta''s category, which prices a WhatsApp message: utility, marketing or authentication; null '
  'for SMS and email.';
comment on column analytics.templates.whatsapp_status is
  'Meta''s review state of a WhatsApp template (approved, pending, rejected, ...); null otherwise.';
comment on column analytics.templates.active is
  'Whether messages may still use it; an inactive template is kept for history.';
comment on column analytics.templates.created_at is 'When the template was created.';
comment on column analytics.templates.updated_at is 'When the template last changed.';

create view analytics.channels with (security_invoker = false) as
select c.id as channel_id, c.type, c.name, c.provider, c.fallback_provider,
       c.cost_per_message as cost_per_message_paise, c.daily_quota, c.enabled, c.created_at,
       c.updated_at
  from public.channels c;

comment on view analytics.channels is
  'The ways the desk reaches customers, each with its vendor, fallback vendor, indicative cost '
  'and daily quota (settings and secrets left out).';
comment on column analytics.channels.channel_id is 'The channel''s id.';
comment on column analytics.channels.type is
  'sms, email, whatsapp, telegram or voice (type public.channel_type): the channel of messages.';
comment on column analytics.channels.name is 'Display name, e.g. WhatsApp reminders.';
comment on column analytics.channels.provider is
  'The vendor that sends its messages (vendors.code; provider in messages and the facts).';
comment on column analytics.channels.fallback_provider is
  'The vendor tried when the provider fails (vendors.code); null for none.';
comment on column analytics.channels.cost_per_message_paise is
  'Indicative cost of one message in paise (₹1 = 100 paise), exact to 1/10,000 paisa.';
comment on column analytics.channels.daily_quota is 'Most messages a day; null for no limit.';
comment on column analytics.channels.enabled is 'False: nothing is sent through this channel.';
comment on column analytics.channels.created_at is 'When the channel was configured.';
comment on column analytics.channels.updated_at is 'When its configuration last changed.';

create view analytics.vendors with (security_invoker = false) as
select v.code, v.name, v.kind, v.active, v.created_at, v.updated_at
  from public.vendors v;

comment on view analytics.vendors is
  'The outside services the desk uses (messaging, payments, AI): provider in messages, channels '
  'and the fact tables is a vendor''s code.';
comment on column analytics.vendors.code is
  'Stable code, e.g. twilio, aws_ses, whatsapp_cloud, razorpay, openai.';
comment on column analytics.vendors.name is 'Display name, e.g. Twilio Programmable Messaging.';
comment on column analytics.vendors.kind is
  'What the vendor does: sms, email, whatsapp, payments, ai, storage or social.';
comment on column analytics.vendors.active is 'False: the desk does not use this vendor.';
comment on column analytics.vendors.created_at is 'When the vendor was added.';
comment on column analytics.vendors.updated_at is 'When the vendor''s row last changed.';

-- The book: customers, policies, cases, installments, risk scores.

create view analytics.customers with (security_invoker = false) as
select analytics.pseudonym(c.id, k.inner_pad, k.outer_pad) as customer_key,
       c.language,
       c.preferred_channel,
       c.dnd,
       c.kyc_verified_on,
       case when c.city ~ '^[[:space:]]*[A-Za-z][A-Za-z .''()-]*$'
             and length(btrim(c.city)) <= 40
            then regexp_replace(btrim(c.city), '[[:space:]]+', ' ', 'g') end as city,
       c.phone is not null as has_phone,
       c.email is not null as has_email,
       c.created_at,
       c.updated_at
  from public.customers c
 cross join private.analytics_pseudonym_key k;

comment on view analytics.customers is
  'Policyholders without name, phone, email or address: one row per customer, known by '
  'customer_key, with what shapes how they are reached.';
comment on column analytics.customers.customer_key is
  'Pseudonym of the customer (a keyed hash, 32 hex characters): customer_key in every view.';
comment on column analytics.customers.language is 'Language for messages: ISO 639-1 (en, hi, ta, ...).';
comment on column analytics.customers.preferred_channel is
  'The channel the customer asked to be reached on, if any (type public.channel_type).';
comment on column analytics.customers.dnd is
  'Registered on the NCPR (Do Not Disturb): no promotional SMS or calls.';
comment on column analytics.customers.kyc_verified_on is
  'IST date the KYC documents were last verified; null when never.';
comment on column analytics.customers.city is
  'City of the address as the desk typed it (spaces tidied), only when it reads as a place name in '
  'Latin letters (letters, spaces, . '' ( ) -, at most 40 characters); null otherwise or unknown.';
comment on column analytics.customers.has_phone is 'Whether a mobile number is on file (SMS, WhatsApp).';
comment on column analytics.customers.has_email is 'Whether an email address is on file.';
comment on column analytics.customers.created_at is 'When the customer was first recorded.';
comment on column analytics.customers.updated_at is 'When the customer''s row last changed.';

create view analytics.policies with (security_invoker = false) as
select analytics.pseudonym(p.id, k.inner_pad, k.outer_pad) as policy_key,
       analytics.pseudonym(p.customer_id, k.inner_pad, k.outer_pad) as customer_key,
       p.agent_id,
       p.product_line,
       p.insurer,
       p.premium as premium_paise,
       p.sum_insured as sum_insured_paise,
       p.currency,
       p.start_date,
       p.end_date,
       p.payment_frequency,
       p.ncb_percent,
       p.status,
       analytics.pseudonym(p.renewed_from_policy_id, k.inner_pad, k.outer_pad)
         as renewed_from_policy_key,
       p.created_at,
       p.updated_at
  from public.policies p
 cross join private.analytics_pseudonym_key k;

comment on view analytics.policies is
  'Policy terms, one row per policy per term (the next term is a new row pointing back through '
  'renewed_from_policy_key), without policy numbers.';
comment on column analytics.policies.policy_key is 'Pseudonym of the policy term (policy_key in cases).';
comment on column analytics.policies.customer_key is 'The policyholder (customers.customer_key).';
comment on column analytics.policies.agent_id is 'The agent who services the policy (staff.staff_id).';
comment on column analytics.policies.product_line is
  'motor, health, life or home (type public.product_line).';
comment on column analytics.policies.insurer is 'The insurance company that underwrites it.';
comment on column analytics.policies.premium_paise is
  'Yearly premium in paise (₹1 = 100 paise), whatever the payment frequency.';
comment on column analytics.policies.sum_insured_paise is
  'Sum insured (IDV for motor) in paise (₹1 = 100 paise).';
comment on column analytics.policies.currency is 'ISO 4217 currency code, INR.';
comment on column analytics.policies.start_date is 'First IST day of cover.';
comment on column analytics.policies.end_date is 'Last IST day of cover: the renewal is due then.';
comment on column analytics.policies.payment_frequency is
  'annual, half_yearly, quarterly or monthly: how the yearly premium is split into installments.';
comment on column analytics.policies.ncb_percent is
  'No-claim bonus in percent (motor 20/25/35/45/50 after 1-5 claim-free years).';
comment on column analytics.policies.status is
  'active, renewed, lapsed, expired or cancelled (type public.policy_status).';
comment on column analytics.policies.renewed_from_policy_key is
  'The previous term (policy_key) when this term renews it; null for a first term.';
comment on column analytics.policies.created_at is 'When the term was loaded.';
comment on column analytics.policies.updated_at is 'When the term''s row last changed.';

create view analytics.cases with (security_invoker = false) as
select analytics.pseudonym(c.id, k.inner_pad, k.outer_pad) as case_key,
       analytics.pseudonym(c.policy_id, k.inner_pad, k.outer_pad) as policy_key,
       analytics.pseudonym(c.customer_id, k.inner_pad, k.outer_pad) as customer_key,
       c.assignee_id,
       p.product_line,
       c.stage,
       c.priority,
       c.due_date,
       c.grace_end,
       c.stage_changed_at,
       c.closed_at,
       c.created_at,
       c.updated_at
  from public.renewal_cases c
  join public.policies p on p.id = c.policy_id
 cross join private.analytics_pseudonym_key k;

comment on view analytics.cases is
  'Renewal cases, one per policy term that reached its renewal window, without case numbers or '
  'the desk''s lost reasons (free text). The renewal rate of a period is the cases due in it '
  'that ended renewed over all cases due in it.';
comment on column analytics.cases.case_key is
  'Pseudonym of the case (case_key in installments, payments, messages, tasks, AI requests).';
comment on column analytics.cases.policy_key is 'The term up for renewal (policies.policy_key).';
comment on column analytics.cases.customer_key is 'The policyholder (customers.customer_key).';
comment on column analytics.cases.assignee_id is 'Who works the case (staff.staff_id).';
comment on column analytics.cases.product_line is
  'The policy''s product line (motor, health, life, home), repeated here for grouping.';
comment on column analytics.cases.stage is
  'new, contacted, quoted, payment_pending, renewed, pending_lapse, lapsed, lost or not_taken '
  '(type public.case_stage; renewed, lapsed, lost and not_taken are final).';
comment on column analytics.cases.priority is 'low, normal, high or urgent (type public.case_priority).';
comment on column analytics.cases.due_date is 'IST date the renewal is due: the policy''s end date.';
comment on column analytics.cases.grace_end is
  'Last IST day of grace; unpaid after it the case lapses. Equal to due_date without grace.';
comment on column analytics.cases.stage_changed_at is 'When the stage last changed.';
comment on column analytics.cases.closed_at is
  'When the case reached a final stage; null while open. Days to renew: closed_at - created_at '
  'of renewed cases.';
comment on column analytics.cases.created_at is 'When the case was opened (by the daily job).';
comment on column analytics.cases.updated_at is 'When the case''s row last changed.';

create view analytics.installments with (security_invoker = false) as
select analytics.pseudonym(o.id, k.inner_pad, k.outer_pad) as installment_key,
       analytics.pseudonym(o.case_id, k.inner_pad, k.outer_pad) as case_key,
       o.installment_number,
       o.due_date,
       o.amount as amount_paise,
       o.amount_paid as amount_paid_paise,
       o.currency,
       o.status,
       o.paid_at,
       o.created_at,
       o.updated_at
  from public.outstanding_amounts o
 cross join private.analytics_pseudonym_key k;

comment on view analytics.installments is
  'Installments of the renewal premium owed on each case (premium due), without the desk''s '
  'waiver reasons and payment references. Premium collected is in payments and '
  'payment_allocations.';
comment on column analytics.installments.installment_key is 'Pseudonym of the installment.';
comment on column analytics.installments.case_key is 'The renewal case (cases.case_key).';
comment on column analytics.installments.installment_number is
  'Which installment: 1, 2, ... (up to 12 for monthly payment).';
comment on column analytics.installments.due_date is
  'IST date it is due; unpaid the day after, it becomes overdue.';
comment on column analytics.installments.amount_paise is 'Amount due in paise (₹1 = 100 paise).';
comment on column analytics.installments.amount_paid_paise is
  'Paise (₹1 = 100 paise) paid online so far; a partial payment leaves it pending.';
comment on column analytics.installments.currency is 'ISO 4217 currency code, INR.';
comment on column analytics.installments.status is
  'pending, paid, overdue or waived (type public.installment_status).';
comment on column analytics.installments.paid_at is
  'When it was paid, online or as recorded by the desk; null unless status is paid.';
comment on column analytics.installments.created_at is 'When the installment was created (with its case).';
comment on column analytics.installments.updated_at is 'When the installment last changed.';

create view analytics.case_risk_scores with (security_invoker = false) as
select analytics.pseudonym(r.case_id, k.inner_pad, k.outer_pad) as case_key,
       r.score, r.band, r.reasons, r.model_version, r.as_of, r.scored_at
  from public.case_risk_scores r
 cross join private.analytics_pseudonym_key k;

comment on view analytics.case_risk_scores is
  'The latest lapse-risk score of each open case (rules model, recomputed daily); a closed case '
  'has none.';
comment on column analytics.case_risk_scores.case_key is 'The open case scored (cases.case_key).';
comment on column analytics.case_risk_scores.score is
  'Lapse risk from 0 (will renew) to 100 (will lapse).';
comment on column analytics.case_risk_scores.band is
  'low (below 35), medium (35 to 64) or high (65 and above).';
comment on column analytics.case_risk_scores.reasons is
  'The features that weighed most, largest first: a JSON array of {feature, value, weight, '
  'direction} (weight: points added or taken off).';
comment on column analytics.case_risk_scores.model_version is
  'The model that scored, e.g. rules-2026-11; scores of different versions do not compare.';
comment on column analytics.case_risk_scores.as_of is 'The moment the score describes.';
comment on column analytics.case_risk_scores.scored_at is 'When the scoring run started.';

-- Money: payments and where their money went.

create view analytics.payments with (security_invoker = false) as
select analytics.pseudonym(p.id, k.inner_pad, k.outer_pad) as payment_key,
       analytics.pseudonym(p.case_id, k.inner_pad, k.outer_pad) as case_key,
       case when p.autopay_mandate_id is not null then 'autopay'
            when p.payment_link_id is not null then 'payment_link'
            else 'checkout' end as route,
       p.amount as amount_paise,
       p.amount_refunded as amount_refunded_paise,
       p.currency,
       p.method,
       p.status,
       p.error_code,
       p.review_reason,
       p.credited_via,
       p.attempted_at,
       p.captured_at,
       p.credited_at,
       p.created_at,
       p.updated_at
  from public.payments p
 cross join private.analytics_pseudonym_key k;

comment on view analytics.payments is
  'Razorpay payment attempts for renewal cases, without Razorpay''s ids and failure texts. '
  'Premium collected on a day: captured payments by captured_at, less refunds.';
comment on column analytics.payments.payment_key is 'Pseudonym of the payment.';
comment on column analytics.payments.case_key is 'The renewal case paid for (cases.case_key).';
comment on column analytics.payments.route is
  'How the customer paid: checkout (an order opened by the desk), payment_link (a link sent to '
  'them) or autopay (a mandate''s debit).';
comment on column analytics.payments.amount_paise is 'Amount in paise (₹1 = 100 paise).';
comment on column analytics.payments.amount_refunded_paise is
  'Paise (₹1 = 100 paise) refunded to the customer so far.';
comment on column analytics.payments.currency is 'ISO 4217 currency code, INR.';
comment on column analytics.payments.method is 'upi, card, netbanking, wallet, ... as Razorpay names it.';
comment on column analytics.payments.status is
  'created, authorized, captured, failed or refunded (type public.payment_status).';
comment on column analytics.payments.error_code is
  'Razorpay''s error code of a failed payment (e.g. BAD_REQUEST_ERROR); null otherwise.';
comment on column analytics.payments.review_reason is
  'Why an admin must look at it, null when clean: order_expired, case_closed, nothing_due, '
  'overpaid, currency_mismatch or refunded_after_close.';
comment on column analytics.payments.credited_via is
  'What credited it to installments: webhook, verify (checkout) or reconcile; null if not.';
comment on column analytics.payments.attempted_at is 'When the customer paid, as Razorpay says.';
comment on column analytics.payments.captured_at is 'When Razorpay took the money; null until captured.';
comment on column analytics.payments.credited_at is
  'When it was credited to the case''s installments; null while not captured or when held for '
  'review.';
comment on column analytics.payments.created_at is 'When the desk first saw the payment.';
comment on column analytics.payments.updated_at is 'When the payment''s row last changed.';

create view analytics.payment_allocations with (security_invoker = false) as
select analytics.pseudonym(a.id, k.inner_pad, k.outer_pad) as allocation_key,
       analytics.pseudonym(a.payment_id, k.inner_pad, k.outer_pad) as payment_key,
       analytics.pseudonym(a.case_id, k.inner_pad, k.outer_pad) as case_key,
       analytics.pseudonym(a.outstanding_amount_id, k.inner_pad, k.outer_pad) as installment_key,
       a.amount as amount_paise,
       analytics.pseudonym(a.refund_id, k.inner_pad, k.outer_pad) as refund_key,
       a.created_at
  from public.payment_allocations a
 cross join private.analytics_pseudonym_key k;

comment on view analytics.payment_allocations is
  'Where each payment''s money went, installment by installment: credits (positive), refunds '
  'taking money back (negative, with refund_key) and failed refunds giving it back (positive, '
  'with refund_key). The sum per installment is its amount_paid_paise.';
comment on column analytics.payment_allocations.allocation_key is 'Pseudonym of the allocation.';
comment on column analytics.payment_allocations.payment_key is 'The payment (payments.payment_key).';
comment on column analytics.payment_allocations.case_key is 'The renewal case (cases.case_key).';
comment on column analytics.payment_allocations.installment_key is
  'The installment credited or debited (installments.installment_key).';
comment on column analytics.payment_allocations.amount_paise is
  'Paise (₹1 = 100 paise) credited (positive) or taken back by a refund (negative).';
comment on column analytics.payment_allocations.refund_key is
  'Pseudonym of the refund behind the row; null for a payment''s own credit.';
comment on column analytics.payment_allocations.created_at is 'When the money was allocated.';

-- Messages and campaigns.

create view analytics.messages with (security_invoker = false) as
select analytics.pseudonym(m.id, k.inner_pad, k.outer_pad) as message_key,
       analytics.pseudonym(m.customer_id, k.inner_pad, k.outer_pad) as customer_key,
       m.staff_id,
       analytics.pseudonym(m.case_id, k.inner_pad, k.outer_pad) as case_key,
       m.campaign_id,
       m.template_id,
       m.channel,
       m.purpose,
       m.priority,
       m.status,
       m.blocked_reason,
       m.deferred_reason,
       m.dead_reason,
       m.last_error_code,
       m.choice_reason,
       m.provider,
       m.attempts,
       m.provider_attempts,
       m.stalls,
       m.estimated_cost_paise,
       m.cost_paise,
       m.created_by as sender_id,
       m.queued_at,
       m.sending_at,
       m.sent_at,
       m.delivered_at,
       m.read_at,
       m.failed_at,
       m.cancelled_at,
       m.blocked_at,
       m.dead_at,
       m.unconfirmed_at,
       m.created_at,
       m.updated_at
  from public.messages m
 cross join private.analytics_pseudonym_key k;

comment on view analytics.messages is
  'Every outbound message (SMS, email, WhatsApp) with its outcome, timings and cost, without its '
  'text, variables, address or the vendor''s ids and error messages. Queue to delivery latency: '
  'delivered_at - queued_at.';
comment on column analytics.messages.message_key is
  'Pseudonym of the message (message_key in campaign_recipients).';
comment on column analytics.messages.customer_key is
  'The customer it is for (customers.customer_key); null for a message to a desk user.';
comment on column analytics.messages.staff_id is
  'The desk user it is for (staff.staff_id), e.g. an alert to an admin; null for customers''.';
comment on column analytics.messages.case_key is 'The renewal case it is about (cases.case_key), if any.';
comment on column analytics.messages.campaign_id is 'The campaign that sent it (campaigns.campaign_id), if any.';
comment on column analytics.messages.template_id is
  'The template it was rendered from (templates.template_id); null for free text.';
comment on column analytics.messages.channel is 'sms, email or whatsapp (type public.channel_type).';
comment on column analytics.messages.purpose is
  'The consent it needs: transactional, service or marketing (type public.consent_purpose).';
comment on column analytics.messages.priority is
  '0 (first: receipts, one-time codes) to 9 (last: campaigns).';
comment on column analytics.messages.status is
  'queued, sending, sent, delivered, read, failed, undeliverable, cancelled, blocked or dead '
  '(type public.message_status): where it is now.';
comment on column analytics.messages.blocked_reason is
  'Why the gate refused it (no_consent, dnd, suppressed, frequency_cap, ...); null unless blocked.';
comment on column analytics.messages.deferred_reason is
  'Why it waited beyond its queue time: promotional_hours, quiet_hours, scheduled or retry.';
comment on column analytics.messages.dead_reason is
  'Why it became a dead letter: stalled or retries_exhausted; null otherwise.';
comment on column analytics.messages.last_error_code is
  'The vendor''s code of the last failure (e.g. Twilio 21211, WhatsApp 131047, SES Throttling).';
comment on column analytics.messages.choice_reason is
  'Why this channel was chosen (preferred_channel, first_choice, first_allowed (...), '
  'none_allowed, opt_out_channel); null for messages that did not choose.';
comment on column analytics.messages.provider is
  'The vendor of the last attempt (vendors.code); null when never handed to one.';
comment on column analytics.messages.attempts is 'Sends tried, across vendors.';
comment on column analytics.messages.provider_attempts is 'Sends tried on the current vendor.';
comment on column analytics.messages.stalls is 'Times a dispatcher crashed or timed out holding it.';
comment on column analytics.messages.estimated_cost_paise is
  'Cost estimated when queued, in paise (₹1 = 100 paise), exact to 1/10,000 paisa.';
comment on column analytics.messages.cost_paise is
  'Cost the vendor reported, in paise (₹1 = 100 paise); null until known (then use the estimate).';
comment on column analytics.messages.sender_id is
  'The agent who sent a one-off message (staff.staff_id); null for jobs and campaigns.';
comment on column analytics.messages.queued_at is 'When the gate took it (the start of its latency).';
comment on column analytics.messages.sending_at is 'When a dispatcher last claimed it.';
comment on column analytics.messages.sent_at is 'When the vendor accepted it.';
comment on column analytics.messages.delivered_at is 'When the vendor reported it delivered.';
comment on column analytics.messages.read_at is 'When the vendor reported it read (WhatsApp).';
comment on column analytics.messages.failed_at is 'When it failed or was reported undeliverable.';
comment on column analytics.messages.cancelled_at is 'When it was cancelled (e.g. the case got paid).';
comment on column analytics.messages.blocked_at is 'When the gate blocked it.';
comment on column analytics.messages.dead_at is 'When it became a dead letter.';
comment on column analytics.messages.unconfirmed_at is
  'When it was flagged as accepted by the vendor but never confirmed delivered or failed.';
comment on column analytics.messages.created_at is
  'When the row was written: the message belongs to this instant''s day in the fact tables.';
comment on column analytics.messages.updated_at is 'When the message last changed.';

create view analytics.campaigns with (security_invoker = false) as
select c.id as campaign_id, c.created_by as creator_id, c.scope_node_id, c.channel, c.purpose,
       c.template_code, c.audience_filter, c.start_at, c.spread_rate_per_hour,
       c.spread_window_start, c.spread_window_end, c.status, c.launched_at, c.paused_at,
       c.cancelled_at, c.completed_at, c.created_at, c.updated_at
  from public.campaigns c;

comment on view analytics.campaigns is
  'Campaigns: one message (or an A/B choice of templates) to the open cases matching a filter in '
  'a subtree, then optional follow-up steps. Their names (free text) are left out: campaign_id '
  'and template_code tell them apart.';
comment on column analytics.campaigns.campaign_id is 'The campaign''s id (campaign_id in messages).';
comment on column analytics.campaigns.creator_id is 'Who created it (staff.staff_id).';
comment on column analytics.campaigns.scope_node_id is
  'The hierarchy node whose subtree the audience came from (hierarchy_nodes.node_id).';
comment on column analytics.campaigns.channel is 'Channel of the first step: sms, email or whatsapp.';
comment on column analytics.campaigns.purpose is
  'The consent the first step needs: service (reminder) or marketing (offer).';
comment on column analytics.campaigns.template_code is
  'Template of the first step when there are no variants (templates.code).';
comment on column analytics.campaigns.audience_filter is
  'Who it targets, as JSON: product_line, stage, city, language, preferred_channel, expiry_from / '
  'expiry_to (IST dates of due_date), premium_min / premium_max (paise). Empty: every open case.';
comment on column analytics.campaigns.start_at is 'Earliest send of the first step; null: at launch.';
comment on column analytics.campaigns.spread_rate_per_hour is
  'At most this many first-step sends an hour when spread; null: all at once.';
comment on column analytics.campaigns.spread_window_start is
  'Start of the daily IST window spread sends are placed in (time of day).';
comment on column analytics.campaigns.spread_window_end is
  'End of the daily IST window of spread sends (time of day, exclusive).';
comment on column analytics.campaigns.status is
  'draft, scheduled, running, paused, completed or cancelled (type public.campaign_status).';
comment on column analytics.campaigns.launched_at is 'When it was first launched.';
comment on column analytics.campaigns.paused_at is 'When it was last paused; null while not paused.';
comment on column analytics.campaigns.cancelled_at is 'When it was cancelled.';
comment on column analytics.campaigns.completed_at is 'When its flow ended for every recipient.';
comment on column analytics.campaigns.created_at is 'When the campaign was created.';
comment on column analytics.campaigns.updated_at is 'When the campaign last changed.';

create view analytics.campaign_variants with (security_invoker = false) as
select v.id as variant_id, v.campaign_id, v.code, v.template_code, v.weight, v.created_at
  from public.campaign_variants v;

comment on view analytics.campaign_variants is
  'The A/B variants of a campaign''s first step: which template each sends and its share.';
comment on column analytics.campaign_variants.variant_id is
  'The variant''s id (variant_id in campaign_recipients).';
comment on column analytics.campaign_variants.campaign_id is 'The campaign (campaigns.campaign_id).';
comment on column analytics.campaign_variants.code is
  'Short name shown in stats (A, B, ...); the first by code is the control.';
comment on column analytics.campaign_variants.template_code is 'The template it sends (templates.code).';
comment on column analytics.campaign_variants.weight is 'Share of the audience, in percent.';
comment on column analytics.campaign_variants.created_at is 'When the variant was created.';

create view analytics.campaign_steps with (security_invoker = false) as
select s.id as step_id, s.campaign_id, s.position, s.channel, s.template_code, s.wait,
       s.condition, s.created_at
  from public.campaign_steps s;

comment on view analytics.campaign_steps is
  'Follow-up steps of a campaign''s flow (step 1 is the campaign''s own message).';
comment on column analytics.campaign_steps.step_id is 'The step''s id.';
comment on column analytics.campaign_steps.campaign_id is 'The campaign (campaigns.campaign_id).';
comment on column analytics.campaign_steps.position is 'Order in the flow: 2, 3, ...';
comment on column analytics.campaign_steps.channel is 'Channel of this step: sms, email or whatsapp.';
comment on column analytics.campaign_steps.template_code is 'Template of this step (templates.code).';
comment on column analytics.campaign_steps.wait is
  'How long after the previous step''s send this step is due (an interval).';
comment on column analytics.campaign_steps.condition is
  'Who gets it: always, not_read or not_delivered (judged on the previous step''s message).';
comment on column analytics.campaign_steps.created_at is 'When the step was created.';

create view analytics.campaign_recipients with (security_invoker = false) as
select analytics.pseudonym(r.id, k.inner_pad, k.outer_pad) as recipient_key,
       r.campaign_id,
       analytics.pseudonym(r.customer_id, k.inner_pad, k.outer_pad) as customer_key,
       analytics.pseudonym(r.case_id, k.inner_pad, k.outer_pad) as case_key,
       r.variant_id,
       r.step,
       analytics.pseudonym(r.message_id, k.inner_pad, k.outer_pad) as message_key,
       r.state,
       r.due_at,
       r.next_at,
       r.created_at,
       r.updated_at
  from public.campaign_recipients r
 cross join private.analytics_pseudonym_key k;

comment on view analytics.campaign_recipients is
  'Who a launched campaign reached (one row per customer) and where they are in its flow.';
comment on column analytics.campaign_recipients.recipient_key is 'Pseudonym of the recipient row.';
comment on column analytics.campaign_recipients.campaign_id is 'The campaign (campaigns.campaign_id).';
comment on column analytics.campaign_recipients.customer_key is 'The customer (customers.customer_key).';
comment on column analytics.campaign_recipients.case_key is
  'The open case they were chosen for, the soonest due (cases.case_key).';
comment on column analytics.campaign_recipients.variant_id is
  'Their A/B variant (campaign_variants.variant_id); null without variants.';
comment on column analytics.campaign_recipients.step is 'The flow step they are at (1: the first message).';
comment on column analytics.campaign_recipients.message_key is
  'The message of their current step (messages.message_key), blocked ones included.';
comment on column analytics.campaign_recipients.state is
  'active (a further step may come), done (their flow is over) or cancelled.';
comment on column analytics.campaign_recipients.due_at is 'When their current step''s message was planned to go.';
comment on column analytics.campaign_recipients.next_at is
  'Earliest time their next step may be due; null when none.';
comment on column analytics.campaign_recipients.created_at is 'When they were added (at launch).';
comment on column analytics.campaign_recipients.updated_at is 'When their row last changed.';

-- Work: tasks and AI requests.

create view analytics.tasks with (security_invoker = false) as
select analytics.pseudonym(t.id, k.inner_pad, k.outer_pad) as task_key,
       analytics.pseudonym(t.case_id, k.inner_pad, k.outer_pad) as case_key,
       t.reminder_rule_id,
       t.assignee_id,
       t.kind,
       t.status,
       t.due_at,
       t.sla_hours,
       t.sla_due_at,
       t.snoozed_until,
       t.done_at,
       t.escalation_level,
       t.escalated_to,
       t.escalated_at,
       t.created_at,
       t.updated_at
  from public.tasks t
 cross join private.analytics_pseudonym_key k;

comment on view analytics.tasks is
  'Work for agents about renewal cases (calls), with their SLA and escalations, without the '
  'outcome the agent wrote. An SLA breach: sla_due_at passed with the task not done by then.';
comment on column analytics.tasks.task_key is 'Pseudonym of the task.';
comment on column analytics.tasks.case_key is 'The renewal case it is about (cases.case_key).';
comment on column analytics.tasks.reminder_rule_id is
  'The cadence step that opened it (public.reminder_rules.id); null for tasks opened otherwise.';
comment on column analytics.tasks.assignee_id is 'Who must do it (staff.staff_id).';
comment on column analytics.tasks.kind is 'What to do: call (phone the customer).';
comment on column analytics.tasks.status is 'open, snoozed (put off, the SLA still runs) or done.';
comment on column analytics.tasks.due_at is 'When it became due.';
comment on column analytics.tasks.sla_hours is
  'Hours allowed; each escalation restarts the SLA for the new holder.';
comment on column analytics.tasks.sla_due_at is 'When the current SLA ends.';
comment on column analytics.tasks.snoozed_until is 'Until when it was put off (status snoozed).';
comment on column analytics.tasks.done_at is 'When it was marked done; null while not done.';
comment on column analytics.tasks.escalation_level is
  'Times it escalated: 0 none, 1 to the nearest manager, 2 the one above, ...';
comment on column analytics.tasks.escalated_to is
  'The manager it was last escalated to (staff.staff_id); null if never.';
comment on column analytics.tasks.escalated_at is 'When it was last escalated; null if never.';
comment on column analytics.tasks.created_at is 'When the task was opened.';
comment on column analytics.tasks.updated_at is 'When the task last changed.';

create view analytics.ai_requests with (security_invoker = false) as
select analytics.pseudonym(a.id, k.inner_pad, k.outer_pad) as ai_request_key,
       a.purpose,
       a.caller as caller_id,
       analytics.pseudonym(a.case_id, k.inner_pad, k.outer_pad) as case_key,
       analytics.pseudonym(a.customer_id, k.inner_pad, k.outer_pad) as customer_key,
       a.model,
       a.outcome,
       a.source,
       a.attempts,
       a.tokens_in,
       a.tokens_out,
       a.estimated_cost_paise,
       a.cost_paise,
       a.latency_ms,
       analytics.pseudonym(a.cached_from, k.inner_pad, k.outer_pad) as cached_from_key,
       a.created_at,
       a.finished_at
  from public.ai_requests a
 cross join private.analytics_pseudonym_key k;

comment on view analytics.ai_requests is
  'Every AI assistant request (model calls, cached answers, refusals by the limits) with its '
  'tokens, cost and latency, without prompts or answers.';
comment on column analytics.ai_requests.ai_request_key is 'Pseudonym of the request.';
comment on column analytics.ai_requests.purpose is
  'risk_assessment, policy_recommendations, profile_summary, draft or chat (type public.ai_purpose).';
comment on column analytics.ai_requests.caller_id is 'The desk user who asked (staff.staff_id).';
comment on column analytics.ai_requests.case_key is 'The case it was about (cases.case_key), if one.';
comment on column analytics.ai_requests.customer_key is
  'The customer it was about (customers.customer_key), if one.';
comment on column analytics.ai_requests.model is 'The model asked (the AI_MODEL setting then).';
comment on column analytics.ai_requests.outcome is
  'ok, cached, invalid, refused, truncated, timeout, error, rate_limited, over_budget or pending '
  '(type public.ai_outcome).';
comment on column analytics.ai_requests.source is
  'Where the answer came from: model, cache or rules (the fallback); null while pending.';
comment on column analytics.ai_requests.attempts is 'Calls made to the model: 0 (cached, refused), 1 or 2.';
comment on column analytics.ai_requests.tokens_in is 'Prompt tokens billed, over every attempt.';
comment on column analytics.ai_requests.tokens_out is 'Completion tokens billed, over every attempt.';
comment on column analytics.ai_requests.estimated_cost_paise is
  'Cost expected at admission, in paise (₹1 = 100 paise).';
comment on column analytics.ai_requests.cost_paise is
  'What it cost, in paise (₹1 = 100 paise), fractions kept; 0 for cached and refused; null while '
  'pending.';
comment on column analytics.ai_requests.latency_ms is
  'Milliseconds from the first call to the last answer (all attempts).';
comment on column analytics.ai_requests.cached_from_key is
  'For a cached answer: the request whose answer was served again (ai_request_key).';
comment on column analytics.ai_requests.created_at is 'When the request was admitted.';
comment on column analytics.ai_requests.finished_at is 'When it was settled; null while pending.';

-- The default privileges of the analyst migration already give analysts select on each of
-- these; said again here so the grant is read where the views are.
grant select on analytics.hierarchy_nodes, analytics.staff, analytics.templates,
  analytics.channels, analytics.vendors, analytics.customers, analytics.policies, analytics.cases,
  analytics.installments, analytics.case_risk_scores, analytics.payments,
  analytics.payment_allocations, analytics.messages, analytics.campaigns,
  analytics.campaign_variants, analytics.campaign_steps, analytics.campaign_recipients,
  analytics.tasks, analytics.ai_requests
  to analyst;
