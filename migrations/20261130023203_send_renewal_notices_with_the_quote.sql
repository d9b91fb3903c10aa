-- The renewal notice goes out with the quote (issue 12: "renewal notices generated as PDF when a
-- quote is ready, stored, and sent"). The case_quoted event message now carries the case's
-- renewal notice (registered pending by the quote, one a case a day) and its short link:
-- * private.tg_renewal_cases__enqueue_messages, as in 20261129160552_guard_event_message_builders.sql,
--   plus: a case_quoted request not queued before gets {{document_link}} = <LINK_BASE_URL>/d/<token>
--   (private.register_generated_document: a fresh token, only its hash kept), and the message it
--   creates gets messages.document_id, so the dispatcher renders the notice before sending it.
--   A WhatsApp message gets the document only when its template has a document header (a
--   header parameter sent to a template without one is refused by Meta, 132012); email and SMS
--   carry the link in their text. A failure to register the notice is a warning: the quote's
--   message is queued all the same (without the link).
-- * case_quoted email (en, hi): the link at the end, where nobody edited the seeded text.

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
           and (m.channel <> 'whatsapp' or t.whatsapp_header_format = 'document');
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
  'confirms it. A new case_quoted message carries the case''s renewal notice '
  '(messages.document_id; on WhatsApp only with a document-header template) and '
  '{{document_link}} = <LINK_BASE_URL>/d/<token>. Security definer: whoever changes the stage, '
  'the customer is told.';

update public.templates t
   set body = t.body || ' Your renewal notice: {{document_link}}'
 where t.code = 'case_quoted' and t.channel = 'email' and t.language = 'en'
   and t.body = 'Dear {{customer_name}}, your renewal quote for policy {{policy_number}} with {{insurer}} is ready: '
                'the premium is {{premium}}. Your cover ends on {{expiry_date}}; renew before then to stay '
                'covered without a break. Your agent can take the payment or answer any question (case '
                '{{case_number}}).';
update public.templates t
   set body = t.body || ' आपका नवीनीकरण नोटिस: {{document_link}}'
 where t.code = 'case_quoted' and t.channel = 'email' and t.language = 'hi'
   and t.body = 'प्रिय {{customer_name}}, {{insurer}} की पॉलिसी {{policy_number}} के नवीनीकरण का कोटेशन तैयार है: '
                'प्रीमियम {{premium}} है। आपका कवर {{expiry_date}} को समाप्त होता है; बिना रुकावट के कवर के लिए '
                'उससे पहले नवीनीकरण कराएं। भुगतान या किसी भी प्रश्न के लिए अपने एजेंट से संपर्क करें (केस '
                '{{case_number}})।';
