/* Unit tests of tarn's hash functions (src/hash.h): FNV-1a against its
 * published vectors, and tarn's own hashes against values pinned from the
 * code as it was when they were first written to disk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hash.h"

/* 20 bytes: two whole words and a tail of four */
static const char s20[] = "0123456789abcdefghij";
/* the bytes of UUID 550e8400-e29b-41d4-a716-446655440000 */
static const unsigned char uuid16[16] = { 0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4,
					  0xa7, 0x16, 0x44, 0x66, 0x55, 0x44, 0x00, 0x00 };

/* The vectors of the FNV spec (draft-eastlake-fnv, FNV-1a 64). */
static void hash__fnv1a64_published_vectors(void **state)
{
	(void)state;
	assert_true(tarn__hash_fnv1a64(NULL, 0) == 0xcbf29ce484222325ull);
	assert_true(tarn__hash_fnv1a64("", 0) == 0xcbf29ce484222325ull);
	assert_true(tarn__hash_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cull);
	assert_true(tarn__hash_fnv1a64("foobar", 6) == 0x85944171f73967e8ull);
}

/* Pinned: mix64 spreads the id hash and the filter keys built from ids.db;
 * these are the values of the code before hash.c existed. */
static void hash__mix64_pinned(void **state)
{
	(void)state;
	assert_true(tarn__hash_mix64(0) == 0);
	assert_true(tarn__hash_mix64(1) == 0x5692161d100b05e5ull);
	assert_true(tarn__hash_mix64(0x0123456789abcdefull) == 0xb2c058e4ebb5112cull);
	assert_true(tarn__hash_mix64(UINT64_MAX) == 0xb4d055fcf2cbbd7bull);
}

/* Pinned: the word hash under the id hash (ids.db) and the payload hash. */
static void hash__words_pinned(void **state)
{
	(void)state;
	assert_true(tarn__hash_words(0, "", 0) == 0);
	assert_true(tarn__hash_words(12345, "foobar", 6) == 0x388f2fba3598c807ull);
	assert_true(tarn__hash_words(7, s20, 20) == 0x61fa9732cca5f59full);
}

/* Pinned: not persisted itself, but the same function as a text id's
 * hash, which is. */
static void hash__bytes_pinned(void **state)
{
	(void)state;
	assert_true(tarn__hash_bytes(NULL, 0) == 0x9f671f0c44c02eadull);
	assert_true(tarn__hash_bytes("a", 1) == 0x42e3182773d2aedeull);
	assert_true(tarn__hash_bytes("foobar", 6) == 0xff008a192033d5dfull);
	assert_true(tarn__hash_bytes("01234567", 8) == 0xc75ae5eaa71f9ccdull);
	assert_true(tarn__hash_bytes(s20, 20) == 0x6cf6780f8593e295ull);
}

/* Pinned: ids.db's runs hold the upper 40 bits of these; a lake written
 * before a change to them would stop finding its ids. */
static void hash__id_hash_pinned(void **state)
{
	(void)state;
	assert_true(tarn__id_hash(0, (const unsigned char *)"", 0) == 0x9f671f0c44c02eadull);
	assert_true(tarn__id_hash(0, (const unsigned char *)"order-42", 8) ==
		    0x83dde60bf91c9a19ull);
	assert_true(tarn__id_hash(0, uuid16, 16) == 0xa305a7e1eac93766ull);
	assert_true(tarn__id_hash(1, uuid16, 16) == 0xe601f7506518d9bcull);
	assert_true(tarn__id_hash(0, (const unsigned char *)s20, 20) == 0x6cf6780f8593e295ull);
}

/* What hash.h says of how the functions relate. */
static void hash__documented_relations(void **state)
{
	size_t n;

	(void)state;
	for (n = 0; n <= 20; n++) {
		uint64_t start = TARN__HASH_GOLDEN * (n + 1);

		assert_true(tarn__hash_bytes(s20, n) == tarn__hash_words(start, s20, n));
		assert_true(tarn__id_hash(0, (const unsigned char *)s20, n) ==
			    tarn__hash_bytes(s20, n));
		assert_true(tarn__id_hash(1, (const unsigned char *)s20, n) ==
			    tarn__hash_words(start ^ 0x5555, s20, n));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hash__fnv1a64_published_vectors),
		cmocka_unit_test(hash__mix64_pinned),
		cmocka_unit_test(hash__words_pinned),
		cmocka_unit_test(hash__bytes_pinned),
		cmocka_unit_test(hash__id_hash_pinned),
		cmocka_unit_test(hash__documented_relations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
