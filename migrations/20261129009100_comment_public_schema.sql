-- Comments for analysts, who read them in their SQL client (`\d+`, a tooltip in DBeaver): every
-- table in `public`, every column that is not its primary key or its created_at / updated_at, and
-- every enum type with the meaning of each value. Units are said where they matter: money is
-- integer paise (₹1 = 100 paise); a `date` is a calendar day in India (IST, Asia/Kolkata), the
-- business date the daily jobs judge by; a `timestamptz` is an instant, shown in the client's
-- time zone (`set timezone = 'Asia/Kolkata'` to read it as IST).
--
-- It fills what was missing and rewrites comments the renewal rules of this issue made wrong or
-- incomplete (consents, installments, case assignment and numbering, policy status, the dates).
-- Comments that were right are left as they are. tests/database/02_catalog_comments.test.sql holds
-- every later table, column and enum type to the same rule.

-- The analytics schema is where analysts will read; today it is empty and no role reads it.
comment on schema analytics is
  'Reserved for read-only reports for analysts and dashboards, with personal data masked. Empty '
  'for now: no view and no analyst database role exist yet.';

-- Enum types: each value named as `value: meaning`.

comment on type public.app_role is
  'What a desk user is. admin: sees every book and configures the desk; manager: sees the books '
  'of everyone at or under their hierarchy node; agent: works their own book (the policies they '
  'service and the cases assigned to them); analyst: sees no renewal data on the desk, only their '
  'own profile (their reports are to come in the analytics schema).';

comment on type public.hierarchy_level is
  'Depth of a node in the organisation, from the top. zone: the top level (e.g. NORTH); region: '
  'part of a zone (e.g. DELHI); branch: an office of a region (e.g. DEL_CP); team: a group of '
  'agents in a branch.';

comment on type public.product_line is
  'Kind of insurance. motor: vehicle (own damage and third party); health: health and '
  'hospitalisation; life: life cover; home: home and contents.';

comment on type public.payment_frequency is
  'How often the premium is paid; a policy''s premium is always the yearly total. annual: once a '
  'year; half_yearly: in 2 installments; quarterly: in 4; monthly: in 12.';

comment on type public.policy_status is
  'Where a policy term stands. active: in force, or in its renewal window with the case still '
  'open; renewed: its renewal case was settled (every installment paid or waived), or the next '
  'term was loaded pointing back to it; lapsed: the renewal went unpaid to the end of grace; '
  'expired: the term ended without renewal (its case was lost or not taken, or it never had a '
  'case); cancelled: ended before its end date (by the insurer or the customer; set by imports).';

comment on type public.case_stage is
  'Where a renewal case stands. new: opened by the daily job, nobody has acted yet; contacted: the '
  'customer was reached; quoted: the renewal premium was quoted; payment_pending: the customer '
  'agreed and payment is awaited; renewed: nothing is outstanding any more (final); pending_lapse: '
  'the due date passed unpaid, the case is in grace (set by the daily job); lapsed: grace ended '
  'unpaid (final, set by the daily job); lost: the customer declined or went elsewhere (final, '
  'lost_reason says why); not_taken: the customer never took up the renewal offer, e.g. did not '
  'respond (final, lost_reason says why).';

comment on type public.case_priority is
  'How urgently a case should be worked. low: when time allows; normal: the default; high: the '
  'yearly premium is at or above HIGH_PRIORITY_PREMIUM_PAISE (set when the case opens), or raised '
  'by the desk; urgent: raised by a manager or agent, work it first.';

comment on type public.installment_status is
  'Where an installment stands. pending: due, not yet paid; paid: paid, online or recorded by the '
  'desk with a reference in reason (paid_at says when); overdue: unpaid after its due date, set by '
  'the daily job while the case is open; waived: written off by a manager or an admin, or because '
  'the next term was loaded (reason says why). paid and waived are settled and never change.';

comment on type public.channel_type is
  'How a customer is reached. sms: text message to the mobile number; email: email; whatsapp: '
  'WhatsApp Business message; telegram: Telegram bot message; voice: phone call.';

comment on type public.consent_purpose is
  'What kind of message a consent covers; each is consented to separately. transactional: '
  'receipts and confirmations of what the customer did; service: renewal reminders and other '
  'messages about their policies; marketing: offers of other products.';

comment on type public.consent_status is
  'granted: the customer agreed to messages of that channel and purpose; withdrawn: they opted '
  'out (e.g. replied STOP): send them none.';

comment on type public.payment_status is
  'A Razorpay payment''s state. created: the order exists, the customer has not paid; authorized: '
  'the bank approved it, the money is not yet taken; captured: the money is taken, the payment '
  'succeeded; failed: the attempt failed (failure_reason says why); refunded: captured, then '
  'paid back.';

-- app_settings

comment on column public.app_settings.key is
  'Setting name, upper case like an environment variable: ENABLE_* flags, RENEWAL_LEAD_DAYS, '
  'GRACE_DAYS, HIGH_PRIORITY_PREMIUM_PAISE, BUSINESS_TIME_ZONE.';
comment on column public.app_settings.description is
  'What the setting does and the unit of its value.';
comment on column public.app_settings.updated_by is
  'The admin who last changed the value (profiles.id); null when a migration or the backend set it.';

-- audit_log

comment on table public.audit_log is
  'Every insert, update and delete of renewal_cases, outstanding_amounts, payments and consents, '
  'with the whole row before and after, written by triggers whoever made the change. A row''s '
  'history: where table_name = ... and row_id = ... order by id. Admins read it; nobody writes '
  'it directly.';
comment on column public.audit_log.table_name is
  'The table that changed: renewal_cases, outstanding_amounts, payments or consents.';
comment on column public.audit_log.row_id is 'The id of the row that changed, in that table.';
comment on column public.audit_log.action is
  'insert, update or delete. An update that changed nothing but updated_at is not logged.';
comment on column public.audit_log.at is 'When the change was made (the transaction''s time).';
comment on column public.audit_log.old_row is 'The whole row before the change, as JSON; null for an insert.';
comment on column public.audit_log.new_row is 'The whole row after the change, as JSON; null for a delete.';

-- channels

comment on table public.channels is
  'Ways the desk reaches customers (e.g. "SMS reminders"), each sent through a vendor with an '
  'optional fallback vendor, with an indicative cost and a daily quota. Admins configure them.';
comment on column public.channels.type is 'What kind of channel it is (see type channel_type).';
comment on column public.channels.name is 'Display name, unique, e.g. WhatsApp reminders.';
comment on column public.channels.provider is 'The vendor that sends its messages (vendors.code).';
comment on column public.channels.fallback_provider is
  'The vendor tried when the provider fails (vendors.code); null for none.';
comment on column public.channels.enabled is 'False: nothing is sent through this channel.';

-- consents

comment on table public.consents is
  'Consent to contact a customer as it stands now: one row per customer, channel and purpose, '
  'granted or withdrawn. A change updates the row; every earlier state is in audit_log '
  '(table_name = ''consents''). No row: nothing was recorded for that channel and purpose.';
comment on column public.consents.customer_id is 'The customer it is for (customers.id).';
comment on column public.consents.channel is 'The channel it covers (see type channel_type).';
comment on column public.consents.status is
  'granted or withdrawn since recorded_at (see type consent_status).';
comment on column public.consents.recorded_at is
  'When the current status was recorded: the time of the desk''s write (set by the database, '
  'not the client), or the time an import brought from its source.';
comment on column public.consents.recorded_by is
  'The desk user who recorded the current status (profiles.id), taken from their session; null '
  'for imports and systems.';

-- customers

comment on column public.customers.full_name is 'Name of the policyholder, as on their policies.';
comment on column public.customers.email is 'Email address for messages (case-insensitive); null when unknown.';
comment on column public.customers.city is 'City of the customer''s address, free text; null when unknown.';
comment on column public.customers.kyc_verified_on is
  'IST date the KYC documents were last verified; null when never. Renewals check it is recent.';

-- hierarchy_nodes

comment on column public.hierarchy_nodes.parent_id is
  'The node directly above (hierarchy_nodes.id); null for a zone.';
comment on column public.hierarchy_nodes.level is
  'zone, region, branch or team (see type hierarchy_level): always one below the parent''s.';
comment on column public.hierarchy_nodes.name is 'Display name, e.g. Delhi Connaught Place.';

-- outstanding_amounts

comment on table public.outstanding_amounts is
  'Installments of the renewal premium owed on a renewal case: what the customer must pay to '
  'renew, and by when. The case is renewed once none is pending or overdue. Installments of a '
  'closed case no longer change. Visible with their case.';
comment on column public.outstanding_amounts.case_id is 'The renewal case it belongs to (renewal_cases.id).';
comment on column public.outstanding_amounts.installment_number is
  'Which installment of the renewal premium: 1, 2, ... (at most 12, for monthly payment).';
comment on column public.outstanding_amounts.due_date is
  'IST date it is due; still unpaid the day after, it becomes overdue.';
comment on column public.outstanding_amounts.amount is 'Amount due in paise (₹1 = 100 paise).';
comment on column public.outstanding_amounts.currency is
  'ISO 4217 currency code, INR; amount is in its hundredth (paise).';
comment on column public.outstanding_amounts.status is
  'pending, paid, overdue or waived (see type installment_status).';
comment on column public.outstanding_amounts.paid_at is
  'When it was paid, online or as recorded by the desk; set exactly when status is paid, never '
  'in the future.';
comment on column public.outstanding_amounts.reason is
  'Why it was waived, or the reference of a payment the desk recorded (cheque, transfer, '
  'receipt); required for both.';

-- payment_events

comment on column public.payment_events.event_type is
  'Razorpay''s event name, e.g. payment.captured, order.paid, refund.processed.';
comment on column public.payment_events.payload is 'The webhook body as received (JSON).';
comment on column public.payment_events.received_at is 'When the webhook arrived.';
comment on column public.payment_events.processed_at is
  'When the backend applied it to payments and installments; null until then.';

-- payments

comment on column public.payments.case_id is 'The renewal case paid for (renewal_cases.id).';
comment on column public.payments.outstanding_amount_id is
  'The installment it pays (outstanding_amounts.id); null when not tied to one.';
comment on column public.payments.razorpay_order_id is 'Razorpay''s order id (order_...), unique.';
comment on column public.payments.razorpay_payment_id is
  'Razorpay''s payment id (pay_...), unique; null until the customer pays.';
comment on column public.payments.amount is 'Amount in paise (₹1 = 100 paise).';
comment on column public.payments.currency is 'ISO 4217 currency code, INR; amount is in its hundredth (paise).';
comment on column public.payments.status is 'Razorpay''s state of the payment (see type payment_status).';
comment on column public.payments.failure_reason is 'Why the payment failed, as Razorpay says; null otherwise.';
comment on column public.payments.captured_at is 'When Razorpay took the money; null until captured.';

-- policies

comment on table public.policies is
  'Policy terms: one row per policy per term; the next term is a new row whose '
  'renewed_from_policy_id points back. Visible to the agent who services the policy, their '
  'managers, and whoever works its renewal case.';
comment on column public.policies.policy_number is 'The insurer''s policy number, unique.';
comment on column public.policies.product_line is 'Kind of insurance (see type product_line).';
comment on column public.policies.insurer is 'The insurance company that underwrites the policy.';
comment on column public.policies.customer_id is 'The policyholder (customers.id).';
comment on column public.policies.premium is
  'Yearly premium in paise (₹1 = 100 paise), whatever the payment frequency.';
comment on column public.policies.currency is 'ISO 4217 currency code, INR; amounts are in its hundredth (paise).';
comment on column public.policies.start_date is 'First IST day of cover.';
comment on column public.policies.end_date is 'Last IST day of cover; the renewal is due then.';
comment on column public.policies.payment_frequency is
  'How the yearly premium is split into installments (see type payment_frequency).';
comment on column public.policies.status is
  'Where the term stands (see type policy_status): active until its renewal case ends or the '
  'daily jobs settle it.';

-- profiles

comment on column public.profiles.id is
  'The auth user''s id (auth.users.id). The same id is agent_id, assignee_id, recorded_by, '
  'updated_by and actor_id elsewhere.';
comment on column public.profiles.full_name is 'Display name; empty until set.';

-- renewal_cases

comment on table public.renewal_cases is
  'One renewal case per policy term: opened by the daily job when the term enters its lead window '
  '(RENEWAL_LEAD_DAYS before end_date), worked by its assignee through the stages of case_stage. '
  'Visible to its assignee, their managers and admins.';
comment on column public.renewal_cases.case_number is
  'Readable reference RC-YYYY-NNNNNN: YYYY is the IST year the case opened.';
comment on column public.renewal_cases.policy_id is 'The term up for renewal (policies.id); one case per term.';
comment on column public.renewal_cases.assignee_id is
  'Who works the case (profiles.id): an active agent when assigned; the policy''s agent, or a '
  'colleague of the same branch when that agent cannot work it.';
comment on column public.renewal_cases.stage is
  'Where the case stands (see type case_stage); stage changes are checked by the database.';
comment on column public.renewal_cases.priority is 'How urgently to work it (see type case_priority).';
comment on column public.renewal_cases.due_date is
  'IST date the renewal is due: the policy''s end date.';
comment on column public.renewal_cases.grace_end is
  'Last IST day of grace (GRACE_DAYS after due_date); still unpaid the day after, the case lapses. '
  'Equal to due_date for product lines without grace.';
comment on column public.renewal_cases.stage_changed_at is 'When the stage last changed.';
comment on column public.renewal_cases.closed_at is
  'When the case reached a final stage (renewed, lapsed, lost or not_taken); null while open.';

-- vendors

comment on column public.vendors.name is 'Display name, e.g. Twilio Programmable Messaging.';
comment on column public.vendors.kind is
  'What the vendor does: sms, email, whatsapp, payments, ai, storage or social.';
comment on column public.vendors.active is 'False: the functions do not use this vendor.';
