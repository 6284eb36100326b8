\set t random(1, 100)
DO $$ BEGIN PERFORM anonymize.set_tenant_policy('tenant-' || :t, :t % 3 <> 0); EXCEPTION WHEN unique_violation THEN NULL; END $$;
