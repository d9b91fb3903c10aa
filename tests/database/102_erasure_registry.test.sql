-- The erasure's registry (private.personal_data_columns, migration 20261130043510): walking the
-- catalog, every text, citext, varchar or JSON column (arrays of them too) of every table that
-- can hold a customer's data is classified: erased, deleted with its row, or kept with a reason.
-- Reachable: every table in public, private, analytics and storage with a foreign-key path to
-- public.customers, plus the tables linked without a foreign key (Razorpay payloads by vendor
-- ids, our Razorpay requests by subject id, Storage's objects by key, the audit log by row id)
-- and every analytics table. A table added later fails here until its columns are classified.
begin;
select plan(7);

create temporary view reachable_columns as
with recursive reach(rel) as (
  select 'public.customers'::regclass
  union
  select k.conrelid::regclass
    from pg_constraint k join reach r on k.confrelid = r.rel
   where k.contype = 'f'
), tables as (
  select rel from reach
  union select to_regclass(x) from unnest(array['public.payment_events', 'private.razorpay_calls',
                                                'storage.objects', 'public.audit_log']) x
  union select c.oid::regclass from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'analytics' and c.relkind in ('r', 'p', 'm')
)
select n.nspname || '.' || c.relname as table_name, a.attname::text as column_name
  from tables t
  join pg_class c on c.oid = t.rel
  join pg_namespace n on n.oid = c.relnamespace
  join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
  join pg_type ty on ty.oid = a.atttypid
  left join pg_type el on el.oid = ty.typelem and ty.typcategory = 'A'
 where n.nspname in ('public', 'private', 'analytics', 'storage')
   and coalesce(el.typname, ty.typname) in ('text', 'citext', 'varchar', 'bpchar', 'json', 'jsonb');

select ok((select count(*) from reachable_columns) >= 100,
          'the walk finds the personal and payment tables'' text columns (it is not empty)');
select ok(exists (select 1 from reachable_columns where table_name = 'public.message_events' and column_name = 'payload'),
          'the walk reaches message_events.payload through messages (two foreign keys away)');

select is_empty(
  $$select table_name || '.' || column_name from reachable_columns
    except select table_name || '.' || column_name from private.personal_data_columns$$,
  'every text or JSON column reachable from a customer is classified in private.personal_data_columns');

select is_empty(
  $$select table_name || '.' || column_name from private.personal_data_columns
    except select table_name || '.' || column_name from reachable_columns$$,
  'the registry names no column that does not exist (or is no longer reachable)');

select is_empty(
  $$select table_name || '.' || column_name from private.personal_data_columns
     where (table_name, column_name) in (('public.customers', 'full_name'), ('public.customers', 'phone'),
                                         ('public.customers', 'email'), ('public.messages', 'body'),
                                         ('public.messages', 'recipient'), ('public.message_events', 'payload'),
                                         ('public.payment_events', 'payload'), ('public.ai_requests', 'prompt'))
       and treatment <> 'erased'$$,
  'the contact data, message bodies, payloads and prompts are erased, not kept');

-- The analytics tables hold no person: no column naming a customer, and no foreign key to one.
select is_empty(
  $$select c.relname || '.' || a.attname
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
     where n.nspname = 'analytics' and c.relkind in ('r', 'p', 'm')
       and (a.attname ~ '(customer|recipient|phone|email|name|address|body|payload|prompt)'
            or exists (select 1 from pg_constraint k where k.conrelid = c.oid and k.contype = 'f'))$$,
  'no analytics table has a column that could name a customer, nor a foreign key');

-- A new table reachable from customers fails until classified.
create table public.erasure_registry_probe (
  id uuid primary key, customer_id uuid references public.customers (id), note text);
select set_eq(
  $$select table_name || '.' || column_name from reachable_columns
    except select table_name || '.' || column_name from private.personal_data_columns$$,
  array['public.erasure_registry_probe.note'],
  'a new table with a text column and a foreign key to customers is caught until classified');

select * from finish();
rollback;
