-- The helpers called per message and per changed case (migration 20261201072019) have no search
-- path of their own, so Postgres inlines the one-expression ones into the statements that call
-- them and skips fill_template's call for a template without a subject; their answers are as
-- before.
begin;
select plan(12);

-- The plan's output for one call of `call` over a column: the helper's name is absent when it
-- was inlined.
create function pg_temp.planned(call text) returns text language plpgsql as $$
declare
  line text;
  plan text := '';
begin
  for line in execute format('explain (verbose, costs off) select %s from generate_series(1, 3) g', call) loop
    plan := plan || line || E'\n';
  end loop;
  return plan;
end;
$$;

select is(array(select p.oid::regprocedure::text from pg_catalog.pg_proc p
                 where p.oid in ('private.format_inr(bigint)'::regprocedure,
                                 'private.format_money(bigint, text)'::regprocedure,
                                 'private.business_date(timestamptz)'::regprocedure,
                                 'private.render_template(text, jsonb)'::regprocedure,
                                 'private.fill_template(text[], text[], jsonb)'::regprocedure)
                   and p.proconfig is not null),
          '{}'::text[], 'no setting of their own');
select unalike(pg_temp.planned('private.format_inr(g * 1000)'), '%format_inr%',
              'format_inr is inlined');
select unalike(pg_temp.planned($$private.format_money(g * 1000, 'INR')$$), '%format_%',
              'format_money is inlined, with format_inr inside it');
select unalike(pg_temp.planned($$private.business_date(now() + g * interval '1 day')$$),
              '%business_date%', 'business_date is inlined');
select ok((select p.proisstrict from pg_catalog.pg_proc p
            where p.oid = 'private.fill_template(text[], text[], jsonb)'::regprocedure),
          'fill_template is strict: no call for a template without a subject');

select is(private.format_inr(12000000), '₹1,20,000', 'lakh grouping, no paise when there are none');
select is(private.format_inr(2813850), '₹28,138.50', 'paise when there are some');
select is(private.format_inr(-5), '-₹0.05', 'a negative amount');
select is(private.format_money(25000, 'USD'), 'USD 250.00', 'another currency by its code');
select is(private.render_template('Renew {{policy_number}}', null), 'Renew {{policy_number}}',
          'render_template with null variables leaves the placeholders, as before');
select is(private.fill_template(private.template_parts(null), private.template_names(null), '{}'),
          null, 'fill_template of no template is null');
set local timezone = 'UTC';
select is(private.business_date('2026-12-01 19:00+00'), date '2026-12-02',
          'business_date is the date in Asia/Kolkata by default');

select * from finish();
rollback;
