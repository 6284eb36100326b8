\set p random(1, 20000)
INSERT INTO forgets SELECT :p WHERE anonymize.forget('person-' || :p);
