-- A name search under row-level security cannot use the trigram index on customers.full_name:
-- `ilike` is not leakproof, so Postgres checks the row policy on every candidate before the
-- pattern, and the candidates are every customer the caller's keys select (migration
-- 20261129009300_index_customer_visibility). For an agent that is a few hundred rows; for a zone
-- manager it is a quarter of the book and for an admin all of it (1.0 s and 0.7 s for a page at
-- 1,000,000 policies, where service_role with the same rule spelled out takes 0.25 s). The
-- planner cannot help: the caller's keys are known only when the statement runs, so it cannot
-- weigh how much of the book they select.
--
-- The desk's name search is therefore this function, which applies the same rule as the select
-- policy (`book_keys && private.visible_book_keys()`) itself and is planned with the caller's
-- keys and pattern as values: one agent's customers come from the keys' index, a large book's
-- matches from the trigram index, each checked against the keys. The customers select policy
-- stays the guard of every other read; tests/database/28_customer_search proves the two agree for
-- every persona.

create function private.search_customers(fragment text, max_rows integer)
returns setof public.customers
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  keys uuid[] := private.visible_book_keys();
  needle text := btrim(fragment);
begin
  if needle is null or char_length(needle) < 3 or char_length(needle) > 100 then
    raise exception 'a name search takes 3 to 100 characters' using errcode = '22023';
  end if;
  if max_rows is null or max_rows not between 1 and 200 then
    raise exception 'a name search returns 1 to 200 rows' using errcode = '22023';
  end if;
  if keys = '{}' then
    return;
  end if;
  -- `%`, `_` and `\` are literal in the fragment, not wildcards.
  needle := '%' || replace(replace(replace(needle, '\', '\\'), '%', '\%'), '_', '\_') || '%';
  -- execute: planned with the keys and the pattern as values (see the top of this file). `&&`
  -- compares every key of a row with every key of the caller's, which costs little for a few
  -- keys (and lets the keys' index serve a small book) but 0.45 s over the trigram matches of a
  -- zone manager's 226 keys; a large key set is looked up through a hash instead.
  if cardinality(keys) <= 32 then
    return query execute
      'select cu.* from public.customers cu
        where cu.book_keys operator(pg_catalog.&&) $1 and cu.full_name ilike $2
        order by cu.full_name, cu.id
        limit $3'
      using keys, needle, max_rows;
  else
    return query execute
      'select cu.* from public.customers cu
        where cu.full_name ilike $2
          and exists (select from unnest(cu.book_keys) as held (key) where held.key = any ($1))
        order by cu.full_name, cu.id
        limit $3'
      using keys, needle, max_rows;
  end if;
end;
$$;

comment on function private.search_customers(text, integer) is
  'The customers the caller may see (the customers select policy''s rule: book_keys && '
  'visible_book_keys()) whose name contains the fragment, case-insensitively, in (full_name, id) '
  'order, at most max_rows (1 to 200). The fragment is trimmed and must keep 3 to 100 characters; '
  '%, _ and \ in it are literal. Raises 22023 on bad arguments. Security definer: under RLS the '
  'trigram index could not serve the search (migration 20261129009500).';

revoke execute on function private.search_customers(text, integer) from public, anon;
grant execute on function private.search_customers(text, integer) to authenticated;
