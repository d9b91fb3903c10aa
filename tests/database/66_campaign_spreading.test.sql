-- Off-peak spreading keeps to its window (issue 9 review): sends are laid out in window time from
-- the window's opening, so a campaign launched late in its window goes on the next day rather than
-- past the window's end; a campaign without a window of its own spreads within the hours the gate
-- allows its purpose (outside quiet hours for service), never more than its rate in an hour.
begin;
select plan(6);
select tests.create_test_book();
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the spreading test'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');
update public.app_settings set value = '{"marketing": {"max": 100, "days": 1}, "service": {"max": 100, "days": 1}}'
 where key = 'MESSAGE_FREQUENCY_CAPS';

-- A time of day (IST) a week ahead, `days` later.
create function pg_temp.at(clock time, days integer default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 7 + days) + clock) at time zone 'Asia/Kolkata' $$;
grant execute on function pg_temp.at(time, integer) to authenticated, service_role;

insert into public.templates (code, channel, purpose, subject, body)
values ('spread_email', 'email', 'service', 'Renew {{policy_number}}', 'Pay for {{policy_number}} here.');
-- Nine customers of agent_a with an open case: Spread 1-4 in Windowpur, 5-9 in Eveningpur.
select tests.campaign_customers('Spread', 'Windowpur', 4, policy_prefix => 'T-SPREAD-',
                                phone_prefix => '+91973000000', email_prefix => 'spread');
select tests.campaign_customers('Spread', 'Eveningpur', 5, policy_prefix => 'T-SPREAD-',
                                phone_prefix => '+91973000000', email_prefix => 'spread',
                                first_number => 5);

select tests.authenticate_as('zone_manager');
insert into public.campaigns (name, scope_node_id, channel, purpose, template_code, audience_filter,
                              spread_rate_per_hour, spread_window_start, spread_window_end)
select x.name, n.id, 'email', 'service', 'spread_email', jsonb_build_object('city', x.city), x.rate,
       x.ws, x.we
  from public.hierarchy_nodes n,
       (values ('Windowed', 'Windowpur', 1, time '10:00', time '12:00'),
               ('Evening', 'Eveningpur', 2, null, null)) x (name, city, rate, ws, we)
 where n.code = 'T_ZONE';
-- Launched at moved clocks: the owner's form (managers launch on now()), with the manager's
-- claims.
reset role;
select is((select queued from private.launch_campaign((select id from public.campaigns where name = 'Windowed'),
                                                      pg_temp.at('11:30'))), 4,
          'four queued, launched at 11:30 in a 10:00-12:00 window');
select is((select queued from private.launch_campaign((select id from public.campaigns where name = 'Evening'),
                                                      pg_temp.at('20:00'))), 5,
          'five queued, launched at 20:00 with no window of its own');

create temporary table planned on commit drop as
select c.name, m.next_attempt_at as at, (m.next_attempt_at at time zone 'Asia/Kolkata') as local_at
  from public.messages m join public.campaigns c on c.id = m.campaign_id
 where c.name in ('Windowed', 'Evening');

select is(array(select to_char(local_at, 'DD HH24:MI') from planned where name = 'Windowed' order by at),
          array[to_char(pg_temp.at('11:30') at time zone 'Asia/Kolkata', 'DD HH24:MI'),
                to_char(pg_temp.at('10:30', 1) at time zone 'Asia/Kolkata', 'DD HH24:MI'),
                to_char(pg_temp.at('11:30', 1) at time zone 'Asia/Kolkata', 'DD HH24:MI'),
                to_char(pg_temp.at('10:30', 2) at time zone 'Asia/Kolkata', 'DD HH24:MI')],
          'an hour apart in window time: 11:30, then 10:30 and 11:30 the next day, 10:30 the day after');
select ok((select bool_and(local_at::time >= '10:00' and local_at::time < '12:00') from planned
            where name = 'Windowed'), 'every send inside the 10:00-12:00 window');
select is(array(select to_char(local_at, 'DD HH24:MI') from planned where name = 'Evening' order by at),
          array[to_char(pg_temp.at('20:00') at time zone 'Asia/Kolkata', 'DD HH24:MI'),
                to_char(pg_temp.at('20:30') at time zone 'Asia/Kolkata', 'DD HH24:MI'),
                to_char(pg_temp.at('08:00', 1) at time zone 'Asia/Kolkata', 'DD HH24:MI'),
                to_char(pg_temp.at('08:30', 1) at time zone 'Asia/Kolkata', 'DD HH24:MI'),
                to_char(pg_temp.at('09:00', 1) at time zone 'Asia/Kolkata', 'DD HH24:MI')],
          'without a window: within the hours outside quiet hours (08:00-21:00), two an hour');
select is((select max(n)::integer from (select count(*) as n from planned where name = 'Evening'
                                         group by date_trunc('hour', at)) h), 2,
          'never more than the rate in one hour, quiet hours included');

select * from finish();
rollback;
