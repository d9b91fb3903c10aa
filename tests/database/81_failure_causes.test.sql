-- private.failure_cause (issue 11): whose doing a failure was, for the codes of each vendor in
-- VENDORS.md (Twilio, WhatsApp Cloud, SES, SNS, SendGrid), our own dispatcher's codes, the gate's
-- reasons and the dead letters; nothing for messages that did not fail. And the latency helpers:
-- bucket bounds, quantiles, refusals. Both helpers stay inlinable (no settings of their own).
begin;
select plan(14);

create temporary table cases_expected on commit drop as
select status::public.message_status as status, code, blocked, dead, cause
  from (values
    -- Twilio
    ('failed', '21211', null, null, 'customer'),         -- invalid To
    ('failed', '21610', null, null, 'customer'),         -- STOP
    ('undeliverable', '30005', null, null, 'customer'),  -- unknown handset
    ('undeliverable', '30007', null, null, 'regulation'), -- carrier filtering (DLT scrubbing)
    ('dead', '20429', null, 'retries_exhausted', 'provider'), -- REST concurrency
    ('failed', '30008', null, null, 'provider'),         -- unknown delivery error
    ('failed', '21608', null, null, 'us'),               -- unverified To (account setup)
    ('failed', '20003', null, null, 'us'),               -- authentication
    -- WhatsApp Cloud
    ('undeliverable', '131026', null, null, 'customer'), -- not on WhatsApp
    ('failed', '131047', null, null, 'regulation'),      -- 24-hour window
    ('failed', '131049', null, null, 'regulation'),      -- marketing cap
    ('failed', '130429', null, null, 'provider'),        -- throughput
    ('failed', '131056', null, null, 'provider'),        -- pair rate limit
    ('failed', '132000', null, null, 'us'),              -- template parameter count
    ('failed', '132001', null, null, 'us'),              -- template not approved
    ('failed', '190', null, null, 'us'),                 -- token expired
    -- SES
    ('undeliverable', 'Bounce.Permanent', null, null, 'customer'),
    ('undeliverable', 'Bounce.Permanent.General', null, null, 'customer'),
    ('failed', 'Complaint', null, null, 'customer'),
    ('dead', 'Throttling', null, 'retries_exhausted', 'provider'),
    ('failed', 'MessageRejected', null, null, 'us'),
    ('failed', 'MailFromDomainNotVerifiedException', null, null, 'us'),
    -- SNS
    ('failed', 'OptedOut', null, null, 'customer'),
    ('failed', 'ThrottlingException', null, null, 'provider'),
    ('failed', 'AuthorizationError', null, null, 'us'),
    -- SendGrid
    ('undeliverable', 'event.bounce', null, null, 'customer'),
    ('undeliverable', '5.1.1', null, null, 'customer'),  -- SMTP status of a bounce
    ('failed', '429', null, null, 'provider'),
    ('failed', '401', null, null, 'us'),
    ('failed', '413', null, null, 'us'),
    -- Our dispatcher's own codes
    ('failed', 'timeout', null, null, 'provider'),
    ('dead', 'network', null, 'retries_exhausted', 'provider'),
    ('failed', 'http_503', null, null, 'provider'),
    ('failed', 'http_429', null, null, 'provider'),
    ('failed', 'http_404', null, null, 'us'),
    ('failed', 'not_configured', null, null, 'us'),
    ('failed', 'invalid_message', null, null, 'us'),
    -- Codes no list knows, and none
    ('undeliverable', 'SomethingNew', null, null, 'customer'),
    ('failed', 'SomethingNew', null, null, 'provider'),
    ('failed', null, null, null, 'provider'),
    ('undeliverable', null, null, null, 'customer'),
    -- The gate's reasons
    ('blocked', null, 'no_consent', null, 'customer'),
    ('blocked', null, 'consent_withdrawn', null, 'customer'),
    ('blocked', null, 'suppressed', null, 'customer'),
    ('blocked', null, 'no_address', null, 'customer'),
    ('blocked', null, 'dnd', null, 'regulation'),
    ('blocked', null, 'whatsapp_window_closed', null, 'regulation'),
    ('blocked', null, 'sms_needs_dlt_template', null, 'us'),
    ('blocked', null, 'template_not_approved', null, 'us'),
    ('blocked', null, 'channel_disabled', null, 'us'),
    ('blocked', null, 'frequency_cap', null, 'us'),
    -- Dead letters and cancellations
    ('dead', null, null, 'stalled', 'us'),
    ('dead', null, null, 'retries_exhausted', 'provider'),
    ('cancelled', null, null, null, 'customer')
  ) as v (status, code, blocked, dead, cause);

select is_empty(
  $$select status, code, blocked, dead, cause,
           private.failure_cause(status, code, blocked, dead) as got
      from cases_expected
     where private.failure_cause(status, code, blocked, dead) is distinct from cause$$,
  'each vendor''s codes, our codes, the gate''s reasons and dead letters have their cause'
);
select is((select count(*) from cases_expected), 54::bigint, 'fifty-four cases checked');
select is(
  array(select s::text from unnest(enum_range(null::public.message_status)) s
         where private.failure_cause(s, '21211', null, null) is not null order by 1),
  array['blocked', 'cancelled', 'dead', 'failed', 'undeliverable'],
  'only failed, undeliverable, dead, blocked and cancelled messages have a cause, whatever their code'
);
select is(private.failure_cause('delivered', 'timeout', null, null), null,
          'a message delivered after a retried timeout did not fail');
select is(private.failure_cause(null, '21211', null, null), null, 'no status, no cause');
select is(private.failure_cause('blocked', 'timeout', 'dnd', null), 'regulation',
          'a blocked message is judged by the gate''s reason, not an earlier code');

-- The latency helpers.
select is(array(select analytics.latency_bucket(s)
                  from unnest(array[-3, 0, 0.999, 1, 1.09, 1.091, 2, 60, 1e15,
                                    null]::float8[]) s),
          array[0, 0, 0, 1, 1, 2, 9, 48, 255, null]::smallint[],
          'latency buckets: under a second, 2^((b-1)/8) .. 2^(b/8) seconds, capped at 255');
select ok(power(2::float8, (analytics.latency_bucket(s) - 1) / 8.0) <= s
          and s < power(2::float8, analytics.latency_bucket(s) / 8.0),
          format('%s s lies within its bucket''s bounds', s))
  from unnest(array[1.5, 37.25, 3600.0]::float8[]) s;
select is(analytics.latency_quantiles(array[0, 9]::smallint[], array[10, 10]::bigint[],
                                      array[0, 1]),
          array[0.05, power(2::float8, 8.0 / 8) + (power(2::float8, 9.0 / 8) - 2) * 9.5 / 10],
          'the lowest and highest messages sit inside their buckets, spread evenly');
select is(analytics.latency_quantiles(array[]::smallint[], array[]::bigint[], array[0.5]), null,
          'an empty histogram has no quantiles');
select throws_ok($$select analytics.latency_quantiles(array[1]::smallint[], array[1]::bigint[],
                                                       array[1.5])$$,
                 '22023', 'each quantile is between 0 and 1', 'a quantile above 1 is refused');
select is((select proconfig from pg_catalog.pg_proc
            where oid = 'private.failure_cause(public.message_status, text, text, text)'::regprocedure)
          || (select proconfig from pg_catalog.pg_proc
               where oid = 'analytics.latency_bucket(float8)'::regprocedure),
          null, 'failure_cause and latency_bucket have no settings of their own, so they inline');

select * from finish();
rollback;
