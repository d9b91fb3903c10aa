-- The analyst role (issue 11), proved as an analyst: a login role made a member of `analyst`, as
-- `npm run analyst -- add` makes one. What it is refused is walked over the whole catalog, so a
-- table, function or grant added later that an analyst could reach fails here by name:
--   * the group role: no login, no superuser, no BYPASSRLS, a member of no role; its members are
--     plain logins; the settings each login copies;
--   * outside analytics: no table or view it can read, no function it can run, no schema it can
--     create in; tried for real in public, private, auth, storage and cron;
--   * in analytics: every relation readable, with every row its owner sees (row-level security
--     with no policy for analysts would hide them); nothing writable, nothing creatable;
--   * personal data: a few customers of the demo book have their phone, email and name planted in
--     every free-text column the desk or a vendor fills (bodies, recipients, variables, vendors'
--     errors and ids, outcomes, reasons, prompts, answers, campaign names and filters, cities);
--     then no column of any relation in analytics, fact tables included, may hold a phone number,
--     an email address or a name of a customer or desk user, or the raw id of a customer's
--     record. A view that exposes one is planted first, to show the walk finds it.
begin;
select plan(44);

create role t82_analyst login in role analyst;

-- The group role.

select is(
  (select format('login %s, superuser %s, bypassrls %s, createrole %s, createdb %s, replication %s',
                 rolcanlogin, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolreplication)
     from pg_roles where rolname = 'analyst'),
  'login f, superuser f, bypassrls f, createrole f, createdb f, replication f',
  'analyst is a group role: no login, no superuser, no BYPASSRLS, no role or database creation'
);
select is(
  array(select m.roleid::regrole::text from pg_auth_members m
         where m.member = 'analyst'::regrole order by 1),
  '{}'::text[],
  'analyst is a member of no role (not pg_read_all_data, not supabase_read_only_user)'
);
select isnt_empty(
  $$select 1 from pg_auth_members where roleid = 'analyst'::regrole$$,
  'analyst has members to check (the test''s login)'
);
select is(
  array(select r.rolname::text
          from pg_auth_members m join pg_roles r on r.oid = m.member
         where m.roleid = 'analyst'::regrole
           and (r.rolsuper or r.rolbypassrls or r.rolcreaterole or r.rolcreatedb
                or r.rolreplication or m.admin_option
                or exists (select 1 from pg_auth_members o
                            where o.member = m.member and o.roleid <> 'analyst'::regrole))
         order by 1),
  '{}'::text[],
  'every member of analyst is a plain login: no other membership, no privileged attribute'
);
select set_eq(
  $$select unnest(setconfig) from pg_db_role_setting
     where setrole = 'analyst'::regrole and setdatabase = 0$$,
  array['statement_timeout=60s', 'idle_in_transaction_session_timeout=5min',
        'default_transaction_read_only=on'],
  'the group role holds the settings each analyst login copies (timeouts, read-only)'
);

-- Outside analytics: the catalog.

create temporary table t82_relations on commit drop as
select c.oid, n.oid as nsp, n.nspname::text as schema, c.relname::text as name, c.relkind
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where c.relkind in ('r', 'p', 'v', 'm', 'f')
   and n.nspname not in ('pg_catalog', 'information_schema')
   and n.nspname !~ '^pg_(toast|temp)';

select is(
  array(select distinct schema from t82_relations
         where schema in ('public', 'private', 'auth', 'storage', 'cron', 'analytics') order by 1),
  array['analytics', 'auth', 'cron', 'private', 'public', 'storage'],
  'the walk sees the tables of analytics, auth, cron, private, public and storage'
);
select is(
  array(select schema || '.' || name from t82_relations
         where schema <> 'analytics'
           and has_schema_privilege('t82_analyst', nsp, 'USAGE')
           and has_any_column_privilege('t82_analyst', oid, 'SELECT')
         order by 1),
  '{}'::text[],
  'an analyst can read no table or view outside analytics'
);
select is(
  array(select schema || '.' || name from t82_relations
         where schema in ('public', 'private')
           and has_any_column_privilege('t82_analyst', oid, 'SELECT')
         order by 1),
  '{}'::text[],
  'an analyst holds no select right on any table or view of public or private'
);
select is(
  array(select nspname::text from pg_namespace
         where has_schema_privilege('t82_analyst', oid, 'USAGE')
           and nspname not in ('pg_catalog', 'information_schema') and nspname !~ '^pg_'
         order by 1),
  array['analytics', 'public'],
  'an analyst uses only the schemas analytics and public (whose tables grant it nothing)'
);
select is(
  array(select nspname::text from pg_namespace
         where has_schema_privilege('t82_analyst', oid, 'CREATE') and nspname !~ '^pg_temp'
         order by 1),
  '{}'::text[],
  'an analyst can create nothing in any schema'
);
select cmp_ok(
  (select count(*) from pg_proc where pronamespace = 'private'::regnamespace), '>=', 100::bigint,
  'the walk sees the functions of private'
);
select is(
  array(select p.oid::regprocedure::text
          from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where n.nspname not in ('pg_catalog', 'information_schema', 'analytics')
           and has_schema_privilege('t82_analyst', n.oid, 'USAGE')
           and has_function_privilege('t82_analyst', p.oid, 'EXECUTE')
         order by 1),
  '{}'::text[],
  'an analyst can run no function outside analytics and the catalog'
);
select is(
  array(select p.oid::regprocedure::text
          from pg_proc p
         where p.pronamespace in ('public'::regnamespace, 'private'::regnamespace)
           and has_function_privilege('t82_analyst', p.oid, 'EXECUTE')
         order by 1),
  '{}'::text[],
  'an analyst holds no execute right on any function of public or private'
);

-- Analytics: the catalog.

create temporary table t82_analytics on commit drop as
select oid, oid::regclass as rel, relkind from t82_relations where schema = 'analytics';

select cmp_ok((select count(*) from t82_analytics where relkind = 'v'), '>=', 19::bigint,
  'the walk sees the views of analytics');
select is(
  array(select rel::text from t82_analytics
         where not has_table_privilege('t82_analyst', oid, 'SELECT') order by 1),
  '{}'::text[],
  'an analyst may select from every relation of analytics'
);
select is(
  array(select a.rel::text || ' ' || p.privilege
          from t82_analytics a
         cross join unnest(array['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES',
                                 'TRIGGER']) p (privilege)
         where has_table_privilege('t82_analyst', a.oid, p.privilege)
            or (p.privilege in ('INSERT', 'UPDATE', 'REFERENCES')
                and has_any_column_privilege('t82_analyst', a.oid, p.privilege))
         order by 1),
  '{}'::text[],
  'an analyst may insert, update, delete, truncate, reference or trigger nothing in analytics'
);

-- Each relation's rows as its owner sees them, to compare with what the analyst sees.
create function pg_temp.t82_rows(relation regclass) returns bigint
language plpgsql as $$
declare
  n bigint;
begin
  execute format('select count(*) from %s', relation) into n;
  return n;
end
$$;
create temporary table t82_owner_rows on commit drop as
select rel, pg_temp.t82_rows(rel) as n from t82_analytics;
grant select on t82_owner_rows, t82_analytics to t82_analyst;
grant execute on function pg_temp.t82_rows(regclass) to t82_analyst;

select cmp_ok(
  (select count(*) from t82_owner_rows
    where n > 0 and rel in ('analytics.cases'::regclass, 'analytics.policies'::regclass,
                            'analytics.customers'::regclass, 'analytics.installments'::regclass)),
  '=', 4::bigint,
  'the demo book fills cases, policies, customers and installments'
);

-- As the analyst: what is refused, tried for real. pgTAP lives in `extensions`: the analyst gets
-- it for the rest of this transaction, now that the walks above are done.
grant usage on schema extensions to t82_analyst;
grant execute on all functions in schema extensions to t82_analyst;
set local role t82_analyst;

select throws_ok('select 1 from public.customers', '42501',
  'permission denied for table customers', 'an analyst cannot read public.customers');
select throws_ok('select 1 from public.messages', '42501',
  'permission denied for table messages', 'an analyst cannot read public.messages');
select throws_ok('select 1 from private.analytics_pseudonym_key', '42501',
  'permission denied for schema private', 'an analyst cannot read the pseudonyms'' key');
select throws_ok('select 1 from auth.users', '42501',
  'permission denied for schema auth', 'an analyst cannot read auth.users');
select throws_ok('select 1 from storage.objects', '42501',
  'permission denied for schema storage', 'an analyst cannot read storage.objects');
select throws_ok('select 1 from cron.job', '42501',
  'permission denied for schema cron', 'an analyst cannot read cron.job');
select throws_ok('select private.is_admin()', '42501',
  'permission denied for schema private', 'an analyst cannot run a private function');
select throws_ok('select public.case_outstanding(gen_random_uuid())', '42501',
  'permission denied for function case_outstanding', 'an analyst cannot run the desk''s RPC');
-- Views Postgres could write through (one table, plain columns): refused for want of the right.
select throws_ok(
  $$insert into analytics.staff (staff_id, role) values (gen_random_uuid(), 'admin')$$, '42501',
  'permission denied for view staff', 'an analyst cannot insert into a view');
select throws_ok(
  'update analytics.templates set active = not active', '42501',
  'permission denied for view templates', 'an analyst cannot update a view');
select throws_ok(
  'delete from analytics.vendors', '42501',
  'permission denied for view vendors', 'an analyst cannot delete from a view');
select throws_ok(
  format('truncate %s', (select rel from t82_analytics where relkind = 'r' order by rel::text limit 1)),
  '42501', null, 'an analyst cannot truncate a fact table');
select throws_ok(
  'create view analytics.t82_mine as select 1 as one', '42501',
  'permission denied for schema analytics', 'an analyst cannot create in analytics');

select is(
  array(select o.rel::text || ': ' || pg_temp.t82_rows(o.rel) || ' rows of ' || o.n
          from t82_owner_rows o
         where pg_temp.t82_rows(o.rel) <> o.n
         order by 1),
  '{}'::text[],
  'an analyst reads every relation of analytics with every row its owner sees'
);

reset role;

-- Pseudonyms: HMAC-SHA256 under the private key (checked against pgcrypto's hmac with the key
-- recovered from its pad), distinct, and the same in every view.
select is(
  (select count(*)
     from public.customers c
    cross join private.analytics_pseudonym_key k
    cross join lateral (select decode(string_agg(lpad(to_hex(get_byte(k.inner_pad, i) # 54), 2, '0'),
                                                 '' order by i), 'hex') as key
                          from generate_series(0, 63) i) r
    where analytics.pseudonym(c.id, k.inner_pad, k.outer_pad)
          = left(encode(extensions.hmac(convert_to(c.id::text, 'UTF8'), r.key, 'sha256'), 'hex'), 32)),
  (select count(*) from public.customers),
  'a pseudonym is the first 128 bits of HMAC-SHA256(key, id), in hex'
);
select is(
  (select count(distinct customer_key) from analytics.customers),
  (select count(*) from public.customers),
  'every customer has a pseudonym of their own'
);
select is_empty(
  $$select customer_key from analytics.cases except select customer_key from analytics.customers
    union all
    select policy_key from analytics.cases except select policy_key from analytics.policies$$,
  'the views agree on pseudonyms: cases join customers and policies'
);

-- Personal data. First plant it where the desk and the vendors put free text, for three
-- customers of the demo book, without the desk's triggers.

set local session_replication_role = replica;
do $$
declare
  who record;
  said text;
  digits text;
begin
  for who in
    select c.id as customer_id, c.full_name, c.phone, c.email::text as email, r.id as case_id,
           r.assignee_id, row_number() over (order by c.id) as n
      from public.customers c
      join lateral (select r.id, r.assignee_id from public.renewal_cases r
                     where r.customer_id = c.id order by r.id limit 1) r on true
     where c.phone is not null and c.email is not null
     order by c.id
     limit 3
  loop
    said := format('%s, %s, %s', who.full_name, who.phone, who.email);
    digits := regexp_replace(who.phone, '[^0-9]', '', 'g');
    update public.customers
       set city = case who.n when 1 then who.phone when 2 then who.email
                             else 'Flat 4, ' || who.full_name || ' Road' end
     where id = who.customer_id;
    update public.renewal_cases
       set stage = 'lost', lost_reason = 'Spoke to ' || said, closed_at = now()
     where id = who.case_id;
    update public.outstanding_amounts set reason = 'Cheque from ' || said
     where case_id = who.case_id;
    insert into public.messages (customer_id, case_id, channel, purpose, body, subject, body_html,
                                 recipient, variables, idempotency_key, status, provider,
                                 provider_message_id, last_error, template_snapshot, locked_by,
                                 failed_at)
    values (who.customer_id, who.case_id, 'sms', 'service', 'Dear ' || said, said,
            '<p>' || said || '</p>', who.phone,
            jsonb_build_object('customer_name', who.full_name, 'phone', who.phone,
                               'email', who.email),
            't82:' || who.email, 'failed', 'twilio', 'SM' || digits,
            'The ''To'' number ' || who.phone || ' is not a valid phone number',
            jsonb_build_object('whatsapp_parameters', jsonb_build_array(who.full_name)),
            who.email, now());
    insert into public.tasks (case_id, assignee_id, due_at, sla_hours, sla_due_at, status,
                              outcome, done_at)
    values (who.case_id, who.assignee_id, now() - interval '1 hour', 4, now() + interval '3 hours',
            'done', 'Called ' || said, now());
    insert into public.ai_requests (purpose, caller, case_id, customer_id, model, prompt_hash,
                                    prompt, response, outcome, source, attempts, cost_paise,
                                    finished_at)
    values ('chat', who.assignee_id, who.case_id, who.customer_id, 'gpt-test',
            encode(sha256(convert_to(said, 'UTF8')), 'hex'),
            jsonb_build_array(jsonb_build_object('role', 'user', 'content', said)),
            jsonb_build_object('content', 'About ' || said), 'ok', 'model', 1, 1, now());
    insert into public.payments (case_id, razorpay_order_id, razorpay_payment_id, amount, method,
                                 status, failure_reason)
    values (who.case_id, 'order_' || digits, 'pay_' || digits, 100, 'upi', 'failed',
            'UPI collect to ' || said || ' declined');
    -- template_code and the audience filter take any text written past the API: a phone, an
    -- email and a name in the template, in values of the filter's keys and in keys of its own.
    insert into public.campaigns (name, scope_node_id, channel, purpose, template_code,
                                 audience_filter)
    select 'Offer for ' || said, p.node_id, 'sms', 'service',
           case who.n when 1 then who.email when 2 then who.phone else said end,
           jsonb_build_object('city', jsonb_build_array('Noida', who.email, who.phone, said),
                              'remark', 'call ' || said, 'language', who.email,
                              'product_line', jsonb_build_array('motor', who.phone),
                              'stage', said, 'preferred_channel', who.phone,
                              'expiry_from', who.email, 'premium_min', who.phone,
                              who.email, who.phone)
      from public.profiles p where p.id = who.assignee_id;
    insert into public.campaign_variants (campaign_id, code, template_code, weight)
    select c.id, 'A', who.email, 100 from public.campaigns c where c.name = 'Offer for ' || said;
    insert into public.campaign_steps (campaign_id, position, channel, template_code, wait, condition)
    select c.id, 2, 'sms', who.phone, interval '1 day', 'always'
      from public.campaigns c where c.name = 'Offer for ' || said;
  end loop;
  -- And a campaign written as the API writes one: every key, each of its type.
  insert into public.campaigns (name, scope_node_id, channel, purpose, template_code,
                               audience_filter)
  select 'Well-formed t82', n.id, 'sms', 'service', (select min(t.code) from public.templates t),
         '{"product_line": ["motor", "health"], "stage": "new", "city": ["Noida", "New Delhi"],
           "language": ["en", "hi-IN"], "preferred_channel": "sms", "expiry_from": "2026-12-01",
           "expiry_to": "2026-12-31", "premium_min": 100000, "premium_max": 2500000}'
    from public.hierarchy_nodes n order by n.path limit 1;
end
$$;
set local session_replication_role = origin;
-- The facts over the planted rows too.
select lives_ok('select private.rebuild_analytics(null, null)', 'the facts are rebuilt over them');

select is(
  (select count(*) from public.customers c
    cross join private.analytics_pseudonym_key k
     join analytics.customers a on a.customer_key = analytics.pseudonym(c.id, k.inner_pad, k.outer_pad)
    where a.city is distinct from c.city),
  3::bigint,
  'the planted cities are hidden, every city of the demo book shown as typed'
);
select is(
  array(select distinct a.audience_filter -> 'city'
          from analytics.campaigns a join public.campaigns c on c.id = a.campaign_id
         where c.name like 'Offer for %'),
  array['["Noida", "(hidden)", "(hidden)", "(hidden)"]'::jsonb],
  'a campaign''s audience keeps its place names and hides what is not one'
);
select is(
  array(select distinct a.audience_filter - 'city'
          from analytics.campaigns a join public.campaigns c on c.id = a.campaign_id
         where c.name like 'Offer for %'),
  array['{"stage": "(hidden)", "language": "(hidden)", "(hidden)": 2, "expiry_from": "(hidden)",
          "premium_min": "(hidden)", "product_line": ["motor", "(hidden)"],
          "preferred_channel": "(hidden)"}'::jsonb],
  'the other keys keep their values of the right type, hide the rest, and leave out keys of their own'
);
select is(
  array(select distinct a.template_code
          from analytics.campaigns a join public.campaigns c on c.id = a.campaign_id
         where c.name like 'Offer for %'
        union
        select distinct v.template_code
          from analytics.campaign_variants v join public.campaigns c on c.id = v.campaign_id
         where c.name like 'Offer for %'
        union
        select distinct s.template_code
          from analytics.campaign_steps s join public.campaigns c on c.id = s.campaign_id
         where c.name like 'Offer for %'),
  array['(hidden)'],
  'a template code that names no template is hidden (campaigns, variants, steps)'
);
select is(
  (select (a.template_code, a.audience_filter)::text
     from analytics.campaigns a join public.campaigns c on c.id = a.campaign_id
    where c.name = 'Well-formed t82'),
  (select (c.template_code, c.audience_filter)::text
     from public.campaigns c where c.name = 'Well-formed t82' and c.template_code is not null),
  'a campaign written as the API writes one keeps its template code and filter as written'
);
select is(
  (select count(*) from public.messages m join public.customers c on c.id = m.customer_id
    where m.idempotency_key like 't82:%' and m.body like '%' || c.phone || '%'
      and m.recipient = c.phone),
  3::bigint,
  'three customers'' phone, email and name are planted in the base tables'
);

-- What to look for: every customer's and desk user's phone (its last ten digits), email and
-- full name, and the raw ids of a customer's records.
create temporary table t82_needles (kind text, needle text) on commit drop;
insert into t82_needles
select distinct 'phone', right(regexp_replace(phone, '[^0-9]', '', 'g'), 10)
  from (select phone from public.customers union all select phone from auth.users) p
 where length(regexp_replace(phone, '[^0-9]', '', 'g')) >= 10
union
select distinct 'email', lower(email)
  from (select email::text from public.customers union all select email::text from public.profiles
        union all select email::text from auth.users) e
 where email like '%@%'
union
select distinct 'name', lower(btrim(full_name))
  from (select full_name from public.customers union all select full_name from public.profiles) n
 where length(btrim(full_name)) >= 5
union
select distinct 'id', id::text
  from (select id from public.customers union all select id from public.policies
        union all select id from public.renewal_cases union all select id from public.outstanding_amounts
        union all select id from public.payments union all select id from public.messages
        union all select id from public.tasks union all select id from public.ai_requests) i;

-- Each column of each relation in analytics, as text: a phone (its digits in any grouping), an
-- email or a name inside it, or a raw id equal to it.
create function pg_temp.t82_personal_data()
returns table (found text)
language plpgsql as $$
declare
  col record;
begin
  for col in
    select c.oid::regclass as rel, a.attname, a.atttypid
      from pg_class c
      join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
     where c.relnamespace = 'analytics'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
  loop
    return query execute format(
      $sql$
      with v as (select distinct %1$I::text as v from %2$s where %1$I is not null),
      d as (select v, regexp_replace(v, '[^0-9]', '', 'g') as digits from v),
      hits as (
        select 'phone ' || n.needle as hit
          from d cross join lateral generate_series(1, length(d.digits) - 9) i
          join t82_needles n on n.kind = 'phone' and n.needle = substr(d.digits, i, 10)
        union
        select 'email ' || n.needle
          from v join t82_needles n
            on n.kind = 'email' and v.v like '%%@%%' and strpos(lower(v.v), n.needle) > 0
        union
        select 'name ' || n.needle
          from v join t82_needles n
            on n.kind = 'name' and %3$L and strpos(lower(v.v), n.needle) > 0
        union
        select 'raw id' from v join t82_needles n on n.kind = 'id' and n.needle = v.v
      )
      select %4$L || ': ' || min(hit) from hits having count(*) > 0
      $sql$,
      col.attname, col.rel,
      col.atttypid not in ('uuid'::regtype, 'bool'::regtype, 'int2'::regtype, 'int4'::regtype,
                           'int8'::regtype, 'numeric'::regtype, 'float4'::regtype,
                           'float8'::regtype, 'date'::regtype, 'timestamptz'::regtype,
                           'timestamp'::regtype, 'interval'::regtype, 'time'::regtype),
      col.rel::text || '.' || col.attname);
  end loop;
end
$$;

-- The walk finds a view that exposes them ...
create view analytics.t82_leak as
select c.id as customer_id, c.phone as contact,
       regexp_replace(c.phone, '^[+]91([0-9]{5})([0-9]{5})$', '0\1 \2') as contact_spaced,
       upper(c.email::text) as mail, 'Mr ' || c.full_name as who
  from public.customers c;
select is(
  array(select split_part(found, ':', 1) from pg_temp.t82_personal_data()
         where found like 'analytics.t82_leak.%' order by 1),
  array['analytics.t82_leak.contact', 'analytics.t82_leak.contact_spaced',
        'analytics.t82_leak.customer_id', 'analytics.t82_leak.mail', 'analytics.t82_leak.who'],
  'the walk finds phones in any grouping, emails in any case, names and raw ids in a leaky view'
);
drop view analytics.t82_leak;

-- ... and nothing anywhere else.
select cmp_ok(
  (select count(*) from pg_attribute a join pg_class c on c.oid = a.attrelid
    where c.relnamespace = 'analytics'::regnamespace and a.attnum > 0 and not a.attisdropped),
  '>=', 200::bigint,
  'the walk covers the columns of analytics'
);
select is(
  array(select found from pg_temp.t82_personal_data() order by 1),
  '{}'::text[],
  'no column of analytics holds a phone, an email or a name of the book, or a raw record id'
);

select * from finish();
rollback;
