-- analytics.campaigns showed a campaign's audience filter as the desk typed it, and its `city`
-- takes any text (up to 100 characters a value): a phone number or an email address typed there
-- reached analysts (tests/database/82_analyst_role plants one). Each city of the filter now
-- follows the rule of analytics.customers.city: kept when it reads as a place name in Latin
-- letters, else shown as '(hidden)'; the other keys are codes, dates and amounts, kept as they are.
create or replace view analytics.campaigns with (security_invoker = false) as
select c.id as campaign_id, c.created_by as creator_id, c.scope_node_id, c.channel, c.purpose,
       c.template_code,
       case when c.audience_filter ? 'city' then
         c.audience_filter || jsonb_build_object('city', (
           select coalesce(jsonb_agg(
                    case when e.city ~ '^[[:space:]]*[A-Za-z][A-Za-z .''()-]*$'
                          and length(btrim(e.city)) <= 40
                         then regexp_replace(btrim(e.city), '[[:space:]]+', ' ', 'g')
                         else '(hidden)' end
                    order by e.ord), '[]'::jsonb)
             from jsonb_array_elements_text(
                    case jsonb_typeof(c.audience_filter -> 'city')
                      when 'array' then c.audience_filter -> 'city'
                      else jsonb_build_array(c.audience_filter -> 'city') end)
                  with ordinality as e (city, ord)))
       else c.audience_filter end as audience_filter,
       c.start_at, c.spread_rate_per_hour,
       c.spread_window_start, c.spread_window_end, c.status, c.launched_at, c.paused_at,
       c.cancelled_at, c.completed_at, c.created_at, c.updated_at
  from public.campaigns c;

comment on column analytics.campaigns.audience_filter is
  'Who it targets, as JSON: product_line, stage, city, language, preferred_channel, expiry_from / '
  'expiry_to (IST dates of due_date), premium_min / premium_max (paise). Empty: every open case. '
  'city is always an array here; a city that does not read as a place name in Latin letters (as '
  'in customers.city) shows as (hidden).';
