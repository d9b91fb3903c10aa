-- analytics.campaigns showed a campaign's template_code and audience filter as written (review of
-- issue 11, defect 5): the columns take any text (template_code up to 100 characters, the filter
-- any JSON object written past the API), so a manager could put 'ramesh.kumar@example.com' in
-- template_code or '{"remark": "call Ramesh on +919876543210"}' in the filter, and analysts
-- read them verbatim. Now:
-- * template_code (here, and in analytics.campaign_variants and campaign_steps, which take any
--   text too) is shown only when it names a template (public.templates.code); else '(hidden)'.
-- * audience_filter keeps only the keys of the campaign audience filter (CampaignAudienceFilter,
--   private.campaign_audience), each value only when it has that key's type: product_line, stage
--   and preferred_channel values of their enums, language a code such as en or hi-IN, city as
--   before (a place name in Latin letters; always an array), expiry_from / expiry_to a
--   YYYY-MM-DD date, premium_min / premium_max a number (paise). Any other value shows as
--   '(hidden)' (in a list, each element on its own); any other key is left out, and how many
--   were left out is the value of one key '(hidden)'.
-- The views stay security definer views (security_invoker = false) as created: analysts have no
-- grant on public.campaigns or public.templates.

create or replace view analytics.campaigns with (security_invoker = false) as
select c.id as campaign_id, c.created_by as creator_id, c.scope_node_id, c.channel, c.purpose,
       case when c.template_code is null then null
            when exists (select 1 from public.templates t where t.code = c.template_code)
              then c.template_code
            else '(hidden)' end as template_code,
       (select coalesce(jsonb_object_agg(f.key, f.value), '{}'::jsonb)
          from (
            select k.key,
                   case
                     when k.key in ('premium_min', 'premium_max') then
                       case when jsonb_typeof(k.value) = 'number' then k.value
                            else to_jsonb('(hidden)'::text) end
                     when k.key in ('expiry_from', 'expiry_to') then
                       case when jsonb_typeof(k.value) = 'string'
                                 and (k.value #>> '{}') ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'
                            then k.value
                            else to_jsonb('(hidden)'::text) end
                     else (
                       -- One value or a list: each element kept when it is a value of the key.
                       select case when jsonb_typeof(k.value) = 'array' or k.key = 'city'
                                   then coalesce(jsonb_agg(e.shown order by e.ord), '[]'::jsonb)
                                   else (array_agg(e.shown))[1] end
                         from (select x.ord,
                                      case when jsonb_typeof(x.v) = 'string' and (case k.key
                                             when 'product_line' then (x.v #>> '{}')
                                               = any (enum_range(null::public.product_line)::text[])
                                             when 'stage' then (x.v #>> '{}')
                                               = any (enum_range(null::public.case_stage)::text[])
                                             when 'preferred_channel' then (x.v #>> '{}')
                                               in ('sms', 'email', 'whatsapp')
                                             when 'language' then (x.v #>> '{}') ~ '^[a-z]{2}(-[A-Z]{2})?$'
                                             when 'city' then (x.v #>> '{}') ~ '^[[:space:]]*[A-Za-z][A-Za-z .''()-]*$'
                                               and length(btrim(x.v #>> '{}')) <= 40
                                           end)
                                           then case when k.key = 'city'
                                                     then to_jsonb(regexp_replace(btrim(x.v #>> '{}'), '[[:space:]]+', ' ', 'g'))
                                                     else x.v end
                                           else to_jsonb('(hidden)'::text) end as shown
                                 from jsonb_array_elements(
                                        case when jsonb_typeof(k.value) = 'array' then k.value
                                             else jsonb_build_array(k.value) end)
                                      with ordinality as x (v, ord)) e)
                   end as value
              from jsonb_each(c.audience_filter) k
             where k.key in ('product_line', 'stage', 'city', 'language', 'preferred_channel',
                             'expiry_from', 'expiry_to', 'premium_min', 'premium_max')
            union all
            select '(hidden)', to_jsonb(count(*))
              from jsonb_object_keys(c.audience_filter) o (key)
             where o.key not in ('product_line', 'stage', 'city', 'language', 'preferred_channel',
                                 'expiry_from', 'expiry_to', 'premium_min', 'premium_max')
            having count(*) > 0
          ) f) as audience_filter,
       c.start_at, c.spread_rate_per_hour,
       c.spread_window_start, c.spread_window_end, c.status, c.launched_at, c.paused_at,
       c.cancelled_at, c.completed_at, c.created_at, c.updated_at
  from public.campaigns c;

comment on column analytics.campaigns.template_code is
  'Template of the first step when there are no variants (templates.code); (hidden) when it names '
  'no template (the column takes any text).';
comment on column analytics.campaigns.audience_filter is
  'Who it targets, as JSON: product_line, stage, city, language, preferred_channel, expiry_from / '
  'expiry_to (IST dates of due_date), premium_min / premium_max (paise). Empty: every open case. '
  'city is always an array here; a city that does not read as a place name in Latin letters (as '
  'in customers.city) shows as (hidden), and so does any value that is not of its key''s type (a '
  'product line, stage or channel that does not exist, a language that is not a code such as en '
  'or hi-IN, a date that is not YYYY-MM-DD, a premium that is not a number). Other keys are left '
  'out: the key (hidden) then says how many.';

create or replace view analytics.campaign_variants with (security_invoker = false) as
select v.id as variant_id, v.campaign_id, v.code,
       case when exists (select 1 from public.templates t where t.code = v.template_code)
            then v.template_code else '(hidden)' end as template_code,
       v.weight, v.created_at
  from public.campaign_variants v;

comment on column analytics.campaign_variants.template_code is
  'The template it sends (templates.code); (hidden) when it names no template.';

create or replace view analytics.campaign_steps with (security_invoker = false) as
select s.id as step_id, s.campaign_id, s.position, s.channel,
       case when exists (select 1 from public.templates t where t.code = s.template_code)
            then s.template_code else '(hidden)' end as template_code,
       s.wait, s.condition, s.created_at
  from public.campaign_steps s;

comment on column analytics.campaign_steps.template_code is
  'Template of this step (templates.code); (hidden) when it names no template.';
