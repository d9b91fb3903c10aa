-- Demo organisation: two zones down to teams, and a dozen users covering every role.
-- Password for every demo user: "password" (only meaningful against a real GoTrue).
-- Profiles are created by the auth.users trigger from app_metadata (role, node).

insert into public.hierarchy_nodes (id, parent_id, level, code, name) values
  ('10000000-0000-4000-8000-000000000001', null, 'zone', 'NORTH', 'North Zone'),
  ('10000000-0000-4000-8000-000000000002', null, 'zone', 'SOUTH', 'South Zone'),
  ('10000000-0000-4000-8000-000000000011', '10000000-0000-4000-8000-000000000001', 'region', 'DELHI', 'Delhi NCR'),
  ('10000000-0000-4000-8000-000000000012', '10000000-0000-4000-8000-000000000002', 'region', 'KARNATAKA', 'Karnataka'),
  ('10000000-0000-4000-8000-000000000013', '10000000-0000-4000-8000-000000000002', 'region', 'TAMIL_NADU', 'Tamil Nadu'),
  ('10000000-0000-4000-8000-000000000021', '10000000-0000-4000-8000-000000000011', 'branch', 'DEL_CP', 'Connaught Place'),
  ('10000000-0000-4000-8000-000000000022', '10000000-0000-4000-8000-000000000011', 'branch', 'DEL_GGN', 'Gurugram'),
  ('10000000-0000-4000-8000-000000000023', '10000000-0000-4000-8000-000000000012', 'branch', 'BLR_KOR', 'Bengaluru Koramangala'),
  ('10000000-0000-4000-8000-000000000024', '10000000-0000-4000-8000-000000000013', 'branch', 'CHN_TNAGAR', 'Chennai T. Nagar'),
  ('10000000-0000-4000-8000-000000000031', '10000000-0000-4000-8000-000000000021', 'team', 'DEL_CP_MOTOR', 'CP Motor Desk'),
  ('10000000-0000-4000-8000-000000000032', '10000000-0000-4000-8000-000000000021', 'team', 'DEL_CP_HEALTH', 'CP Health & Life Desk'),
  ('10000000-0000-4000-8000-000000000033', '10000000-0000-4000-8000-000000000022', 'team', 'DEL_GGN_ALL', 'Gurugram Desk'),
  ('10000000-0000-4000-8000-000000000034', '10000000-0000-4000-8000-000000000023', 'team', 'BLR_KOR_ALL', 'Koramangala Desk'),
  ('10000000-0000-4000-8000-000000000035', '10000000-0000-4000-8000-000000000024', 'team', 'CHN_TNAGAR_ALL', 'T. Nagar Desk');

insert into auth.users (
  id, aud, role, email, encrypted_password, email_confirmed_at, raw_app_meta_data,
  raw_user_meta_data
)
select id::uuid, 'authenticated', 'authenticated', email,
       extensions.crypt('password', extensions.gen_salt('bf', 4)), now(),
       jsonb_build_object('provider', 'email', 'role', app_role, 'node', node),
       jsonb_build_object('full_name', full_name)
  from (values
    ('20000000-0000-4000-8000-000000000001', 'admin@py360.test', 'Asha Admin', 'admin', null),
    ('20000000-0000-4000-8000-000000000002', 'analyst@py360.test', 'Anil Analyst', 'analyst', null),
    ('20000000-0000-4000-8000-000000000003', 'north.manager@py360.test', 'Neha North', 'manager', 'NORTH'),
    ('20000000-0000-4000-8000-000000000004', 'south.manager@py360.test', 'Suresh South', 'manager', 'SOUTH'),
    ('20000000-0000-4000-8000-000000000005', 'delhi.manager@py360.test', 'Deepak Delhi', 'manager', 'DELHI'),
    ('20000000-0000-4000-8000-000000000006', 'cp.manager@py360.test', 'Chitra CP', 'manager', 'DEL_CP'),
    ('20000000-0000-4000-8000-000000000007', 'ggn.manager@py360.test', 'Gaurav Gurugram', 'manager', 'DEL_GGN'),
    ('20000000-0000-4000-8000-000000000008', 'blr.manager@py360.test', 'Bindu Bengaluru', 'manager', 'BLR_KOR'),
    ('20000000-0000-4000-8000-000000000011', 'arjun.agent@py360.test', 'Arjun Mehta', 'agent', 'DEL_CP_MOTOR'),
    ('20000000-0000-4000-8000-000000000012', 'bhavna.agent@py360.test', 'Bhavna Kapoor', 'agent', 'DEL_CP_MOTOR'),
    ('20000000-0000-4000-8000-000000000013', 'farah.agent@py360.test', 'Farah Khan', 'agent', 'DEL_CP_HEALTH'),
    ('20000000-0000-4000-8000-000000000014', 'gopal.agent@py360.test', 'Gopal Singh', 'agent', 'DEL_GGN_ALL'),
    ('20000000-0000-4000-8000-000000000015', 'kavya.agent@py360.test', 'Kavya Rao', 'agent', 'BLR_KOR_ALL'),
    ('20000000-0000-4000-8000-000000000016', 'tamil.agent@py360.test', 'Tamilselvan R', 'agent', 'CHN_TNAGAR_ALL'),
    ('20000000-0000-4000-8000-000000000017', 'left.agent@py360.test', 'Lalit Former', 'agent', 'DEL_CP_MOTOR')
  ) as u (id, email, full_name, app_role, node);

-- Lalit has left the company: his profile stays for history, inactive.
update public.profiles set active = false where email = 'left.agent@py360.test';
