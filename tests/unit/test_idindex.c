/* Unit tests of the lake-wide identity of events (src/idindex.c through
 * the lake): an event id is stored once whatever time, day, key or
 * partition a re-delivery carries, however far from the original, after
 * the in-memory ids were written as runs and merged, after reopening, and
 * after a process died without closing the lake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tarn/tarn.h"
#include "hash.h"
#include "idindex.h"

#define DAY0   1795132800000000LL /* 2026-11-20T00:00:00Z */
#define DAY_US 86400000000LL

#define FIXTURE_NAME "ids"
#include "lake_fixture.h"

/* Event k with a text id "ev-k" (or, when uuid, a UUID made from k), time
 * t, partition p; variant v changes the payload bytes. */
static tarn_add_result add_ev(tarn_lake *lake, int64_t t, int k, int v, int uuid, int p)
{
	char payload[128];
	tarn_add_result res;
	tarn_event ev;

	tarn_event_init(&ev);
	ev.time_us = t;
	if (uuid) {
		memset(ev.id, 0xab, 16);
		memcpy(ev.id, &k, sizeof(k));
		ev.id[6] = 0x4a; /* version 4 */
		ev.id_len = 16;
		ev.id_is_uuid = 1;
	} else {
		ev.id_len = (size_t)snprintf((char *)ev.id, sizeof(ev.id), "ev-%d", k);
	}
	snprintf(payload, sizeof(payload), "{\"n\":%d,\"v\":%d,\"w\":%d}", k, v, k % 97);
	ev.payload = payload;
	ev.payload_len = strlen(payload);
	ev.partition = p;
	ev.offset = 2 * (int64_t)k + uuid;
	ev.ingest_us = DAY0;
	if (tarn_lake_add(lake, &ev, &res))
		fail_msg("add: %s", tarn_error_last());
	return res;
}

static void print_problem(void *ctx, const char *file, const char *msg)
{
	(void)ctx;
	print_error("verify: %s: %s\n", file, msg);
}

static void check_counts(tarn_lake *lake, uint64_t events, uint64_t dups, uint64_t conflicts)
{
	tarn_lake_stats st;
	uint64_t problems = 1;

	assert_int_equal(tarn_lake_stats_get(lake, NULL, NULL, &st), TARN_OK);
	assert_int_equal(st.total.events, events);
	assert_int_equal(st.total.duplicates, dups);
	assert_int_equal(st.conflicts, conflicts);
	assert_int_equal(tarn_lake_verify(lake, print_problem, NULL, &problems), TARN_OK);
	assert_int_equal(problems, 0);
}

/* Same id and bytes with another time (even another day, so another
 * shard), key or partition: a duplicate. Other bytes: a conflict, the
 * first copy stays. Text ids and UUIDs alike, in and across batches. */
static void ids__same_id_other_time_is_a_duplicate(void **state)
{
	tarn_lake *lake = open_lake();
	int uuid;

	(void)state;
	for (uuid = 0; uuid < 2; uuid++) {
		assert_int_equal(add_ev(lake, DAY0 + 1000, 1, 0, uuid, 0), TARN_ADD_STORED);
		/* same batch, 3 days later, another partition */
		assert_int_equal(add_ev(lake, DAY0 + 3 * DAY_US + 7, 1, 0, uuid, 5),
				 TARN_ADD_DUPLICATE);
		assert_int_equal(add_ev(lake, DAY0 - DAY_US, 1, 1, uuid, 0), TARN_ADD_CONFLICT);
		assert_int_equal(tarn_lake_commit(lake), TARN_OK);
		/* next batch */
		assert_int_equal(add_ev(lake, DAY0 + 2 * DAY_US, 1, 0, uuid, 3),
				 TARN_ADD_DUPLICATE);
		assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	}
	check_counts(lake, 2, 4, 2);
	tarn_lake_close(lake);
	/* another process: nothing recent in memory */
	lake = open_lake();
	for (uuid = 0; uuid < 2; uuid++) {
		assert_int_equal(add_ev(lake, DAY0 + 9 * DAY_US, 1, 0, uuid, 1),
				 TARN_ADD_DUPLICATE);
		assert_int_equal(add_ev(lake, DAY0 + 9 * DAY_US, 1, 2, uuid, 1), TARN_ADD_CONFLICT);
	}
	/* a text id that looks like another kind's is another id */
	assert_int_equal(add_ev(lake, DAY0, 2, 0, 0, 0), TARN_ADD_STORED);
	assert_int_equal(add_ev(lake, DAY0, 2, 0, 1, 0), TARN_ADD_STORED);
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	check_counts(lake, 4, 6, 4);
	tarn_lake_close(lake);
}

#define FAR 700000

/* 700,000 events spread over 30 days (the in-memory ids written as runs
 * and merged); then every 1,000th re-delivered with another time from
 * another partition, before and after reopening, and a rolled-back batch
 * forgotten. */
static void ids__redelivery_far_from_the_original(void **state)
{
	tarn_lake *lake = open_lake();
	uint64_t dups = 0;
	int k;

	(void)state;
	for (k = 0; k < FAR; k++) {
		int64_t t = DAY0 + (int64_t)(k % 30) * DAY_US + k;
		assert_int_equal(add_ev(lake, t, k, 0, k & 1, k % 8), TARN_ADD_STORED);
		if (k % 50000 == 49999)
			assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	}
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	for (k = 0; k < FAR; k += 1000, dups++)
		assert_int_equal(add_ev(lake, DAY0 + 40 * DAY_US, k, 0, k & 1, 9),
				 TARN_ADD_DUPLICATE);
	assert_int_equal(add_ev(lake, DAY0, 7, 1, 1, 9), TARN_ADD_CONFLICT);
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	/* a batch that rolls back leaves no trace */
	assert_int_equal(add_ev(lake, DAY0, FAR + 1, 0, 0, 0), TARN_ADD_STORED);
	assert_int_equal(tarn_lake_rollback(lake), TARN_OK);
	tarn_lake_close(lake);

	lake = open_lake();
	for (k = 500; k < FAR; k += 1001, dups++)
		assert_int_equal(add_ev(lake, DAY0 - 5 * DAY_US, k, 0, k & 1, 2),
				 TARN_ADD_DUPLICATE);
	assert_int_equal(add_ev(lake, DAY0, FAR + 1, 0, 0, 0), TARN_ADD_STORED);
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	check_counts(lake, FAR + 1, dups, 1);
	tarn_lake_close(lake);
}

/* A writer dies (no close, so its ids were never written as a run) right
 * after committing: the next one still knows every id, from the blocks. */
static void ids__writer_killed_before_the_index_is_written(void **state)
{
	tarn_lake *lake;
	pid_t pid;
	int k, status;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		lake = NULL;
		if (tarn_lake_open(&lake, lake_dir, 0))
			_exit(3);
		for (k = 0; k < 20000; k++)
			if (add_ev(lake, DAY0 + (int64_t)(k % 3) * DAY_US + k, k, 0, 0, 0) !=
			    TARN_ADD_STORED)
				_exit(4);
		if (tarn_lake_commit(lake))
			_exit(5);
		_exit(0); /* as a kill -9 would: nothing flushed, nothing closed */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	lake = open_lake();
	for (k = 0; k < 20000; k += 3)
		assert_int_equal(add_ev(lake, DAY0 + 10 * DAY_US, k, 0, 0, 1), TARN_ADD_DUPLICATE);
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	check_counts(lake, 20000, 6667, 0);
	tarn_lake_close(lake);
}

/* verify tells when ids.db has lost ids the shards hold. */
static void ids__verify_names_a_lost_index(void **state)
{
	tarn_lake *lake = open_lake();
	uint64_t problems = 0;
	char cmd[512];
	int k;

	(void)state;
	for (k = 0; k < 1000; k++)
		assert_int_equal(add_ev(lake, DAY0 + k, k, 0, 0, 0), TARN_ADD_STORED);
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	tarn_lake_close(lake); /* writes the run */
	snprintf(cmd, sizeof(cmd), "sqlite3 '%s/ids.db' 'DELETE FROM runs; DELETE FROM run_pages'",
		 lake_dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(tarn_lake_open(&lake, lake_dir, TARN_LAKE_READONLY), TARN_OK);
	assert_int_equal(tarn_lake_verify(lake, NULL, NULL, &problems), TARN_ECORRUPT);
	assert_int_equal(problems, 1);
	tarn_lake_close(lake);
}

/* Retention: a pruned shard takes its ids with it. An event dated before
 * the horizon is quarantined as expired; the same id dated inside it is
 * a new event (documented: the first copy is gone). */
static void ids__prune_forgets_ids_and_expires_old_dates(void **state)
{
	tarn_prune_options po = TARN_PRUNE_OPTIONS_INIT;
	tarn_prune_result pr;
	tarn_lake *lake = open_lake();
	tarn_lake_stats st;
	int k;

	(void)state;
	for (k = 0; k < 3000; k++)
		assert_int_equal(add_ev(lake, DAY0 + (int64_t)(k % 3) * DAY_US + k, k, 0, k & 1, 0),
				 TARN_ADD_STORED);
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	po.before = "2026-11-21";
	assert_int_equal(tarn_lake_prune(lake, &po, &pr), TARN_OK);
	assert_int_equal(pr.shards, 1);
	assert_int_equal(pr.events, 1000);
	assert_string_equal(pr.horizon, "2026-11-21");
	/* k % 3 == 0 lived on 2026-11-20 */
	assert_int_equal(add_ev(lake, DAY0 + 5, 0, 0, 0, 0), TARN_ADD_EXPIRED);
	assert_int_equal(add_ev(lake, DAY0 + DAY_US + 5, 0, 0, 0, 0), TARN_ADD_STORED);
	/* the other days' ids are still known, whatever time they carry */
	assert_int_equal(add_ev(lake, DAY0 + 2 * DAY_US, 1, 0, 1, 3), TARN_ADD_DUPLICATE);
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	tarn_lake_close(lake);
	lake = open_lake(); /* the horizon is remembered */
	assert_int_equal(add_ev(lake, DAY0 + 7, 3, 0, 1, 0), TARN_ADD_EXPIRED);
	assert_int_equal(add_ev(lake, DAY0 + DAY_US + 9, 4, 0, 0, 0), TARN_ADD_DUPLICATE);
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	assert_int_equal(tarn_lake_stats_get(lake, NULL, NULL, &st), TARN_OK);
	assert_int_equal(st.total.events, 2001);
	assert_int_equal(st.quarantined, 2);
	check_counts(lake, 2001, 2, 0);
	tarn_lake_close(lake);
}

/* ---- the index itself, with hashes chosen by the test ---- */

#define N_SPREAD 6000

static uint64_t spread(uint64_t k)
{
	return tarn__hash_mix64(k * TARN__HASH_GOLDEN);
}

/* Hashes i < 8 are chosen: 0, 1 and 2 share their upper 32 bits and 0 and
 * 2 their upper 40 (what a run keeps); 3 and 4 are the least and greatest
 * 40-bit values (gaps past the Rice code's escape); the others spread. */
static uint64_t test_hash(size_t i)
{
	static const uint64_t chosen[8] = {
		0x123456789a000000ull, 0x123456789b000000ull, 0x123456789affffffull,
		0x0000000000000001ull, 0xffffffffffffffffull, 0x8000000000000000ull,
		0x8000000001000000ull, 0x7fffffffff000000ull,
	};

	return i < 8 ? chosen[i] : spread(i);
}

/* Days before 1970 and far after it, block ids up to UINT32_MAX. */
static struct tarn__idloc test_loc(size_t i)
{
	struct tarn__idloc l;

	l.day = i % 7 == 0 ? -3 - (int32_t)(i % 11) : 20000 + (int32_t)(i % 40);
	l.block_id = i % 13 == 0 ? UINT32_MAX - (uint32_t)i : (uint32_t)(i * 7 % 5000);
	return l;
}

static int has_loc(const struct tarn__idcand *c, size_t n, struct tarn__idloc l)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (c[i].loc.day == l.day && c[i].loc.block_id == l.block_id)
			return 1;
	return 0;
}

/* Every id added so far is found at its location; a hash that shares 32
 * bits with stored ones but not 40 is certainly new. In memory all 64 bits
 * are compared; in runs, 40 (in_runs). */
static void check_index(tarn__idindex *x, size_t added, int in_runs)
{
	const struct tarn__idcand *c;
	size_t i, n;

	for (i = 0; i < added; i++) {
		assert_int_equal(tarn__idindex_lookup(x, test_hash(i), &c, &n), TARN_OK);
		if (!has_loc(c, n, test_loc(i)))
			fail_msg("hash %zu (%016llx) not found after %zu ids", i,
				 (unsigned long long)test_hash(i), added);
	}
	if (added > 2) {
		int in_memory = 0;

		assert_int_equal(tarn__idindex_lookup(x, test_hash(0), &c, &n), TARN_OK);
		for (i = 0; i < n; i++)
			in_memory |= c[i].has_payload_hash;
		/* 40 bits equal: a candidate in runs, unless the id is in
		 * memory with its payload hash, which decides alone */
		assert_int_equal(has_loc(c, n, test_loc(2)), in_runs && !in_memory);
		assert_false(has_loc(c, n, test_loc(1)));
		assert_int_equal(tarn__idindex_lookup(x, 0x123456789c000000ull, &c, &n), TARN_OK);
		assert_int_equal(n, 0);
	}
}

/* Runs written four times, merged into one, and read back after reopening
 * (the filter rebuilt from the runs): each entry keeps its 40 bits of hash,
 * its day and its block, whatever their range. */
static void ids__runs_keep_forty_bits_and_every_location(void **state)
{
	struct tarn__idindex_stats st;
	tarn__idindex *x = NULL;
	size_t i, added = 0, part;

	(void)state;
	assert_int_equal(tarn__idindex_open(&x, lake_dir, 0644), TARN_OK);
	for (part = 1; part <= 4; part++) {
		for (i = added; i < N_SPREAD * part / 4; i++)
			assert_int_equal(tarn__idindex_add(x, test_hash(i), 1, test_loc(i)),
					 TARN_OK);
		tarn__idindex_commit(x);
		check_index(x, i, part > 1); /* in memory (and runs) */
		added = i;
		assert_int_equal(tarn__idindex_flush(x, 1), TARN_OK);
		check_index(x, added, 1); /* in runs */
	}
	tarn__idindex_stats(x, &st);
	assert_int_equal(st.runs, 1); /* four level-0 runs merged */
	assert_int_equal(st.run_ids, N_SPREAD);
	assert_int_equal(st.mem_ids, N_SPREAD); /* the last flush's, kept */
	tarn__idindex_close(x);
	/* reopened, memory is empty: the runs alone answer, 40 bits each */
	assert_int_equal(tarn__idindex_open(&x, lake_dir, 0644), TARN_OK);
	tarn__idindex_stats(x, &st);
	assert_int_equal(st.mem_ids, 0);
	check_index(x, N_SPREAD, 1);
	tarn__idindex_close(x);
}

/* After a flush the last ids stay in memory with their payload hashes, so
 * a re-delivery right after a commit needs no block read; they are not
 * written to a run a second time by the next flush, and older ones are
 * answered by the runs. */
#define KEPT_TEST 100000 /* past RECENT_KEPT (65,536) */
static void ids__recent_ids_kept_after_a_flush(void **state)
{
	const struct tarn__idcand *c;
	struct tarn__idindex_stats st;
	tarn__idindex *x = NULL;
	size_t i, n, kept;

	(void)state;
	assert_int_equal(tarn__idindex_open(&x, lake_dir, 0644), TARN_OK);
	for (i = 0; i < KEPT_TEST; i++)
		assert_int_equal(tarn__idindex_add(x, spread(i), 1000 + i, test_loc(i)), TARN_OK);
	tarn__idindex_commit(x);
	assert_int_equal(tarn__idindex_flush(x, 1), TARN_OK);
	tarn__idindex_stats(x, &st);
	kept = st.mem_ids;
	assert_true(kept >= 8192 && kept < KEPT_TEST);
	assert_int_equal(st.run_ids, KEPT_TEST);
	for (i = 0; i < KEPT_TEST; i++) {
		int recent = i >= KEPT_TEST - kept;
		assert_int_equal(tarn__idindex_lookup(x, spread(i), &c, &n), TARN_OK);
		assert_true(has_loc(c, n, test_loc(i)));
		assert_int_equal(c[0].has_payload_hash, recent);
		if (recent)
			assert_true(c[0].payload_hash == ((1000 + i) | 1));
	}
	/* more ids, another flush: the kept ones are in the runs once */
	for (i = KEPT_TEST; i < KEPT_TEST + 100; i++)
		assert_int_equal(tarn__idindex_add(x, spread(i), 1000 + i, test_loc(i)), TARN_OK);
	tarn__idindex_commit(x);
	assert_int_equal(tarn__idindex_flush(x, 1), TARN_OK);
	tarn__idindex_stats(x, &st);
	assert_int_equal(st.run_ids, KEPT_TEST + 100);
	/* nothing new: a forced flush writes no empty run */
	assert_int_equal(tarn__idindex_flush(x, 1), TARN_OK);
	tarn__idindex_stats(x, &st);
	assert_int_equal(st.run_ids, KEPT_TEST + 100);
	tarn__idindex_close(x);
	assert_int_equal(tarn__idindex_open(&x, lake_dir, 0644), TARN_OK);
	for (i = 0; i < KEPT_TEST + 100; i += 97) {
		assert_int_equal(tarn__idindex_lookup(x, spread(i), &c, &n), TARN_OK);
		assert_true(has_loc(c, n, test_loc(i)));
	}
	tarn__idindex_close(x);
}

/* Each run has a sketch (2 bits an id): an id that the filter lets
 * through is looked for in a run's page only when the run's sketch has
 * its bit, about 2 runs in 5 for an id no run holds; yet every stored id
 * is found, in runs written by flushes, merged, and after a reopen (the
 * sketches then built from the runs). */
#define SK_FLUSHES 11
#define SK_PER	   96000
#define SK_ABSENT  400000
static void check_sketches(tarn__idindex *x, size_t stored)
{
	struct tarn__idindex_stats a, b;
	const struct tarn__idcand *c;
	size_t i, n;
	uint64_t went, reads;

	for (i = 0; i < stored; i++) {
		assert_int_equal(tarn__idindex_lookup(x, spread(1000000 + i), &c, &n), TARN_OK);
		if (!has_loc(c, n, test_loc(i)))
			fail_msg("id %zu of %zu not found", i, stored);
	}
	tarn__idindex_stats(x, &a);
	for (i = 0; i < SK_ABSENT; i++) {
		assert_int_equal(tarn__idindex_lookup(x, spread(90000000 + i), &c, &n), TARN_OK);
		assert_int_equal(n, 0);
	}
	tarn__idindex_stats(x, &b);
	went = b.run_lookups - a.run_lookups;
	reads = b.run_reads - a.run_reads;
	/* the filter passes ~0.3% of new ids at this fill */
	assert_true(went >= 100);
	/* without sketches: went * runs; with them ~0.4 of it */
	if (reads * 10 > went * b.runs * 6)
		fail_msg("%llu page reads for %llu lookups in %llu runs", (unsigned long long)reads,
			 (unsigned long long)went, (unsigned long long)b.runs);
}

static void ids__run_sketches_spare_page_reads(void **state)
{
	struct tarn__idindex_stats st;
	tarn__idindex *x = NULL;
	size_t i, f;

	(void)state;
	assert_int_equal(tarn__idindex_open(&x, lake_dir, 0644), TARN_OK);
	for (f = 0; f < SK_FLUSHES; f++) {
		for (i = f * SK_PER; i < (f + 1) * SK_PER; i++)
			assert_int_equal(tarn__idindex_add(x, spread(1000000 + i), 1, test_loc(i)),
					 TARN_OK);
		tarn__idindex_commit(x);
		assert_int_equal(tarn__idindex_flush(x, 1), TARN_OK);
	}
	tarn__idindex_stats(x, &st);
	assert_int_equal(st.runs, 2 + 3); /* two merged, three not yet */
	check_sketches(x, SK_FLUSHES * SK_PER);
	tarn__idindex_close(x);
	assert_int_equal(tarn__idindex_open(&x, lake_dir, 0644), TARN_OK);
	check_sketches(x, SK_FLUSHES * SK_PER);
	tarn__idindex_close(x);
}

/* Told that ~4M ids are coming (tarn ingest of a file of known size),
 * the index sizes its filter for them at once, refilled from the runs and
 * from memory: every id stored before is still found; a smaller hint
 * changes nothing. */
static void ids__expect_sizes_the_filter_once(void **state)
{
	struct tarn__idindex_stats st;
	const struct tarn__idcand *c;
	tarn__idindex *x = NULL;
	size_t i, n;
	uint64_t before;

	(void)state;
	assert_int_equal(tarn__idindex_open(&x, lake_dir, 0644), TARN_OK);
	for (i = 0; i < 30000; i++) {
		assert_int_equal(tarn__idindex_add(x, spread(7000000 + i), 1, test_loc(i)),
				 TARN_OK);
		if (i == 19999) {
			tarn__idindex_commit(x);
			assert_int_equal(tarn__idindex_flush(x, 1), TARN_OK); /* 20,000 in a run */
		}
	}
	tarn__idindex_commit(x); /* 10,000 more in memory only */
	tarn__idindex_stats(x, &st);
	before = st.filter_bytes;
	assert_int_equal(tarn__idindex_expect(x, 4000000), TARN_OK);
	tarn__idindex_stats(x, &st);
	assert_true(st.filter_bytes >= (4000000 + 30000) * 11 / 10 * 10 / 8);
	assert_true(st.filter_bytes > before);
	for (i = 0; i < 30000; i++) {
		assert_int_equal(tarn__idindex_lookup(x, spread(7000000 + i), &c, &n), TARN_OK);
		assert_true(has_loc(c, n, test_loc(i)));
	}
	before = st.filter_bytes;
	assert_int_equal(tarn__idindex_expect(x, 1000), TARN_OK);
	tarn__idindex_stats(x, &st);
	assert_int_equal(st.filter_bytes, before);
	tarn__idindex_close(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(ids__same_id_other_time_is_a_duplicate, setup,
						teardown),
		cmocka_unit_test_setup_teardown(ids__redelivery_far_from_the_original, setup,
						teardown),
		cmocka_unit_test_setup_teardown(ids__writer_killed_before_the_index_is_written,
						setup, teardown),
		cmocka_unit_test_setup_teardown(ids__verify_names_a_lost_index, setup, teardown),
		cmocka_unit_test_setup_teardown(ids__prune_forgets_ids_and_expires_old_dates, setup,
						teardown),
		cmocka_unit_test_setup_teardown(ids__runs_keep_forty_bits_and_every_location, setup,
						teardown),
		cmocka_unit_test_setup_teardown(ids__recent_ids_kept_after_a_flush, setup,
						teardown),
		cmocka_unit_test_setup_teardown(ids__run_sketches_spare_page_reads, setup,
						teardown),
		cmocka_unit_test_setup_teardown(ids__expect_sizes_the_filter_once, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
