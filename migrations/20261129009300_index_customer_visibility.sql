-- Customers are seen through their policies (migration secure_renewal_domain): visible to whoever
-- sees one of their policies, that is, who sees the policy's agent or the assignee of its renewal
-- case. The select policy said so with an exists() chain customers -> policies -> renewal_cases,
-- checked row by row. A look-up of one customer was cheap; a search was not. Row-level security
-- runs before any condition of the query that is not leakproof, and `full_name ilike ...` is not,
-- so under RLS the trigram index cannot serve a name search: every customer went through the chain
-- (20 s for an agent's search at 1,000,000 policies; bench/renewals.ts).
--
-- Under RLS, only a condition on a table's own columns can choose its rows through an index. So
-- each customer now carries the keys of the books that hold them (`book_keys`), kept by triggers
-- on policies and renewal_cases, and the policy compares them with the caller's keys through a GIN
-- index: an agent's or a manager's customers come straight from the index. Who sees what does not
-- change.
--
-- Sets of customer ids per caller (`id = any(private.visible_customer_ids())`) were measured too
-- and rejected: computed once per statement, they cost what the caller's book costs (50 ms for a
-- branch manager, seconds for a zone manager or an admin) on every statement touching customers.
-- Keys are bounded by headcount instead: one per agent, and one nil key that every customer with a
-- policy carries and only admins hold, so an admin's check is one comparison, not one per agent.

alter table public.customers add column book_keys uuid[] not null default '{}';

comment on column public.customers.book_keys is
  'Who may see this customer, as keys for row-level security (kept by triggers, never written by '
  'clients): the ids of the agents holding one of their policies or that policy''s renewal case, '
  'and the nil uuid 00000000-0000-0000-0000-000000000000 for every customer with a policy, the key '
  'admins hold. Empty for a customer without policies, whom only the backend sees. updated_at '
  'moves when it changes.';

-- Recomputes the keys of the given customers from their policies and those policies' cases.
create function private.refresh_customer_book_keys(customer_ids uuid[]) returns void
language plpgsql
set search_path = ''
as $$
begin
  update public.customers cu
     set book_keys = fresh.book_keys
    from (select distinct x.id from unnest(customer_ids) as x (id)) as changed
    cross join lateral (
      select coalesce(array_agg(distinct k.key order by k.key), '{}') as book_keys
        from (
          select held.key
            from public.policies p
           cross join lateral
                 unnest(array[p.agent_id, '00000000-0000-0000-0000-000000000000'::uuid])
                   as held (key)
           where p.customer_id = changed.id
          union all
          select c.assignee_id
            from public.policies p
            join public.renewal_cases c on c.policy_id = p.id
           where p.customer_id = changed.id
        ) as k
    ) as fresh
   where cu.id = changed.id
     and cu.book_keys is distinct from fresh.book_keys;
end;
$$;

comment on function private.refresh_customer_book_keys(uuid[]) is
  'Recomputes customers.book_keys of the given customers: the agents of their policies, the '
  'assignees of those policies'' cases, and the nil key when they hold any policy. Writes only '
  'the rows whose keys changed. Called by the book-key triggers; executable by the owner only.';

create function private.tg_policies__refresh_book_keys() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    -- A new policy only adds keys: refresh the customers who lack its agent's.
    perform private.refresh_customer_book_keys(array(
      select n.customer_id
        from new_rows n
        join public.customers cu on cu.id = n.customer_id
       where not cu.book_keys @> array[n.agent_id]));
  elsif tg_op = 'UPDATE' then
    -- Planned on every run (execute), as pairing old and new rows needs their real sizes: a
    -- plan kept for the session from a first, small update pairs them by a nested loop, and a
    -- later update of every case then costs rows x rows.
    execute $pair$
      select private.refresh_customer_book_keys(array(
        select unnest(array[o.customer_id, n.customer_id])
          from old_rows o
          join new_rows n on n.id = o.id
         where (n.customer_id, n.agent_id) is distinct from (o.customer_id, o.agent_id)))$pair$;
  else
    perform private.refresh_customer_book_keys(array(select o.customer_id from old_rows o));
  end if;
  return null;
end;
$$;

comment on function private.tg_policies__refresh_book_keys() is
  'Statement trigger: refreshes customers.book_keys when policies are added, deleted, or change '
  'customer or agent. Security definer: whoever changes a policy, its customer''s keys must follow.';

create function private.tg_renewal_cases__refresh_book_keys() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    -- The daily job's cases mostly go to the policy's own agent, whose key is there already.
    perform private.refresh_customer_book_keys(array(
      select p.customer_id
        from new_rows n
        join public.policies p on p.id = n.policy_id
        join public.customers cu on cu.id = p.customer_id
       where not cu.book_keys @> array[n.assignee_id]));
  elsif tg_op = 'UPDATE' then
    -- Planned on every run: see tg_policies__refresh_book_keys().
    execute $pair$
      select private.refresh_customer_book_keys(array(
        select p.customer_id
          from old_rows o
          join new_rows n on n.id = o.id
          join public.policies p on p.id in (o.policy_id, n.policy_id)
         where (n.assignee_id, n.policy_id) is distinct from (o.assignee_id, o.policy_id)))$pair$;
  else
    perform private.refresh_customer_book_keys(array(
      select p.customer_id from old_rows o join public.policies p on p.id = o.policy_id));
  end if;
  return null;
end;
$$;

comment on function private.tg_renewal_cases__refresh_book_keys() is
  'Statement trigger: refreshes customers.book_keys when cases are opened, deleted, reassigned or '
  'moved to another policy. Security definer: a manager reassigning a case may not write '
  'customers, but the new assignee must see the customer.';

do $$
declare
  keyed text;
begin
  foreach keyed in array array['policies', 'renewal_cases'] loop
    execute format(
      'create trigger _600_refresh_book_keys_insert after insert on public.%I
         referencing new table as new_rows
         for each statement execute function private.%I()',
      keyed, format('tg_%s__refresh_book_keys', keyed));
    execute format(
      'create trigger _600_refresh_book_keys_update after update on public.%I
         referencing old table as old_rows new table as new_rows
         for each statement execute function private.%I()',
      keyed, format('tg_%s__refresh_book_keys', keyed));
    execute format(
      'create trigger _600_refresh_book_keys_delete after delete on public.%I
         referencing old table as old_rows
         for each statement execute function private.%I()',
      keyed, format('tg_%s__refresh_book_keys', keyed));
  end loop;
end
$$;

-- Every customer's keys, from the book as it stands; then their index.
select private.refresh_customer_book_keys(array(select cu.id from public.customers cu));

create index customers_book_keys_idx on public.customers using gin (book_keys);

create function private.visible_book_keys() returns uuid[]
language plpgsql stable
set search_path = ''
as $$
declare
  caller_role public.app_role := private.current_app_role();
begin
  if caller_role = 'admin' then
    return array['00000000-0000-0000-0000-000000000000'::uuid];
  elsif caller_role in ('manager', 'agent') then
    return private.visible_agent_ids();
  end if;
  return '{}';
end;
$$;

comment on function private.visible_book_keys() is
  'The caller''s keys to customers.book_keys: the nil key for an admin (every customer with a '
  'policy), the people whose book they see for a manager or an agent (visible_agent_ids()), '
  'none for analysts and inactive users.';

grant execute on function private.visible_book_keys() to authenticated, service_role;

drop policy customers_select_member on public.customers;

create policy customers_select_member on public.customers
  for select to authenticated
  using (book_keys && (select private.visible_book_keys())::uuid[]);
