-- The daily jobs' successor step reads only the terms that gained a successor since the last run
-- (issue 9's goal: the daily jobs and the cadence within 10 s together on the 1M-policy book). It
-- asked every open case whether its term had a successor (221,812 index probes, 0.9 s) and then
-- hash-joined the whole book with itself to find active or expired terms with one (1.3 s): 2.3 s
-- of a regular day's 9.6 s, to find nothing on most days. Now triggers on policies note the terms
-- that may have to be renewed in private.successor_marks:
-- - the predecessor named by a policy inserted with renewed_from_policy_id, or updated to name one;
-- - a term that becomes active or expired again (whose successor may already be loaded).
-- The step takes the marks it can see (a mark of a transaction still open stays, with its data,
-- for the next run), and does what it did for those terms only: waives the open installments of
-- their open case, naming the successor, and marks the others renewed. The marks table holds
-- what all terms with a successor would have needed when this migration ran.

create table private.successor_marks (
  id bigint generated always as identity primary key,
  predecessor_id uuid not null
);

comment on table private.successor_marks is
  'Append-only notes of terms that may have gained a successor (policies.renewed_from_policy_id) '
  'or became active or expired again; private.renew_succeeded_terms takes them. No foreign key: '
  'a mark of a deleted term is simply found to need nothing.';

revoke all on private.successor_marks from public, anon, authenticated, service_role;

create function private.tg_policies__mark_successors() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    insert into private.successor_marks (predecessor_id)
    select n.renewed_from_policy_id from new_policies n where n.renewed_from_policy_id is not null;
  elsif tg_argv[0] = 'predecessor' then
    insert into private.successor_marks (predecessor_id) values (new.renewed_from_policy_id);
  else
    insert into private.successor_marks (predecessor_id) values (new.id);
  end if;
  return null;
end;
$$;

comment on function private.tg_policies__mark_successors() is
  'Trigger: notes in private.successor_marks the predecessor of a policy inserted or re-pointed '
  'with renewed_from_policy_id, and a policy that becomes active or expired again.';

revoke execute on function private.tg_policies__mark_successors() from public, anon, authenticated, service_role;

create trigger _900_mark_successors_insert after insert on public.policies
  referencing new table as new_policies
  for each statement execute function private.tg_policies__mark_successors();
create trigger _900_mark_successors_repointed after update of renewed_from_policy_id on public.policies
  for each row when (new.renewed_from_policy_id is distinct from old.renewed_from_policy_id
                     and new.renewed_from_policy_id is not null)
  execute function private.tg_policies__mark_successors('predecessor');
create trigger _900_mark_successors_reactivated after update of status on public.policies
  for each row when (new.status in ('active', 'expired') and old.status not in ('active', 'expired'))
  execute function private.tg_policies__mark_successors('self');
-- Bulk loads under session_replication_role = replica must not hide a successor.
alter table public.policies enable always trigger _900_mark_successors_insert;
alter table public.policies enable always trigger _900_mark_successors_repointed;
alter table public.policies enable always trigger _900_mark_successors_reactivated;

-- What the old step would find on its next run.
insert into private.successor_marks (predecessor_id)
select p.id from public.policies p
 where p.status in ('active', 'expired')
   and exists (select 1 from public.policies s where s.renewed_from_policy_id = p.id)
union
select c.policy_id from public.renewal_cases c
 where not private.case_stage_is_final(c.stage)
   and exists (select 1 from public.policies s where s.renewed_from_policy_id = c.policy_id);

-- The step runs as its caller (service_role, as the jobs do); the notes are ours alone.
create function private.take_successor_marks() returns uuid[]
language sql
security definer
set search_path = ''
as $$
  with taken as (
    delete from private.successor_marks m returning m.predecessor_id
  )
  select array_agg(distinct t.predecessor_id) from taken t
$$;

comment on function private.take_successor_marks() is
  'Deletes the notes of private.successor_marks this transaction can see and returns their '
  'distinct terms (null when none). A note of a transaction still open stays for the next run. '
  'Security definer: the daily jobs run as service_role, which has no rights on the table.';

revoke execute on function private.take_successor_marks() from public, anon, authenticated;
grant execute on function private.take_successor_marks() to service_role;

create or replace function private.renew_succeeded_terms(as_of timestamptz default now()) returns integer
language plpgsql
set search_path = ''
set jit = off
as $$
declare
  marked uuid[];
  renewed integer;
begin
  marked := private.take_successor_marks();
  if marked is null then
    return 0;
  end if;
  perform set_config('py360.as_of', as_of::text, true);
  -- Open cases of such terms owe nothing any more; settling them renews the case and the policy.
  update public.outstanding_amounts a
     set status = 'waived',
         reason = 'Renewed: successor term ' || x.policy_number || ' loaded'
    from (select c.id as case_id, s.policy_number
            from unnest(marked) as t (id)
            join public.renewal_cases c on c.policy_id = t.id
           cross join lateral (
             select s.policy_number from public.policies s
              where s.renewed_from_policy_id = t.id
              order by s.start_date, s.policy_number
              limit 1
           ) s
           where not private.case_stage_is_final(c.stage)) x
   where a.case_id = x.case_id
     and a.status in ('pending', 'overdue');

  update public.policies p
     set status = 'renewed'
    from unnest(marked) as t (id)
   where p.id = t.id
     and p.status in ('active', 'expired')
     and exists (select 1 from public.policies s where s.renewed_from_policy_id = p.id);
  get diagnostics renewed = row_count;
  return renewed;
end;
$$;

comment on function private.renew_succeeded_terms(timestamptz) is
  'Daily: a term whose successor is loaded (renewed_from_policy_id) is renewed; its open case is '
  'settled by waiving what it still owed, with the successor named as the reason. Reads only the '
  'terms noted in private.successor_marks since the last run, and takes those notes. Returns how '
  'many policies it marked renewed (those with an open case are renewed by their case). Idempotent.';
