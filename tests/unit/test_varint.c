/* Unit tests of the varint codec (src/varint.h): the bytes of LEB128 and
 * zigzag (they are on disk, in blocks and ids.db), round trips, and
 * damaged input refused without reading past its end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "varint.h"

static void check_bytes(uint64_t v, const unsigned char *want, size_t n)
{
	unsigned char out[TARN__VARINT_MAX + 2];
	const unsigned char *p = out;
	uint64_t got = 0;

	memset(out, 0xee, sizeof(out));
	assert_int_equal(tarn__varint_put(out, v), n);
	assert_memory_equal(out, want, n);
	assert_int_equal(out[n], 0xee); /* nothing written past */
	assert_int_equal(tarn__varint_get(&p, out + n, &got), TARN_OK);
	assert_true(got == v);
	assert_ptr_equal(p, out + n);
}

static void varint__vectors(void **state)
{
	(void)state;
	check_bytes(0, (const unsigned char *)"\x00", 1);
	check_bytes(1, (const unsigned char *)"\x01", 1);
	check_bytes(127, (const unsigned char *)"\x7f", 1);
	check_bytes(128, (const unsigned char *)"\x80\x01", 2);
	check_bytes(300, (const unsigned char *)"\xac\x02", 2);
	check_bytes(UINT64_MAX, (const unsigned char *)"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
		    10);
}

static void varint__roundtrip(void **state)
{
	unsigned char buf[16 * TARN__VARINT_MAX];
	const unsigned char *p = buf;
	size_t len = 0;
	int i, shift;

	(void)state;
	/* each power of two and its neighbours: every length, every boundary */
	for (shift = 0; shift < 64; shift++) {
		uint64_t v = (uint64_t)1 << shift, got;
		uint64_t vs[3] = { v - 1, v, v + 1 };

		for (i = 0; i < 3; i++) {
			len = tarn__varint_put(buf, vs[i]);
			assert_true(len >= 1 && len <= TARN__VARINT_MAX);
			p = buf;
			assert_int_equal(tarn__varint_get(&p, buf + len, &got), TARN_OK);
			assert_true(got == vs[i]);
			assert_ptr_equal(p, buf + len);
		}
	}
	/* several in a row come back in order */
	len = 0;
	for (i = 0; i < 16; i++)
		len += tarn__varint_put(buf + len, (uint64_t)i * 0x0123456789abcdefull);
	p = buf;
	for (i = 0; i < 16; i++) {
		uint64_t got;

		assert_int_equal(tarn__varint_get(&p, buf + len, &got), TARN_OK);
		assert_true(got == (uint64_t)i * 0x0123456789abcdefull);
	}
	assert_ptr_equal(p, buf + len);
}

/* A decode reads only [p, end): the input sits at the end of its own
 * allocation, so that ASan sees a read past it. */
static int get_alone(const unsigned char *in, size_t n, uint64_t *v, size_t *used)
{
	unsigned char *copy = malloc(n ? n : 1);
	const unsigned char *p;
	int rc;

	assert_non_null(copy);
	memcpy(copy, in, n);
	p = copy;
	rc = tarn__varint_get(&p, copy + n, v);
	*used = (size_t)(p - copy);
	free(copy);
	return rc;
}

static void varint__damaged_refused(void **state)
{
	static const unsigned char eleven[11] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
						  0xff, 0xff, 0xff, 0x81, 0x00 };
	static const unsigned char tenth_too_big[10] = { 0xff, 0xff, 0xff, 0xff, 0xff,
							 0xff, 0xff, 0xff, 0xff, 0x02 };
	uint64_t v = 42;
	size_t used;

	(void)state;
	/* empty, and cut inside a varint: p and v stay as they were */
	assert_int_equal(get_alone((const unsigned char *)"", 0, &v, &used), TARN_ECORRUPT);
	assert_int_equal(get_alone((const unsigned char *)"\x80", 1, &v, &used), TARN_ECORRUPT);
	assert_int_equal(used, 0);
	assert_int_equal(get_alone((const unsigned char *)"\xac", 1, &v, &used), TARN_ECORRUPT);
	assert_int_equal(get_alone((const unsigned char *)"\xff\xff\xff\xff\xff\xff\xff\xff\xff", 9,
				   &v, &used),
			 TARN_ECORRUPT);
	assert_true(v == 42);
	assert_int_equal(used, 0);
	/* longer than 64 bits can be */
	assert_int_equal(get_alone(eleven, sizeof(eleven), &v, &used), TARN_ECORRUPT);
	assert_int_equal(get_alone(tenth_too_big, sizeof(tenth_too_big), &v, &used), TARN_ECORRUPT);
	assert_true(v == 42);
	/* the one byte past a good varint is not read */
	assert_int_equal(get_alone((const unsigned char *)"\xac\x02", 2, &v, &used), TARN_OK);
	assert_true(v == 300);
	assert_int_equal(used, 2);
}

static void varint__zigzag_vectors(void **state)
{
	static const int64_t vs[] = { 0, -1, 1, -2, 2, INT64_MAX, INT64_MIN, INT64_MIN + 1 };
	size_t i;

	(void)state;
	assert_true(tarn__varint_zigzag(0) == 0);
	assert_true(tarn__varint_zigzag(-1) == 1);
	assert_true(tarn__varint_zigzag(1) == 2);
	assert_true(tarn__varint_zigzag(-2) == 3);
	assert_true(tarn__varint_zigzag(INT64_MAX) == UINT64_MAX - 1);
	assert_true(tarn__varint_zigzag(INT64_MIN) == UINT64_MAX);
	for (i = 0; i < sizeof(vs) / sizeof(vs[0]); i++)
		assert_true(tarn__varint_unzigzag(tarn__varint_zigzag(vs[i])) == vs[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(varint__vectors),
		cmocka_unit_test(varint__roundtrip),
		cmocka_unit_test(varint__damaged_refused),
		cmocka_unit_test(varint__zigzag_vectors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
