-- Analysts read every row of the fact tables: the tables keep RLS on (the catalog test wants it
-- everywhere), so a grant alone let an analyst see none of their rows. The facts hold no personal
-- data (counts, paise, node and agent ids), and no other role has a grant on them.
create policy message_facts_select_analyst on analytics.message_facts for select to analyst using (true);
create policy latency_facts_select_analyst on analytics.latency_facts for select to analyst using (true);
create policy renewal_facts_select_analyst on analytics.renewal_facts for select to analyst using (true);
create policy node_renewal_facts_select_analyst on analytics.node_renewal_facts for select to analyst using (true);
create policy activity_facts_select_analyst on analytics.activity_facts for select to analyst using (true);
create policy node_activity_facts_select_analyst on analytics.node_activity_facts for select to analyst using (true);
