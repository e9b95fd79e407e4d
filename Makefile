# tarn - build, test, bench, demo. See README.md.
PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
PKGS := sqlite3 rdkafka libzstd uuid yajl jansson libmicrohttpd gmp
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wvla -Wwrite-strings -Werror
CFLAGS ?= -O2 -g
# pkg-config runs when a compile first needs it, not when make reads this
# file: `make demo` installs the packages (deps) before it builds. A missing
# package stops the build with one clear message.
pkgconfig = $(or $(shell pkg-config $(1) 2>/dev/null),$(error pkg-config $(1) \
	failed: build packages are missing; run `bash scripts/deps.sh` (or make demo/test)))
PKG_CFLAGS = $(eval PKG_CFLAGS := $(call pkgconfig,--cflags $(PKGS)))$(PKG_CFLAGS)
PKG_LIBS = $(eval PKG_LIBS := $(call pkgconfig,--libs $(PKGS)))$(PKG_LIBS)
ALL_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(WARN) \
	-Iinclude -Isrc $(PKG_CFLAGS) $(CFLAGS) -MMD -MP
LIBS = $(PKG_LIBS) -lpthread -lm

# Sanitized build for tests lives in its own tree.
BUILD ?= build
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

LIB_SRC := $(wildcard src/*.c)
CLI_SRC := $(wildcard src/cli/*.c)
LIB_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/lib/%.o)
CLI_OBJ := $(CLI_SRC:src/cli/%.c=$(BUILD)/cli/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# The loadable SQLite extension: position-independent copies of the library
# objects, and events.c once more as an extension (calls on the host's
# connection through its sqlite3_api routines).
PIC_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/pic/%.o)
EXT_SO := $(BUILD)/libtarn_sqlite.so

.PHONY: all binaries clean test deps deps-test deps-bench demo bench install uninstall format \
	format-check unit-bins torture fuzz deps-kafka test-kafka bench-kafka
# Every entry point installs the Debian packages it needs first (only the
# missing ones; scripts/deps.sh says which serve what), then builds in a
# second make, so no compile starts before its headers are there.
all: deps
	@$(MAKE) --no-print-directory binaries
binaries: bin/tarn $(EXT_SO)

deps:
	@bash scripts/deps.sh build
deps-test:
	@bash scripts/deps.sh test
deps-bench:
	@bash scripts/deps.sh bench
deps-kafka:
	@bash scripts/deps.sh kafka

# Tests run against a separate build under AddressSanitizer and
# UndefinedBehaviorSanitizer; the last line is "N passed, N failed, N skipped".
test: deps-test
	$(MAKE) BUILD=build-san CFLAGS="$(SAN_FLAGS)" build-san/tarn unit-bins \
		build-san/powerloss/harness
	$(MAKE) $(EXT_SO)
	TARN_EXT=$(EXT_SO) bash tests/run_all.sh build-san

unit-bins: $(UNIT_BIN)

# The Kafka-facing cases again, on a real Apache Kafka (tests/kafka/broker.sh
# fetches it from Maven Central with mvn, once); the last line is
# "kafka: N passed, N failed, N skipped". make test needs no JVM.
test-kafka: deps-kafka
	$(MAKE) binaries unit-bins
	TARN=bin/tarn bash tests/kafka/run.sh

# libFuzzer over the parsing of untrusted input (clang; not in CI).
FUZZ_RUNS ?= 10000000
FUZZ_SRC := src/event.c src/time.c src/headers.c src/error.c
fuzz: deps
	clang -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude -Isrc -g -O1 \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		$(shell pkg-config --cflags yajl uuid) -o build/fuzz_extract \
		tests/fuzz/fuzz_extract.c $(FUZZ_SRC) $(shell pkg-config --libs yajl uuid sqlite3)
	mkdir -p build/fuzz-corpus
	build/fuzz_extract -runs=$(FUZZ_RUNS) -max_len=65536 -print_final_stats=1 \
		build/fuzz-corpus fixtures/fuzz

# Long fault-injection runs (not in CI): kill -9 loops over 500,000 events.
torture: deps
	$(MAKE) binaries
	TARN=bin/tarn bash tests/torture/crash.sh 500000 50 10 1500

demo: deps
	$(MAKE) binaries
	bin/tarn demo

# Benchmarks: tarn next to a baseline measured in the same run (ratios).
BENCH_DIR ?= /tmp/tarn-bench
bench: deps-bench
	$(MAKE) binaries $(BUILD)/bench $(BUILD)/json_choice
	rm -rf $(BENCH_DIR) && mkdir -p $(BENCH_DIR)
	$(BUILD)/bench --dir $(BENCH_DIR) $(BENCH_ARGS)
	$(BUILD)/json_choice $(BENCH_DIR)/input.jsonl
	bash bench/serve_load.sh bin/tarn $(BENCH_DIR)/serve
	bash bench/split_rate.sh bin/tarn $(BENCH_DIR)/split
	bash bench/duckdb.sh bin/tarn $(BENCH_DIR)/duckdb $(BENCH_DIR)/input.jsonl
	bash bench/duckdb.sh bin/tarn $(BENCH_DIR)/duckdb noaa-seattle

# Kafka-facing rates on a real Apache Kafka (tests/kafka/broker.sh), each
# beside kcat in the same run, as ratios (README.md, "Against a real Apache
# Kafka"); the last line is "bench-kafka: N of 4 goals met".
bench-kafka: deps-kafka
	$(MAKE) binaries
	bash bench/kafka.sh bin/tarn $(BENCH_DIR)/kafka $(BENCH_KAFKA_ARGS)

$(BUILD)/bench: bench/bench.c bench/mixed.c bench/mixed.h bench/declared.c bench/declared.h \
		$(BUILD)/libtarn.a
	$(CC) $(ALL_CFLAGS) $(shell pkg-config --cflags json-c) -o $@ bench/bench.c bench/mixed.c \
		bench/declared.c \
		$(BUILD)/libtarn.a $(LIBS) $(shell pkg-config --libs json-c)

# json-c is only the comparison's; jansson comes first on the link line
# (both libraries define json_object_get, and json_choice.c means jansson's)
$(BUILD)/json_choice: bench/json_choice.c bench/json_choice_c.c $(BUILD)/libtarn.a
	$(CC) $(ALL_CFLAGS) $(shell pkg-config --cflags json-c) -o $@ bench/json_choice.c \
		bench/json_choice_c.c $(BUILD)/libtarn.a $(LIBS) $(shell pkg-config --libs json-c)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/include/tarn $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 bin/tarn $(DESTDIR)$(PREFIX)/bin/tarn
	install -m 644 $(BUILD)/libtarn.a $(DESTDIR)$(PREFIX)/lib/libtarn.a
	install -m 755 $(EXT_SO) $(DESTDIR)$(PREFIX)/lib/libtarn_sqlite.so
	install -m 644 include/tarn/*.h $(DESTDIR)$(PREFIX)/include/tarn/
	install -m 644 docs/tarn.1 $(DESTDIR)$(PREFIX)/share/man/man1/tarn.1
	sed -e 's|@PREFIX@|$(PREFIX)|g' tarn.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/tarn.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/tarn $(DESTDIR)$(PREFIX)/lib/libtarn.a \
		$(DESTDIR)$(PREFIX)/lib/libtarn_sqlite.so \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig/tarn.pc $(DESTDIR)$(PREFIX)/share/man/man1/tarn.1
	rm -rf $(DESTDIR)$(PREFIX)/include/tarn

# The C sources clang-format keeps in the style of .clang-format; make test
# runs format-check over all of them (the tree was formatted once, so every
# change is checked).
FORMAT_SRC = $(wildcard include/tarn/*.h src/*.c src/*.h src/cli/*.c src/cli/*.h src/ext/*.c \
	tests/unit/*.c tests/unit/*.h tests/fuzz/*.c tests/powerloss/*.c bench/*.c bench/*.h)
format:
	clang-format -i $(FORMAT_SRC)
format-check:
	@bash tests/format_check.sh $(FORMAT_SRC)

bin/tarn: $(BUILD)/tarn
	@mkdir -p bin
	cp $< $@

$(BUILD)/libtarn.a: $(LIB_OBJ)
	ar rcs $@ $^

$(BUILD)/tarn: $(CLI_OBJ) $(BUILD)/libtarn.a
	$(CC) $(ALL_CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libtarn.a $(LIBS)

$(BUILD)/libtarn_pic.a: $(filter-out $(BUILD)/pic/events.o,$(PIC_OBJ))
	ar rcs $@ $^

# Only what the extension uses is taken from the archive; its entry point
# is the only exported symbol (src/ext/tarn_sqlite.map).
$(EXT_SO): $(BUILD)/pic/ext/tarn_sqlite.o $(BUILD)/pic/ext/events.o $(BUILD)/libtarn_pic.a \
		src/ext/tarn_sqlite.map
	$(CC) $(ALL_CFLAGS) -shared -fPIC -Wl,--version-script=src/ext/tarn_sqlite.map \
		-Wl,-z,defs -Wl,--as-needed -o $@ $(BUILD)/pic/ext/tarn_sqlite.o \
		$(BUILD)/pic/ext/events.o $(BUILD)/libtarn_pic.a $(LIBS)

$(BUILD)/pic/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -c -o $@ $<

$(BUILD)/pic/ext/events.o: src/events.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -DTARN_SQLITE_EXTENSION -c -o $@ $<

$(BUILD)/pic/ext/tarn_sqlite.o: src/ext/tarn_sqlite.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -c -o $@ $<

$(BUILD)/lib/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/cli/%.o: src/cli/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The power-loss harness (tests/powerloss): a program, not a cmocka suite.
# The link wraps the Kafka offset store and commit: the harness learns
# what ingest committed to the group, its acknowledgement point.
$(BUILD)/powerloss/harness: tests/powerloss/harness.c $(BUILD)/libtarn.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libtarn.a $(LIBS) \
		-Wl,--wrap=tarn_consumer_store -Wl,--wrap=tarn_consumer_commit

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libtarn.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libtarn.a $(LIBS) -lcmocka

clean:
	rm -rf build build-san build-mutant bin

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(PIC_OBJ:.o=.d) \
	$(BUILD)/pic/ext/events.d $(BUILD)/pic/ext/tarn_sqlite.d
