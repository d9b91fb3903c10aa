-- The lapse scoring's kept histories, from the review of migration 20261130141207:
--   * A stale case's history is deleted before it is computed again: with an upsert, a case whose
--     history could no longer be computed (its policy deleted under session_replication_role =
--     replica) kept the old one and was scored from it, where a run computing everything would
--     not score it.
--   * A lapsed term ending on the last date Postgres has (5874897-12-31) made `end_date + 1`
--     overflow and the whole run fail; the span is now unbounded there.
--   * BUSINESS_TIME_ZONE given as an abbreviation ('IST') was read through the session's
--     timezone_abbreviations, so one session's "paid late" was kept and reused by another; the
--     scoring now reads abbreviations with the Default set, whatever the session's.
-- Changes applied by logical replication fire no statement trigger (the apply worker runs row
-- triggers only), so they mark nobody: a subscriber must delete private.case_risk_histories after
-- applying changes to policies, renewal_cases or outstanding_amounts (README, known limits).

create or replace function private.score_lapse_risk(as_of timestamptz default now())
returns table (outcome text, cases bigint)
language plpgsql
security definer
set search_path = ''
set jit = off
set work_mem = '64MB'
set enable_nestloop = off
set enable_mergejoin = off
set timezone_abbreviations = 'Default'
as $$
#variable_conflict use_column
declare
  model constant text := 'rules-2026-11';
  -- The features, in the order of the scorecard (and of the tie-break between equal points).
  feature_names constant text[] := array[
    'days_to_expiry', 'overdue_installments', 'failed_payments', 'late_installments_before',
    'earlier_lapses', 'reminders_ignored', 'messages_read', 'link_opened', 'replied',
    'premium_change_pct', 'ncb_at_stake_pct', 'tenure_years', 'product_line',
    'reachable_channels', 'stage'];
  -- Each reason's JSON text up to its value: {"feature":"<name>","value":
  reason_heads constant text[] := array(
    select format('{"feature":"%s","value":', n) from unnest(feature_names) with ordinality f (n, i)
     order by i);
  lookback constant interval := interval '60 days';
  tz text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  today date;
  n_scored bigint;
  n_high bigint;
  n_raised bigint;
  n_removed bigint;
begin
  if as_of is null or not isfinite(as_of) then
    raise exception 'score_lapse_risk needs a finite as_of, not %', coalesce(as_of::text, 'null')
      using errcode = '22023';
  end if;
  today := (as_of at time zone tz)::date;
  -- One run at a time: a second waits, then rescores from the same data.
  perform pg_advisory_xact_lock(hashtext('py360.score_lapse_risk'));

  -- 1. The open cases, with their customer's addresses, in a table of the transaction's own,
  -- analyzed: every later join knows how many there are and how their customers spread.
  create temporary table lapse_open on commit drop as
    select c.id as case_id, c.customer_id, c.policy_id, c.stage, c.due_date, c.grace_end,
           cu.phone, lower(cu.email::text) as email
      from public.renewal_cases c
      join public.customers cu on cu.id = c.customer_id
     where c.stage in ('new', 'contacted', 'quoted', 'payment_pending', 'pending_lapse');
  -- For plpgsql_check (`supabase db lint`), which cannot see a table the function creates.
  perform 'PRAGMA:TABLE: lapse_open (case_id uuid, customer_id uuid, policy_id uuid, '
          'stage public.case_stage, due_date date, grace_end date, phone text, email text)';
  analyze pg_temp.lapse_open;

  -- 2. The histories that no longer hold: the customers marked since the last run (the marks
  -- this transaction can see; one written by a transaction still open stays for the next run,
  -- which sees its data), and the open cases without a history, with another policy or
  -- customer, or whose spans do not hold at this as_of or whose time zone is not today's.
  create temporary table lapse_marked (customer_id uuid primary key) on commit drop;
  perform 'PRAGMA:TABLE: lapse_marked (customer_id uuid)';
  with taken as (
    delete from private.case_risk_history_changes returning customer_id
  )
  insert into pg_temp.lapse_marked (customer_id)
  select distinct t.customer_id from taken t;

  create temporary table lapse_stale on commit drop as
    select o.case_id, o.customer_id, o.policy_id
      from pg_temp.lapse_open o
      left join private.case_risk_histories h on h.case_id = o.case_id
     where h.case_id is null
        or h.policy_id <> o.policy_id
        or h.customer_id <> o.customer_id
        or not today <@ h.days
        or not as_of <@ h.as_of_span
        or h.time_zone <> tz
        or exists (select 1 from pg_temp.lapse_marked m where m.customer_id = o.customer_id);
  perform 'PRAGMA:TABLE: lapse_stale (case_id uuid, customer_id uuid, policy_id uuid)';
  analyze pg_temp.lapse_stale;

  -- 3. Their histories, computed and kept. A few cases (a regular day) are looked up through the
  -- indexes on the customer; all of them (a first run) through hashes over whole tables: the
  -- planner chooses on the analyzed count, so nested loops are allowed here only.
  perform set_config('enable_nestloop', 'on', true);
  -- Deleted first, so a case whose history cannot be computed now (its policy gone) has none.
  delete from private.case_risk_histories h
   using pg_temp.lapse_stale s
   where h.case_id = s.case_id;
  insert into private.case_risk_histories (
    case_id, customer_id, policy_id, product_line, premium, ncb_percent, previous_premium,
    first_start, earlier_lapses, late_installments, days, as_of_span, time_zone)
  with own as (
    select s.case_id, s.customer_id, s.policy_id, p.product_line, p.premium, p.ncb_percent,
           p.renewed_from_policy_id
      from pg_temp.lapse_stale s
      join public.policies p on p.id = s.policy_id
  ),
  -- The customer's terms started by today: when the first started, how many lapsed or expired
  -- unrenewed before today, the premium of the term the case's policy renewed; and the days
  -- over which those hold (a start or the day after a lapse's end is where they move).
  terms as (
    select o.case_id,
           min(p.start_date) filter (where p.start_date <= today) as first_start,
           count(*) filter (where p.status in ('lapsed', 'expired') and p.end_date < today) as lapses,
           max(p.premium) filter (where p.id = o.renewed_from_policy_id and p.start_date <= today)
             as previous_premium,
           greatest(max(p.start_date) filter (where p.start_date <= today),
                    max(p.end_date + 1) filter (where p.status in ('lapsed', 'expired')
                                                  and p.end_date < today)) as days_from,
           min(p.start_date) filter (where p.start_date > today) as next_start,
           min(p.end_date) filter (where p.status in ('lapsed', 'expired')
                                     and p.end_date >= today) as next_lapse_end
      from own o
      join public.policies p on p.customer_id = o.customer_id
     group by o.case_id
  ),
  -- Installments of the customer's cases closed by as_of, left overdue or paid late; and the
  -- as_of instants over which that count holds (the closings around as_of).
  late as (
    select m.customer_id,
           count(*) filter (where c.closed_at <= as_of) as installments,
           max(c.closed_at) filter (where c.closed_at <= as_of) as span_from,
           min(c.closed_at) filter (where c.closed_at > as_of) as span_until
      from (select distinct s.customer_id from pg_temp.lapse_stale s) m
      join public.renewal_cases c on c.customer_id = m.customer_id
      join public.outstanding_amounts a on a.case_id = c.id
     where c.closed_at is not null
       and (a.status = 'overdue'
            or (a.status = 'paid' and (a.paid_at at time zone tz)::date > a.due_date))
     group by m.customer_id
  )
  select o.case_id, o.customer_id, o.policy_id, o.product_line, o.premium, o.ncb_percent,
         t.previous_premium, t.first_start, t.lapses, coalesce(l.installments, 0),
         -- The day after the next lapse's end, unbounded when that end is the last date there is.
         daterange(t.days_from,
                   least(t.next_start,
                         case when t.next_lapse_end < date '5874897-12-31' then t.next_lapse_end + 1 end),
                   '[)'),
         tstzrange(l.span_from, l.span_until, '[)'), tz
    from own o
    join terms t on t.case_id = o.case_id
    left join late l on l.customer_id = o.customer_id;
  perform set_config('enable_nestloop', 'off', true);
  -- The histories of cases no longer open.
  delete from private.case_risk_histories h
   where not exists (select 1 from pg_temp.lapse_open o where o.case_id = h.case_id);

  -- 4. The scores, and each case's previous score, read before anything is written.
  create temporary table lapse_scores on commit drop as
  with overdue as (
    select a.case_id, count(*) as installments
      from public.outstanding_amounts a
     where a.status in ('pending', 'overdue') and a.due_date < today
     group by a.case_id
  ),
  failed as (
    select y.case_id, count(*) as payments
      from public.payments y
     where y.status = 'failed' and y.created_at <= as_of
     group by y.case_id
  ),
  sent as (
    select m.case_id,
           count(*) filter (where least(m.delivered_at, m.read_at) <= as_of) as delivered,
           count(*) filter (where m.read_at <= as_of) as read
      from public.messages m
     where m.case_id is not null
       and m.created_at > as_of - lookback and m.created_at <= as_of
     group by m.case_id
  ),
  clicked as (
    select l.case_id, count(*) as clicks
      from public.link_clicks l
     where l.clicked_at > as_of - lookback and l.clicked_at <= as_of
     group by l.case_id
  ),
  suppressed as (
    select s.address,
           bool_or(s.channel = 'sms') as sms,
           bool_or(s.channel = 'whatsapp') as whatsapp,
           bool_or(s.channel = 'email') as email
      from public.suppressions s
     where s.created_at <= as_of
     group by s.address
  ),
  features as (
    select o.case_id, o.stage, h.product_line,
           o.due_date - today as days_to_expiry,
           o.grace_end - o.due_date as grace_days,
           coalesce(od.installments, 0) as overdue_installments,
           coalesce(f.payments, 0) as failed_payments,
           h.late_installments as late_installments_before,
           h.earlier_lapses,
           coalesce(se.delivered, 0) as delivered,
           coalesce(se.read, 0) as read,
           coalesce(ck.clicks, 0) as clicks,
           case when w.last_inbound_at > as_of - lookback and w.last_inbound_at <= as_of
                then today - (w.last_inbound_at at time zone tz)::date end as replied_days_ago,
           round(100.0 * (h.premium - h.previous_premium) / h.previous_premium, 1) as premium_change_pct,
           h.ncb_percent,
           coalesce((today - h.first_start) * 4 / 1461, 0) as tenure_years,
           (o.phone is not null and not coalesce(sp.sms, false))::integer
             + (o.phone is not null and not coalesce(sp.whatsapp, false))::integer
             + (o.email is not null and not coalesce(sm.email, false))::integer as reachable_channels
      from pg_temp.lapse_open o
      join private.case_risk_histories h on h.case_id = o.case_id
      left join overdue od on od.case_id = o.case_id
      left join failed f on f.case_id = o.case_id
      left join sent se on se.case_id = o.case_id
      left join clicked ck on ck.case_id = o.case_id
      left join public.whatsapp_windows w on w.customer_id = o.customer_id
      left join suppressed sp on sp.address = o.phone
      left join suppressed sm on sm.address = o.email
  ),
  points as (
    select f.*,
           case when f.days_to_expiry >= 31 then -6
                when f.days_to_expiry >= 15 then 0
                when f.days_to_expiry >= 8 then 6
                when f.days_to_expiry >= 0 then 12
                when f.grace_days <= 0 then 30
                else 20 + least(10, round(10.0 * -f.days_to_expiry / f.grace_days))::integer
           end as p_expiry,
           least(20, 10 * f.overdue_installments)::integer as p_overdue,
           least(24, 12 * f.failed_payments)::integer as p_failed,
           least(15, 5 * f.late_installments_before)::integer as p_late,
           least(30, 15 * f.earlier_lapses)::integer as p_lapses,
           case when f.delivered >= 2 and f.read = 0 and f.clicks = 0 and f.replied_days_ago is null
                then 8 else 0 end as p_ignored,
           case when f.read > 0 then -6 else 0 end as p_read,
           case when f.clicks > 0 then -12 else 0 end as p_clicked,
           case when f.replied_days_ago is not null then -10 else 0 end as p_replied,
           case when f.premium_change_pct > 0 then least(15, floor(f.premium_change_pct / 2))::integer
                when f.premium_change_pct < 0 then greatest(-5, ceil(f.premium_change_pct / 4))::integer
                else 0
           end as p_premium,
           -((f.ncb_percent * 3 + 5) / 10) as p_ncb,
           case when f.tenure_years < 1 then 8 else -least(10, 2 * f.tenure_years) end as p_tenure,
           case f.product_line when 'motor' then 6 when 'home' then 3 when 'health' then -4
                else -6 end as p_product,
           case f.reachable_channels when 0 then 20 when 1 then 8 else 0 end as p_reach,
           case f.stage when 'contacted' then -3 when 'quoted' then -6 when 'payment_pending' then -10
                else 0 end as p_stage
      from features f
  ),
  -- Each feature's points (w) and sort key (k1..k15), in the order of feature_names. A key is
  -- abs(points) * 16 + (16 - position): unique per case, larger for more points and, among equal
  -- points, for the earlier feature; a feature with 0 points has none. The top three keys, found
  -- with greatest() (expressions, not a sort per case), name the reasons. `offset 0` keeps each
  -- step a subquery of its own, computed once per row: pulled up, every reference to k or top1
  -- would repeat the whole expression below it.
  weighed as (
    select p.*,
           greatest(0, least(100, 40 + p.p_expiry + p.p_overdue + p.p_failed + p.p_late + p.p_lapses
                                  + p.p_ignored + p.p_read + p.p_clicked + p.p_replied + p.p_premium
                                  + p.p_ncb + p.p_tenure + p.p_product + p.p_reach + p.p_stage))::smallint as score,
           array[
                 p.p_expiry, p.p_overdue, p.p_failed, p.p_late, p.p_lapses, p.p_ignored, p.p_read,
                 p.p_clicked, p.p_replied, p.p_premium, p.p_ncb, p.p_tenure, p.p_product, p.p_reach,
                 p.p_stage
           ] as w,
           case when p.p_expiry <> 0 then abs(p.p_expiry) * 16 + 15 end as k1,
           case when p.p_overdue <> 0 then abs(p.p_overdue) * 16 + 14 end as k2,
           case when p.p_failed <> 0 then abs(p.p_failed) * 16 + 13 end as k3,
           case when p.p_late <> 0 then abs(p.p_late) * 16 + 12 end as k4,
           case when p.p_lapses <> 0 then abs(p.p_lapses) * 16 + 11 end as k5,
           case when p.p_ignored <> 0 then abs(p.p_ignored) * 16 + 10 end as k6,
           case when p.p_read <> 0 then abs(p.p_read) * 16 + 9 end as k7,
           case when p.p_clicked <> 0 then abs(p.p_clicked) * 16 + 8 end as k8,
           case when p.p_replied <> 0 then abs(p.p_replied) * 16 + 7 end as k9,
           case when p.p_premium <> 0 then abs(p.p_premium) * 16 + 6 end as k10,
           case when p.p_ncb <> 0 then abs(p.p_ncb) * 16 + 5 end as k11,
           case when p.p_tenure <> 0 then abs(p.p_tenure) * 16 + 4 end as k12,
           case when p.p_product <> 0 then abs(p.p_product) * 16 + 3 end as k13,
           case when p.p_reach <> 0 then abs(p.p_reach) * 16 + 2 end as k14,
           case when p.p_stage <> 0 then abs(p.p_stage) * 16 + 1 end as k15
      from points p
    offset 0
  ),
  top1 as (
    select x.*, greatest(
                    x.k1, x.k2, x.k3, x.k4, x.k5, x.k6, x.k7, x.k8, x.k9, x.k10,
                    x.k11, x.k12, x.k13, x.k14, x.k15) as top1
      from weighed x
    offset 0
  ),
  top2 as (
    select x.*, greatest(
                    case when x.k1 < x.top1 then x.k1 end,
                    case when x.k2 < x.top1 then x.k2 end,
                    case when x.k3 < x.top1 then x.k3 end,
                    case when x.k4 < x.top1 then x.k4 end,
                    case when x.k5 < x.top1 then x.k5 end,
                    case when x.k6 < x.top1 then x.k6 end,
                    case when x.k7 < x.top1 then x.k7 end,
                    case when x.k8 < x.top1 then x.k8 end,
                    case when x.k9 < x.top1 then x.k9 end,
                    case when x.k10 < x.top1 then x.k10 end,
                    case when x.k11 < x.top1 then x.k11 end,
                    case when x.k12 < x.top1 then x.k12 end,
                    case when x.k13 < x.top1 then x.k13 end,
                    case when x.k14 < x.top1 then x.k14 end,
                    case when x.k15 < x.top1 then x.k15 end) as top2
      from top1 x
    offset 0
  ),
  top3 as (
    select x.*, greatest(
                    case when x.k1 < x.top2 then x.k1 end,
                    case when x.k2 < x.top2 then x.k2 end,
                    case when x.k3 < x.top2 then x.k3 end,
                    case when x.k4 < x.top2 then x.k4 end,
                    case when x.k5 < x.top2 then x.k5 end,
                    case when x.k6 < x.top2 then x.k6 end,
                    case when x.k7 < x.top2 then x.k7 end,
                    case when x.k8 < x.top2 then x.k8 end,
                    case when x.k9 < x.top2 then x.k9 end,
                    case when x.k10 < x.top2 then x.k10 end,
                    case when x.k11 < x.top2 then x.k11 end,
                    case when x.k12 < x.top2 then x.k12 end,
                    case when x.k13 < x.top2 then x.k13 end,
                    case when x.k14 < x.top2 then x.k14 end,
                    case when x.k15 < x.top2 then x.k15 end) as top3
      from top2 x
    offset 0
  ),
  -- The reasons are written as JSON text and parsed once per case (jsonb_build_object looks up
  -- the type of every argument on every call); only the three chosen values are turned to text.
  scored as (
    select x.case_id, x.score,
           case when x.score >= 65 then 'high' when x.score >= 35 then 'medium' else 'low' end as band,
           -- Null (refused by the not-null constraint) if a case ever had fewer than two reasons.
           ('[' || reason_heads[x.i1] || case x.i1
                 when 1 then x.days_to_expiry::text when 2 then x.overdue_installments::text
                 when 3 then x.failed_payments::text when 4 then x.late_installments_before::text
                 when 5 then x.earlier_lapses::text when 6 then x.delivered::text
                 when 7 then x.read::text when 8 then x.clicks::text
                 when 9 then x.replied_days_ago::text when 10 then x.premium_change_pct::text
                 when 11 then x.ncb_percent::text when 12 then x.tenure_years::text
                 when 13 then '"' || x.product_line || '"' when 14 then x.reachable_channels::text
                 else '"' || x.stage || '"' end
               || ',"weight":' || x.w[x.i1]
               || case when x.w[x.i1] > 0 then ',"direction":"raises"}'
                       else ',"direction":"lowers"}' end
            || ',' || reason_heads[x.i2] || case x.i2
                 when 1 then x.days_to_expiry::text when 2 then x.overdue_installments::text
                 when 3 then x.failed_payments::text when 4 then x.late_installments_before::text
                 when 5 then x.earlier_lapses::text when 6 then x.delivered::text
                 when 7 then x.read::text when 8 then x.clicks::text
                 when 9 then x.replied_days_ago::text when 10 then x.premium_change_pct::text
                 when 11 then x.ncb_percent::text when 12 then x.tenure_years::text
                 when 13 then '"' || x.product_line || '"' when 14 then x.reachable_channels::text
                 else '"' || x.stage || '"' end
               || ',"weight":' || x.w[x.i2]
               || case when x.w[x.i2] > 0 then ',"direction":"raises"}'
                       else ',"direction":"lowers"}' end
            || coalesce(',' || reason_heads[x.i3] || case x.i3
                 when 1 then x.days_to_expiry::text when 2 then x.overdue_installments::text
                 when 3 then x.failed_payments::text when 4 then x.late_installments_before::text
                 when 5 then x.earlier_lapses::text when 6 then x.delivered::text
                 when 7 then x.read::text when 8 then x.clicks::text
                 when 9 then x.replied_days_ago::text when 10 then x.premium_change_pct::text
                 when 11 then x.ncb_percent::text when 12 then x.tenure_years::text
                 when 13 then '"' || x.product_line || '"' when 14 then x.reachable_channels::text
                 else '"' || x.stage || '"' end
               || ',"weight":' || x.w[x.i3]
               || case when x.w[x.i3] > 0 then ',"direction":"raises"}'
                       else ',"direction":"lowers"}' end, '')
            || ']')::jsonb as reasons
      from (select y.*, 16 - y.top1 % 16 as i1, 16 - y.top2 % 16 as i2, 16 - y.top3 % 16 as i3
              from top3 y) x
  )
  -- The previous scores through one hash join: the anti-join that found the cases to insert
  -- scanned the table being written once per case (quadratic on a first run).
  select s.case_id, s.score, s.band, s.reasons, e.band as earlier_band,
         e.case_id is not null as had_score
    from scored s
    left join public.case_risk_scores e on e.case_id = s.case_id;
  perform 'PRAGMA:TABLE: lapse_scores (case_id uuid, score smallint, band text, reasons jsonb, '
          'earlier_band text, had_score boolean)';


  -- 5. The writes.
  with raised as (
    -- Only cases newly in the high band.
    update public.renewal_cases c
       set priority = 'high'
      from pg_temp.lapse_scores s
     where c.id = s.case_id
       and s.band = 'high'
       and s.earlier_band is distinct from 'high'
       and c.priority in ('low', 'normal')
    returning c.id
  ),
  -- Rows of cases scored before are updated through a hash join, the others inserted.
  updated as (
    update public.case_risk_scores r
       set scored_at = now(), as_of = score_lapse_risk.as_of, model_version = model,
           score = s.score, band = s.band, reasons = s.reasons
      from pg_temp.lapse_scores s
     where r.case_id = s.case_id
       and s.had_score
    returning s.band
  ),
  inserted as (
    insert into public.case_risk_scores (case_id, scored_at, as_of, model_version, score, band, reasons)
    select s.case_id, now(), score_lapse_risk.as_of, model, s.score, s.band, s.reasons
      from pg_temp.lapse_scores s
     where not s.had_score
    returning band
  ),
  written as (
    select u.band from updated u
    union all
    select i.band from inserted i
  ),
  deleted as (
    delete from public.case_risk_scores r
     where not exists (select 1 from pg_temp.lapse_scores s where s.case_id = r.case_id)
    returning r.case_id
  )
  select (select count(*) from written),
         (select count(*) from written w where w.band = 'high'),
         (select count(*) from raised),
         (select count(*) from deleted)
    into n_scored, n_high, n_raised, n_removed;
  -- Dropped now, not at commit: a transaction may score more than once (tests move the clock).
  drop table pg_temp.lapse_scores, pg_temp.lapse_stale, pg_temp.lapse_marked, pg_temp.lapse_open;

  return query values ('scored', n_scored), ('high', n_high), ('priority_raised', n_raised),
                      ('removed', n_removed);
end;
$$;

comment on function private.score_lapse_risk(timestamptz) is
  'The daily lapse-risk scoring (pg_cron after the renewal jobs; as_of moves the clock in tests): '
  'scores every open case with the rules-2026-11 scorecard (features, points and bands in the '
  'comment of migration 20261129190934_score_lapse_risk.sql), from the open cases staged in a '
  'temporary table and their slow-moving features kept in private.case_risk_histories (computed '
  'again for the customers marked in private.case_risk_history_changes and where their spans do '
  'not hold at as_of), writes the scores to public.case_risk_scores, deletes the rows of cases no '
  'longer open, and raises to high the priority (low or normal) of cases newly in the high band. '
  'Deterministic for the same data and as_of. Refuses a null or infinite as_of (22023). Returns '
  'rows scored, high, priority_raised, removed. Security definer: a job that reads every case and '
  'writes scores nobody else may.';
