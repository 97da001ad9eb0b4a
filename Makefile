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

# The install script of the current version (default_version in
# nextphone.control) is assembled from sql/parts/, in name order.  The install
# scripts of released versions and the upgrade scripts between versions
# (nextphone--X.Y--X.Z.sql) are kept as written: when a version is released,
# its assembled script is committed as it is, and every later change to
# sql/parts/ is also written into the upgrade script to the next version
# (test/t/050_upgrade.pl checks that both ways end up the same).
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(srcdir)/nextphone.control)
DATA_built = sql/nextphone--$(EXTVERSION).sql
DATA = $(filter-out $(DATA_built),$(wildcard sql/nextphone--*.sql))

# Every sql/*.sql that is not an install or upgrade script is a pg_regress
# test; each one creates the extension itself if it needs to.
REGRESS = $(sort $(basename $(notdir $(filter-out sql/nextphone--%,$(wildcard sql/*.sql)))))
REGRESS_OPTS = --temp-config=$(srcdir)/test/regress.conf \
	--temp-instance=$(CURDIR)/tmp_check_regress \
	--load-extension=nextphone
TAP_TESTS = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))
EXTRA_CLEAN = tmp_check_regress test/fuzz/fuzz_template

PG_CPPFLAGS = -I$(srcdir)/src -DNEXTPHONE_VERSION=\"$(EXTVERSION)\"
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK = -lcurl -lcrypto

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(DATA_built): $(sort $(wildcard sql/parts/*.sql))
	cat $^ > $@

.PHONY: fuzz fuzz-run
# The template engine's fuzz target: the engine built outside the server
# against test/fuzz/shim/, with libFuzzer and AddressSanitizer (clang-14 and
# libclang-rt-14-dev).  fuzz-run fuzzes for FUZZ_SECONDS from the committed
# seed corpus (new inputs go to test/fuzz/corpus-run/) and fails on a crash,
# a leak or invalid JSON output; a crashing input is left as test/fuzz/crash-*.
FUZZ_CC ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_SRCS = test/fuzz/fuzz_template.c test/fuzz/shim/shim.c \
	src/template.c src/template_json.c src/template_url.c

fuzz: test/fuzz/fuzz_template

test/fuzz/fuzz_template: $(FUZZ_SRCS) src/template_engine.h $(wildcard test/fuzz/shim/*.h test/fuzz/shim/lib/*.h)
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers \
		-I$(srcdir)/test/fuzz/shim -I$(srcdir)/src -o $@ $(FUZZ_SRCS)

fuzz-run: test/fuzz/fuzz_template
	mkdir -p test/fuzz/corpus-run
	./test/fuzz/fuzz_template -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 \
		-print_final_stats=1 -artifact_prefix=test/fuzz/ \
		test/fuzz/corpus-run $(srcdir)/test/fuzz/corpus

# The objects depend on the headers (PGXS tracks this only with autodepend).
$(OBJS): $(wildcard src/*.h)
