-- The policy timeline found the audit rows of deleted documents (no longer in documents, so
-- known only by the case or policy their old row names) by reading every audit row of documents:
-- all their inserts and updates too, a number that grows with every receipt ever generated. Two
-- partial expression indexes over the deleted documents' audit rows, by case and by policy; the
-- function gathers the ids of its audit rows first, each set through its own index (the one OR
-- over all of them let the planner read whole indexes), then reads those rows by id. Otherwise
-- the function is the one of migration 20261130050736.

create index audit_log_deleted_documents_case_idx on public.audit_log
  (((old_row ->> 'case_id')::uuid)) where table_name = 'documents' and action = 'delete';
create index audit_log_deleted_documents_policy_idx on public.audit_log
  (((old_row ->> 'policy_id')::uuid)) where table_name = 'documents' and action = 'delete';

create or replace function private.policy_timeline(policy_id uuid, max_entries integer default 10001)
returns table (
  at timestamptz,
  kind text,
  actor_type text,
  actor_id uuid,
  actor_name text,
  actor_role text,
  summary text,
  why text,
  refs jsonb
)
language plpgsql
stable
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  pol public.policies;
  visible uuid[] := coalesce(private.visible_agent_ids(), '{}');
  case_ids uuid[];
  installment_ids uuid[];
  payment_ids uuid[];
  document_ids uuid[];
  razorpay_ids text[];
  audit_ids bigint[];
begin
  if max_entries is null or max_entries not between 1 and 100000 then
    raise exception 'a timeline holds 1 to 100000 entries' using errcode = '22023';
  end if;
  -- The policies select policy's rule, applied to the caller (auth.uid() in the claims).
  select p.* into pol
    from public.policies p
   where p.id = policy_timeline.policy_id
     and coalesce(private.is_desk_member(), false)
     and (p.agent_id = any (visible)
          or exists (select 1 from public.renewal_cases c
                      where c.policy_id = p.id and c.assignee_id = any (visible)));
  if pol.id is null then
    raise exception 'no policy %', policy_timeline.policy_id using errcode = 'P0002';
  end if;

  select coalesce(array_agg(c.id), '{}') into case_ids
    from public.renewal_cases c where c.policy_id = pol.id;
  select coalesce(array_agg(a.id), '{}') into installment_ids
    from public.outstanding_amounts a where a.case_id = any (case_ids);
  select coalesce(array_agg(y.id), '{}') into payment_ids
    from public.payments y where y.case_id = any (case_ids);
  select coalesce(array_agg(d.id), '{}') into document_ids
    from public.documents d
   where d.case_id = any (case_ids) or d.policy_id = pol.id
      or (d.customer_id = pol.customer_id and d.case_id is null and d.policy_id is null);
  select coalesce(array_agg(distinct id) filter (where id is not null), '{}') into razorpay_ids
    from (
      select unnest(array[y.razorpay_payment_id, y.razorpay_order_id]) as id
        from public.payments y where y.id = any (payment_ids)
      union all
      select o.razorpay_order_id from public.payment_orders o where o.case_id = any (case_ids)
      union all
      select unnest(array[l.razorpay_payment_link_id, l.razorpay_order_id])
        from public.payment_links l where l.case_id = any (case_ids)
      union all
      select r.razorpay_refund_id from public.refunds r where r.case_id = any (case_ids)
    ) ids;

  -- The audit rows of the policy's rows, each set through its own index: the changes of its cases,
  -- installments, payments and documents, and the deletions of its documents (gone from
  -- documents, known by the case or policy their old row names).
  select coalesce(array_agg(x.id), '{}') into audit_ids
    from (
      select l.id from public.audit_log l
       where l.table_name = 'renewal_cases' and l.row_id = any (case_ids)
         and l.action in ('update', 'delete')
      union all
      select l.id from public.audit_log l
       where l.table_name = 'outstanding_amounts' and l.row_id = any (installment_ids)
         and l.action in ('update', 'delete')
      union all
      select l.id from public.audit_log l
       where l.table_name = 'payments' and l.row_id = any (payment_ids)
         and l.action in ('update', 'delete')
      union all
      select l.id from public.audit_log l
       where l.table_name = 'documents' and l.row_id = any (document_ids)
         and l.action in ('update', 'delete')
      union
      select l.id from public.audit_log l
       where l.table_name = 'documents' and l.action = 'delete'
         and (l.old_row ->> 'case_id')::uuid = any (case_ids)
      union
      select l.id from public.audit_log l
       where l.table_name = 'documents' and l.action = 'delete'
         and (l.old_row ->> 'policy_id')::uuid = pol.id
    ) x;

  return query
  with entries as (
    -- The cases.
    select c.created_at as at, 'case.opened' as kind, 'system' as actor_type, null::uuid as actor_id,
           null::text as vendor, 1 as ord,
           format('Renewal case %s opened, due %s', c.case_number, c.due_date) as summary,
           null::text as why, jsonb_build_object('case_id', c.id) as refs
      from public.renewal_cases c where c.id = any (case_ids)
    -- Messages: queued or blocked (with why), then sent, failed, dead, cancelled.
    union all
    select m.created_at,
           case when m.blocked_at is not null then 'message.blocked' else 'message.queued' end,
           case when m.created_by is not null then 'user' else 'system' end, m.created_by, null, 2,
           format('%s %s message%s', m.channel, m.purpose, coalesce(' ' || t.code, '')),
           case when m.blocked_at is not null then m.blocked_reason
                else coalesce(m.deferred_reason, m.choice_reason) end,
           jsonb_strip_nulls(jsonb_build_object('message_id', m.id, 'case_id', m.case_id,
                                                'campaign_id', m.campaign_id))
      from public.messages m
      left join public.templates t on t.id = m.template_id
     where m.case_id = any (case_ids) or (m.customer_id = pol.customer_id and m.case_id is null)
    union all
    select x.at, x.kind, 'system', null, null, 3, x.summary, x.why,
           jsonb_strip_nulls(jsonb_build_object('message_id', m.id, 'case_id', m.case_id,
                                                'provider_message_id', m.provider_message_id))
      from public.messages m
     cross join lateral (values
       (m.sent_at, 'message.sent', format('%s message sent by %s', m.channel, m.provider), null::text),
       (m.failed_at, 'message.failed', format('%s message failed', m.channel),
        concat_ws(': ', m.last_error_code, m.last_error)),
       (m.dead_at, 'message.dead', format('%s message given up', m.channel), m.dead_reason),
       (m.cancelled_at, 'message.cancelled', format('%s message cancelled', m.channel), null)
     ) as x (at, kind, summary, why)
     where (m.case_id = any (case_ids) or (m.customer_id = pol.customer_id and m.case_id is null))
       and x.at is not null
    -- Delivery reports (the vendor) and replies (the customer).
    union all
    select coalesce(e.occurred_at, e.received_at),
           case e.kind when 'inbound' then 'message.reply' else 'message.event' end,
           case e.kind when 'inbound' then 'customer' else 'vendor' end,
           case e.kind when 'inbound' then pol.customer_id end,
           e.provider, 4,
           case e.kind when 'inbound' then format('The customer replied (%s)', e.provider)
                else format('%s reports %s', e.provider, coalesce(e.status, e.kind)) end,
           e.error_code,
           jsonb_build_object('message_event_id', e.id, 'message_id', e.message_id)
      from public.message_events e
     where e.kind in ('status', 'inbound')
       and e.message_id in (select m.id from public.messages m
                             where m.case_id = any (case_ids)
                                or (m.customer_id = pol.customer_id and m.case_id is null))
    -- Payments (the customer paid) and refunds.
    union all
    select y.created_at, 'payment', 'customer', pol.customer_id, null, 5,
           format('Payment of ₹%s%s: %s', to_char(y.amount / 100.0, 'FM999999999990.00'),
                  coalesce(' by ' || y.method, ''), y.status),
           coalesce(y.failure_reason, y.review_reason),
           jsonb_strip_nulls(jsonb_build_object('payment_id', y.id, 'case_id', y.case_id,
                                                'razorpay_payment_id', y.razorpay_payment_id,
                                                'razorpay_order_id', y.razorpay_order_id))
      from public.payments y where y.id = any (payment_ids)
    union all
    select r.created_at, 'refund',
           case when r.requested_by is not null then 'user' else 'system' end, r.requested_by, null, 5,
           format('Refund of ₹%s: %s', to_char(r.amount / 100.0, 'FM999999999990.00'), r.status),
           coalesce(r.failure_reason, r.reason),
           jsonb_strip_nulls(jsonb_build_object('refund_id', r.id, 'payment_id', r.payment_id,
                                                'case_id', r.case_id,
                                                'razorpay_refund_id', r.razorpay_refund_id))
      from public.refunds r where r.case_id = any (case_ids)
    -- Razorpay's webhooks about them.
    union all
    select e.received_at, 'payment.webhook', 'vendor', null, 'razorpay', 6,
           format('Razorpay %s', e.event_type), coalesce(e.note, e.status),
           jsonb_build_object('payment_event_id', e.id, 'event_id', e.event_id)
      from public.payment_events e
     where cardinality(razorpay_ids) > 0
       and private.razorpay_event_ids(e.payload) operator(pg_catalog.&&) razorpay_ids
    -- AI calls.
    union all
    select a.created_at, 'ai.call',
           case when a.caller is not null then 'user' else 'system' end, a.caller, null, 7,
           format('AI %s with %s: %s', a.purpose, a.model, a.outcome),
           case when a.source is not null then 'answer from ' || a.source end,
           jsonb_strip_nulls(jsonb_build_object('ai_request_id', a.id, 'case_id', a.case_id))
      from public.ai_requests a
     where a.case_id = any (case_ids) or (a.customer_id = pol.customer_id and a.case_id is null)
    -- Documents.
    union all
    select d.created_at, 'document.added',
           case when d.uploaded_by is not null then 'user' else 'system' end, d.uploaded_by, null, 8,
           format('%s document %s', d.kind, d.file_name), null,
           jsonb_strip_nulls(jsonb_build_object('document_id', d.id, 'case_id', d.case_id))
      from public.documents d where d.id = any (document_ids)
    -- Tasks: opened, escalated, done (by whoever marked it done).
    union all
    select t.created_at, 'task.opened', 'system', null, null, 9,
           format('%s task for %s, due %s IST', t.kind, coalesce(assignee.full_name, 'an agent'),
                  to_char(t.due_at at time zone 'Asia/Kolkata', 'YYYY-MM-DD HH24:MI')),
           case when t.reminder_rule_id is not null then 'reminder rule' end,
           jsonb_strip_nulls(jsonb_build_object('task_id', t.id, 'case_id', t.case_id,
                                                'reminder_rule_id', t.reminder_rule_id))
      from public.tasks t
      left join public.profiles assignee on assignee.id = t.assignee_id
     where t.case_id = any (case_ids)
    union all
    select t.escalated_at, 'task.escalated', 'system', null, null, 9,
           format('%s task escalated to %s (level %s)', t.kind,
                  coalesce(up.full_name, 'the next manager'), t.escalation_level),
           'past its SLA', jsonb_build_object('task_id', t.id, 'case_id', t.case_id)
      from public.tasks t
      left join public.profiles up on up.id = t.escalated_to
     where t.case_id = any (case_ids) and t.escalated_at is not null
    union all
    select t.done_at, 'task.done',
           case when coalesce(done.actor_id, t.assignee_id) is not null then 'user' else 'system' end,
           coalesce(done.actor_id, t.assignee_id), null, 9,
           format('%s task done', t.kind), t.outcome,
           jsonb_build_object('task_id', t.id, 'case_id', t.case_id)
      from public.tasks t
      left join lateral (
        select l.actor_id from public.audit_log l
         where l.table_name = 'tasks' and l.row_id = t.id and l.action = 'update'
           and l.new_row ->> 'status' = 'done' and l.old_row ->> 'status' is distinct from 'done'
         order by l.id desc limit 1
      ) done on true
     where t.case_id = any (case_ids) and t.done_at is not null
    -- Link clicks.
    union all
    select k.clicked_at, 'link.clicked', 'customer', pol.customer_id, null, 10,
           format('The customer opened the %s link', l.purpose), null,
           jsonb_strip_nulls(jsonb_build_object('tracked_link_id', l.id, 'message_id', l.message_id,
                                                'case_id', k.case_id))
      from public.link_clicks k
      join public.tracked_links l on l.id = k.tracked_link_id
     where k.case_id = any (case_ids)
    -- The customer's consents (the ledger: every grant and withdrawal, by whom, from where).
    union all
    select g.recorded_at, 'consent.' || g.status,
           case when g.recorded_by is not null then 'user'
                when g.source in ('withdrawal_link', 'whatsapp_reply', 'sms_stop', 'web_form')
                  then 'customer'
                else 'system' end,
           case when g.recorded_by is not null then g.recorded_by
                when g.source in ('withdrawal_link', 'whatsapp_reply', 'sms_stop', 'web_form')
                  then pol.customer_id end,
           null, 12,
           format('%s consent on %s %s', g.purpose, g.channel, g.status),
           'source: ' || g.source,
           jsonb_strip_nulls(jsonb_build_object('consent_ledger_id', g.id,
                                                'notice_version', g.notice_version))
      from public.consent_ledger g
     where g.customer_id = pol.customer_id
    -- The customer's erasure (its one audit row) and why it was asked for.
    union all
    select l.at, case when l.new_row ? 'erased' then 'customer.erased' else 'customer.changed' end,
           case when l.actor_id is not null then 'user' else 'system' end, l.actor_id, null, 12,
           case when l.new_row ? 'erased'
                then 'The customer''s personal data was erased (pseudonymised)'
                else 'Customer changed' end,
           (select r.reason from public.data_requests r
             where r.id::text = l.new_row ->> 'data_request_id'),
           jsonb_strip_nulls(jsonb_build_object('audit_id', l.id, 'table', l.table_name,
                                                'row_id', l.row_id, 'request_id', l.request_id,
                                                'data_request_id', l.new_row ->> 'data_request_id'))
      from public.audit_log l
     where l.table_name = 'customers' and l.row_id = pol.customer_id
    -- What people and jobs changed: the audit log (inserts are the entries above).
    union all
    select l.at,
           case l.table_name when 'renewal_cases' then 'case' when 'outstanding_amounts' then 'installment'
                when 'payments' then 'payment' else 'document' end
             || case l.action when 'delete' then '.deleted' else '.changed' end,
           case when l.actor_id is not null then 'user' else 'system' end, l.actor_id, null, 11,
           case l.table_name when 'renewal_cases' then 'Renewal case'
                when 'outstanding_amounts'
                  then 'Installment ' || (coalesce(l.new_row, l.old_row) ->> 'installment_number')
                when 'payments' then 'Payment' else 'Document' end
             || case l.action when 'delete' then ' deleted'
                else ': ' || coalesce((
                  select string_agg(format('%s %s → %s', k, coalesce(l.old_row ->> k, 'none'),
                                           coalesce(l.new_row ->> k, 'none')), '; ' order by k)
                    from jsonb_object_keys(l.new_row) k
                   where k not in ('updated_at', 'stage_changed_at')
                     and l.new_row -> k is distinct from l.old_row -> k), 'no visible change') end,
           case
             when l.table_name = 'renewal_cases'
                  and l.new_row ->> 'stage' in ('lost', 'not_taken')
                  and l.old_row ->> 'stage' is distinct from l.new_row ->> 'stage'
               then (select c.lost_reason from public.renewal_cases c where c.id = l.row_id)
             when l.table_name = 'outstanding_amounts'
                  and l.new_row ->> 'reason' is distinct from l.old_row ->> 'reason'
               then l.new_row ->> 'reason'
             when l.table_name = 'payments'
               then coalesce(nullif(l.new_row ->> 'failure_reason', l.old_row ->> 'failure_reason'),
                             nullif(l.new_row ->> 'review_reason', l.old_row ->> 'review_reason'))
           end,
           jsonb_strip_nulls(jsonb_build_object('audit_id', l.id, 'table', l.table_name,
                                                'row_id', l.row_id, 'request_id', l.request_id))
      from public.audit_log l
     where l.id = any (audit_ids)
  )
  select e.at, e.kind, e.actor_type, e.actor_id,
         case e.actor_type when 'user' then pr.full_name when 'customer' then cu.full_name
              else e.vendor end,
         case e.actor_type when 'user' then pr.role::text end,
         e.summary, e.why, e.refs
    from entries e
    left join public.profiles pr on e.actor_type = 'user' and pr.id = e.actor_id
    left join public.customers cu on e.actor_type = 'customer' and cu.id = e.actor_id
   order by e.at, e.ord, e.kind, e.refs::text
   limit max_entries;
end;
$$;

comment on function private.policy_timeline(uuid, integer) is
  'Everything about a policy''s renewal cases (and its customer where a row has no case), oldest '
  'first, at most max_entries (1 to 100000): at, kind (case.opened, message.queued|blocked|sent|'
  'failed|dead|cancelled|event|reply, payment, refund, payment.webhook, ai.call, document.added, '
  'task.opened|escalated|done, link.clicked, consent.granted|withdrawn, customer.erased|changed, '
  'case|installment|payment|document.changed|deleted), '
  'the actor (type user, system, customer or vendor; id, name, role), summary, why and refs (the '
  'ids of the rows, the audit row and its request id). P0002 unless the caller is a desk member '
  'who sees the policy. Security definer: the audit log, AI calls, webhooks and other people''s '
  'profiles are not the caller''s to read under RLS, yet are part of the policy''s history.';

revoke execute on function private.policy_timeline(uuid, integer) from public;
grant execute on function private.policy_timeline(uuid, integer) to authenticated;
