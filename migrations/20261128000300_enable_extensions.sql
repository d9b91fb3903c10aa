-- Extensions the model needs: pgcrypto (digests, random bytes), ltree (the org hierarchy),
-- citext (case-insensitive emails) and pg_cron (the daily renewal jobs).

create extension if not exists pgcrypto with schema extensions;
create extension if not exists ltree with schema extensions;
create extension if not exists citext with schema extensions;
create extension if not exists pg_cron;
