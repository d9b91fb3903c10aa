-- private.case_stage_is_final is one expression over its argument. Its `set search_path` kept
-- Postgres from inlining it, so every filter `not private.case_stage_is_final(c.stage)` over the
-- book called a function per case: on a million policies 476,879 calls in a regular day of the
-- daily jobs, about 1.5 s of their 12.5 s (measured 12.9 / 12.2 s before, 11.2 / 10.4 s after). It
-- looks nothing up by name (its argument, and literals of the argument's own type), so it needs
-- no search path; without one it is inlined into the queries that use it. It is not a security
-- definer function (those keep an empty search path: tests/database/01_security_coverage).
alter function private.case_stage_is_final(public.case_stage) reset search_path;
comment on function private.case_stage_is_final(public.case_stage) is
  'True for stages a case never leaves. Inlined into the queries that use it (no search_path '
  'of its own: it looks nothing up by name).';
