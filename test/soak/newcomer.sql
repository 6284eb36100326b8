\set p random(100000, 100000000)
\set t random(1, 100)
INSERT INTO events (person, tenant, user_id, email, ip) VALUES (:p, 'tenant-' || :t, 'person-' || :p, NULL, ('2001:db8::' || (:p % 9999))::inet);
