-- The export also holds what is kept about the person's phone and email with no foreign key to
-- them (issue 13, review): the suppression list (public.suppressions.address) and vendor events
-- not tied to one of our messages (public.message_events with message_id null: inbound SMS,
-- WhatsApp and email from them, callbacks for messages we do not know), whose payload carries the
-- address (Twilio's From as +91... or whatsapp:+91..., WhatsApp's from as 91..., an email's
-- address). private.customer_data_links gains links of kind `address`; private.customer_export
-- follows them from the customers row. Both restated whole, every clause kept.

create or replace function private.customer_data_links()
returns table (child regclass, child_columns text[], parent regclass, parent_columns text[], kind text)
language sql
stable
set search_path = ''
as $$
  with tables as (
    select c.oid
      from pg_catalog.pg_class c
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
     where n.nspname in ('public', 'private') and c.relkind in ('r', 'p')
       and c.oid <> 'public.audit_log'::regclass
  ),
  fks as (
    select con.conrelid, con.confrelid,
           array(select a.attname::text from unnest(con.conkey) with ordinality k(num, ord)
                   join pg_catalog.pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.num
                  order by k.ord) as child_columns,
           array(select a.attname::text from unnest(con.confkey) with ordinality k(num, ord)
                   join pg_catalog.pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.num
                  order by k.ord) as parent_columns
      from pg_catalog.pg_constraint con
     where con.contype = 'f'
       and con.conrelid in (select oid from tables) and con.confrelid in (select oid from tables)
  ),
  -- Single-column foreign keys by column name and type: a name that always points to one place.
  named as (
    select f.child_columns[1] as name, a.atttypid, min(f.confrelid::oid) as confrelid,
           min(f.parent_columns[1]) as parent_column
      from fks f
      join pg_catalog.pg_attribute a on a.attrelid = f.conrelid and a.attname = f.child_columns[1]
     where cardinality(f.child_columns) = 1
     group by 1, 2
    having count(distinct (f.confrelid, f.parent_columns[1])) = 1
  ),
  implied as (
    select a.attrelid as conrelid, nm.confrelid, array[a.attname::text] as child_columns,
           array[nm.parent_column] as parent_columns
      from pg_catalog.pg_attribute a
      join named nm on nm.name = a.attname and nm.atttypid = a.atttypid
     where a.attrelid in (select oid from tables) and a.attnum > 0 and not a.attisdropped
       and a.attrelid <> nm.confrelid
       and not exists (select 1 from fks f where f.conrelid = a.attrelid
                                            and f.child_columns[1] = a.attname::text)
  ),
  -- The Razorpay journal names its subject (an order, a refund, a mandate ...) by id alone.
  polymorphic as (
    select 'private.razorpay_calls'::regclass::oid as conrelid, a.attrelid as confrelid,
           array['subject_id'] as child_columns, array['id'] as parent_columns
      from pg_catalog.pg_attribute a
     where a.attrelid in (select oid from tables) and a.attname = 'id'
       and a.atttypid = 'uuid'::regtype and a.attrelid <> 'private.razorpay_calls'::regclass
  ),
  -- Payment webhooks carry the Razorpay ids of the payments, orders, links and refunds they are about.
  vendor_ids as (
    select 'public.payment_events'::regclass::oid as conrelid, a.attrelid as confrelid,
           array['payload'] as child_columns,
           array_agg(a.attname::text order by a.attnum) as parent_columns
      from pg_catalog.pg_attribute a
     where a.attrelid in (select oid from tables) and a.attname ~ '^razorpay_[a-z_]+_id$'
       and a.attnum > 0 and not a.attisdropped
     group by a.attrelid
  )
  select conrelid::regclass, child_columns, confrelid::regclass, parent_columns, 'foreign_key' from fks
  union all
  select conrelid::regclass, child_columns, confrelid::regclass, parent_columns, 'implied' from implied
  union all
  select conrelid::regclass, child_columns, confrelid::regclass, parent_columns, 'polymorphic' from polymorphic
  union all
  select conrelid::regclass, child_columns, confrelid::regclass, parent_columns, 'vendor_ids' from vendor_ids
  union all
  -- Rows about the person's phone or email with no key to them: the suppression list, and vendor
  -- events not tied to one of our messages (inbound SMS / WhatsApp / email from them, callbacks
  -- for messages we no longer know), whose payload names the address.
  select x.child, x.child_columns, 'public.customers'::regclass, array['phone', 'email'], 'address'
    from (values ('public.suppressions', array['address']),
                 ('public.message_events', array['payload', 'message_id'])) x0(name, child_columns)
    cross join lateral (select pg_catalog.to_regclass(x0.name) as child, x0.child_columns) x
   where x.child is not null
$$;

comment on function private.customer_data_links() is
  'The links along which a customer''s rows are found, read from the catalog: (child, its columns) '
  'points to (parent, its columns). kind foreign_key: a constraint between tables of public and '
  'private; implied: a column with no constraint named and typed like a foreign-key column that '
  'always points to one table (case_risk_scores.case_id); polymorphic: private.razorpay_calls.'
  'subject_id to any uuid id; vendor_ids: payment_events.payload holding a parent''s Razorpay ids '
  '(parent_columns); address: a row naming the customer''s phone or email (parent_columns) in '
  'child_columns[1] (text: equal, any case; jsonb: any string in it equal to the email, the '
  'phone, the phone without + or whatsapp:<phone>), and when there is a child_columns[2], that '
  'column null (the row is tied to nothing found otherwise): public.suppressions.address and '
  'public.message_events.payload of events with no message. audit_log is joined separately '
  '(table_name, row_id).';

revoke execute on function private.customer_data_links() from public;
grant execute on function private.customer_data_links() to service_role;

create or replace function private.customer_export(customer uuid, max_depth integer default 8)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  collected jsonb;          -- 'schema.table' -> array of its rows found so far
  fresh jsonb;              -- rows found in the last round, by table: the next round starts from them
  next_fresh jsonb;
  link record;
  child_name text;
  found_rows jsonb;
  new_rows jsonb;
  guard text;
  omitted text[];
  depth integer := 0;
  audit jsonb;
  addresses text[];         -- an address link's forms of the person's phone and email
  links jsonb := (select jsonb_agg(jsonb_build_object(
                           'child', l.child::oid, 'child_name', l.child::text,
                           'child_columns', l.child_columns, 'parent', l.parent::oid,
                           'parent_name', l.parent::text, 'parent_columns', l.parent_columns,
                           'kind', l.kind))
                    from private.customer_data_links() l);
begin
  select jsonb_build_object('public.customers', jsonb_build_array(to_jsonb(c)))
    into collected
    from public.customers c where c.id = customer;
  if collected is null then
    raise exception 'no customer %', customer using errcode = 'P0002';
  end if;
  fresh := collected;

  while fresh <> '{}'::jsonb and depth < max_depth loop
    depth := depth + 1;
    next_fresh := '{}'::jsonb;
    for link in
      select l.* from jsonb_to_recordset(links) l(child oid, child_name text, child_columns text[],
                                                  parent oid, parent_name text,
                                                  parent_columns text[], kind text)
       where fresh ? l.parent_name
       order by l.child_name, l.parent_name, l.kind
    loop
      child_name := link.child_name;
      -- A row that names a customer belongs to that customer only.
      select coalesce(string_agg(format('t.%I = $2', f.child_columns ->> 0), ' and '), 'true')
        into guard
        from jsonb_array_elements(links) e, jsonb_to_record(e) f(child oid, parent oid, kind text,
                                                                   child_columns jsonb)
       where f.child = link.child and f.parent = 'public.customers'::regclass::oid
         and f.kind in ('foreign_key', 'implied') and jsonb_array_length(f.child_columns) = 1;
      -- Secrets stay out: ciphertexts and keys (bytea), hashes, tokens, passwords.
      select coalesce(array_agg(a.attname::text), '{}') into omitted
        from pg_catalog.pg_attribute a
       where a.attrelid = link.child and a.attnum > 0 and not a.attisdropped
         and (a.atttypid = 'bytea'::regtype
              or a.attname ~ '(_hash$|secret|password|verifier|^access_token$|^refresh_token$)');
      if link.kind = 'address' then
        -- The email lower-case; the phone in E.164, without its + (WhatsApp's `from`) and as
        -- Twilio's whatsapp:<phone>.
        select coalesce(array_agg(distinct form), '{}') into addresses
          from jsonb_array_elements(fresh -> link.parent_name) p,
               unnest(link.parent_columns) col,
               lateral (select lower(p ->> col) as given) g,
               lateral unnest(array[g.given,
                                    case when g.given ~ '^\+[0-9]{8,15}$' then substr(g.given, 2) end,
                                    case when g.given ~ '^\+[0-9]{8,15}$' then 'whatsapp:' || g.given end]) form
         where form is not null;
        if cardinality(addresses) = 0 then
          found_rows := '[]';
        else
          execute format(
            'select coalesce(jsonb_agg(to_jsonb(t) - $3), ''[]'') from %s t where %s and %s and %s',
            link.child::regclass,
            case when (select a.atttypid from pg_catalog.pg_attribute a
                        where a.attrelid = link.child and a.attname = link.child_columns[1]) = 'jsonb'::regtype
                 then format('exists (select 1 from jsonb_path_query(t.%I, ''strict $.** ? (@.type() == "string")'') v
                                       where lower(v #>> ''{}'') = any($4))', link.child_columns[1])
                 else format('lower(t.%I::text) = any($4)', link.child_columns[1]) end,
            case when cardinality(link.child_columns) > 1
                 then format('t.%I is null', link.child_columns[2]) else 'true' end,
            guard)
            into found_rows
            using fresh -> link.parent_name, customer, omitted, addresses;
        end if;
      elsif link.kind = 'vendor_ids' then
        execute format(
          'select coalesce(jsonb_agg(to_jsonb(t) - $3), ''[]'') from %s t
            where exists (select 1 from jsonb_path_query(t.%I, ''strict $.** ? (@.type() == "string")'') v
                           where v #>> ''{}'' in (select x from jsonb_populate_recordset(null::%s, $1) p,
                                                    unnest(array[%s]::text[]) x where x is not null))
              and %s',
          link.child::regclass, link.child_columns[1], link.parent::regclass,
          (select string_agg(format('p.%I::text', c), ', ') from unnest(link.parent_columns) c),
          guard)
          into found_rows
          using fresh -> link.parent_name, customer, omitted;
      else
        execute format(
          'select coalesce(jsonb_agg(to_jsonb(t) - $3), ''[]'') from %s t
            where (%s) in (select %s from jsonb_populate_recordset(null::%s, $1) p) and %s',
          link.child::regclass,
          (select string_agg(format('t.%I', c), ', ') from unnest(link.child_columns) c),
          (select string_agg(format('p.%I', c), ', ') from unnest(link.parent_columns) c),
          link.parent::regclass, guard)
          into found_rows
          using fresh -> link.parent_name, customer, omitted;
      end if;
      select coalesce(jsonb_agg(r), '[]') into new_rows
        from (select r from jsonb_array_elements(found_rows) r
              except
              select e from jsonb_array_elements(coalesce(collected -> child_name, '[]')) e) x;
      collected := jsonb_set(collected, array[child_name],
                             coalesce(collected -> child_name, '[]') || new_rows);
      if jsonb_array_length(new_rows) > 0 then
        next_fresh := jsonb_set(next_fresh, array[child_name],
                                coalesce(next_fresh -> child_name, '[]') || new_rows);
      end if;
    end loop;
    fresh := next_fresh;
  end loop;

  -- Every table within reach is listed, [] when it holds nothing of theirs.
  select collected || coalesce(jsonb_object_agg(r.name, '[]'::jsonb)
                                 filter (where not collected ? r.name), '{}')
    into collected
    from (with recursive reach(name, depth) as (
            select 'public.customers', 0
            union
            select l.child_name, r.depth + 1
              from reach r
              join jsonb_to_recordset(links) l(child_name text, parent_name text)
                on l.parent_name = r.name
             where r.depth < max_depth)
          select distinct reach.name from reach) r;

  -- The audit trail of the collected rows (tables whose rows have a uuid id).
  select coalesce(jsonb_agg(to_jsonb(a) order by a.at, a.id), '[]') into audit
    from public.audit_log a
   where a.row_id in (
           select (r ->> 'id')::uuid
             from jsonb_each(collected) t(name, rows), jsonb_array_elements(t.rows) r
            where t.name like 'public.%' and split_part(t.name, '.', 2) = a.table_name
              and r ->> 'id' ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$');

  return jsonb_build_object(
    'format', 'py360-customer-export/1',
    'customer_id', customer,
    'generated_at', now(),
    'note', 'Every row held about the customer, by table (schema.table), found by following the '
            'database''s references from the customer; public.audit_log holds the history of '
            'those rows; rows naming their phone or email (the suppression list, vendor events not '
            'tied to a message) are found by the address. Documents are listed (public.documents), '
            'not included: ask for a copy.',
    'tables', collected || jsonb_build_object('public.audit_log', audit));
end;
$$;

comment on function private.customer_export(uuid, integer) is
  'Everything held about a customer as one JSON document: {format, customer_id, generated_at, note, '
  'tables: {"schema.table": [rows]}}, found along private.customer_data_links() from the customers '
  'row, up to max_depth links away (address links: rows naming their phone or email, e.g. '
  'public.suppressions and message_events with no message); a row naming a customer must name '
  'this one; every table reached '
  'is listed ([] when it holds nothing of theirs); public.audit_log holds the audit rows of the '
  'collected rows. Documents as metadata, not bytes; bytea, hash, token, secret and password '
  'columns left out. P0002 for an unknown customer. Security definer: it reads every table, RLS '
  'aside; only the export runner (service_role) calls it.';

revoke execute on function private.customer_export(uuid, integer) from public;
grant execute on function private.customer_export(uuid, integer) to service_role;
