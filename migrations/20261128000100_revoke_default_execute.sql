-- No function is callable by everyone by default. Postgres grants EXECUTE to PUBLIC on every new
-- function and Supabase adds anon and authenticated through default privileges; from here on each
-- function we mean to expose gets its own `grant execute`.

alter default privileges for role postgres revoke execute on functions from public;
alter default privileges for role postgres in schema public
  revoke execute on functions from anon, authenticated;
