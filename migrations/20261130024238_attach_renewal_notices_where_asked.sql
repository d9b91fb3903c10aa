-- The quote emails keep their words (a correction of 20261130023203). That migration ended the
-- case_quoted emails with "Your renewal notice: {{document_link}}", but the AI drafts (issue 10)
-- fill the case_quoted template with a case's values to offer it as a draft, and a notice's
-- link cannot be among them: its token is drawn for one message and only its hash is kept. The
-- drafts for a ready quote then failed their lint ("variables left unfilled: document_link").
-- So the seeded emails are as before (where nobody edited them since), and a quote's message
-- carries the renewal notice only when its template asks for it: a WhatsApp template with a
-- document header (the notice as the header), or a text with {{document_link}} (an admin may
-- add it, knowing the drafts of that template will then need the link written in by hand).
-- The link is still made for every new quote message, so such a template is filled.

create or replace function private.tg_renewal_cases__enqueue_messages() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  as_of timestamptz := private.job_clock();
  changed uuid[];
  requests jsonb;
  request jsonb;
  notice record;
  notices jsonb := '{}';
  base text := rtrim(coalesce(private.setting('LINK_BASE_URL') #>> '{}',
                              'http://127.0.0.1:54321/functions/v1/go'), '/');
begin
  -- Planned on every run (execute): the transition tables' sizes differ from run to run.
  execute $q$
    select coalesce(array_agg(n.id order by n.id), '{}')
      from new_rows n
      join old_rows o on o.id = n.id
     where n.stage is distinct from o.stage
       and n.stage in ('quoted', 'lapsed', 'renewed')
       -- Renewed by a payment credited in this transaction: its receipt is the confirmation.
       and not (n.stage = 'renewed' and exists (
             select 1 from public.payment_allocations a
              where a.case_id = n.id and a.amount > 0 and a.refund_id is null
                and a.created_at = now()))$q$
    into changed;
  if cardinality(changed) > 0 then
    begin
      requests := (select jsonb_agg(r) from private.case_event_requests(changed, as_of) r);
      -- A quote's new message carries the case's renewal notice and its link.
      for i in 0 .. coalesce(jsonb_array_length(requests), 0) - 1 loop
        request := requests -> i;
        if request ->> 'template_code' = 'case_quoted'
           and not exists (select 1 from public.messages m
                            where m.idempotency_key = request ->> 'idempotency_key') then
          begin
            select g.id, g.link_token into notice
              from private.register_generated_document('renewal_notice', (request ->> 'case_id')::uuid) g;
            requests := jsonb_set(requests, array[i::text, 'variables', 'document_link'],
                                  to_jsonb(base || '/d/' || notice.link_token));
            notices := notices || jsonb_build_object(request ->> 'idempotency_key', notice.id);
          exception when others then
            raise warning 'the renewal notice of case % was not registered: % (%)',
              request ->> 'case_id', sqlerrm, sqlstate;
          end;
        end if;
      end loop;
      perform private.queue_event_messages(requests, as_of);
      if notices <> '{}' then
        update public.messages m
           set document_id = (notices ->> m.idempotency_key)::uuid
          from public.templates t
         where t.id = m.template_id
           and m.idempotency_key in (select jsonb_object_keys(notices))
           and m.document_id is null
           and (t.whatsapp_header_format = 'document'
                or t.body ~ '\{\{\s*document_link\s*\}\}'
                or coalesce(t.subject, '') ~ '\{\{\s*document_link\s*\}\}');
      end if;
    exception when others then
      raise warning 'the event messages of % cases were not queued: % (%)',
        cardinality(changed), sqlerrm, sqlstate;
    end;
  end if;
  return null;
end;
$$;

comment on function private.tg_renewal_cases__enqueue_messages() is
  'Statement trigger (_900_enqueue_messages, after _850_cancel_queued_reminders): queues the '
  'event message of each case whose stage just became quoted, lapsed or renewed '
  '(private.case_event_requests), in one gate call, at the jobs'' clock (private.job_clock). A '
  'case renewed by a payment credited in the same transaction gets none: the payment''s receipt '
  'confirms it. A new case_quoted message is given {{document_link}} = <LINK_BASE_URL>/d/<token> '
  'of the case''s renewal notice, and carries the notice (messages.document_id) when its template '
  'asks for it: a WhatsApp document header, or {{document_link}} in its text. Security definer: '
  'whoever changes the stage, the customer is told.';

update public.templates t
   set body = left(t.body, length(t.body) - length(' Your renewal notice: {{document_link}}'))
 where t.code = 'case_quoted' and t.channel = 'email' and t.language = 'en'
   and t.body = 'Dear {{customer_name}}, your renewal quote for policy {{policy_number}} with {{insurer}} is ready: '
                'the premium is {{premium}}. Your cover ends on {{expiry_date}}; renew before then to stay '
                'covered without a break. Your agent can take the payment or answer any question (case '
                '{{case_number}}). Your renewal notice: {{document_link}}';
update public.templates t
   set body = left(t.body, length(t.body) - length(' आपका नवीनीकरण नोटिस: {{document_link}}'))
 where t.code = 'case_quoted' and t.channel = 'email' and t.language = 'hi'
   and t.body = 'प्रिय {{customer_name}}, {{insurer}} की पॉलिसी {{policy_number}} के नवीनीकरण का कोटेशन तैयार है: '
                'प्रीमियम {{premium}} है। आपका कवर {{expiry_date}} को समाप्त होता है; बिना रुकावट के कवर के लिए '
                'उससे पहले नवीनीकरण कराएं। भुगतान या किसी भी प्रश्न के लिए अपने एजेंट से संपर्क करें (केस '
                '{{case_number}})। आपका नवीनीकरण नोटिस: {{document_link}}';
