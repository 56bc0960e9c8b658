-- Example seed (staging: "a couple of config rows" after the schema exists).
-- Point a database's seed_sql at a file like this one; it runs once, as the
-- database owner, in one transaction, recorded in public.deploy_seed_applied.
CREATE TABLE IF NOT EXISTS app_config (key text PRIMARY KEY, value text NOT NULL);
INSERT INTO app_config (key, value) VALUES ('environment', 'staging'), ('feature_x', 'off')
    ON CONFLICT (key) DO NOTHING;
