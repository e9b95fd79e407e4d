/* Unit tests of the synthetic generator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uuid/uuid.h>

#include "tarn/tarn.h"

static tarn_gen *make(uint64_t seed, uint64_t count, int days, double dup)
{
	tarn_gen_options o = TARN_GEN_OPTIONS_INIT;
	tarn_gen *g = NULL;

	o.seed = seed;
	o.count = count;
	o.days = days;
	o.dup_rate = dup;
	o.start_us = 1795132800000000LL;
	assert_int_equal(tarn_gen_new(&g, &o), TARN_OK);
	return g;
}

static void gen__deterministic_for_a_seed(void **state)
{
	tarn_gen *a = make(9, 2000, 2, 0.1), *b = make(9, 2000, 2, 0.1),
		 *c = make(10, 2000, 2, 0.1);
	tarn_gen_event ea, eb, ec;
	int same_as_other_seed = 1;

	(void)state;
	while (tarn_gen_next(a, &ea) == TARN_OK) {
		assert_int_equal(tarn_gen_next(b, &eb), TARN_OK);
		assert_int_equal(ea.payload_len, eb.payload_len);
		assert_memory_equal(ea.payload, eb.payload, ea.payload_len);
		if (tarn_gen_next(c, &ec) == TARN_OK &&
		    (ec.payload_len != ea.payload_len ||
		     memcmp(ec.payload, ea.payload, ea.payload_len)))
			same_as_other_seed = 0;
	}
	assert_int_equal(tarn_gen_next(b, &eb), TARN_ENOTFOUND);
	assert_false(same_as_other_seed);
	tarn_gen_free(a);
	tarn_gen_free(b);
	tarn_gen_free(c);
}

static void gen__shape_and_distributions(void **state)
{
	enum { N = 60000 };
	tarn_gen *g = make(1, N, 3, 0.05);
	tarn_gen_event e;
	uint64_t total = 0, dups = 0, clicks = 0, logins = 0, logouts = 0, buys = 0, web = 0,
		 mobile = 0;
	int64_t last_t = 0;
	char seen_first[200] = { 0 }, seen_last[200] = { 0 };
	int users_first = 0, users_last = 0;

	(void)state;
	while (tarn_gen_next(g, &e) == TARN_OK) {
		tarn_event ev;
		tarn_reject why;
		uuid_t u;
		char id[37];
		int user;

		total++;
		if (e.is_duplicate) {
			dups++;
			continue;
		}
		/* every event is storable by tarn, with a v4 UUID */
		tarn_event_init(&ev);
		ev.payload = e.payload;
		ev.payload_len = e.payload_len;
		assert_int_equal(tarn_event_extract(&ev, NULL, &why, NULL, 0), TARN_OK);
		assert_int_equal(ev.time_us, e.time_us);
		memcpy(id, e.event_id, 36);
		id[36] = '\0';
		assert_int_equal(uuid_parse(id, u), 0);
		assert_int_equal(u[6] >> 4, 4);
		assert_int_equal(u[8] >> 6, 2);
		assert_true(e.time_us >= last_t);
		last_t = e.time_us;
		clicks += strcmp(e.event_type, "click") == 0;
		logins += strcmp(e.event_type, "login") == 0;
		logouts += strcmp(e.event_type, "logout") == 0;
		buys += strcmp(e.event_type, "purchase") == 0;
		web += strcmp(ev.source, "web") == 0;
		mobile += strcmp(ev.source, "mobile") == 0;
		user = (int)strtol(e.user_id + 5, NULL, 10);
		assert_true(user > 0 && user < 200);
		if (e.time_us < 1795132800000000LL + TARN_US_PER_DAY)
			seen_first[user] = 1;
		else if (e.time_us >= 1795132800000000LL + 2 * TARN_US_PER_DAY)
			seen_last[user] = 1;
	}
	for (int i = 0; i < 200; i++) {
		users_first += seen_first[i];
		users_last += seen_last[i];
	}
	assert_int_equal(total - dups, N);
	assert_true(dups > N * 0.04 && dups < N * 0.06);
	assert_true(clicks > logins && logins > logouts && logouts > buys && buys > 0);
	assert_true(web > mobile && mobile > 0);
	assert_true(users_first >= 95 && users_first <= 105);
	assert_true(users_last >= 110);
	assert_true(last_t < 1795132800000000LL + 3 * TARN_US_PER_DAY);
	tarn_gen_free(g);
}

static void gen__resends_are_byte_identical(void **state)
{
	tarn_gen *g = make(5, 5000, 1, 0.2);
	tarn_gen_event e;
	char **seen = calloc(5000, sizeof(char *));
	size_t n = 0, i, matched = 0, dups = 0;

	(void)state;
	while (tarn_gen_next(g, &e) == TARN_OK) {
		if (!e.is_duplicate) {
			seen[n++] = strndup(e.payload, e.payload_len);
			continue;
		}
		dups++;
		for (i = 0; i < n; i++)
			if (strlen(seen[i]) == e.payload_len &&
			    !memcmp(seen[i], e.payload, e.payload_len))
				matched++;
	}
	assert_true(dups > 800);
	assert_int_equal(matched, dups); /* each re-send equals an earlier event */
	for (i = 0; i < n; i++)
		free(seen[i]);
	free(seen);
	tarn_gen_free(g);
}

static void gen__bad_options(void **state)
{
	tarn_gen_options o = TARN_GEN_OPTIONS_INIT;
	tarn_gen *g = NULL;

	(void)state;
	o.days = 0;
	assert_int_equal(tarn_gen_new(&g, &o), TARN_EINVAL);
	o.days = 1;
	o.dup_rate = 1.5;
	assert_int_equal(tarn_gen_new(&g, &o), TARN_EINVAL);
	o.dup_rate = 0;
	o.count = 0;
	assert_int_equal(tarn_gen_new(&g, &o), TARN_EINVAL);
	assert_null(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(gen__deterministic_for_a_seed),
		cmocka_unit_test(gen__shape_and_distributions),
		cmocka_unit_test(gen__resends_are_byte_identical),
		cmocka_unit_test(gen__bad_options),
	};

	return cmocka_run_group_tests_name("gen", tests, NULL, NULL);
}
