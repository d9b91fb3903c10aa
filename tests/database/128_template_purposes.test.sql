-- A message is as strict as the stricter of its request and its template (issue 9 review;
-- 20261130222810): a marketing campaign sending a service template no longer reaches customers
-- who withdrew marketing consent or never gave it; a marketing message on WhatsApp or SMS needs a
-- marketing template; and campaigns and reminder steps pairing a purpose with a less strict
-- template are refused on every write, by the API's callers and by REST alike.
begin;
select plan(17);
select tests.create_test_book();

create function pg_temp.at() returns timestamptz
language sql stable as $$ select ((current_date + 7) + time '12:00') at time zone 'Asia/Kolkata' $$;

insert into public.templates (code, channel, language, purpose, body, subject, whatsapp_name,
                              whatsapp_category, whatsapp_status, whatsapp_parameter_count)
values
  ('t128_service', 'whatsapp', 'en', 'service', 'Hi {{customer_name}}, renew soon.', null,
   't128_service_en', 'utility', 'approved', 1),
  ('t128_service', 'email', 'en', 'service', 'Hi {{customer_name}}, renew soon.', 'Renew', null,
   null, null, null),
  ('t128_receipt', 'email', 'en', 'transactional', 'Hi {{customer_name}}, we got it.', 'Receipt',
   null, null, null, null),
  ('t128_offer', 'whatsapp', 'en', 'marketing', 'An offer for {{customer_name}}. Stop: {{withdrawal_link}}',
   null, 't128_offer_en', 'marketing', 'approved', 2);

-- Two customers with WhatsApp and email: one granted service only, one marketing too.
create temporary table fx (name text, customer_id uuid);
with cu as (
  insert into public.customers (full_name, phone, email)
  values ('Purpose Service Only', '+919710001281', 'service.only@tests.py360.test'),
         ('Purpose Marketing Too', '+919710001282', 'marketing.too@tests.py360.test')
  returning id, full_name
)
insert into fx select case when full_name like '%Only' then 'service' else 'marketing' end, id from cu;
insert into public.consents (customer_id, channel, purpose, status, source)
select f.customer_id, ch, p, 'granted', 'import'
  from fx f
 cross join unnest(array['whatsapp', 'email']::public.channel_type[]) ch
 cross join unnest(case f.name when 'service' then array['service', 'transactional']
                              else array['service', 'transactional', 'marketing'] end::public.consent_purpose[]) p;

-- What the gate stores: purpose and status (or blocked reason).
create function pg_temp.gate(who text, channel text, template text, purpose text, key text) returns text
language plpgsql as $$
begin
  perform private.enqueue_messages(jsonb_build_object(
    'customer_id', (select customer_id from fx where name = who), 'channel', channel,
    'template_code', template, 'purpose', purpose, 'idempotency_key', 'test:128:' || key,
    'variables', jsonb_build_object('customer_name', 'Asha')), pg_temp.at());
  return (select format('%s %s', m.purpose, coalesce(m.blocked_reason, m.status::text))
            from public.messages m where m.idempotency_key = 'test:128:' || key);
end;
$$;

-- 1. The gate.
select is(pg_temp.gate('service', 'email', 't128_service', 'marketing', 'a'), 'marketing no_consent',
  'a marketing request with a service template is marketing: no consent, blocked');
select is(pg_temp.gate('marketing', 'email', 't128_service', 'marketing', 'b'), 'marketing queued',
  'for a customer who consented to marketing it goes, as marketing');
select ok((select body like '%/w/%' from public.messages where idempotency_key = 'test:128:b'),
  'carrying its withdrawal link');
select is(pg_temp.gate('marketing', 'whatsapp', 't128_service', 'marketing', 'c'),
  'marketing template_not_marketing',
  'on WhatsApp a marketing message needs a marketing template (the registered text has no link)');
select is(pg_temp.gate('marketing', 'whatsapp', 't128_offer', 'marketing', 'd'), 'marketing queued',
  'a marketing template goes');
select is(pg_temp.gate('service', 'whatsapp', 't128_offer', 'service', 'e'), 'marketing no_consent',
  'a service request with a marketing template is marketing');
select is(pg_temp.gate('service', 'email', 't128_receipt', 'service', 'f'), 'service queued',
  'a service request with a transactional template is service');
update public.app_settings set value = 'false' where key = 'ENABLE_EMAIL_CAMPAIGNS';
select is(pg_temp.gate('service', 'email', 't128_receipt', 'service', 'g'), 'service channel_disabled',
  'so the channel''s campaign switch holds it');
select is(pg_temp.gate('service', 'email', 't128_receipt', null, 'h'), 'transactional queued',
  'a request without a purpose takes its template''s');
update public.app_settings set value = 'true' where key = 'ENABLE_EMAIL_CAMPAIGNS';

-- 2. Campaigns: a manager over REST (the API's own inserts take the same path).
select tests.authenticate_as('zone_manager');
select throws_ok(
  $$insert into public.campaigns (name, scope_node_id, channel, purpose, template_code)
    select 'Offer with a reminder', n.id, 'whatsapp', 'marketing', 't128_service'
      from public.hierarchy_nodes n where n.code = 'T_ZONE'$$,
  '23514', 'templates less strict than the campaign''s purpose: t128_service (whatsapp, en) is service',
  'a marketing campaign with a service template is refused');
insert into public.campaigns (name, scope_node_id, channel, purpose)
select 'Service blast', n.id, 'email', 'service' from public.hierarchy_nodes n where n.code = 'T_ZONE';
select throws_ok(
  $$insert into public.campaign_variants (campaign_id, code, template_code, weight)
    select c.id, 'A', 't128_receipt', 100 from public.campaigns c where c.name = 'Service blast'$$,
  '23514', null, 'a variant with a transactional template in a service campaign is refused');
select lives_ok(
  $$insert into public.campaign_variants (campaign_id, code, template_code, weight)
    select c.id, 'A', 't128_service', 100 from public.campaigns c where c.name = 'Service blast'$$,
  'a service template is taken');
select throws_ok(
  $$insert into public.campaign_steps (campaign_id, position, channel, template_code, wait)
    select c.id, 2, 'email', 't128_receipt', interval '1 day' from public.campaigns c
     where c.name = 'Service blast'$$,
  '23514', null, 'a later step with a transactional template is refused');
select throws_ok(
  $$update public.campaigns set purpose = 'marketing' where name = 'Service blast'$$,
  '23514', 'templates less strict than the campaign''s purpose: t128_service (email, en) is service',
  'turning the campaign into marketing with its service variant is refused');
select is((select purpose::text from public.campaigns where name = 'Service blast'), 'service',
  'and changes nothing');

-- 3. Reminder steps: an admin.
select tests.authenticate_as('admin');
select throws_ok(
  $$update public.reminder_rules set template_code = 't128_receipt', channels = '{email}'
     where product_line = 'motor' and kind = 'message' and offset_days = -30$$,
  '23514', 'templates less strict than the step''s purpose: t128_receipt (email, en) is transactional',
  'a service step cannot send a transactional template');
select lives_ok(
  $$update public.reminder_rules set template_code = 't128_service', channels = '{whatsapp,email}'
     where product_line = 'motor' and kind = 'message' and offset_days = -30$$,
  'a service template it can');

select * from finish();
rollback;
