# tarn - build, test, bench, demo. See README.md.
PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
PKGS := sqlite3 rdkafka libzstd uuid jansson
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wvla -Wwrite-strings -Werror
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(WARN) \
	-Iinclude -Isrc $(shell pkg-config --cflags $(PKGS)) $(CFLAGS) -MMD -MP
LIBS := $(shell pkg-config --libs $(PKGS)) -lpthread

# Sanitized build for tests lives in its own tree.
BUILD ?= build
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

LIB_SRC := $(wildcard src/*.c)
CLI_SRC := $(wildcard src/cli/*.c)
LIB_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/lib/%.o)
CLI_OBJ := $(CLI_SRC:src/cli/%.c=$(BUILD)/cli/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all clean test unit cli-test deps demo bench install uninstall format
all: bin/tarn

bin/tarn: $(BUILD)/tarn
	@mkdir -p bin
	cp $< $@

$(BUILD)/libtarn.a: $(LIB_OBJ)
	ar rcs $@ $^

$(BUILD)/tarn: $(CLI_OBJ) $(BUILD)/libtarn.a
	$(CC) $(ALL_CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libtarn.a $(LIBS)

$(BUILD)/lib/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/cli/%.o: src/cli/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libtarn.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libtarn.a $(LIBS) -lcmocka

clean:
	rm -rf build build-san bin

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
