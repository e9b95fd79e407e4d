/* Unit tests of the block codec (src/block.c): every field comes back,
 * events come back sorted, and damaged frames are refused, never crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uuid/uuid.h>
#include <zstd.h>

#include "tarn/tarn.h"
#include "block.h"
#include "old_block.h"

static void make_event(tarn_event *ev, int64_t t, const char *id_text, const char *payload)
{
	tarn_event_init(ev);
	ev->time_us = t;
	if (uuid_parse(id_text, ev->id) == 0) {
		ev->id_is_uuid = 1;
		ev->id_len = 16;
	} else {
		ev->id_len = strlen(id_text);
		memcpy(ev->id, id_text, ev->id_len);
	}
	ev->payload = payload;
	ev->payload_len = strlen(payload);
}

struct coded {
	tarn__block b;
	ZSTD_CCtx *c;
	ZSTD_DCtx *d;
};

static void encode_decode(struct coded *x, tarn__block *out)
{
	x->c = ZSTD_createCCtx();
	x->d = ZSTD_createDCtx();
	ZSTD_CCtx_setParameter(x->c, ZSTD_c_checksumFlag, 1);
	assert_int_equal(tarn__block_encode(&x->b, x->c), TARN_OK);
	tarn__block_init(out);
	assert_int_equal(tarn__block_decode(out, x->d, x->b.zmeta.p, x->b.zmeta.len, "t"), TARN_OK);
	assert_int_equal(tarn__block_decode_payloads(out, x->d, x->b.zpay.p, x->b.zpay.len, "t"),
			 TARN_OK);
}

static void coded_free(struct coded *x)
{
	tarn__block_free(&x->b);
	ZSTD_freeCCtx(x->c);
	ZSTD_freeDCtx(x->d);
}

static void block__roundtrip_every_field(void **state)
{
	static const char *const ids[] = { "6f1c0e3a-8a8e-4c1e-9a51-0a6d6b0c0001",
					   "6F1C0E3A-8A8E-4C1E-9A51-0A6D6B0C0002", "order-77" };
	static const char *const payloads[] = {
		"{\"event_id\":\"6f1c0e3a-8a8e-4c1e-9a51-0a6d6b0c0001\",\"a\":1}",
		"{\"event_id\":\"6F1C0E3A-8A8E-4C1E-9A51-0A6D6B0C0002\"}", ""
	};
	struct tarn__buf scratch = { 0 };
	struct coded x;
	tarn__block out;
	tarn_event ev, got;
	int i;

	(void)state;
	tarn__block_init(&x.b);
	for (i = 0; i < 3; i++) {
		make_event(&ev, 1795132800000000LL + 1000 * (3 - i), ids[i], payloads[i]);
		if (i == 0) {
			ev.key = "user_1";
			ev.key_len = 6;
			ev.headers = "\x01\x02hdr";
			ev.headers_len = 5;
			ev.topic = "in";
			ev.partition = 7;
			ev.offset = 123456789;
			ev.kafka_ts_us = ev.time_us - 5;
			snprintf(ev.name, sizeof(ev.name), "click");
			ev.has_name = 1;
		}
		if (i == 1) {
			ev.key = ""; /* an empty key is not "no key" */
			ev.key_len = 0;
		}
		ev.ingest_us = 1795132900000000LL + i;
		assert_int_equal(tarn__block_add(&x.b, &ev), TARN_OK);
	}
	/* the lowercase UUID text was cut out of the first payload only */
	assert_int_equal(x.b.pay.len, strlen(payloads[0]) - 36 + strlen(payloads[1]));
	encode_decode(&x, &out);
	assert_int_equal(out.n, 3);
	/* sorted by time: the third event added comes first */
	for (i = 0; i < 3; i++) {
		int src = 2 - i;

		tarn_event_init(&got);
		assert_int_equal(tarn__block_event(&out, (uint32_t)i, &scratch, &got), TARN_OK);
		assert_int_equal(got.time_us, 1795132800000000LL + 1000 * (3 - src));
		assert_int_equal(got.payload_len, strlen(payloads[src]));
		assert_memory_equal(got.payload, payloads[src], got.payload_len);
		assert_int_equal(got.ingest_us, 1795132900000000LL + src);
		if (src == 0) {
			assert_int_equal(got.key_len, 6);
			assert_memory_equal(got.key, "user_1", 6);
			assert_int_equal(got.headers_len, 5);
			assert_memory_equal(got.headers, "\x01\x02hdr", 5);
			assert_string_equal(got.topic, "in");
			assert_int_equal(got.partition, 7);
			assert_int_equal(got.offset, 123456789);
			assert_int_equal(got.kafka_ts_us, got.time_us - 5);
			assert_true(got.has_name);
			assert_string_equal(got.name, "click");
		} else {
			assert_null(got.topic);
			assert_int_equal(got.partition, -1);
			assert_int_equal(got.offset, -1);
			assert_int_equal(got.kafka_ts_us, -1);
			assert_false(got.has_name);
			assert_null(got.headers);
		}
		if (src == 1) {
			assert_non_null(got.key);
			assert_int_equal(got.key_len, 0);
		}
		if (src == 2) {
			assert_null(got.key);
			assert_false(got.id_is_uuid);
			assert_int_equal(got.id_len, 8);
			assert_memory_equal(got.id, "order-77", 8);
		}
	}
	tarn__block_free(&out);
	coded_free(&x);
	free(scratch.p);
}

/* The UUID's text is cut from the stored payload where extraction said it
 * was (id_text_at) when the bytes there are that text; a hint that is
 * wrong (elsewhere, past the end, uppercase text) is checked, not trusted,
 * and every payload comes back byte for byte. */
static void block__uuid_hint_checked_not_trusted(void **state)
{
	static const char id[] = "0c1d2e3f-0000-4000-8000-00000000abcd";
	static const char *const payloads[] = {
		"{\"a\":\"0c1d2e3f-0000-4000-8000-00000000abcd\","
		"\"event_id\":\"0c1d2e3f-0000-4000-8000-00000000abcd\"}",
		"{\"event_id\":\"0C1D2E3F-0000-4000-8000-00000000ABCD\"}",
		"{\"event_id\":\"0c1d2e3f-0000-4000-8000-00000000abcd\"}",
		"{\"event_id\":\"0c1d2e3f-0000-4000-8000-00000000abcd\"}"
	};
	const size_t hints[] = { 56, 13, 5, SIZE_MAX - 3 };
	struct tarn__buf scratch = { 0 };
	struct coded x;
	tarn__block out;
	tarn_event ev, got;
	int i;

	(void)state;
	tarn__block_init(&x.b);
	for (i = 0; i < 4; i++) {
		make_event(&ev, 1795132800000000LL + i, id, payloads[i]);
		ev.id_text_at = hints[i];
		assert_int_equal(tarn__block_add(&x.b, &ev), TARN_OK);
	}
	/* the hint of event 0 is the second copy; 1 holds no lowercase text */
	assert_int_equal(x.b.recs[0].elide, 57);
	assert_int_equal(x.b.recs[1].elide, 0);
	assert_int_equal(x.b.recs[2].elide, 14); /* found by search, not at 5 */
	assert_int_equal(x.b.recs[3].elide, 14);
	encode_decode(&x, &out);
	for (i = 0; i < 4; i++) {
		tarn_event_init(&got);
		assert_int_equal(tarn__block_event(&out, (uint32_t)i, &scratch, &got), TARN_OK);
		assert_int_equal(got.payload_len, strlen(payloads[i]));
		assert_memory_equal(got.payload, payloads[i], got.payload_len);
	}
	tarn__block_free(&out);
	coded_free(&x);
	free(scratch.p);
}

static void block__same_time_text_ids_before_uuids(void **state)
{
	struct coded x;
	tarn__block out;
	tarn_event ev;

	(void)state;
	tarn__block_init(&x.b);
	make_event(&ev, 1000, "6f1c0e3a-8a8e-4c1e-9a51-0a6d6b0c0001", "{}");
	assert_int_equal(tarn__block_add(&x.b, &ev), TARN_OK);
	make_event(&ev, 1000, "zz", "{}");
	assert_int_equal(tarn__block_add(&x.b, &ev), TARN_OK);
	make_event(&ev, 1000, "z", "{}");
	assert_int_equal(tarn__block_add(&x.b, &ev), TARN_OK);
	make_event(&ev, 999, "zzz", "{}");
	assert_int_equal(tarn__block_add(&x.b, &ev), TARN_OK);
	encode_decode(&x, &out);
	assert_int_equal(out.recs[0].time_us, 999);
	assert_int_equal(out.recs[1].id_len, 1); /* "z" < "zz": shorter first */
	assert_int_equal(out.recs[2].id_len, 2);
	assert_true(out.recs[3].is_uuid);
	assert_int_equal(tarn__block_find(&out, 1000, 0, (const unsigned char *)"zz", 2), 2);
	assert_int_equal(tarn__block_find(&out, 1001, 0, (const unsigned char *)"zz", 2), -1);
	assert_int_equal(tarn__block_find(&out, 1000, 1, (const unsigned char *)"zz", 2), -1);
	tarn__block_free(&out);
	coded_free(&x);
}

/* Recompress a changed copy of the fields frame and try to read it. */
static int decode_mutant(ZSTD_DCtx *d, const unsigned char *raw, size_t len)
{
	size_t bound = ZSTD_compressBound(len), z;
	void *buf = malloc(bound);
	tarn__block b;
	int rc;

	assert_non_null(buf);
	z = ZSTD_compress(buf, bound, raw, len, 1);
	assert_false(ZSTD_isError(z));
	tarn__block_init(&b);
	rc = tarn__block_decode(&b, d, buf, z, "mutant");
	tarn__block_free(&b);
	free(buf);
	return rc;
}

static void block__damaged_frames_refused(void **state)
{
	struct coded x;
	tarn__block out;
	tarn_event ev;
	unsigned char *raw, *m;
	size_t raw_len;
	char id[40], payload[80];
	int i, refused = 0;

	(void)state;
	tarn__block_init(&x.b);
	for (i = 0; i < 50; i++) {
		snprintf(id, sizeof(id), "id-%d", i);
		snprintf(payload, sizeof(payload), "{\"event_id\":\"id-%d\",\"n\":%d}", i, i);
		make_event(&ev, 1795132800000000LL + i, id, payload);
		ev.key = id;
		ev.key_len = strlen(id);
		assert_int_equal(tarn__block_add(&x.b, &ev), TARN_OK);
	}
	encode_decode(&x, &out);
	/* a truncated frame, and a frame with a flipped byte (checksum) */
	tarn__block_free(&out);
	assert_int_not_equal(tarn__block_decode(&out, x.d, x.b.zmeta.p, x.b.zmeta.len / 2, "t"),
			     TARN_OK);
	x.b.zmeta.p[x.b.zmeta.len / 2] ^= 0x55;
	assert_int_not_equal(tarn__block_decode(&out, x.d, x.b.zmeta.p, x.b.zmeta.len, "t"),
			     TARN_OK);
	x.b.zmeta.p[x.b.zmeta.len / 2] ^= 0x55;
	/* payloads that do not add up to the events' sizes */
	assert_int_equal(tarn__block_decode(&out, x.d, x.b.zmeta.p, x.b.zmeta.len, "t"), TARN_OK);
	assert_int_equal(tarn__block_decode_payloads(&out, x.d, x.b.zmeta.p, x.b.zmeta.len, "t"),
			 TARN_ECORRUPT);
	/* well-formed zstd around damaged fields: every mutant is read or
	 * refused as corrupt, none crashes (ASan/UBSan watch) */
	raw_len = x.b.enc.len;
	raw = malloc(raw_len);
	m = malloc(raw_len);
	assert_non_null(raw);
	assert_non_null(m);
	memcpy(raw, x.b.enc.p, raw_len);
	srand(7);
	for (i = 0; i < 3000; i++) {
		size_t len = i % 3 == 0 ? (size_t)rand() % raw_len : raw_len;
		int k, rc;

		memcpy(m, raw, raw_len);
		for (k = 0; k < 1 + i % 4; k++)
			m[(size_t)rand() % raw_len] = (unsigned char)rand();
		rc = decode_mutant(x.d, m, len);
		assert_true(rc == TARN_OK || rc == TARN_ECORRUPT);
		refused += rc == TARN_ECORRUPT;
	}
	assert_true(refused > 1000);
	free(raw);
	free(m);
	tarn__block_free(&out);
	coded_free(&x);
}

/* A far re-delivery decodes the payload frame only through its event:
 * every event's payload comes back from such a prefix (the first, one
 * with its UUID text cut out, the last), byte for byte, across zstd's
 * 128 KiB blocks; a frame that does not belong to the events, or is cut
 * short before the event, is refused. */
/* n events with UUID ids, input i at time n - i (so a block's event j
 * holds input n-1-j), payloads of distinct bytes everywhere (a wrong
 * offset cannot match), padded by pad_min + i % pad_mod digits, written
 * into pay (n strings, stride bytes apart). */
static void add_distinct(tarn__block *b, uint32_t n, char *pay, size_t stride, int pad_min,
			 int pad_mod)
{
	tarn_event ev;
	uint32_t i;

	tarn__block_init(b);
	for (i = 0; i < n; i++) {
		char id[40], *p = pay + (size_t)i * stride;

		snprintf(id, sizeof(id), "6f1c0e3a-8a8e-4c1e-9a51-%012u", i);
		snprintf(p, stride, "{\"event_id\":\"%s\",\"n\":%u,\"pad\":\"%0*u\"}", id,
			 i * 7919u, pad_min + (int)(i % (uint32_t)pad_mod), i);
		make_event(&ev, 1795132800000000LL + (int64_t)(n - i) * 1000, id, p);
		assert_int_equal(tarn__block_add(b, &ev), TARN_OK);
	}
}

static void block__payload_prefix_through_one_event(void **state)
{
	enum { N = 3000 };
	struct tarn__buf scratch = { 0 };
	static char pay[N][256];
	struct coded x;
	tarn__block fields;

	(void)state;
	add_distinct(&x.b, N, pay[0], sizeof(pay[0]), 20, 90);
	x.c = ZSTD_createCCtx();
	x.d = ZSTD_createDCtx();
	ZSTD_CCtx_setParameter(x.c, ZSTD_c_checksumFlag, 1);
	assert_int_equal(tarn__block_encode(&x.b, x.c), TARN_OK);
	assert_true(x.b.zpay.len > 1000);
	tarn__block_init(&fields);
	assert_int_equal(tarn__block_decode(&fields, x.d, x.b.zmeta.p, x.b.zmeta.len, "t"),
			 TARN_OK);
	{
		const uint32_t at[] = { 0, 1, N / 2, N - 2, N - 1 };
		size_t k;

		for (k = 0; k < sizeof(at) / sizeof(at[0]); k++) {
			const unsigned char *p;
			size_t len;
			/* the events are sorted by time: event j holds input N-1-j */
			const char *want = pay[N - 1 - at[k]];

			assert_int_equal(tarn__block_decode_payload_prefix(&fields, x.d, x.b.zpay.p,
									   x.b.zpay.len, at[k],
									   "t"),
					 TARN_OK);
			assert_int_equal(fields.has_payloads, 0);
			/* one shaped frame here (under 512 KiB): decoded whole */
			assert_true(fields.pay.len <= (size_t)x.b.pay.len);
			assert_int_equal(tarn__block_payload(&fields, at[k], &scratch, &p, &len),
					 TARN_OK);
			assert_int_equal(len, strlen(want));
			assert_memory_equal(p, want, len);
		}
	}
	/* out of range, a frame cut short, another block's frame */
	assert_int_equal(
		tarn__block_decode_payload_prefix(&fields, x.d, x.b.zpay.p, x.b.zpay.len, N, "t"),
		TARN_ECORRUPT);
	assert_int_equal(tarn__block_decode_payload_prefix(&fields, x.d, x.b.zpay.p,
							   x.b.zpay.len / 2, N - 1, "t"),
			 TARN_ECORRUPT);
	assert_int_equal(
		tarn__block_decode_payload_prefix(&fields, x.d, x.b.zmeta.p, x.b.zmeta.len, 0, "t"),
		TARN_ECORRUPT);
	free(scratch.p);
	tarn__block_free(&fields);
	coded_free(&x);
}

/* Past 512 KiB the payloads go into several frames, each of whole
 * events: the whole block reads back byte for byte, and reading one event
 * decodes only its own frame (an event of the first frame reads back even
 * when a later frame is damaged; the whole block then does not). */
static void block__payload_frames_of_whole_events(void **state)
{
	enum { N = 3000 };
	struct tarn__buf scratch = { 0 };
	static char pay[N][640];
	struct coded x;
	tarn__block fields, all;
	tarn_event got;
	size_t frames = 0, left, first = 0;
	const unsigned char *z;
	uint32_t i;

	(void)state;
	add_distinct(&x.b, N, pay[0], sizeof(pay[0]), 300, 150);
	encode_decode(&x, &all);
	for (z = x.b.zpay.p, left = x.b.zpay.len; left; frames++) {
		size_t fz = ZSTD_findFrameCompressedSize(z, left);
		assert_false(ZSTD_isError(fz));
		if (!frames)
			first = fz;
		z += fz;
		left -= fz;
	}
	assert_int_equal(frames, 3); /* ~1.1 MB of payloads */
	for (i = 0; i < N; i++) {
		tarn_event_init(&got);
		assert_int_equal(tarn__block_event(&all, i, &scratch, &got), TARN_OK);
		assert_int_equal(got.payload_len, strlen(pay[N - 1 - i]));
		assert_memory_equal(got.payload, pay[N - 1 - i], got.payload_len);
	}
	tarn__block_init(&fields);
	assert_int_equal(tarn__block_decode(&fields, x.d, x.b.zmeta.p, x.b.zmeta.len, "t"),
			 TARN_OK);
	for (i = 0; i < N; i += 97) {
		const unsigned char *p;
		size_t len;

		assert_int_equal(tarn__block_decode_payload_prefix(&fields, x.d, x.b.zpay.p,
								   x.b.zpay.len, i, "t"),
				 TARN_OK);
		assert_int_equal(tarn__block_payload(&fields, i, &scratch, &p, &len), TARN_OK);
		assert_int_equal(len, strlen(pay[N - 1 - i]));
		assert_memory_equal(p, pay[N - 1 - i], len);
		/* only as far as the frame that holds event i */
		if (i < 1000)
			assert_true(fields.pay.len < (size_t)x.b.pay.len);
	}
	/* a byte of the last frame damaged */
	x.b.zpay.p[x.b.zpay.len - 10] ^= 0x55;
	assert_int_equal(
		tarn__block_decode_payload_prefix(&fields, x.d, x.b.zpay.p, x.b.zpay.len, 0, "t"),
		TARN_OK);
	assert_int_equal(tarn__block_decode_payloads(&fields, x.d, x.b.zpay.p, x.b.zpay.len, "t"),
			 TARN_ECORRUPT);
	/* cut inside the second frame: the frames no longer add up */
	assert_int_equal(
		tarn__block_decode_payload_prefix(&fields, x.d, x.b.zpay.p, first + 100, 0, "t"),
		TARN_ECORRUPT);
	free(scratch.p);
	tarn__block_free(&fields);
	tarn__block_free(&all);
	coded_free(&x);
}

/* Blocks written before shaped payload frames (format 1) still read back,
 * every event byte for byte, whole and one event at a time. */
static void block__older_format_still_read(void **state)
{
	enum { N = 500 };
	struct tarn__buf scratch = { 0 }, scratch2 = { 0 };
	static char pay[N][256];
	struct coded x;
	tarn__block now, old;
	unsigned char *meta, *opay;
	size_t meta_len, opay_len;
	uint32_t i;

	(void)state;
	add_distinct(&x.b, N, pay[0], sizeof(pay[0]), 20, 90);
	encode_decode(&x, &now);
	/* after encoding, x.b.pay holds the stored payloads in block order */
	old_block_of(x.b.zmeta.p, x.b.zmeta.len, &x.b.pay, &meta, &meta_len, &opay, &opay_len);
	tarn__block_init(&old);
	assert_int_equal(tarn__block_decode(&old, x.d, meta, meta_len, "t"), TARN_OK);
	assert_int_equal(old.format, 1);
	assert_int_equal(tarn__block_decode_payloads(&old, x.d, opay, opay_len, "t"), TARN_OK);
	assert_int_equal(old.n, N);
	for (i = 0; i < N; i++) {
		tarn_event a, b;

		tarn_event_init(&a);
		tarn_event_init(&b);
		assert_int_equal(tarn__block_event(&now, i, &scratch, &a), TARN_OK);
		assert_int_equal(tarn__block_event(&old, i, &scratch2, &b), TARN_OK);
		assert_int_equal(a.payload_len, b.payload_len);
		assert_memory_equal(a.payload, b.payload, a.payload_len);
		assert_memory_equal(b.payload, pay[N - 1 - i], b.payload_len);
		assert_int_equal(a.time_us, b.time_us);
	}
	assert_int_equal(tarn__block_decode_payload_prefix(&old, x.d, opay, opay_len, N / 2, "t"),
			 TARN_OK);
	{
		const unsigned char *p;
		size_t len;

		assert_int_equal(tarn__block_payload(&old, N / 2, &scratch, &p, &len), TARN_OK);
		assert_memory_equal(p, pay[N - 1 - N / 2], len);
	}
	free(meta);
	free(opay);
	free(scratch.p);
	free(scratch2.p);
	tarn__block_free(&old);
	tarn__block_free(&now);
	coded_free(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(block__roundtrip_every_field),
		cmocka_unit_test(block__same_time_text_ids_before_uuids),
		cmocka_unit_test(block__uuid_hint_checked_not_trusted),
		cmocka_unit_test(block__damaged_frames_refused),
		cmocka_unit_test(block__payload_prefix_through_one_event),
		cmocka_unit_test(block__payload_frames_of_whole_events),
		cmocka_unit_test(block__older_format_still_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
