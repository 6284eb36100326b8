# anonymize: PGXS build.  Tests: test/run (see README.md).

EXTENSION = anonymize
MODULE_big = anonymize
OBJS = \
	src/anonymize.o \
	src/guc.o \
	src/grouping.o \
	src/keys.o \
	src/breakout.o \
	src/breakout_state.o \
	src/breakout_two.o \
	src/comments.o \
	src/kanon.o \
	src/normalize.o \
	src/rules.o \
	src/pseudonym.o \
	src/secret.o \
	src/registry.o \
	src/protect.o \
	src/guard.o \
	src/shards.o \
	src/cluster.o \
	src/labels.o \
	src/access.o

DATA = sql/anonymize--0.1.0.sql sql/anonymize--0.1.0--0.2.0.sql sql/anonymize--0.2.0--0.3.0.sql \
	sql/anonymize--0.3.0--0.4.0.sql sql/anonymize--0.4.0--0.5.0.sql \
	sql/anonymize--0.5.0--0.6.0.sql sql/anonymize--0.6.0--0.7.0.sql

REGRESS = breakout_basics breakout_rules breakout_modes breakout_errors breakout_types breakout_parallel \
	breakout_two_fields breakout_subjects breakout_comments k_anonymity breakout_parallel_forms breakout_random \
	breakout_driver_types breakout_state breakout_people_sets \
	protect_rules protect_scope protect_errors protect_guard protect_forget protect_backfill \
	protect_privileges protect_attacks protect_upgrade hostile_inputs privileges_analytics secret_key \
	pseudonym_rewrite pseudonym_normalize anonymized_access protect_loaded_map
REGRESS_OPTS = --inputdir=. --load-extension=anonymize
ISOLATION = pseudonym_first_insert forget_race pseudonym_deadlock pseudonym_prepared guard_attach_race pseudonym_loaded_map
ISOLATION_OPTS = --load-extension=anonymize

PG_CPPFLAGS = -I$(srcdir)/src -I$(libpq_srcdir)
SHLIB_LINK_INTERNAL = $(libpq)
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# every object depends on the project's headers (PGXS does not track them)
$(OBJS): $(wildcard $(srcdir)/src/*.h)

# keyed hashes use OpenSSL's SHA-256 when the server was built with it
ifeq ($(with_ssl),openssl)
SHLIB_LINK += -lcrypto
endif
