-- The analytics marking of changed cases without a nested loop over its transition tables
-- (migration 20261129235640 wrote it last). In a regular day's jobs at 1,000,000 policies, the
-- statement that lapses 2,600 cases spent 0.7 s in private.tg_renewal_cases__mark_analytics_days
-- (auto_explain: a nested loop joining new_rows to old_rows, 6.8 M rows removed by the join
-- filter): plpgsql plans the join once, for the transition tables of the session's first call
-- (a row or none), and keeps the plan. The old and new rows are now grouped by case id (a sort),
-- and what the trigger marks is unchanged.

create or replace function private.tg_renewal_cases__mark_analytics_days() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  tz text := coalesce((select s.value #>> '{}' from public.app_settings s
                        where s.key = 'BUSINESS_TIME_ZONE'), 'Asia/Kolkata');
  today date := (now() at time zone tz)::date;
  message_cut timestamptz := (today - 1)::timestamp at time zone tz;
  activity_cut timestamptz := today::timestamp at time zone tz;
begin
  -- Cases reassigned or moved to another policy (their facts' agent, node, product line), and
  -- cases renewed or no longer renewed or closed at another time (their last touch): the days of
  -- their messages, installments and payments. Cohorts by due date follow updated_at as before.
  -- Each case's old and new rows are grouped by id, not joined: a join of the two transition
  -- tables was planned for the row counts of the session's first call, a nested loop (0.7 s for
  -- the 2,600 cases a regular day's jobs lapse, 6.8 M comparisons). A group has two rows;
  -- assignee_id, policy_id and stage are never null.
  with changed as (
    select x.id,
           count(distinct x.assignee_id) > 1 or count(distinct x.policy_id) > 1 as moved
      from (select o.id, o.assignee_id, o.policy_id, o.stage, o.closed_at from old_rows o
            union all
            select n.id, n.assignee_id, n.policy_id, n.stage, n.closed_at from new_rows n) x
     group by x.id
    having count(distinct x.assignee_id) > 1
        or count(distinct x.policy_id) > 1
        or (bool_or(x.stage = 'renewed')
            and (count(distinct x.stage) > 1
                 or count(distinct coalesce(x.closed_at, '-infinity')) > 1))
  )
  insert into private.analytics_dirty (kind, day)
  select distinct d.kind, d.day
    from (select 'message' as kind, (m.created_at at time zone tz)::date as day
            from changed c join public.messages m on m.case_id = c.id
           where m.created_at < message_cut
          union all
          select 'activity', (m.sent_at at time zone tz)::date
            from changed c join public.messages m on m.case_id = c.id
           where c.moved and m.sent_at < activity_cut
          union all
          select 'activity', oa.due_date
            from changed c join public.outstanding_amounts oa on oa.case_id = c.id
           where c.moved and oa.due_date < today
          union all
          select 'activity', (oa.paid_at at time zone tz)::date
            from changed c join public.outstanding_amounts oa on oa.case_id = c.id
           where c.moved and oa.paid_at < activity_cut
          union all
          select 'activity', (p.captured_at at time zone tz)::date
            from changed c join public.payments p on p.case_id = c.id
           where c.moved and p.captured_at < activity_cut
          union all
          select 'activity', (t.sla_due_at at time zone tz)::date
            from changed c join public.tasks t on t.case_id = c.id
           where c.moved and t.sla_due_at < activity_cut) d
  on conflict do nothing;
  return null;
end
$$;

