/* Unit tests of the shard store through the lake: deduplication of many
 * events of one instant, across blocks and batches, and time order on replay when blocks
 * overlap in time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <zstd.h>

#include "tarn/tarn.h"
#include "block.h"
#include "old_block.h"

#define DAY0 1795132800000000LL /* 2026-11-20T00:00:00Z */

#define FIXTURE_NAME "shard"
#include "lake_fixture.h"

/* Event k: a text id, a payload naming it (variant v changes the bytes). */
static tarn_add_result add(tarn_lake *lake, int64_t t, int k, int v)
{
	char payload[96];
	tarn_add_result res;
	tarn_event ev;

	tarn_event_init(&ev);
	ev.time_us = t;
	ev.id_len = (size_t)snprintf((char *)ev.id, sizeof(ev.id), "ev-%d", k);
	snprintf(payload, sizeof(payload), "{\"event_id\":\"ev-%d\",\"v\":%d}", k, v);
	ev.payload = payload;
	ev.payload_len = strlen(payload);
	ev.ingest_us = DAY0;
	if (tarn_lake_add(lake, &ev, &res))
		fail_msg("add: %s", tarn_error_last());
	return res;
}

static void check_verify(tarn_lake *lake)
{
	uint64_t problems = 1;

	assert_int_equal(tarn_lake_verify(lake, NULL, NULL, &problems), TARN_OK);
	assert_int_equal(problems, 0);
}

/* 300 events of one instant: every one is stored, every re-delivery
 * found, before and after commit and reopening, whatever time it carries. */
static void shard__colliding_keys_tell_events_apart(void **state)
{
	tarn_lake *lake = open_lake();
	tarn_lake_stats st;
	int k;

	(void)state;
	for (k = 0; k < 300; k++)
		assert_int_equal(add(lake, DAY0 + 5000, k, 0), TARN_ADD_STORED);
	for (k = 0; k < 300; k += 7)
		assert_int_equal(add(lake, DAY0 + 5000, k, 0), TARN_ADD_DUPLICATE);
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	tarn_lake_close(lake);
	lake = open_lake();
	for (k = 0; k < 300; k++)
		assert_int_equal(add(lake, DAY0 + 5000, k, 0), TARN_ADD_DUPLICATE);
	assert_int_equal(add(lake, DAY0 + 5000, 42, 1), TARN_ADD_CONFLICT);
	/* same id and bytes, other time: the same event (identity is the id) */
	assert_int_equal(add(lake, DAY0 + 5001, 42, 0), TARN_ADD_DUPLICATE);
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	assert_int_equal(tarn_lake_stats_get(lake, NULL, NULL, &st), TARN_OK);
	assert_int_equal(st.total.events, 300);
	assert_int_equal(st.total.duplicates, 300 / 7 + 1 + 300 + 1);
	assert_int_equal(st.conflicts, 1);
	check_verify(lake);
	tarn_lake_close(lake);
}

/* 10,000 events fill three blocks in one batch; re-deliveries of the first
 * block's events arrive before and after the commit. */
static void shard__redelivery_across_blocks_and_batches(void **state)
{
	tarn_lake *lake = open_lake();
	tarn_lake_stats st;
	int k;

	(void)state;
	for (k = 0; k < 10000; k++) {
		assert_int_equal(add(lake, DAY0 + 1000LL * k, k, 0), TARN_ADD_STORED);
		if (k % 1000 == 999)
			assert_int_equal(add(lake, DAY0 + 1000LL * (k / 10), k / 10, 0),
					 TARN_ADD_DUPLICATE);
	}
	assert_int_equal(add(lake, DAY0 + 1000LL * 5, 5, 9), TARN_ADD_CONFLICT);
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	for (k = 0; k < 10000; k += 97)
		assert_int_equal(add(lake, DAY0 + 1000LL * k, k, 0), TARN_ADD_DUPLICATE);
	assert_int_equal(tarn_lake_rollback(lake), TARN_OK);
	for (k = 0; k < 10000; k += 101)
		assert_int_equal(add(lake, DAY0 + 1000LL * k, k, 0), TARN_ADD_DUPLICATE);
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	assert_int_equal(tarn_lake_stats_get(lake, NULL, NULL, &st), TARN_OK);
	assert_int_equal(st.total.events, 10000);
	assert_true(st.total.blocks >= 3);
	check_verify(lake);
	tarn_lake_close(lake);
}

struct order_check {
	int64_t last_t;
	int last_k;
	int n;
	int bad;
};

static int in_order(void *ctx, const tarn_event *ev)
{
	struct order_check *o = ctx;
	char id[32] = "", want[96];
	int k;

	/* the id's id_len bytes ("ev-N"), not NUL-terminated */
	assert_true(ev->id_len < sizeof(id));
	memcpy(id, ev->id, ev->id_len);
	k = atoi(id + 3);

	snprintf(want, sizeof(want), "{\"event_id\":\"ev-%d\",\"v\":0}", k);
	if (ev->payload_len != strlen(want) || memcmp(ev->payload, want, ev->payload_len) != 0)
		o->bad++;
	if (o->n && ev->time_us < o->last_t)
		o->bad++;
	o->last_t = ev->time_us;
	o->last_k = k;
	o->n++;
	return 0;
}

/* Events arrive out of time order in batches of 2,500, so the blocks'
 * time spans overlap; replay still yields time order, each event once. */
static void shard__overlapping_blocks_replay_in_time_order(void **state)
{
	tarn_replay_options ro = TARN_REPLAY_OPTIONS_INIT;
	struct order_check o = { 0, 0, 0, 0 };
	tarn_lake *lake = open_lake();
	uint64_t n = 0;
	int k;

	(void)state;
	for (k = 0; k < 20000; k++) {
		/* a permutation of 0..19999 spread over the whole day */
		int j = (int)(((int64_t)k * 7919) % 20000);

		assert_int_equal(add(lake, DAY0 + 4000000LL * j, j, 0), TARN_ADD_STORED);
		if (k % 2500 == 2499)
			assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	}
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	assert_int_equal(tarn_replay_scan(lake, &ro, in_order, &o, &n), TARN_OK);
	assert_int_equal(n, 20000);
	assert_int_equal(o.n, 20000);
	assert_int_equal(o.bad, 0);
	/* a window in the middle of the day */
	memset(&o, 0, sizeof(o));
	ro.since_us = DAY0 + 4000000LL * 5000;
	ro.until_us = DAY0 + 4000000LL * 6000;
	assert_int_equal(tarn_replay_scan(lake, &ro, in_order, &o, &n), TARN_OK);
	assert_int_equal(o.n, 1000);
	assert_int_equal(o.bad, 0);
	check_verify(lake);
	tarn_lake_close(lake);
}

static uint64_t shard_blocks(void)
{
	tarn_lake_stats st;
	tarn_lake *lake = NULL;
	uint64_t n;

	assert_int_equal(tarn_lake_open(&lake, lake_dir, TARN_LAKE_READONLY), TARN_OK);
	assert_int_equal(tarn_lake_stats_get(lake, NULL, NULL, &st), TARN_OK);
	n = st.total.blocks;
	assert_int_equal(st.total.events, 1200);
	tarn_lake_close(lake);
	return n;
}

/* Ingest at a trickle (a commit per event) makes a block per event;
 * compaction rewrites them into one, atomically: kill -9 at random
 * instants of it leaves the lake as before or as after, every event once,
 * gold and verify unchanged; afterwards re-deliveries are still found
 * (through block_alias) in this process and the next. */
static void shard__compaction_is_atomic_and_keeps_ids(void **state)
{
	tarn_compact_result cr;
	tarn_lake *lake = open_lake();
	uint64_t blocks;
	int k, kills = 0, done = 0;

	(void)state;
	for (k = 0; k < 1200; k++) {
		assert_int_equal(add(lake, DAY0 + 1000LL * k, k, 0), TARN_ADD_STORED);
		assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	}
	tarn_lake_close(lake);
	assert_int_equal(shard_blocks(), 1200);
	/* kill it after 0, 0.5, 1, 1.5 ms ... until a run completes: the kills
	 * land all along the compaction */
	while (!done && kills < 400) {
		pid_t pid = fork();
		int status;

		assert_true(pid >= 0);
		if (pid == 0) {
			tarn_lake *l = NULL;
			if (tarn_lake_open(&l, lake_dir, 0) || tarn_lake_compact(l, NULL, &cr))
				_exit(3);
			tarn_lake_close(l);
			_exit(0);
		}
		usleep((useconds_t)(kills * 500));
		if (kill(pid, SIGKILL) == 0)
			kills++;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (WIFEXITED(status)) {
			assert_int_equal(WEXITSTATUS(status), 0);
			done = 1;
		}
		blocks = shard_blocks(); /* 1200 events either way */
		assert_true(blocks == 1200 || blocks == 1);
		lake = open_lake();
		check_verify(lake);
		tarn_lake_close(lake);
	}
	print_message("compaction: %d kills before a run completed\n", kills);
	assert_true(kills >= 3);
	lake = open_lake();
	assert_int_equal(tarn_lake_compact(lake, NULL, &cr), TARN_OK);
	assert_int_equal(tarn_lake_compact(lake, "2026-11-20", &cr), TARN_OK);
	assert_int_equal(cr.old_blocks, 0); /* nothing small is left */
	assert_int_equal(tarn_lake_compact(lake, "2026-11-21", &cr), TARN_ENOTFOUND);
	tarn_lake_close(lake);
	assert_int_equal(shard_blocks(), 1);
	lake = open_lake();
	for (k = 0; k < 1200; k += 7)
		assert_int_equal(add(lake, DAY0 + 1000LL * k + 3, k, 0), TARN_ADD_DUPLICATE);
	assert_int_equal(add(lake, DAY0 + 5, 11, 1), TARN_ADD_CONFLICT);
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	check_verify(lake);
	tarn_lake_close(lake);
	assert_int_equal(shard_blocks(), 1);
}

/* The first byte of each block's field frame in the day's shard. */
static void block_formats(int *formats, int max, int *n)
{
	char path[512];
	sqlite3 *db;
	sqlite3_stmt *st;

	snprintf(path, sizeof(path), "%s/shards/2026-11-20.db", lake_dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT events FROM block_data ORDER BY block_id",
					    -1, &st, NULL),
			 SQLITE_OK);
	*n = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		unsigned char first[1];
		ZSTD_DCtx *d = ZSTD_createDCtx();
		ZSTD_outBuffer out = { first, 1, 0 };
		ZSTD_inBuffer in = { sqlite3_column_blob(st, 0),
				     (size_t)sqlite3_column_bytes(st, 0), 0 };

		while (out.pos < 1 && !ZSTD_isError(ZSTD_decompressStream(d, &out, &in)) &&
		       in.pos < in.size)
			;
		ZSTD_freeDCtx(d);
		assert_int_equal(out.pos, 1);
		assert_true(*n < max);
		formats[(*n)++] = first[0];
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* A shard whose blocks were written before shaped payload frames (format
 * 1) reads back, deduplicates and verifies as before; tarn compact
 * rewrites its blocks, full ones too, in the current format, with every
 * event unchanged and its id still found. */
static void shard__older_blocks_read_and_compacted(void **state)
{
	enum { N = 5000 };
	tarn_lake *lake = open_lake();
	tarn_compact_result cr;
	tarn_lake_stats st;
	char path[512];
	sqlite3 *db;
	sqlite3_stmt *get, *put;
	ZSTD_DCtx *d = ZSTD_createDCtx();
	tarn__block b;
	int k, formats[16], n;

	(void)state;
	for (k = 0; k < N; k++)
		assert_int_equal(add(lake, DAY0 + 1000LL * k, k, 0), TARN_ADD_STORED);
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	tarn_lake_close(lake);
	block_formats(formats, 16, &n);
	assert_int_equal(n, 2); /* 4096 + 904 */
	assert_int_equal(formats[0], 3);
	/* rewrite both blocks as the older tarn wrote them */
	snprintf(path, sizeof(path), "%s/shards/2026-11-20.db", lake_dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT block_id, events, payloads FROM block_data"
					    " ORDER BY block_id",
					    -1, &get, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "UPDATE block_data SET events=?2, payloads=?3"
					    " WHERE block_id=?1",
					    -1, &put, NULL),
			 SQLITE_OK);
	tarn__block_init(&b);
	while (sqlite3_step(get) == SQLITE_ROW) {
		const void *zm = sqlite3_column_blob(get, 1);
		size_t zm_len = (size_t)sqlite3_column_bytes(get, 1);
		unsigned char *meta, *opay;
		size_t meta_len, opay_len;

		assert_int_equal(tarn__block_decode(&b, d, zm, zm_len, "t"), TARN_OK);
		assert_int_equal(tarn__block_decode_payloads(&b, d, sqlite3_column_blob(get, 2),
							     (size_t)sqlite3_column_bytes(get, 2),
							     "t"),
				 TARN_OK);
		old_block_of(zm, zm_len, &b.pay, &meta, &meta_len, &opay, &opay_len);
		sqlite3_bind_int64(put, 1, sqlite3_column_int64(get, 0));
		sqlite3_bind_blob(put, 2, meta, (int)meta_len, SQLITE_TRANSIENT);
		sqlite3_bind_blob(put, 3, opay, (int)opay_len, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(put), SQLITE_DONE);
		sqlite3_reset(put);
		free(meta);
		free(opay);
	}
	sqlite3_finalize(get);
	sqlite3_finalize(put);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	tarn__block_free(&b);
	ZSTD_freeDCtx(d);
	block_formats(formats, 16, &n);
	assert_int_equal(n, 2);
	assert_int_equal(formats[0], 1);
	assert_int_equal(formats[1], 1);

	lake = open_lake();
	check_verify(lake);
	for (k = 0; k < N; k += 101)
		assert_int_equal(add(lake, DAY0 + 1000LL * k, k, 0), TARN_ADD_DUPLICATE);
	assert_int_equal(add(lake, DAY0 + 1000LL * 7, 7, 1), TARN_ADD_CONFLICT);
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	assert_int_equal(tarn_lake_compact(lake, NULL, &cr), TARN_OK);
	assert_int_equal(cr.old_blocks, 2);
	tarn_lake_close(lake);
	block_formats(formats, 16, &n);
	assert_int_equal(n, 2);
	assert_int_equal(formats[0], 3);
	assert_int_equal(formats[1], 3);
	lake = open_lake();
	check_verify(lake);
	for (k = 0; k < N; k += 97)
		assert_int_equal(add(lake, DAY0 + 1000LL * k + 1, k, 0), TARN_ADD_DUPLICATE);
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	assert_int_equal(tarn_lake_stats_get(lake, NULL, NULL, &st), TARN_OK);
	assert_int_equal(st.total.events, N);
	/* nothing older is left: a second run rewrites nothing */
	assert_int_equal(tarn_lake_compact(lake, NULL, &cr), TARN_OK);
	assert_int_equal(cr.old_blocks, 0);
	tarn_lake_close(lake);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(shard__colliding_keys_tell_events_apart, setup,
						teardown),
		cmocka_unit_test_setup_teardown(shard__redelivery_across_blocks_and_batches, setup,
						teardown),
		cmocka_unit_test_setup_teardown(shard__overlapping_blocks_replay_in_time_order,
						setup, teardown),
		cmocka_unit_test_setup_teardown(shard__compaction_is_atomic_and_keeps_ids, setup,
						teardown),
		cmocka_unit_test_setup_teardown(shard__older_blocks_read_and_compacted, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
