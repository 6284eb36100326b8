SELECT cardinality(anonymize.anonymized_breakout(tenant, 1, 5, 'very_sensitive', user_id)) FROM events TABLESAMPLE SYSTEM (2);
