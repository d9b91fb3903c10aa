-- Analysts read the catalog's comments in their SQL client, so the catalog is checked for them as
-- a whole: a table, column or enum type added later without its comment fails here, by name.
-- The rule:
--   * every table, view and materialized view in `public` has a comment;
--   * every column of every table in `public` has one, except the columns of its primary key and
--     created_at / updated_at (when the row was inserted / last changed: the same everywhere);
--   * every enum or domain type in `public` has one, and an enum's comment names each of its
--     values as `value: meaning`;
--   * money columns (numeric columns named amount, premium, sum_insured, cost, price or fee) say
--     they are in paise; every `date` column says it is an IST date.
-- A comment is at least 10 characters: a word is not an explanation.
begin;
select plan(21);

create temporary table public_relations on commit drop as
select c.oid, c.relname::text, c.relkind, obj_description(c.oid, 'pg_class') as note
  from pg_class c
 where c.relnamespace = 'public'::regnamespace
   and c.relkind in ('r', 'p', 'v', 'm', 'f')
   -- Tables an extension brings with it are the extension's to describe.
   and not exists (select 1 from pg_depend d
                    where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e');

create temporary table public_columns on commit drop as
select r.relname, a.attname::text, a.atttypid, col_description(r.oid, a.attnum) as note
  from public_relations r
  join pg_attribute a on a.attrelid = r.oid and a.attnum > 0 and not a.attisdropped
 where r.relkind in ('r', 'p')
   and a.attname not in ('created_at', 'updated_at')
   and not exists (select 1 from pg_index i
                    where i.indrelid = r.oid and i.indisprimary and a.attnum = any (i.indkey));

create temporary table public_types on commit drop as
select t.oid, t.typname::text, t.typtype, obj_description(t.oid, 'pg_type') as note
  from pg_type t
 where t.typnamespace = 'public'::regnamespace
   and t.typtype in ('e', 'd')
   and not exists (select 1 from pg_depend d
                    where d.classid = 'pg_type'::regclass and d.objid = t.oid and d.deptype = 'e');

create function pg_temp.explained(note text) returns boolean
language sql immutable
as $$ select coalesce(length(btrim(note)) >= 10, false) $$;

-- Each list below must hold something, or "none is missing" would prove nothing.
select cmp_ok((select count(*) from public_relations where relkind in ('r', 'p')), '>=', 13::bigint,
  'the check sees the domain tables of public');
select is(
  array(select relname from public_relations where not pg_temp.explained(note) order by 1),
  '{}'::text[],
  'every table and view in public has a comment'
);

select cmp_ok((select count(*) from public_columns), '>=', 90::bigint,
  'the check sees the columns of those tables');
select is(
  array(select relname || '.' || attname from public_columns
         where not pg_temp.explained(note) order by 1),
  '{}'::text[],
  'every column in public has a comment, but primary keys and created_at / updated_at'
);

select cmp_ok((select count(*) from public_types where typtype = 'e'), '>=', 12::bigint,
  'the check sees the enum types of public');
select is(
  array(select typname from public_types where not pg_temp.explained(note) order by 1),
  '{}'::text[],
  'every enum and domain type in public has a comment'
);
select is(
  array(select t.typname || '.' || e.enumlabel
          from public_types t
          join pg_enum e on e.enumtypid = t.oid
         where coalesce(t.note !~ ('\m' || e.enumlabel || ':'), true)
         order by t.typname, e.enumsortorder),
  '{}'::text[],
  'every enum type''s comment explains each value as "value: meaning"'
);

-- Money and dates: the units analysts most often get wrong.
create temporary table money_columns on commit drop as
select * from public_columns
 where atttypid in ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'numeric'::regtype)
   and attname ~ '(^|_)(amount|premium|sum_insured|cost|price|fee)(_|$)';

select cmp_ok((select count(*) from money_columns), '>=', 5::bigint,
  'the check sees the money columns (installments, payments, premiums, sums insured, channel costs)');
select is(
  array(select relname || '.' || attname from money_columns
         where coalesce(note !~* '\mpaise\M', true) order by 1),
  '{}'::text[],
  'every money column says it is in paise'
);

create temporary table date_columns on commit drop as
select * from public_columns where atttypid = 'date'::regtype;

select cmp_ok((select count(*) from date_columns), '>=', 6::bigint,
  'the check sees the date columns (policy terms, due dates, grace ends, KYC)');
select is(
  array(select relname || '.' || attname from date_columns
         where coalesce(note !~ '\mIST\M', true) order by 1),
  '{}'::text[],
  'every date column says it is an IST date'
);

-- The analytics schema is what analysts read: every table, view and column there is explained,
-- primary keys and timestamps included, with the same rules for money and dates (issue 11).
create temporary table analytics_relations on commit drop as
select c.oid, c.relname::text, c.relkind, obj_description(c.oid, 'pg_class') as note
  from pg_class c
 where c.relnamespace = 'analytics'::regnamespace
   and c.relkind in ('r', 'p', 'v', 'm', 'f');

create temporary table analytics_columns on commit drop as
select r.relname, a.attname::text, a.atttypid, col_description(r.oid, a.attnum) as note
  from analytics_relations r
  join pg_attribute a on a.attrelid = r.oid and a.attnum > 0 and not a.attisdropped;

select cmp_ok((select count(*) from analytics_relations where relkind in ('r', 'p')), '>=',
              6::bigint, 'the check sees the fact tables of analytics');
select is(
  array(select relname from analytics_relations where not pg_temp.explained(note) order by 1),
  '{}'::text[],
  'every table and view in analytics has a comment'
);
select cmp_ok((select count(*) from analytics_columns), '>=', 60::bigint,
              'the check sees the columns of analytics');
select is(
  array(select relname || '.' || attname from analytics_columns
         where not pg_temp.explained(note) order by 1),
  '{}'::text[],
  'every column in analytics has a comment'
);
create temporary table analytics_money_columns on commit drop as
select * from analytics_columns
 where atttypid in ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'numeric'::regtype)
   and attname ~ '(^|_)(amount|premium|sum_insured|cost|price|fee|paise)(_|$)';
select cmp_ok((select count(*) from analytics_money_columns), '>=', 6::bigint,
              'the check sees the money columns of analytics (costs, premiums due and collected)');
select is(
  array(select relname || '.' || attname from analytics_money_columns
         where coalesce(note !~* '\mpaise\M', true) order by 1),
  '{}'::text[],
  'every money column in analytics says it is in paise'
);
create temporary table analytics_date_columns on commit drop as
select * from analytics_columns where atttypid = 'date'::regtype;
select cmp_ok((select count(*) from analytics_date_columns), '>=', 6::bigint,
              'the check sees the date columns of analytics (days, due days)');
select is(
  array(select relname || '.' || attname from analytics_date_columns
         where coalesce(note !~ '\mIST\M', true) order by 1),
  '{}'::text[],
  'every date column in analytics says it is an IST date'
);

-- The analysts' views and the functions they may call (issue 11).
select cmp_ok((select count(*) from analytics_relations where relkind = 'v'), '>=', 19::bigint,
              'the check sees the views of analytics');
select is(
  array(select p.oid::regprocedure::text from pg_proc p
         where p.pronamespace = 'analytics'::regnamespace
           and not pg_temp.explained(obj_description(p.oid, 'pg_proc'))
         order by 1),
  '{}'::text[],
  'every function in analytics has a comment'
);

select * from finish();
rollback;
