/* anonymize 0.3.0 -> 0.4.0: the protection holds against ordinary roles */

\echo Use "ALTER EXTENSION anonymize UPDATE TO '0.4.0'" to load this file. \quit

-- ==== the trigger, protect() and the guard ====

-- ==== end of the trigger, protect() and the guard ====


-- ==== the secret key ====

-- ==== end of the secret key ====


-- ==== pseudonyms and rules ====

-- ==== end of pseudonyms and rules ====


-- ==== breakouts and comments ====

-- ==== end of breakouts and comments ====
