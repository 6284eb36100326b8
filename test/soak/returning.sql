\set p random(1, 20000)
\set t random(1, 50)
INSERT INTO events (person, tenant, user_id, email, ip) VALUES (:p, 'tenant-' || :t, 'person-' || :p, 'p' || :p || '@example.com', ('198.51.100.' || (:p % 250))::inet);
