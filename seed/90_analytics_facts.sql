-- The analytics facts of the demo book, computed once it is loaded (pg_cron keeps them fresh
-- from then on: private.refresh_analytics every 5 minutes), so `npm run db -- reset` and a fresh
-- test database start with facts in place. Keep this file last.
do $$
begin
  perform private.rebuild_analytics(null, null);
end
$$;
