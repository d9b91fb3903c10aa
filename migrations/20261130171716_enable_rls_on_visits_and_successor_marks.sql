-- Row-level security on the private tables of the cadence's next visits and the successor marks
-- (as on every table in private: no policy, so only their owner's functions read or write them).
alter table private.cadence_next_visits enable row level security;
alter table private.cadence_state enable row level security;
alter table private.successor_marks enable row level security;
