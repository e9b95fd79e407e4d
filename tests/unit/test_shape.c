/* Unit tests of the shaped payload frames (src/shape.c): any bytes come
 * back exactly, columns of like values compress, and damaged frames are
 * refused or decode to other bytes, never read or write out of bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zstd.h>

#include "tarn/tarn.h"
#include "block.h"
#include "shape.h"

#define MAX_EVENTS 4096

struct set {
	struct tarn__rec recs[MAX_EVENTS];
	struct tarn__buf pay;
	uint32_t n;
};

static void set_add(struct set *s, int64_t time_us, const void *p, size_t len)
{
	struct tarn__rec *r = &s->recs[s->n++];

	assert_true(s->n <= MAX_EVENTS);
	memset(r, 0, sizeof(*r));
	assert_int_equal(tarn__buf_reserve(&s->pay, len + 1), TARN_OK);
	memcpy(s->pay.p + s->pay.len, p, len);
	r->pay_off = (uint32_t)s->pay.len;
	r->pay_len = (uint32_t)len;
	r->time_us = time_us;
	s->pay.len += len;
}

static void set_text(struct set *s, int64_t time_us, const char *text)
{
	set_add(s, time_us, text, strlen(text));
}

/* Encode s, decode it into a fresh buffer, and compare every byte; the
 * content is left in *content (caller frees). Returns its mode byte. */
static int roundtrip(const struct set *s, struct tarn__buf *content)
{
	unsigned char *back = malloc(s->pay.len + 1);
	const char *why = NULL;

	assert_non_null(back);
	memset(back, 0xa5, s->pay.len + 1);
	content->len = 0;
	assert_int_equal(tarn__shape_encode(s->pay.p, s->recs, s->n, content), TARN_OK);
	assert_int_equal(tarn__shape_decode(content->p, content->len, s->recs, s->n, back, &why),
			 TARN_OK);
	assert_null(why);
	assert_memory_equal(back, s->pay.p, s->pay.len);
	free(back);
	return content->p[0];
}

static size_t zstd_size(const void *p, size_t len)
{
	size_t cap = ZSTD_compressBound(len);
	void *z = malloc(cap);
	size_t n;

	assert_non_null(z);
	n = ZSTD_compress(z, cap, p, len, 3);
	assert_false(ZSTD_isError(n));
	free(z);
	return n;
}

static const int64_t T0 = 1764892800000000LL; /* 2025-12-05T00:00:00Z */

/* The producer's shape: time written as its own event time, in ms. */
static void producer_like(struct set *s, uint32_t n, uint32_t seed)
{
	static const char *types[] = { "click", "login", "logout", "purchase", "view" };
	char text[512], when[28];
	uint32_t i, x = seed;

	for (i = 0; i < n; i++) {
		int64_t t = T0 + (int64_t)i * 864000;

		x = x * 1103515245u + 12345u;
		assert_int_equal(tarn_time_format(t, when), TARN_OK);
		when[23] = 'Z'; /* milliseconds */
		when[24] = '\0';
		snprintf(text, sizeof(text),
			 "{\"user_id\":\"user_%04u\",\"event_type\":\"%s\",\"page\":\"/p/%u\","
			 "\"timestamp\":\"%s\",\"n\":%d,\"ok\":%s}",
			 (x >> 8) % 100, types[(x >> 4) % 5], (x >> 12) % 7, when, (int)i * 3 - 500,
			 (x & 1) ? "true" : "null");
		set_text(s, t, text);
	}
}

static void shape__roundtrip_every_kind(void **state)
{
	static struct set s;
	struct tarn__buf c = { NULL, 0, 0 };
	unsigned char bin[300];
	char big[4000];
	size_t i, at;

	(void)state;
	memset(&s, 0, sizeof(s));
	producer_like(&s, 50, 1);
	/* GeoJSON: epoch milliseconds, decimals, nested arrays, escapes */
	set_text(&s, 1700000000123000LL,
		 "{\"type\":\"Feature\",\"properties\":{\"mag\":2.35,\"time\":1700000000123,"
		 "\"place\":\"5 km \\\"N\\\" of \\\\ Ridge\"},\"geometry\":{\"coordinates\":"
		 "[-117.5, 35.25, -0.0]},\"id\":\"ci40\"}");
	set_text(&s, 1700000001000000LL,
		 "{\"type\":\"Feature\",\"properties\":{\"mag\":-1e-3,\"time\":1700000001,"
		 "\"place\":\"\"},\"geometry\":{\"coordinates\":[1, 2, 3]},\"id\":\"x\"}");
	/* integers that are not canonical, or too long for deltas */
	set_text(&s, T0, "{\"a\":007,\"b\":-0,\"c\":12345678901234567890,\"d\":+5}");
	set_text(&s, T0, "{\"a\":7,\"b\":0,\"c\":-9223372036854775808,\"d\":5}");
	/* times before 1970, with and without a fraction */
	set_text(&s, -86400000000LL, "{\"t\":\"1969-12-31T00:00:00Z\"}");
	set_text(&s, -86399999000LL, "{\"t\":\"1969-12-31T00:00:00.001Z\"}");
	set_text(&s, -86399999999LL, "{\"t\":\"1969-12-31T00:00:00.000001Z\"}");
	/* spacing, an unterminated string, not JSON at all, empty */
	set_text(&s, T0, " { \"k\" :\t\"v\" ,\n\"e\" : [ ] } ");
	set_text(&s, T0, "{\"k\":\"no end");
	set_text(&s, T0, "");
	for (i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)(i * 37);
	set_add(&s, T0, bin, sizeof(bin));
	/* more values than a template holds: the event is kept whole */
	for (at = 0, i = 0; i < 300; i++)
		at += (size_t)snprintf(big + at, sizeof(big) - at, "%s%zu", i ? "," : "[", i);
	big[at++] = ']';
	set_add(&s, T0, big, at);
	assert_int_equal(roundtrip(&s, &c), 1);

	/* the same with every event a shape of its own: kept as it is */
	free(s.pay.p);
	memset(&s, 0, sizeof(s));
	for (i = 0; i < 100; i++) {
		snprintf(big, sizeof(big), "{\"k%zu\":%zu}", i, i);
		set_text(&s, T0, big);
	}
	assert_int_equal(roundtrip(&s, &c), 0);
	free(s.pay.p);
	free(c.p);
}

/* a dictionary of more than 256 values takes two bytes an index */
static void shape__wide_dictionary(void **state)
{
	static struct set s;
	struct tarn__buf c = { NULL, 0, 0 };
	char text[64];
	uint32_t i;

	(void)state;
	memset(&s, 0, sizeof(s));
	for (i = 0; i < 4096; i++) {
		snprintf(text, sizeof(text), "{\"u\":\"user-%u\"}", (i * 7919u) % 1000u);
		set_text(&s, T0 + i, text);
	}
	assert_int_equal(roundtrip(&s, &c), 1);
	free(s.pay.p);
	free(c.p);
}

/* random bytes drawn mostly from JSON's punctuation */
static void shape__random_roundtrip(void **state)
{
	static struct set s;
	static const char alphabet[] = "{}[]\":,\\ \t\nabtrue0123456789-+.eE\"\":\":";
	struct tarn__buf c = { NULL, 0, 0 };
	unsigned char text[200];
	uint32_t round, i, x = 7;

	(void)state;
	for (round = 0; round < 300; round++) {
		memset(&s, 0, sizeof(s));
		for (i = 0; i < 1 + round % 60; i++) {
			size_t len, k;

			x = x * 1664525u + 1013904223u;
			len = (x >> 16) % sizeof(text);
			for (k = 0; k < len; k++) {
				x = x * 1664525u + 1013904223u;
				text[k] = (x >> 28)
						  ? (unsigned char)alphabet[(x >> 8) %
									    (sizeof(alphabet) - 1)]
						  : (unsigned char)(x >> 8);
			}
			set_add(&s, (int64_t)(x % 100) * 1000, text, len);
		}
		roundtrip(&s, &c);
		free(s.pay.p);
	}
	free(c.p);
}

/* columns of like values, and times that are the events' own, compress
 * far better than the same payloads as rows */
static void shape__columns_compress(void **state)
{
	static struct set s;
	struct tarn__buf c = { NULL, 0, 0 };
	size_t rows, cols;

	(void)state;
	memset(&s, 0, sizeof(s));
	producer_like(&s, 3000, 5);
	assert_int_equal(roundtrip(&s, &c), 1);
	rows = zstd_size(s.pay.p, s.pay.len);
	cols = zstd_size(c.p, c.len);
	assert_true(cols * 2 < rows);
	free(s.pay.p);
	free(c.p);
}

/* every byte changed and every truncation: refused, or decoded to some
 * bytes of the right sizes; never out of bounds (run under ASan) */
static void shape__damage_refused_or_contained(void **state)
{
	static struct set s;
	struct tarn__buf c = { NULL, 0, 0 };
	unsigned char *back, *bad;
	const char *why;
	size_t i, refused = 0;
	int rc;

	(void)state;
	memset(&s, 0, sizeof(s));
	producer_like(&s, 40, 3);
	set_text(&s, T0, "{\"k\":\"no end");
	roundtrip(&s, &c);
	back = malloc(s.pay.len + 1);
	bad = malloc(c.len);
	assert_non_null(back);
	assert_non_null(bad);
	for (i = 0; i < c.len; i++) {
		static const unsigned char flips[] = { 0x01, 0x80, 0xff };
		size_t f;

		for (f = 0; f < sizeof(flips); f++) {
			memcpy(bad, c.p, c.len);
			bad[i] ^= flips[f];
			rc = tarn__shape_decode(bad, c.len, s.recs, s.n, back, &why);
			assert_true(rc == TARN_OK || rc == TARN_ECORRUPT);
			if (rc) {
				assert_non_null(why);
				refused++;
			}
		}
		rc = tarn__shape_decode(c.p, i, s.recs, s.n, back, &why);
		assert_int_equal(rc, TARN_ECORRUPT);
	}
	assert_true(refused > c.len);
	/* the right content for events of other sizes */
	s.recs[0].pay_len++;
	assert_int_equal(tarn__shape_decode(c.p, c.len, s.recs, s.n, back, &why), TARN_ECORRUPT);
	free(back);
	free(bad);
	free(s.pay.p);
	free(c.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shape__roundtrip_every_kind),
		cmocka_unit_test(shape__wide_dictionary),
		cmocka_unit_test(shape__random_roundtrip),
		cmocka_unit_test(shape__columns_compress),
		cmocka_unit_test(shape__damage_refused_or_contained),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
