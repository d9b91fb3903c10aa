-- The lapse-risk model (issue 10, "Risk"): a deterministic scorecard in SQL over what the database
-- already knows about each open renewal case, stored per case with its reasons, recomputed daily
-- by pg_cron after the renewal jobs, and used to raise the priority of cases entering the high band.
--
-- public.case_risk_scores: one current row per open case (score 0-100, band, the top three
-- contributing features with their points, as_of, model version). The desk reads the rows of the
-- cases it sees; nobody writes them but private.score_lapse_risk.
--
-- private.score_lapse_risk(as_of): one set-based statement over every open case (stages new,
-- contacted, quoted, payment_pending, pending_lapse). Each feature is an aggregate grouped per
-- case or customer and hash-joined to the cases, so the run costs a few scans whatever the book's
-- size. The model ('rules-2026-11') is a points scorecard, the additive form of a logistic model
-- (points are scaled log-odds): score = clamp(40 + sum of the feature points, 0, 100).
--
--   feature                   value                                  points
--   days_to_expiry            due_date - business date of as_of      >= 31: -6; 15..30: 0;
--                             (negative: days into grace)            8..14: +6; 0..7: +12;
--                                                                    past due: +20, up to +30 as
--                                                                    the grace runs out (motor,
--                                                                    without grace: +30)
--   overdue_installments      this case's unpaid installments        +10 each, at most +20
--                             past their due date
--   failed_payments           this case's failed payments            +12 each, at most +24
--   late_installments_before  the customer's installments of         +5 each, at most +15
--                             closed cases paid after their due
--                             date or never paid
--   earlier_lapses            the customer's other policies that     +15 each, at most +30
--                             lapsed or expired unrenewed
--   reminders_ignored         messages delivered in the last 60      +8 when 2 or more were
--                             days                                   delivered and none was read,
--                                                                    clicked or answered
--   messages_read             messages read in the last 60 days      -6 when any
--   link_opened               clicks on the case's tracked links     -12 when any
--                             in the last 60 days
--   replied                   days since the customer last wrote     -10 when within 60 days
--                             on WhatsApp
--   premium_change_pct        this term's premium against the term   rise: +1 per 2 %, at most
--                             it renewed (%, 1 decimal)              +15; fall: -1 per 4 %, at
--                                                                    most -5
--   ncb_at_stake_pct          the policy's no-claim bonus (%)        -0.3 per % (50 % -> -15)
--   tenure_years              whole years since the customer's       under 1: +8; else -2 a
--                             first policy started                   year, at most -10
--   product_line              motor / home / health / life           +6 / +3 / -4 / -6
--   reachable_channels        sms, whatsapp, email with an address   0: +20; 1: +8; more: 0
--                             not suppressed
--   stage                     the case's stage                       contacted -3, quoted -6,
--                                                                    payment_pending -10
--
-- Bands: low below 35, medium 35 to 64, high 65 and above. The reasons are the three features with
-- the largest absolute points (ties in the order above), never a feature with 0 points; tenure
-- and product line always score, so every case has at least two reasons. Only
-- rows dated at or before as_of count (a replay does not see the future), and nothing reads the
-- clock: the same data and as_of give the same scores.
--
-- Priority: a case whose band becomes high (it was not high in its previous score, or had none)
-- and whose priority is low or normal is raised to high, once; an agent who lowers it again is
-- not overruled until the case leaves the high band and comes back. The change is audited like
-- any other update of renewal_cases.

create table public.case_risk_scores (
  case_id uuid primary key references public.renewal_cases (id) on delete cascade,
  scored_at timestamptz not null default now(),
  as_of timestamptz not null,
  model_version text not null check (model_version ~ '^[a-z0-9][a-z0-9._-]{1,39}$'),
  score smallint not null check (score between 0 and 100),
  band text not null check (band in ('low', 'medium', 'high')),
  reasons jsonb not null
    check (jsonb_typeof(reasons) = 'array' and jsonb_array_length(reasons) between 2 and 3),
  constraint case_risk_scores_band_of_score check (
    band = case when score >= 65 then 'high' when score >= 35 then 'medium' else 'low' end
  )
);

comment on table public.case_risk_scores is
  'The lapse risk of each open renewal case: the latest score of the rules model '
  '(private.score_lapse_risk, daily after the renewal jobs), with the features that weighed most. '
  'A case that closes loses its row at the next run. Visible with its case; written only by the '
  'scoring job.';
comment on column public.case_risk_scores.case_id is 'The open renewal case scored (renewal_cases.id).';
comment on column public.case_risk_scores.scored_at is 'When the scoring run that wrote the row started (wall clock).';
comment on column public.case_risk_scores.as_of is
  'The moment the score describes: the run''s as_of. Only data dated at or before it counted.';
comment on column public.case_risk_scores.model_version is
  'Which model produced the score, e.g. rules-2026-11 (the scorecard in the migration that '
  'created this table); scores of different versions are not comparable.';
comment on column public.case_risk_scores.score is
  'Lapse risk from 0 (will renew) to 100 (will lapse): 40 plus the points of every feature, '
  'clamped to 0-100.';
comment on column public.case_risk_scores.band is
  'low (score below 35), medium (35 to 64) or high (65 and above). A case entering high has its '
  'priority raised to high.';
comment on column public.case_risk_scores.reasons is
  'The three features with the largest absolute points (at least two), largest first: a JSON '
  'array of {feature, value, weight, direction}; weight is the points the feature added (positive) '
  'or took off (negative), direction raises or lowers.';

alter table public.case_risk_scores enable row level security;
revoke all on public.case_risk_scores from public, anon, authenticated, service_role;
grant select on public.case_risk_scores to authenticated, service_role;

create policy case_risk_scores_select_member on public.case_risk_scores
  for select to authenticated
  using (exists (select 1 from public.renewal_cases c where c.id = case_risk_scores.case_id));

create function private.score_lapse_risk(as_of timestamptz default now())
returns table (outcome text, cases bigint)
language plpgsql
security definer
set search_path = ''
set jit = off
set work_mem = '64MB'
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

  with open_cases as (
    select c.id as case_id, c.customer_id, c.stage, c.due_date, c.grace_end,
           p.product_line, p.premium, p.ncb_percent, p.renewed_from_policy_id,
           cu.phone, lower(cu.email::text) as email
      from public.renewal_cases c
      join public.policies p on p.id = c.policy_id
      join public.customers cu on cu.id = c.customer_id
     where c.stage in ('new', 'contacted', 'quoted', 'payment_pending', 'pending_lapse')
  ),
  overdue as (
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
  late_before as (
    select c.customer_id, count(*) as installments
      from public.outstanding_amounts a
      join public.renewal_cases c on c.id = a.case_id
     where c.closed_at <= as_of
       and (a.status = 'overdue'
            or (a.status = 'paid' and (a.paid_at at time zone tz)::date > a.due_date))
     group by c.customer_id
  ),
  history as (
    select p.customer_id,
           min(p.start_date) as first_start,
           count(*) filter (where p.status in ('lapsed', 'expired') and p.end_date < today) as lapses
      from public.policies p
     where p.start_date <= today
     group by p.customer_id
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
    select o.case_id, o.stage, o.product_line,
           o.due_date - today as days_to_expiry,
           o.grace_end - o.due_date as grace_days,
           coalesce(od.installments, 0) as overdue_installments,
           coalesce(f.payments, 0) as failed_payments,
           coalesce(lb.installments, 0) as late_installments_before,
           coalesce(h.lapses, 0) as earlier_lapses,
           coalesce(se.delivered, 0) as delivered,
           coalesce(se.read, 0) as read,
           coalesce(ck.clicks, 0) as clicks,
           case when w.last_inbound_at > as_of - lookback and w.last_inbound_at <= as_of
                then today - (w.last_inbound_at at time zone tz)::date end as replied_days_ago,
           round(100.0 * (o.premium - prev.premium) / prev.premium, 1) as premium_change_pct,
           o.ncb_percent,
           coalesce(floor((today - h.first_start) / 365.25)::integer, 0) as tenure_years,
           (o.phone is not null and not coalesce(sp.sms, false))::integer
             + (o.phone is not null and not coalesce(sp.whatsapp, false))::integer
             + (o.email is not null and not coalesce(sm.email, false))::integer as reachable_channels
      from open_cases o
      left join overdue od on od.case_id = o.case_id
      left join failed f on f.case_id = o.case_id
      left join late_before lb on lb.customer_id = o.customer_id
      left join history h on h.customer_id = o.customer_id
      left join sent se on se.case_id = o.case_id
      left join clicked ck on ck.case_id = o.case_id
      left join public.whatsapp_windows w on w.customer_id = o.customer_id
      left join public.policies prev on prev.id = o.renewed_from_policy_id
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
           -round(0.3 * f.ncb_percent)::integer as p_ncb,
           case when f.tenure_years < 1 then 8 else -least(10, 2 * f.tenure_years) end as p_tenure,
           case f.product_line when 'motor' then 6 when 'home' then 3 when 'health' then -4
                else -6 end as p_product,
           case f.reachable_channels when 0 then 20 when 1 then 8 else 0 end as p_reach,
           case f.stage when 'contacted' then -3 when 'quoted' then -6 when 'payment_pending' then -10
                else 0 end as p_stage
      from features f
  ),
  -- Each feature's points (w), value (v) and sort key (k), in the order of feature_names. A key is
  -- abs(points) * 16 + (16 - position): unique per case, larger for more points and, among equal
  -- points, for the earlier feature; a feature with 0 points has none. The top three keys, found
  -- with greatest() (expressions, not a sort per case), name the reasons. `offset 0` keeps each
  -- step a subquery of its own, computed once per row: pulled up, every reference to k or top1
  -- would repeat the whole expression below it.
  weighed as (
    select p.case_id,
           greatest(0, least(100, 40 + p.p_expiry + p.p_overdue + p.p_failed + p.p_late + p.p_lapses
                                  + p.p_ignored + p.p_read + p.p_clicked + p.p_replied + p.p_premium
                                  + p.p_ncb + p.p_tenure + p.p_product + p.p_reach + p.p_stage))::smallint as score,
           array[
                 p.p_expiry, p.p_overdue, p.p_failed, p.p_late, p.p_lapses, p.p_ignored, p.p_read,
                 p.p_clicked, p.p_replied, p.p_premium, p.p_ncb, p.p_tenure, p.p_product, p.p_reach,
                 p.p_stage
           ] as w,
           -- JSON text of each value: numbers as they are, enum labels in quotes.
           array[
                 p.days_to_expiry::text, p.overdue_installments::text, p.failed_payments::text,
                 p.late_installments_before::text, p.earlier_lapses::text, p.delivered::text,
                 p.read::text, p.clicks::text, p.replied_days_ago::text, p.premium_change_pct::text,
                 p.ncb_percent::text, p.tenure_years::text, '"' || p.product_line || '"',
                 p.reachable_channels::text, '"' || p.stage || '"'
           ] as v,
           array[
                 case when p.p_expiry <> 0 then abs(p.p_expiry) * 16 + 15 end,
                 case when p.p_overdue <> 0 then abs(p.p_overdue) * 16 + 14 end,
                 case when p.p_failed <> 0 then abs(p.p_failed) * 16 + 13 end,
                 case when p.p_late <> 0 then abs(p.p_late) * 16 + 12 end,
                 case when p.p_lapses <> 0 then abs(p.p_lapses) * 16 + 11 end,
                 case when p.p_ignored <> 0 then abs(p.p_ignored) * 16 + 10 end,
                 case when p.p_read <> 0 then abs(p.p_read) * 16 + 9 end,
                 case when p.p_clicked <> 0 then abs(p.p_clicked) * 16 + 8 end,
                 case when p.p_replied <> 0 then abs(p.p_replied) * 16 + 7 end,
                 case when p.p_premium <> 0 then abs(p.p_premium) * 16 + 6 end,
                 case when p.p_ncb <> 0 then abs(p.p_ncb) * 16 + 5 end,
                 case when p.p_tenure <> 0 then abs(p.p_tenure) * 16 + 4 end,
                 case when p.p_product <> 0 then abs(p.p_product) * 16 + 3 end,
                 case when p.p_reach <> 0 then abs(p.p_reach) * 16 + 2 end,
                 case when p.p_stage <> 0 then abs(p.p_stage) * 16 + 1 end
           ] as k
      from points p
    offset 0
  ),
  top1 as (
    select x.*, greatest(
                    x.k[1], x.k[2], x.k[3], x.k[4], x.k[5], x.k[6], x.k[7], x.k[8], x.k[9], x.k[10],
                    x.k[11], x.k[12], x.k[13], x.k[14], x.k[15]) as top1
      from weighed x
    offset 0
  ),
  top2 as (
    select x.*, greatest(
                    case when x.k[1] < x.top1 then x.k[1] end,
                    case when x.k[2] < x.top1 then x.k[2] end,
                    case when x.k[3] < x.top1 then x.k[3] end,
                    case when x.k[4] < x.top1 then x.k[4] end,
                    case when x.k[5] < x.top1 then x.k[5] end,
                    case when x.k[6] < x.top1 then x.k[6] end,
                    case when x.k[7] < x.top1 then x.k[7] end,
                    case when x.k[8] < x.top1 then x.k[8] end,
                    case when x.k[9] < x.top1 then x.k[9] end,
                    case when x.k[10] < x.top1 then x.k[10] end,
                    case when x.k[11] < x.top1 then x.k[11] end,
                    case when x.k[12] < x.top1 then x.k[12] end,
                    case when x.k[13] < x.top1 then x.k[13] end,
                    case when x.k[14] < x.top1 then x.k[14] end,
                    case when x.k[15] < x.top1 then x.k[15] end) as top2
      from top1 x
    offset 0
  ),
  top3 as (
    select x.*, greatest(
                    case when x.k[1] < x.top2 then x.k[1] end,
                    case when x.k[2] < x.top2 then x.k[2] end,
                    case when x.k[3] < x.top2 then x.k[3] end,
                    case when x.k[4] < x.top2 then x.k[4] end,
                    case when x.k[5] < x.top2 then x.k[5] end,
                    case when x.k[6] < x.top2 then x.k[6] end,
                    case when x.k[7] < x.top2 then x.k[7] end,
                    case when x.k[8] < x.top2 then x.k[8] end,
                    case when x.k[9] < x.top2 then x.k[9] end,
                    case when x.k[10] < x.top2 then x.k[10] end,
                    case when x.k[11] < x.top2 then x.k[11] end,
                    case when x.k[12] < x.top2 then x.k[12] end,
                    case when x.k[13] < x.top2 then x.k[13] end,
                    case when x.k[14] < x.top2 then x.k[14] end,
                    case when x.k[15] < x.top2 then x.k[15] end) as top3
      from top2 x
    offset 0
  ),
  -- The reasons are written as JSON text and parsed once per case: building them with
  -- jsonb_build_object cost more than all the features together.
  scored as (
    select x.case_id, x.score,
           case when x.score >= 65 then 'high' when x.score >= 35 then 'medium' else 'low' end as band,
           -- Null (refused by the not-null constraint) if a case ever had fewer than two reasons.
           ('[' || '{"feature": "' || feature_names[x.i1] || '", "value": ' || x.v[x.i1]
                  || ', "weight": ' || x.w[x.i1] || ', "direction": "'
                  || case when x.w[x.i1] > 0 then 'raises' else 'lowers' end || '"}'
            || ', ' || '{"feature": "' || feature_names[x.i2] || '", "value": ' || x.v[x.i2]
                  || ', "weight": ' || x.w[x.i2] || ', "direction": "'
                  || case when x.w[x.i2] > 0 then 'raises' else 'lowers' end || '"}'
            || coalesce(', ' || '{"feature": "' || feature_names[x.i3] || '", "value": ' || x.v[x.i3]
                  || ', "weight": ' || x.w[x.i3] || ', "direction": "'
                  || case when x.w[x.i3] > 0 then 'raises' else 'lowers' end || '"}', '')
            || ']')::jsonb as reasons
      from (select y.*, 16 - y.top1 % 16 as i1, 16 - y.top2 % 16 as i2, 16 - y.top3 % 16 as i3
              from top3 y) x
  ),
  raised as (
    -- Reads the scores as they were before this statement: only cases newly in the high band.
    update public.renewal_cases c
       set priority = 'high'
      from scored s
      left join public.case_risk_scores earlier on earlier.case_id = s.case_id
     where c.id = s.case_id
       and s.band = 'high'
       and earlier.band is distinct from 'high'
       and c.priority in ('low', 'normal')
    returning c.id
  ),
  upserted as (
    insert into public.case_risk_scores as r
      (case_id, scored_at, as_of, model_version, score, band, reasons)
    select s.case_id, now(), as_of, model, s.score, s.band, s.reasons
      from scored s
    on conflict (case_id) do update
      set scored_at = excluded.scored_at, as_of = excluded.as_of,
          model_version = excluded.model_version, score = excluded.score,
          band = excluded.band, reasons = excluded.reasons
    returning r.band
  ),
  deleted as (
    delete from public.case_risk_scores r
     where not exists (select 1 from open_cases o where o.case_id = r.case_id)
    returning r.case_id
  )
  select (select count(*) from upserted),
         (select count(*) from upserted u where u.band = 'high'),
         (select count(*) from raised),
         (select count(*) from deleted)
    into n_scored, n_high, n_raised, n_removed;

  return query values ('scored', n_scored), ('high', n_high), ('priority_raised', n_raised),
                      ('removed', n_removed);
end;
$$;

comment on function private.score_lapse_risk(timestamptz) is
  'The daily lapse-risk scoring (pg_cron after the renewal jobs; as_of moves the clock in tests): '
  'scores every open case with the rules-2026-11 scorecard (features, points and bands in the '
  'comment of the migration that made it) in one set-based statement, upserts '
  'public.case_risk_scores, deletes the rows of cases no longer open, and raises to high the '
  'priority (low or normal) of cases newly in the high band. Deterministic for the same data and '
  'as_of. Refuses a null or infinite as_of (22023). Returns rows scored, high, priority_raised, '
  'removed. Security definer: a job that reads every case and writes scores nobody else may.';

revoke execute on function private.score_lapse_risk(timestamptz) from public;
grant execute on function private.score_lapse_risk(timestamptz) to service_role;

-- 00:40 UTC (06:10 IST): after the daily renewal jobs (00:30 UTC) have opened, lapsed and closed
-- the day's cases, before the reminder cadence (00:45 UTC).
select cron.schedule('score-lapse-risk', '40 0 * * *',
                     'select count(*) from private.score_lapse_risk()');
