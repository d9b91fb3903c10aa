-- Scheduled operations reports (issue 11): the table pg_cron's daily, weekly and monthly reports
-- are written into, and how a report's figures become the HTML emailed to admins and the CSV the
-- API serves. The figures themselves (read from the analytics facts) and the schedule follow in
-- the next migration.
--
-- One layout per kind (private.report_sections) names each section of the figures, its title and
-- its columns with their formats; the HTML, the text part of the email and the CSV are all drawn
-- from it, so the three never disagree. Every value that comes from data is escaped where it is
-- written: HTML-escaped in the HTML (private.html_escape), quoted and guarded against spreadsheet
-- formulas in the CSV (private.csv_field).

create table public.reports (
  id uuid primary key default gen_random_uuid(),
  kind text not null check (kind in ('daily', 'weekly', 'monthly')),
  period_start date not null,
  period_end date not null,
  as_of timestamptz not null,
  generated_at timestamptz not null default now(),
  figures jsonb not null check (jsonb_typeof(figures) = 'object'),
  html text not null,
  csv text not null,
  unique (kind, period_start),
  check (period_end >= period_start)
);

comment on table public.reports is
  'The scheduled operations reports: daily (yesterday''s health, errors, quota and cost), weekly '
  '(Monday to Sunday, each figure against the week before) and monthly (the cost report against '
  'the budget, and each vendor''s SLA review). Written by pg_cron through '
  'private.generate_report, one row per kind and period (a re-run replaces the figures in '
  'place); emailed to the admins as HTML and served as CSV by GET /api/reports/{id}/csv. Admins '
  'read; nobody writes through the API.';
comment on column public.reports.kind is
  'daily (one IST day), weekly (Monday to Sunday) or monthly (a calendar month).';
comment on column public.reports.period_start is 'First business day the report covers (IST date).';
comment on column public.reports.period_end is 'Last business day the report covers, inclusive (IST date).';
comment on column public.reports.as_of is
  'The clock the report was generated for (the scheduled run''s time, or a test''s moved clock): '
  'the period is the last complete one before it.';
comment on column public.reports.generated_at is 'When the row was last (re)generated, real time.';
comment on column public.reports.figures is
  'The numbers, structured by section (messages, providers, channels, failures, quota, costs, '
  'renewals, alerts, alert_list, trends): counts are integers, money is paise (message costs '
  'exact decimals that may hold fractions of a paisa), rates are fractions between 0 and 1 '
  'rounded to 4 places, latencies are seconds; null where nothing was measured.';
comment on column public.reports.html is 'The report as the HTML email the admins received.';
comment on column public.reports.csv is
  'The figures as RFC 4180 CSV, one figure a line: section,item,measure,value (CRLF line ends).';

alter table public.reports enable row level security;
revoke all on public.reports from public, anon, authenticated, service_role;
grant select on public.reports to authenticated, service_role;

create policy reports_select_admin on public.reports
  for select to authenticated
  using ((select private.is_admin()));

-- Text made safe inside HTML: the five characters that can end an element, attribute or entity.
create function private.html_escape(value text) returns text
language sql
immutable
set search_path = ''
as $$
  select replace(replace(replace(replace(replace(
           value, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;')
$$;

comment on function private.html_escape(text) is
  'Escapes text for HTML element content and quoted attributes: & < > " and '' become entities '
  '(& first, so nothing is escaped twice). Null stays null.';

-- One CSV field (RFC 4180) that a spreadsheet will not run as a formula (OWASP's CSV injection
-- advice): text that starts with =, +, -, @, a tab or a carriage return gets a leading
-- apostrophe; a field holding a comma, a double quote, a carriage return or a line feed is quoted,
-- its quotes doubled. JSON numbers are numbers and go as they are (a negative change is -12, not
-- '-12); null is an empty field.
create function private.csv_field(value jsonb) returns text
language sql
immutable
set search_path = ''
as $$
  with plain as (
    select case
             when value is null or jsonb_typeof(value) = 'null' then ''
             when jsonb_typeof(value) = 'string' then
               case when (value #>> '{}') ~ '^[=+@\t\r-]' then '''' else '' end || (value #>> '{}')
             else value::text
           end as text
  )
  select case when plain.text ~ '[",\r\n]'
              then '"' || replace(plain.text, '"', '""') || '"'
              else plain.text end
    from plain
$$;

comment on function private.csv_field(jsonb) is
  'One RFC 4180 CSV field of a JSON value: strings starting with =, +, -, @, tab or CR are '
  'prefixed with an apostrophe so spreadsheets do not run them as formulas; fields holding a '
  'comma, quote, CR or LF are quoted with their quotes doubled; numbers and booleans as they '
  'are; null empty.';

-- The layout of each kind of report: its sections in order, each either a list of fields (an
-- object in the figures) or a table with columns (an array of objects). A column or field is
-- [key, label, format]; formats: label (text naming the row; the CSV's item), text, count,
-- paise, rate (a fraction shown as a percentage), seconds, datetime (UTC ISO 8601 in the
-- figures, IST in the email), unit (the format the row's own `unit` names) and hidden (in the
-- CSV only).
create function private.report_sections(kind text) returns jsonb
language sql
immutable
set search_path = ''
as $$
  with parts (key, section) as (
    values
    ('messages', jsonb_build_object('key', 'messages', 'title', 'Messages', 'fields', jsonb '[
       ["messages", "Queued", "count"],
       ["sent", "Handed to a vendor and accepted", "count"],
       ["delivered", "Delivered", "count"],
       ["read", "Read", "count"],
       ["failed", "Failed (failed, undeliverable, dead)", "count"],
       ["blocked", "Blocked by the gate", "count"],
       ["cancelled", "Cancelled", "count"],
       ["delivery_rate", "Delivery rate (delivered / sent)", "rate"],
       ["error_rate", "Error rate (failed / handed to a vendor)", "rate"],
       ["p95_delivered_seconds", "p95 queue to delivered", "seconds"],
       ["cost_paise", "Cost", "paise"],
       ["renewals", "Renewals after a message (last touch)", "count"],
       ["cost_per_renewal_paise", "Message cost per renewal", "paise"]]')),
    ('providers', jsonb_build_object('key', 'providers', 'title', 'Vendor health', 'columns', jsonb '[
       ["provider", "Vendor", "label"],
       ["messages", "Messages", "count"],
       ["sent", "Sent", "count"],
       ["delivered", "Delivered", "count"],
       ["failed", "Failed", "count"],
       ["delivery_rate", "Delivery rate", "rate"],
       ["error_rate", "Error rate", "rate"],
       ["p95_sent_seconds", "p95 to sent", "seconds"],
       ["p95_delivered_seconds", "p95 to delivered", "seconds"],
       ["breaker_open_seconds", "Breaker not closed", "seconds"],
       ["cost_paise", "Cost", "paise"]]')),
    ('channels', jsonb_build_object('key', 'channels', 'title', 'Channels and vendors', 'columns', jsonb '[
       ["channel", "Channel", "label"],
       ["provider", "Vendor", "label"],
       ["messages", "Messages", "count"],
       ["sent", "Sent", "count"],
       ["delivered", "Delivered", "count"],
       ["failed", "Failed", "count"],
       ["delivery_rate", "Delivery rate", "rate"],
       ["p95_delivered_seconds", "p95 to delivered", "seconds"],
       ["cost_paise", "Cost", "paise"],
       ["cost_per_delivered_paise", "Cost per delivered", "paise"]]')),
    ('failures', jsonb_build_object('key', 'failures', 'title', 'Failures by cause', 'columns', jsonb '[
       ["cause", "Cause", "label"],
       ["messages", "Messages", "count"],
       ["share", "Share of failures", "rate"]]')),
    ('quota', jsonb_build_object('key', 'quota', 'title', 'Daily quota used', 'columns', jsonb '[
       ["provider", "Vendor", "label"],
       ["daily_quota", "Daily quota", "count"],
       ["used", "Used", "count"],
       ["used_ratio", "Used of quota", "rate"]]')),
    ('costs', jsonb_build_object('key', 'costs', 'title', 'Cost against the monthly budget', 'columns', jsonb '[
       ["provider", "Vendor", "label"],
       ["cost_paise", "Cost in the period", "paise"],
       ["month_to_date_paise", "Month to date", "paise"],
       ["budget_paise", "Monthly budget", "paise"],
       ["budget_used_ratio", "Budget used", "rate"],
       ["cost_per_delivered_paise", "Cost per delivered", "paise"]]')),
    ('renewals', jsonb_build_object('key', 'renewals', 'title', 'Renewals and premium', 'fields', jsonb '[
       ["cases_due", "Cases due in the period", "count"],
       ["renewed", "Of which renewed", "count"],
       ["renewal_rate", "Renewal rate (renewed / due)", "rate"],
       ["premium_due_paise", "Premium due (installments)", "paise"],
       ["premium_collected_paise", "Premium collected", "paise"],
       ["payments_captured", "Payments captured", "count"],
       ["tasks_due", "Tasks due", "count"],
       ["sla_breaches", "Task SLA breaches", "count"]]')),
    ('alerts', jsonb_build_object('key', 'alerts', 'title', 'Alerts', 'fields', jsonb '[
       ["raised", "Raised", "count"],
       ["resolved", "Resolved", "count"],
       ["open_at_end", "Open at the end of the period", "count"]]')),
    ('alert_list', jsonb_build_object('key', 'alert_list', 'title', 'Alerts raised in the period', 'columns', jsonb '[
       ["rule", "Rule", "label"],
       ["subject", "Subject", "label"],
       ["status", "Status now", "text"],
       ["raised_at", "Raised", "datetime"],
       ["resolved_at", "Resolved", "datetime"]]')),
    ('trends', jsonb_build_object('key', 'trends', 'title', 'This week against the week before', 'columns', jsonb '[
       ["measure", "Measure", "label"],
       ["unit", "Unit", "hidden"],
       ["this_period", "This week", "unit"],
       ["previous_period", "Week before", "unit"],
       ["change", "Change", "unit"],
       ["change_ratio", "Change (relative)", "rate"]]'))
  ),
  orders (kind, key, ord, title) as (
    values
    ('daily', 'messages', 1, null), ('daily', 'providers', 2, null),
    ('daily', 'failures', 3, null), ('daily', 'quota', 4, null),
    ('daily', 'costs', 5, null), ('daily', 'channels', 6, null),
    ('daily', 'renewals', 7, null), ('daily', 'alerts', 8, null),
    ('daily', 'alert_list', 9, null),
    ('weekly', 'trends', 1, null), ('weekly', 'messages', 2, null),
    ('weekly', 'providers', 3, null), ('weekly', 'channels', 4, null),
    ('weekly', 'failures', 5, null), ('weekly', 'renewals', 6, null),
    ('weekly', 'alerts', 7, null), ('weekly', 'alert_list', 8, null),
    ('monthly', 'costs', 1, 'Cost report: the month against the budget'),
    ('monthly', 'channels', 2, 'Cost by channel and vendor'),
    ('monthly', 'providers', 3, 'Vendor SLA review'),
    ('monthly', 'messages', 4, null), ('monthly', 'failures', 5, null),
    ('monthly', 'renewals', 6, null), ('monthly', 'alerts', 7, null),
    ('monthly', 'alert_list', 8, null)
  )
  select jsonb_agg(case when o.title is null then p.section
                        else p.section || jsonb_build_object('title', o.title) end
                   order by o.ord)
    from orders o join parts p using (key)
   where o.kind = report_sections.kind
$$;

comment on function private.report_sections(text) is
  'The layout of a report of this kind (daily, weekly, monthly): its sections in order, each '
  '{key, title, fields} (an object of the figures) or {key, title, columns} (an array of '
  'objects), a field or column being [key, label, format]. The HTML, the email''s text and the '
  'CSV are drawn from it. Null for an unknown kind.';

-- One value as a person reads it: money in rupees, rates in per cent, times in IST.
create function private.report_value_text(value jsonb, format text) returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  tz text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
begin
  if value is null or jsonb_typeof(value) = 'null' then
    return '–';
  end if;
  if jsonb_typeof(value) = 'number' then
    return case format
      when 'count' then to_char((value #>> '{}')::numeric, 'FM99,99,99,99,99,99,990')
      when 'paise' then private.format_inr(round((value #>> '{}')::numeric)::bigint)
      when 'rate' then to_char((value #>> '{}')::numeric * 100, 'FM999,990.00') || ' %'
      when 'seconds' then to_char((value #>> '{}')::numeric, 'FM999,999,990.0') || ' s'
      else value #>> '{}'
    end;
  end if;
  if format = 'datetime' and jsonb_typeof(value) = 'string' then
    return to_char((value #>> '{}')::timestamptz at time zone tz, 'DD Mon YYYY HH24:MI') || ' IST';
  end if;
  return value #>> '{}';
end;
$$;

comment on function private.report_value_text(jsonb, text) is
  'A figure as a person reads it in the email, by its layout format: count (Indian digit '
  'grouping), paise (rupees, private.format_inr, rounded to the paisa), rate (per cent, 2 places), '
  'seconds (1 place), datetime (BUSINESS_TIME_ZONE); an en dash for null. Not escaped: the '
  'renderers escape it.';

-- The title of a report, from its kind and period.
create function private.report_title(kind text, period_start date, period_end date) returns text
language sql
immutable
set search_path = ''
as $$
  select case kind
    when 'daily' then 'Daily operations report, ' || to_char(period_start, 'FMDay DD Mon YYYY')
    when 'weekly' then 'Weekly operations report, ' || to_char(period_start, 'DD Mon')
                       || ' to ' || to_char(period_end, 'DD Mon YYYY')
    when 'monthly' then 'Monthly cost and vendor SLA report, ' || to_char(period_start, 'FMMonth YYYY')
  end
$$;

comment on function private.report_title(text, date, date) is
  'The title of a report (the email''s subject after "Py360: "): its kind and its IST period.';

-- The HTML email: one table per section, inline styles only (mail clients drop style sheets).
create function private.render_report_html(kind text, figures jsonb, report_id uuid) returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  title text := private.report_title(kind, (figures ->> 'period_start')::date,
                                     (figures ->> 'period_end')::date);
  cell constant text := 'padding:4px 8px;border:1px solid #ccc;text-align:';
  body text;
begin
  select string_agg(
           '<h2 style="font-size:16px;margin:20px 0 6px">'
           || private.html_escape(s.section ->> 'title') || '</h2>'
           || case
                when s.section ? 'fields' then
                  '<table style="border-collapse:collapse">'
                  || (select string_agg(
                               '<tr><th scope="row" style="' || cell || 'left;font-weight:normal">'
                               || private.html_escape(f.field ->> 1) || '</th><td style="' || cell
                               || 'right">'
                               || private.html_escape(private.report_value_text(
                                    figures -> (s.section ->> 'key') -> (f.field ->> 0),
                                    f.field ->> 2))
                               || '</td></tr>', '' order by f.ord)
                        from jsonb_array_elements(s.section -> 'fields') with ordinality f (field, ord))
                  || '</table>'
                when coalesce(jsonb_array_length(figures -> (s.section ->> 'key')), 0) = 0 then
                  '<p>None.</p>'
                else
                  '<table style="border-collapse:collapse"><thead><tr>'
                  || (select string_agg('<th scope="col" style="' || cell || 'left">'
                                        || private.html_escape(c.col ->> 1) || '</th>', '' order by c.ord)
                        from jsonb_array_elements(s.section -> 'columns') with ordinality c (col, ord)
                       where c.col ->> 2 <> 'hidden')
                  || '</tr></thead><tbody>'
                  || (select string_agg(
                               '<tr>' || (select string_agg(
                                  '<td style="' || cell
                                  || case when c.col ->> 2 in ('label', 'text', 'datetime')
                                          then 'left' else 'right' end || '">'
                                  || private.html_escape(private.report_value_text(
                                       r.row -> (c.col ->> 0),
                                       case when c.col ->> 2 = 'unit' then r.row ->> 'unit'
                                            else c.col ->> 2 end))
                                  || '</td>', '' order by c.ord)
                                from jsonb_array_elements(s.section -> 'columns')
                                     with ordinality c (col, ord)
                               where c.col ->> 2 <> 'hidden') || '</tr>', '' order by r.ord)
                        from jsonb_array_elements(figures -> (s.section ->> 'key'))
                             with ordinality r (row, ord))
                  || '</tbody></table>'
              end, '' order by s.ord)
    into body
    from jsonb_array_elements(private.report_sections(kind)) with ordinality s (section, ord);

  return '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>'
         || private.html_escape(title) || '</title></head>'
         || '<body style="font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#222">'
         || '<h1 style="font-size:20px">' || private.html_escape(title) || '</h1>'
         || '<p>Period ' || private.html_escape(figures ->> 'period_start') || ' to '
         || private.html_escape(figures ->> 'period_end') || ' (IST). Facts as of '
         || private.html_escape(private.report_value_text(figures -> 'facts_as_of', 'datetime'))
         || '.</p>'
         || coalesce(body, '')
         || '<p style="color:#666;font-size:12px">Py360 Renewal. The same figures as CSV: '
         || 'GET /api/reports/' || private.html_escape(report_id::text) || '/csv.</p>'
         || '</body></html>';
end;
$$;

comment on function private.render_report_html(text, jsonb, uuid) is
  'The report as an HTML email document: a title, the period, then one table per section of '
  'private.report_sections(kind), values formatted by private.report_value_text, and where to '
  'download the CSV of report_id. Every value, label and title is HTML-escaped '
  '(private.html_escape).';

-- The text part of the email: the same sections as plain lines.
create function private.render_report_text(kind text, figures jsonb) returns text
language sql
stable
set search_path = ''
as $$
  select private.report_title(kind, (figures ->> 'period_start')::date, (figures ->> 'period_end')::date)
         || E'\n' || 'Period ' || (figures ->> 'period_start') || ' to ' || (figures ->> 'period_end')
         || E' (IST).\n'
         || coalesce(string_agg(
              E'\n' || (s.section ->> 'title') || E'\n'
              || case
                   when s.section ? 'fields' then
                     (select string_agg('  ' || (f.field ->> 1) || ': '
                                        || private.report_value_text(
                                             figures -> (s.section ->> 'key') -> (f.field ->> 0),
                                             f.field ->> 2) || E'\n', '' order by f.ord)
                        from jsonb_array_elements(s.section -> 'fields') with ordinality f (field, ord))
                   when coalesce(jsonb_array_length(figures -> (s.section ->> 'key')), 0) = 0 then
                     E'  None.\n'
                   else
                     (select string_agg('  ' || (select string_agg(
                                 (c.col ->> 1) || ' ' || private.report_value_text(
                                   r.row -> (c.col ->> 0),
                                   case when c.col ->> 2 = 'unit' then r.row ->> 'unit'
                                        else c.col ->> 2 end), ', ' order by c.ord)
                                from jsonb_array_elements(s.section -> 'columns')
                                     with ordinality c (col, ord)
                               where c.col ->> 2 <> 'hidden') || E'\n', '' order by r.ord)
                        from jsonb_array_elements(figures -> (s.section ->> 'key'))
                             with ordinality r (row, ord))
                 end, '' order by s.ord), '')
    from jsonb_array_elements(private.report_sections(kind)) with ordinality s (section, ord)
$$;

comment on function private.render_report_text(text, jsonb) is
  'The report as plain text (the email''s text part): the title, the period, each section of '
  'private.report_sections(kind) as "label: value" lines or one line per row.';

-- The CSV: a line per figure, so every figure of every section fits one rectangular table.
create function private.render_report_csv(kind text, figures jsonb) returns text
language sql
stable
set search_path = ''
as $$
  with header (ord, line) as (
    select 0, 'section,item,measure,value'
  ),
  about (ord, c_ord, measure, value) as (
    select 1, m.n, m.measure, figures -> m.measure
      from unnest(array['kind', 'period_start', 'period_end', 'as_of', 'facts_as_of'])
           with ordinality m (measure, n)
  ),
  figure_lines (ord, s_ord, r_ord, c_ord, section, item, measure, value) as (
    -- Fields of an object section: no item.
    select 2, s.ord, 0::bigint, f.ord, s.section ->> 'key', '', f.field ->> 0,
           figures -> (s.section ->> 'key') -> (f.field ->> 0)
      from jsonb_array_elements(private.report_sections(kind)) with ordinality s (section, ord)
      cross join lateral jsonb_array_elements(s.section -> 'fields') with ordinality f (field, ord)
    union all
    -- Rows of a table section: the item is the row's labels joined by " / " (none for null).
    select 2, s.ord, r.ord, c.ord, s.section ->> 'key',
           (select string_agg(coalesce(r.row ->> (l.col ->> 0), 'none'), ' / ' order by l.ord)
              from jsonb_array_elements(s.section -> 'columns') with ordinality l (col, ord)
             where l.col ->> 2 = 'label'),
           c.col ->> 0, r.row -> (c.col ->> 0)
      from jsonb_array_elements(private.report_sections(kind)) with ordinality s (section, ord)
      cross join lateral jsonb_array_elements(
        case when jsonb_typeof(figures -> (s.section ->> 'key')) = 'array'
             then figures -> (s.section ->> 'key') else '[]' end) with ordinality r (row, ord)
      cross join lateral jsonb_array_elements(s.section -> 'columns') with ordinality c (col, ord)
     where s.section ? 'columns' and c.col ->> 2 <> 'label'
  )
  select string_agg(line, E'\r\n' order by ord, s_ord, r_ord, c_ord) || E'\r\n'
    from (
      select h.ord, 0::bigint as s_ord, 0::bigint as r_ord, 0::bigint as c_ord, h.line
        from header h
      union all
      select a.ord, 0, 0, a.c_ord, 'report,,' || private.csv_field(to_jsonb(a.measure)) || ','
                             || private.csv_field(a.value)
        from about a
      union all
      select l.ord, l.s_ord, l.r_ord, l.c_ord,
             private.csv_field(to_jsonb(l.section)) || ',' || private.csv_field(to_jsonb(l.item))
             || ',' || private.csv_field(to_jsonb(l.measure)) || ',' || private.csv_field(l.value)
        from figure_lines l
    ) lines
$$;

comment on function private.render_report_csv(text, jsonb) is
  'The report as RFC 4180 CSV with CRLF line ends: the header section,item,measure,value; the '
  'report''s kind, period, as_of and facts_as_of (section report); then every figure of '
  'private.report_sections(kind) in order, tables'' rows named by their labels joined with " / " '
  '(item; a null label reads none). Every field through private.csv_field (quoting, formula guard).';

revoke execute on function private.html_escape(text), private.csv_field(jsonb),
  private.report_sections(text), private.report_value_text(jsonb, text),
  private.report_title(text, date, date), private.render_report_html(text, jsonb, uuid),
  private.render_report_text(text, jsonb), private.render_report_csv(text, jsonb) from public;
