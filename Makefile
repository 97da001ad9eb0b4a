# nextphone — PGXS build
#
#   make && make install        build and install into the PostgreSQL found by pg_config
#   make installcheck           pg_regress tests (sql/, expected/) and TAP tests (test/t/)
#   make fuzz                   build the template fuzz target (clang, libFuzzer)
#
# Everything (packages, build, every test) from nothing: see README.md.

EXTENSION = nextphone
MODULE_big = nextphone
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The install script of each version is assembled from sql/parts/, in name
# order; upgrade scripts (nextphone--X.Y--X.Z.sql) are kept as written.
DATA_built = sql/nextphone--0.1.sql
DATA = $(filter-out $(DATA_built),$(wildcard sql/nextphone--*--*.sql))

# Every sql/*.sql that is not an install or upgrade script is a pg_regress
# test; each one creates the extension itself if it needs to.
REGRESS = $(sort $(basename $(notdir $(filter-out sql/nextphone--%,$(wildcard sql/*.sql)))))
REGRESS_OPTS = --temp-config=$(srcdir)/test/regress.conf \
	--temp-instance=$(CURDIR)/tmp_check_regress \
	--load-extension=nextphone
TAP_TESTS = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))
EXTRA_CLEAN = tmp_check_regress test/fuzz/fuzz_template

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK = -lcurl

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

sql/nextphone--0.1.sql: $(sort $(wildcard sql/parts/*.sql))
	cat $^ > $@

.PHONY: fuzz
fuzz: test/fuzz/fuzz_template
