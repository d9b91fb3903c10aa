-- The function-privilege matrix: every function in public and private, and which API roles may
-- execute it (A anon, U authenticated, S service_role). A new function fails this test until it is
-- placed here on purpose. Trigger functions are executed by their triggers, never called.
begin;
select plan(6);

select set_eq(
  $$select format('%s %s%s%s', p.oid::regprocedure,
      case when has_function_privilege('anon', p.oid, 'execute') then 'A' else '-' end,
      case when has_function_privilege('authenticated', p.oid, 'execute') then 'U' else '-' end,
      case when has_function_privilege('service_role', p.oid, 'execute') then 'S' else '-' end)
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname in ('public', 'private')$$,
  array[
    -- What the desk may call (RPC or inside its policies and triggers).
    'case_outstanding(uuid) -US',
    'format_case_number(date,bigint) -US',
    -- Helpers its policies and triggers run as the caller.
    'private.business_date(timestamp with time zone) -US',
    'private.case_stage_is_final(case_stage) -US',
    'private.case_stage_transition_allowed(case_stage,case_stage) -US',
    'private.current_app_role() -US',
    'private.current_node_id() -US',
    'private.current_node_path() -US',
    'private.is_active_agent(uuid) -US',
    'private.is_admin() -US',
    'private.is_api_caller() -US',
    'private.is_desk_member() -US',
    'private.lock_case(uuid) -US',
    'private.job_clock() -US',
    'private.managed_node_ids() -US',
    'private.setting(text) -US',
    'private.visible_agent_ids() -US',
    'private.visible_book_keys() -US',
    -- The desk's name search (security definer; applies the customers select policy's rule).
    'private.search_customers(text,integer) -U-',
    -- The erasure (issue 13): admins as the caller (checked inside), service_role; its helpers.
    'private.erase_customer(uuid,text) -US',
    'private.customer_payment_in_flight(uuid,timestamp with time zone) --S',
    'private.strip_personal_keys(jsonb) ---',
    'private.tg_customers__keep_erased() ---',
    'private.tg_consents__keep_erased_withdrawn() ---',
    'private.is_known_consent_source(text) ---',
    'private.is_safe_notice_version(text) ---',
    'private.tg_customers__erase_consent_text() ---',
    'private.tg_erased_customers__neutral_desk_text() ---',
    'private.tg_messages__block_erased_customers() ---',
    'private.refuse_erased_customer(uuid) ---',
    'private.tg_message_events__forget_erased() ---',
    'private.tg_object_deletions__forget_key() ---',
    'private.razorpay_ids_of_erased_customer(text[]) ---',
    'private.tg_payment_events__forget_erased() ---',
    -- The template lint: run by the template trigger as whoever saves, offered by the API.
    'private.lint_template(templates) -US',
    'private.sms_encoding(text) -US',
    'private.sms_segments(text) -US',
    'private.template_variables() -US',
    -- The gate: producers (service_role, jobs), and the desk through its own door.
    'private.enqueue_messages(jsonb,timestamp with time zone) --S',
    'private.enqueue_message_batch(private.gate_request[],timestamp with time zone) ---',
    -- The desk's door is on the real clock; the form taking as_of is the owner's (tests).
    'private.send_desk_message(jsonb) -U-',
    'private.send_desk_message(jsonb,timestamp with time zone) ---',
    -- Used inside the gate (security definer) only.
    'private.next_allowed_time(timestamp with time zone,time without time zone,time without time zone) ---',
    'private.next_allowed_time(timestamp with time zone,time without time zone,time without time zone,text) ---',
    'private.render_template(text,jsonb) ---',
    'private.template_parts(text) ---',
    'private.template_names(text) ---',
    'private.fill_template(text[],text[],jsonb) ---',
    'private.message_block_reason(uuid,channel_type,consent_purpose,text,uuid,timestamp with time zone) ---',
    'private.message_block_reasons(private.send_question[],timestamp with time zone) ---',
    'private.queue_sms_fallbacks(uuid[],timestamp with time zone) ---',
    -- Event messages: built and queued inside the event triggers (security definer) only.
    'private.case_event_requests(uuid[],timestamp with time zone) ---',
    'private.opt_out_confirmation_requests(uuid[],timestamp with time zone) ---',
    'private.queue_event_messages(jsonb,timestamp with time zone) ---',
    -- The dispatchers: service_role only.
    'private.claim_messages(text,integer,timestamp with time zone) --S',
    'private.lease_messages(text,integer,timestamp with time zone) --S',
    'private.lease_batch(text,integer,timestamp with time zone) --S',
    'private.apply_daily_quotas(private.claimed_message[],timestamp with time zone) --S',
    'private.release_messages(text,uuid[],timestamp with time zone,timestamp with time zone,text) --S',
    'private.record_send_results(text,jsonb,timestamp with time zone) --S',
    'private.take_send_permits(jsonb,timestamp with time zone) --S',
    -- Each provider's daily quota and use (issue 11): the health check and the alerts.
    'private.provider_quota(timestamp with time zone) --S',
    -- Staff notifications (issue 11): the evaluator, the reports and service_role.
    'private.notify_admins(text,text,text,text,text,timestamp with time zone) --S',
    -- Telegram links (issue 12): the desk asks for a deep link for a customer it sees (or an
    -- admin for themselves), on the real clock (the form taking as_of is the owner's: tests);
    -- the webhook records updates; the verify endpoint reads a chat.
    'private.create_telegram_link_token(uuid,uuid) -US',
    'private.create_telegram_link_token(uuid,uuid,timestamp with time zone) ---',
    'private.record_telegram_update(bigint,text,text,jsonb,timestamp with time zone) --S',
    'private.telegram_chat(uuid) --S',
    'private.delete_telegram_link_tokens() --S',
    -- Monitoring (issue 11): the evaluator for service_role and pg_cron; the vendors' health for
    -- admins (it checks) and service_role; the threshold check for the rules' trigger; the rest
    -- only inside them.
    'private.evaluate_alerts(timestamp with time zone) --S',
    'private.vendor_health(timestamp with time zone) -US',
    'private.alert_threshold_problem(text,jsonb) -US',
    'private.provider_health(timestamp with time zone,integer) ---',
    'private.alert_condition(alert_rules,timestamp with time zone) ---',
    'private.tg_alert_rules__check() ---',
    'private.alert_emails(uuid[]) -US',
    -- The webhooks: service_role only; and what only their definer functions use.
    'private.record_message_events(text,jsonb) --S',
    -- The outbox's upkeep: the sweep for service_role and pg_cron; redrive for admins, on the
    -- real clock (the form taking as_of is the owner's: tests).
    'private.flag_unconfirmed_messages(timestamp with time zone) --S',
    'private.redrive_dead_messages(text,text,text) -US',
    'private.redrive_dead_messages(text,text,text,timestamp with time zone) ---',
    'private.is_opt_out_reply(text) ---',
    'private.message_status_rank(message_status) ---',
    -- Payments: what the desk calls (each checks the caller's case or role itself) ...
    'private.open_payment_order(uuid,uuid[],bigint) -U-',
    'private.open_payment_link(uuid,uuid,boolean,bigint) -US',
    'private.open_autopay(uuid) -U-',
    'private.record_checkout_verification(uuid,text,text) -U-',
    'private.request_refund(uuid,bigint,text) -U-',
    'private.request_refund(uuid,bigint,text,text) -U-',
    -- ... what the API, webhook and reconciliation call as service_role ...
    'private.start_razorpay_call(text,uuid,jsonb) --S',
    'private.record_razorpay_call_failed(uuid,integer,jsonb,boolean) --S',
    'private.finish_razorpay_call(uuid,uuid) --S',
    'private.record_order_created(uuid,uuid,jsonb) --S',
    'private.record_payment_link_created(uuid,uuid,jsonb) --S',
    'private.apply_razorpay_payment(jsonb,text,jsonb) --S',
    'private.apply_razorpay_refund(jsonb) --S',
    'private.ingest_razorpay_event(text,jsonb,text) --S',
    'private.claim_payment_reconciliation(integer,timestamp with time zone) --S',
    'private.fail_refund_create(uuid,jsonb) --S',
    'private.record_plan_created(uuid,uuid,jsonb) --S',
    'private.record_subscription_created(uuid,uuid,jsonb) --S',
    'private.apply_razorpay_subscription_payment(jsonb,jsonb,text) --S',
    'private.schedule_autopay_notices(timestamp with time zone) --S',
    'private.open_autopay_fallback_link(uuid) --S',
    'private.queue_payment_link_reminder(uuid,timestamp with time zone) --S',
    -- ... and what only those definer functions use.
    'private.payment_caller_sees_case(uuid) ---',
    'private.setting_interval(text,interval) ---',
    'private.format_money(bigint,text) ---',
    'private.queue_payment_message(payments,text,text) ---',
    'private.payment_status_rank(payment_status) ---',
    'private.payment_flag_reason(payments) ---',
    'private.hold_refund(uuid) ---',
    'private.release_refund(uuid) ---',
    'private.record_autopay_state(uuid,jsonb,text,timestamp with time zone,boolean) ---',
    'private.queue_case_message(uuid,text,text,jsonb,timestamp with time zone) ---',
    'private.require_payments_on() ---',
    -- Called by the book-key triggers (security definer) only.
    'private.refresh_customer_book_keys(uuid[]) ---',
    -- The daily jobs: pg_cron (as the owner) and service_role only.
    'private.advance_lapses(timestamp with time zone) --S',
    'private.branch_agents_by_load() --S',
    'private.expire_ended_terms(timestamp with time zone) --S',
    'private.grace_days(jsonb,product_line,payment_frequency) --S',
    'private.mark_overdue_installments(timestamp with time zone) --S',
    'private.open_renewal_cases(timestamp with time zone) --S',
    'private.reassign_orphaned_cases() --S',
    'private.renew_succeeded_terms(timestamp with time zone) --S',
    'private.run_daily_renewal_jobs(timestamp with time zone) --S',
    'private.run_reminder_cadence(timestamp with time zone) --S',
    'private.score_lapse_risk(timestamp with time zone) --S',
    'private.escalate_overdue_tasks(timestamp with time zone) --S',
    'private.wake_snoozed_tasks(timestamp with time zone) --S',
    'private.advance_campaign_flows(timestamp with time zone) --S',
    -- The analytics facts (issue 11): refreshed by pg_cron (as the owner) or service_role; the
    -- pieces of a refresh and the failure causes run inside those definer functions only.
    'private.refresh_analytics(timestamp with time zone) --S',
    'private.refresh_analytics_nightly(timestamp with time zone) --S',
    'private.rebuild_analytics(date,date) --S',
    'private.refresh_analytics_window(date,date,timestamp with time zone,date,timestamp with time zone) ---',
    'private.analytics_changes(timestamp with time zone,date) ---',
    'private.recount_marked_analytics(timestamp with time zone,date,date,date,date) ---',
    'private.analytics_need_rebuild() ---',
    'private.tg_messages__mark_analytics_days() ---',
    'private.tg_outstanding_amounts__mark_analytics_days() ---',
    'private.tg_payments__mark_analytics_days() ---',
    'private.tg_tasks__mark_analytics_days() ---',
    'private.tg_renewal_cases__mark_analytics_days() ---',
    -- The lapse scoring's kept histories: marked stale by these triggers only.
    'private.tg_policies__mark_risk_history() ---',
    'private.tg_renewal_cases__mark_risk_history() ---',
    'private.tg_outstanding_amounts__mark_risk_history() ---',
    'private.tg__forget_risk_histories() ---',
    -- The cadence's next visits: new and re-dated cases, changed policies.
    'private.tg__visit_cases_again() ---',
    -- The cadence's "replied recently": WhatsApp windows opened are noted as replies.
    'private.tg_whatsapp_windows__note_replies() ---',
    -- The daily jobs' successor step reads the terms these triggers note.
    'private.tg_policies__mark_successors() ---',
    'private.tg_outstanding_amounts__mark_successors() ---',
    -- The daily jobs open cases from the terms these triggers note.
    'private.tg__mark_terms_for_opening() ---',
    'private.tg_profiles__note_moved_agents() ---',
    'private.tg_hierarchy_nodes__mark_analytics_hierarchy() ---',
    'private.rollup_node_facts(date[],date[],timestamp with time zone) ---',
    'private.restate_moved_agents(timestamp with time zone) ---',
    'private.compute_message_facts(date,date,boolean,timestamp with time zone) ---',
    'private.compute_activity_facts(date,date,timestamp with time zone) ---',
    'private.compute_renewal_facts(date[],timestamp with time zone) ---',
    'private.failure_cause(message_status,text,text,text) ---',
    -- The performance reports (issue 11): the desk's managers and admins (each function checks
    -- the caller and their subtree); what they share runs inside them only.
    'private.node_performance(uuid,date,date) -U-',
    'private.message_performance(text,text,timestamp with time zone,timestamp with time zone,text) -U-',
    'private.performance_reader_nodes() ---',
    'private.facts_as_of() ---',
    -- Campaigns: managers and admins (the functions check the campaign is theirs) and the backend.
    -- Launch, pause, resume and cancel on the real clock; their forms taking as_of are the
    -- owner's (the launch job, a definer function; tests). A preview changes nothing: any clock.
    'private.preview_campaign(uuid,timestamp with time zone) -US',
    'private.launch_campaign(uuid) -US',
    'private.launch_campaign(uuid,timestamp with time zone) ---',
    'private.pause_campaign(uuid) -US',
    'private.pause_campaign(uuid,timestamp with time zone) ---',
    'private.resume_campaign(uuid) -US',
    'private.resume_campaign(uuid,timestamp with time zone) ---',
    'private.cancel_campaign(uuid) -US',
    'private.cancel_campaign(uuid,timestamp with time zone) ---',
    'private.campaign_stats(uuid) -US',
    -- Called by the campaign functions (security definer) only.
    'private.campaign_audience(uuid) ---',
    'private.campaign_filter_values(jsonb,text) ---',
    'private.hold_campaign_messages(uuid) ---',
    'private.lock_runnable_campaign(uuid) ---',
    'private.lock_campaign_launches(uuid) ---',
    'private.campaign_variables() ---',
    'private.campaign_template_gaps(uuid) ---',
    'private.cancel_stale_reminders(uuid,text,uuid) ---',
    'private.campaign_spread_window(consent_purpose,time without time zone,time without time zone,boolean) ---',
    'private.spread_send_time(timestamp with time zone,bigint,integer,time without time zone,time without time zone,text) ---',
    'private.proportion(bigint,bigint) ---',
    'private.run_campaign_launch(campaigns,timestamp with time zone) ---',
    'private.two_proportion_z(bigint,bigint,bigint,bigint) ---',
    'private.unassigned_renewals(timestamp with time zone) --S',
    -- Scheduled campaigns: the launch job (service_role); the unlocked access check for reports.
    'private.launch_scheduled_campaigns(timestamp with time zone) --S',
    'private.runnable_campaign(uuid) ---',
    -- Tracked links: made by message producers (definer functions, the backend), clicked
    -- through the `go` function (service_role); the code drawn inside tracked_link only.
    'private.tracked_link(uuid,text,text,timestamp with time zone) --S',
    'private.record_link_click(text,text,boolean,timestamp with time zone) --S',
    'private.random_base62(integer) ---',
    -- The case chat: the API records each turn as service_role, after checking the case as the caller;
    -- pg_cron (or service_role) deletes its messages past AI_RETENTION_DAYS.
    'private.record_ai_chat_turn(uuid,uuid,text,text,text,text,text,text,uuid,timestamp with time zone) --S',
    'private.expire_ai_chat_messages(timestamp with time zone) --S',
    -- The AI assistant's ledger: the functions (service_role) admit, serve from the cache and
    -- settle; pg_cron expires; the helpers run inside those definer functions only, but for the
    -- settings reader (and its number parser), which the functions also call for the model name.
    'private.ai_admit(ai_purpose,uuid,uuid,uuid,text,text,jsonb,numeric,timestamp with time zone) --S',
    'private.ai_cached(ai_purpose,uuid,uuid,uuid,text,text,integer,timestamp with time zone) --S',
    'private.ai_settle(uuid,ai_outcome,integer,integer,integer,integer,jsonb) --S',
    'private.expire_ai_requests(timestamp with time zone) --S',
    'private.ai_enabled() ---',
    'private.ai_settings() --S',
    'private.ai_number(jsonb,numeric,numeric) --S',
    'private.ai_rate_window(uuid,timestamp with time zone) ---',
    -- The customer profile's figures and the message drafts, run as the desk; the replies count
    -- and the gate's answer are security definer and check what the caller sees themselves; the
    -- inbound address reader indexes message_events. Amounts formatted as the gate's producers do.
    'private.customer_profile_figures(uuid,integer,timestamp with time zone) -U-',
    'private.customer_replies(uuid,timestamp with time zone,timestamp with time zone) -U-',
    'private.draft_block_reasons(uuid,jsonb,timestamp with time zone) -U-',
    'private.lint_draft(channel_type,text,consent_purpose,uuid,text,text) -U-',
    'private.inbound_address(text,jsonb) ---',
    'private.format_inr(bigint) -U-',
    -- Scheduled reports (issue 11): rendered inside private.generate_report (security definer) only.
    'private.html_escape(text) ---',
    'private.csv_field(jsonb) ---',
    'private.report_sections(text) ---',
    'private.report_value_text(jsonb,text) ---',
    'private.report_title(text,date,date) ---',
    'private.render_report_html(text,jsonb,uuid) ---',
    'private.render_report_text(text,jsonb) ---',
    'private.render_report_csv(text,jsonb) ---',
    -- ... from the figures of a period, which the facts give; generated by pg_cron (or service_role).
    'private.report_period(text,timestamp with time zone) ---',
    'private.report_window(date,date) ---',
    'private.report_figures(text,date,date,timestamp with time zone) ---',
    'private.generate_report(text,timestamp with time zone) --S',
    'private.generate_due_reports(timestamp with time zone) --S',
    -- The analysts' watchdog (pg_cron every minute): signals their sessions.
    'private.enforce_analyst_limits(timestamp with time zone) --S',
    -- Social connections (issue 12): the integrations API and the oauth function (service_role).
    'private.save_social_connection(text,text,text,text[],timestamp with time zone,timestamp with time zone,jsonb,text,uuid) --S',
    'private.social_token(text) --S',
    'private.record_social_error(text,text) --S',
    'private.disconnect_social(text) --S',
    'private.create_oauth_state(text,text,text,text,uuid,interval) --S',
    'private.consume_oauth_state(text,text) --S',
    'private.rekey_social_tokens(text,jsonb,text,jsonb,text) --S',
    'private.save_refreshed_social_tokens(text,timestamp with time zone,text[],timestamp with time zone,timestamp with time zone,jsonb,text) --S',
    -- Telegram's previous webhook secret after a reconnect (issue 13): the connect and the webhook.
    'private.keep_previous_webhook_secret(text,text,timestamp with time zone) --S',
    'private.previous_webhook_secret(text,timestamp with time zone) --S',
    -- Documents (issue 12): the API asks can_attach_document as the user, then records as
    -- service_role; the renderer registers and marks generated ones; `go` looks links up.
    'private.document_object_key(uuid,uuid,uuid,document_kind,text) --S',
    'private.document_key_is_generic(text) -US',
    'private.document_retain_until(document_kind,timestamp with time zone) ---',
    'private.can_attach_document(uuid,uuid) -US',
    'private.record_document(jsonb) --S',
    'private.mark_document_stored(uuid,bigint,text) --S',
    'private.ensure_generated_document(document_kind,uuid,uuid) ---',
    'private.register_generated_document(document_kind,uuid,uuid) --S',
    'private.document_for_link_token(text) --S',
    'private.set_document_legal_hold(uuid,boolean) -U-',
    'private.tg_documents__fill_owner() ---',
    'private.tg_documents__stamp_uploader() ---',
    'private.tg_documents__set_retention() ---',
    'private.tg_documents__guard_retention() ---',
    'private.tg_documents__generic_key() ---',
    -- The documents bucket's storage.objects policies (as the caller) and triggers.
    'private.document_object_case_id(text) -US',
    'private.can_read_document_object(text) -US',
    'private.can_upload_document_object(text) -US',
    'private.can_delete_document_object(text) -US',
    'private.tg_objects__record_document() ---',
    'private.tg_objects__forget_document() ---',
    'private.tg_payments__register_receipts() ---',
    'private.tg_renewal_cases__register_notices() ---',
    -- The renewal notice's own message, queued by the quote's trigger (definer) only.
    'private.queue_renewal_notice(uuid,timestamp with time zone) ---',
    'private.tg_renewal_cases__queue_renewal_notices() ---',
    -- Data requests (issue 13): the object-deletion queue, backend only.
    'private.queue_object_deletion(text,text,text) --S',
    -- The export of a customer's data: requested by admins (as the caller), built and swept by
    -- the housekeeping run (service_role).
    'private.customer_data_links() --S',
    'private.customer_export(uuid,integer) --S',
    'private.request_customer_export(uuid,text) -U-',
    'private.export_download_days() ---',
    'private.claim_data_export(interval,timestamp with time zone) --S',
    'private.complete_data_export(uuid,integer,text,bigint,timestamp with time zone) --S',
    'private.fail_data_export(uuid,integer,text,timestamp with time zone) --S',
    'private.expire_data_exports(text,timestamp with time zone) --S',
    'private.claim_object_deletions(integer,timestamp with time zone) --S',
    'private.finish_object_deletion(bigint,text,timestamp with time zone) --S',
    'private.tg_customers__end_exports_on_erasure() ---',
    -- Retention (issue 13): the daily purge (pg_cron, service_role) and its settings reader.
    'private.purge_expired_data(timestamp with time zone) --S',
    'private.purge_expired_data_in_rounds(integer) --S',
    'private.retention_number(text,integer,integer,integer) ---',
    -- Triggers.
    'private.tg_messages__cancel_returning_closed() ---',
    'private.tg_renewal_cases__follow_tasks() ---',
    'private.tg_reminder_rules__check_template() ---',
    'private.tg__audit() ---',
    -- The audit log (issue 13): immutable, minimised, with the request id; run by its triggers.
    'private.tg_audit_log__refuse_change() ---',
    'private.audit_redacted_columns(text) ---',
    'private.audit_row_sql(text,text,text) ---',
    'private.current_request_id() ---',
    -- A policy's timeline (security definer: checks the caller sees the policy), and the Razorpay
    -- ids of a webhook payload (its index's expression).
    'private.policy_timeline(uuid,integer) -U-',
    'private.razorpay_event_ids(jsonb) --S',
    'private.tg__set_updated_at() ---',
    'private.tg_app_settings__set_updated_by() ---',
    -- Setting values checked on write against their rules (private.setting_rules), by triggers.
    'private.tg_app_settings__check_value() ---',
    'private.tg_setting_rules__check_current_value() ---',
    'private.setting_rule_says(jsonb) ---',
    'private.setting_value_problem(text,jsonb,jsonb) ---',
    'private.tg_consents__require_evidence() ---',
    'private.tg_consents__stamp_recorder() ---',
    -- The consent ledger (issue 13): append-only, and in step with consents both ways.
    'private.tg_consent_ledger__keep_append_only() ---',
    'private.tg_consent_ledger__sync_consents() ---',
    'private.tg_consents__append_ledger() ---',
    -- A customer's own opt-out stands: the rule's trigger, its list of sources, and the repair.
    'private.is_customer_consent_source(text) ---',
    'private.tg_consents__keep_customer_opt_outs() ---',
    'private.restore_customer_opt_outs() ---',
    -- Consent (issue 13): the desk's door to the ledger; the withdrawal links, signed in SQL,
    -- checked and used by the consent function (service_role), minted inside the gate only.
    'private.record_consent(uuid,channel_type,consent_purpose,consent_status,text,jsonb,text) -U-',
    'private.rotate_link_signing_key(interval) --S',
    'private.consent_link_check(text,timestamp with time zone) --S',
    'private.withdraw_by_consent_link(text,timestamp with time zone) --S',
    'private.consent_link_token(uuid,timestamp with time zone) ---',
    'private.consent_link_url(uuid,timestamp with time zone) ---',
    'private.base64url_encode(bytea) ---',
    'private.base64url_decode(text) ---',
    'private.tg_hierarchy_nodes__move_subtree() ---',
    'private.tg_hierarchy_nodes__set_path() ---',
    'private.tg_outstanding_amounts__check_settlement() ---',
    'private.tg_outstanding_amounts__guard_settled() ---',
    'private.tg_outstanding_amounts__renew_settled_cases() ---',
    'private.tg_policies__refresh_book_keys() ---',
    'private.tg_messages__apply_early_callbacks() ---',
    'private.tg_message_events__erase_error_with_payload() ---',
    'private.tg_messages__clear_unconfirmed() ---',
    'private.tg_messages__fall_back_early_failures() ---',
    'private.tg_messages__note_error_provider() ---',
    'private.tg_profiles__guard_privileged() ---',
    'private.tg_templates__lint() ---',
    'private.tg_tasks__stamp_done() ---',
    'private.tg_campaigns__stamp_created_by() ---',
    'private.tg_campaigns__check_template_variables() ---',
    'private.tg_campaigns__check_spread_window() ---',
    'private.tg_messages__hold_paused_campaigns() ---',
    'private.tg_renewal_cases__check_assignee() ---',
    'private.tg_renewal_cases__cancel_queued_reminders() ---',
    'private.tg_renewal_cases__cancel_stale_reminders() ---',
    'private.tg_tasks__check_snooze() ---',
    'private.tg_renewal_cases__leave_campaigns_out_of_scope() ---',
    'private.tg__check_template_purposes() ---',
    'private.weaker_templates(text,channel_type[],consent_purpose) ---',
    'private.tg_renewal_cases__enqueue_messages() ---',
    'private.tg_consents__enqueue_messages() ---',
    'private.tg_renewal_cases__check_stage() ---',
    'private.tg_renewal_cases__freeze_closed() ---',
    'private.tg_renewal_cases__refresh_book_keys() ---',
    'private.tg_renewal_cases__settle_policies() ---',
    'private.tg_users__create_profile() ---',
    'private.tg_users__sync_profile_email() ---'
  ],
  'each function of ours is executable by exactly the API roles meant to run it'
);

-- The grants work, not just exist.
select tests.create_test_org();
select tests.authenticate_as_service_role();
select lives_ok($$select private.run_daily_renewal_jobs()$$, 'service_role runs the daily jobs');
select tests.authenticate_as('admin');
select throws_ok($$select private.run_daily_renewal_jobs()$$, '42501', null,
  'a signed-in admin cannot run the daily jobs');
select lives_ok($$select public.case_outstanding(gen_random_uuid())$$,
  'the desk asks what a case owes');
select tests.clear_authentication();
select throws_ok($$select public.case_outstanding(gen_random_uuid())$$, '42501', null,
  'anon may not');
select throws_ok($$select private.business_date(now())$$, '42501', null,
  'anon reaches nothing in private');
reset role;

select * from finish();
rollback;
