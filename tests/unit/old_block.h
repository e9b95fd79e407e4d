/* For tests: a block as tarn wrote it before shaped payload frames (block
 * format 1, docs/FORMAT.md "Blocks"), made from a block of the current
 * format: its field frame zmeta[0..zmeta_len) under format byte 1, and its
 * stored payloads pay (in block order, as encoding or decoding leaves
 * them), as they are, in one zstd frame. The two formats differ in nothing
 * else. The frames are malloc'd into *meta and *opay. Fails the test when
 * a step fails. */
#ifndef TARN_TEST_OLD_BLOCK_H
#define TARN_TEST_OLD_BLOCK_H

#include <stdlib.h>
#include <zstd.h>

#include "block.h"

static void old_block_of(const void *zmeta, size_t zmeta_len, const struct tarn__buf *pay,
			 unsigned char **meta, size_t *meta_len, unsigned char **opay,
			 size_t *opay_len)
{
	unsigned long long size = ZSTD_getFrameContentSize(zmeta, zmeta_len);
	unsigned char *fields;
	size_t cap;

	assert_true(size != ZSTD_CONTENTSIZE_ERROR && size != ZSTD_CONTENTSIZE_UNKNOWN);
	fields = malloc((size_t)size + 1);
	assert_non_null(fields);
	assert_int_equal(ZSTD_decompress(fields, (size_t)size, zmeta, zmeta_len), size);
	assert_int_equal(fields[0], 3); /* the current format */
	fields[0] = 1;
	cap = ZSTD_compressBound((size_t)size);
	*meta = malloc(cap);
	assert_non_null(*meta);
	*meta_len = ZSTD_compress(*meta, cap, fields, (size_t)size, 3);
	assert_false(ZSTD_isError(*meta_len));
	free(fields);
	cap = ZSTD_compressBound(pay->len);
	*opay = malloc(cap);
	assert_non_null(*opay);
	*opay_len =
		ZSTD_compress(*opay, cap, pay->p ? pay->p : (const unsigned char *)"", pay->len, 3);
	assert_false(ZSTD_isError(*opay_len));
}

#endif
