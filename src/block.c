/* The compressed block: events laid out column by column in one zstd
 * frame, payloads in another (docs/FORMAT.md, "Blocks"). Columns of like
 * values (times as deltas, offsets as deltas, names as dictionary indexes)
 * compress far better than rows, and a reader that needs only ids and
 * times never decompresses a payload. */
#define _GNU_SOURCE 1 /* memmem */
#include <stdlib.h>
#include <string.h>

#include <uuid/uuid.h>

#include "block.h"
#include "error_internal.h"
#include "shape.h"
#include "varint.h"

#define BLOCK_FORMAT	   1 /* payloads in one zstd frame */
#define BLOCK_FORMAT_SPLIT 2 /* payloads in several frames, each of whole events */
/* as 2, each frame's content shaped (src/shape.h): written since 2026-12-08 */
#define BLOCK_FORMAT_SHAPED TARN__BLOCK_FORMAT_NOW
/* A payload frame ends after the event that brings it to this many bytes
 * (when events are left): reading one event, as a re-delivery's check
 * does, then decodes at most one such frame, not the block's megabyte.
 * Frames of 512 KiB compress the bench input as well as 1 MiB ones (256
 * KiB: 2.3% larger). */
#define PAYLOAD_FRAME_BYTES (512u * 1024)
#define MAX_FRAME_BYTES	    (256u * 1024 * 1024) /* a decoded frame never exceeds this */

void tarn__block_init(tarn__block *b)
{
	memset(b, 0, sizeof(*b));
	b->id = -1;
}

void tarn__block_reset(tarn__block *b)
{
	b->id = -1;
	b->n = 0;
	b->arena.len = 0;
	b->pay.len = 0;
	b->n_names = b->n_topics = 0;
	b->has_payloads = 0;
	b->min_time = INT64_MAX;
	b->max_time = INT64_MIN;
	b->raw_bytes = 0;
}

void tarn__block_drop_scratch(tarn__block *b)
{
	struct tarn__buf *bufs[] = { &b->enc, &b->sorted, &b->zmeta, &b->zpay };
	size_t i;

	for (i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) {
		free(bufs[i]->p);
		memset(bufs[i], 0, sizeof(*bufs[i]));
	}
	free(b->order);
	b->order = NULL;
}

void tarn__block_free(tarn__block *b)
{
	free(b->recs);
	free(b->arena.p);
	free(b->pay.p);
	free(b->names);
	free(b->topics);
	free(b->enc.p);
	free(b->sorted.p);
	free(b->zmeta.p);
	free(b->zpay.p);
	free(b->order);
	tarn__block_init(b);
}

int tarn__buf_reserve(struct tarn__buf *b, size_t more)
{
	size_t cap;
	unsigned char *p;

	if (b->len + more <= b->cap)
		return TARN_OK;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return tarn__error_set(TARN_ENOMEM, "block buffer of %zu bytes", cap);
	b->p = p;
	b->cap = cap;
	return TARN_OK;
}

static int buf_put(struct tarn__buf *b, const void *p, size_t n)
{
	int rc = tarn__buf_reserve(b, n);

	if (rc)
		return rc;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return TARN_OK;
}

/* ---- varints (varint.h) into a buffer and out of a reader ---- */

static void put_varint(struct tarn__buf *b, uint64_t v)
{
	/* callers reserve TARN__VARINT_MAX bytes a value */
	b->len += tarn__varint_put(b->p + b->len, v);
}

/* ---- filling a block ---- */

/* The id's lowercase text form (RFC 4122 section 3), as decoding puts it
 * back, at the offset extraction noted (id_text_at), or NULL: a check of
 * 36 bytes instead of a search through the payload. */
static const unsigned char *uuid_text_at(const tarn_event *ev)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p;
	int i;

	if (ev->id_text_at > ev->payload_len - TARN__UUID_TEXT)
		return NULL;
	p = (const unsigned char *)ev->payload + ev->id_text_at;
	if (!tarn__uuid_dashes((const char *)p))
		return NULL;
	for (i = 0; i < 16; i++) {
		const unsigned char *d = p + tarn__uuid_digit_at[i];
		if (d[0] != hex[ev->id[i] >> 4] || d[1] != hex[ev->id[i] & 15])
			return NULL;
	}
	return p;
}

static int dict_index(tarn__block *b, struct tarn__str **dict, uint32_t *n, uint32_t *cap,
		      const char *s, uint32_t *ix)
{
	size_t len = strlen(s);
	uint32_t i;
	int rc;

	/* few distinct names or topics per block: a scan from the newest wins */
	for (i = *n; i-- > 0;) {
		if ((*dict)[i].len == len && memcmp(b->arena.p + (*dict)[i].off, s, len) == 0) {
			*ix = i + 1;
			return TARN_OK;
		}
	}
	if (len > UINT32_MAX / 2)
		return tarn__error_set(TARN_EINVAL, "name of %zu bytes", len);
	if (*n == *cap) {
		uint32_t ncap = *cap ? *cap * 2 : 16;
		struct tarn__str *nd = realloc(*dict, ncap * sizeof(*nd));
		if (!nd)
			return tarn__error_set(TARN_ENOMEM, "block dictionary");
		*dict = nd;
		*cap = ncap;
	}
	(*dict)[*n].off = (uint32_t)b->arena.len;
	(*dict)[*n].len = (uint32_t)len;
	rc = buf_put(&b->arena, s, len + 1); /* with its NUL: topics are C strings */
	if (rc)
		return rc;
	*ix = ++*n;
	return TARN_OK;
}

int tarn__block_add(tarn__block *b, const tarn_event *ev)
{
	struct tarn__rec *r;
	char text[TARN__UUID_TEXT + 1];
	const unsigned char *cut = NULL;
	int rc;

	if (ev->payload_len > TARN__BLOCK_BYTES * (size_t)64 || ev->key_len > UINT32_MAX / 2 ||
	    ev->headers_len > UINT32_MAX / 2)
		return tarn__error_set(TARN_EINVAL, "event too large for a block");
	if (b->n == 0)
		tarn__block_reset(b);
	if (b->n == b->cap) {
		uint32_t ncap = b->cap ? b->cap * 2 : 256;
		struct tarn__rec *nr = realloc(b->recs, ncap * sizeof(*nr));
		if (!nr)
			return tarn__error_set(TARN_ENOMEM, "block");
		b->recs = nr;
		b->cap = ncap;
	}
	r = &b->recs[b->n];
	memset(r, 0, sizeof(*r));
	r->time_us = ev->time_us;
	r->offset = ev->offset;
	r->kafka_ts_us = ev->kafka_ts_us;
	r->ingest_us = ev->ingest_us;
	r->partition = ev->partition >= 0 ? ev->partition : -1;
	r->id_len = (uint8_t)ev->id_len;
	r->is_uuid = ev->id_is_uuid ? 1 : 0;
	r->id_off = (uint32_t)b->arena.len;
	rc = buf_put(&b->arena, ev->id, ev->id_len);
	if (!rc && ev->has_name)
		rc = dict_index(b, &b->names, &b->n_names, &b->names_cap, ev->name, &r->name_ix);
	if (!rc && ev->topic)
		rc = dict_index(b, &b->topics, &b->n_topics, &b->topics_cap, ev->topic,
				&r->topic_ix);
	r->key_len = UINT32_MAX;
	if (!rc && ev->key) {
		r->key_off = (uint32_t)b->arena.len;
		r->key_len = (uint32_t)ev->key_len;
		rc = buf_put(&b->arena, ev->key, ev->key_len);
	}
	if (!rc && ev->headers && ev->headers_len) {
		r->hdr_off = (uint32_t)b->arena.len;
		r->hdr_len = (uint32_t)ev->headers_len;
		rc = buf_put(&b->arena, ev->headers, ev->headers_len);
	}
	if (rc)
		return rc;
	r->pay_len = (uint32_t)ev->payload_len;
	r->pay_off = (uint32_t)b->pay.len;
	if (ev->id_is_uuid && ev->payload_len >= TARN__UUID_TEXT) {
		cut = uuid_text_at(ev);
		if (!cut) {
			uuid_unparse_lower(ev->id, text);
			cut = memmem(ev->payload, ev->payload_len, text, TARN__UUID_TEXT);
		}
	}
	if (cut) {
		size_t at = (size_t)(cut - (const unsigned char *)ev->payload);
		r->elide = (uint32_t)at + 1;
		rc = buf_put(&b->pay, ev->payload, at);
		if (!rc)
			rc = buf_put(&b->pay, cut + TARN__UUID_TEXT,
				     ev->payload_len - at - TARN__UUID_TEXT);
	} else {
		rc = buf_put(&b->pay, ev->payload, ev->payload_len);
	}
	if (rc)
		return rc;
	if (ev->time_us < b->min_time)
		b->min_time = ev->time_us;
	if (ev->time_us > b->max_time)
		b->max_time = ev->time_us;
	b->raw_bytes += ev->payload_len;
	b->n++;
	return TARN_OK;
}

static uint32_t stored_len(const struct tarn__rec *r)
{
	return r->elide ? r->pay_len - TARN__UUID_TEXT : r->pay_len;
}

int tarn__event_key_cmp(int64_t t1, int uuid1, const unsigned char *id1, size_t len1, int64_t t2,
			int uuid2, const unsigned char *id2, size_t len2)
{
	int c;

	if (t1 != t2)
		return t1 < t2 ? -1 : 1;
	if (!uuid1 != !uuid2)
		return uuid1 ? 1 : -1;
	c = memcmp(id1, id2, len1 < len2 ? len1 : len2);
	if (c)
		return c;
	return len1 == len2 ? 0 : (len1 < len2 ? -1 : 1);
}

static int rec_cmp(const tarn__block *b, const struct tarn__rec *x, const struct tarn__rec *y)
{
	return tarn__event_key_cmp(x->time_us, x->is_uuid, b->arena.p + x->id_off, x->id_len,
				   y->time_us, y->is_uuid, b->arena.p + y->id_off, y->id_len);
}

/* qsort has no context argument in C11: sort indexes with a small merge
 * sort of our own (stable, n log n, no recursion depth issue). */
static void sort_order(const tarn__block *b, uint32_t *ix, uint32_t *tmp, uint32_t n)
{
	uint32_t width, i;

	for (width = 1; width < n; width *= 2) {
		for (i = 0; i < n; i += 2 * width) {
			uint32_t lo = i, mid = i + width < n ? i + width : n;
			uint32_t hi = i + 2 * width < n ? i + 2 * width : n;
			uint32_t a = lo, c = mid, k = lo;

			while (a < mid && c < hi)
				tmp[k++] = rec_cmp(b, &b->recs[ix[c]], &b->recs[ix[a]]) < 0
						   ? ix[c++]
						   : ix[a++];
			while (a < mid)
				tmp[k++] = ix[a++];
			while (c < hi)
				tmp[k++] = ix[c++];
		}
		memcpy(ix, tmp, n * sizeof(*ix));
	}
}

static int compress_into(ZSTD_CCtx *cctx, struct tarn__buf *out, const struct tarn__buf *in)
{
	size_t bound = ZSTD_compressBound(in->len), z;
	int rc;

	out->len = 0;
	rc = tarn__buf_reserve(out, bound);
	if (rc)
		return rc;
	z = ZSTD_compress2(cctx, out->p, out->cap, in->p ? in->p : (const unsigned char *)"",
			   in->len);
	if (ZSTD_isError(z))
		return tarn__error_set(TARN_EZSTD, "compress block: %s", ZSTD_getErrorName(z));
	out->len = z;
	return TARN_OK;
}

/* The payload frames of a block (events in stored order, payloads at
 * their pay_off): their count; cut[k] (when not NULL, room for the count)
 * gets the index of the first event after frame k. */
static size_t payload_frames(const tarn__block *b, uint32_t *cut)
{
	size_t frames = 0;
	uint64_t in_frame = 0;
	uint32_t i;

	for (i = 0; i < b->n; i++) {
		in_frame += stored_len(&b->recs[i]);
		if (in_frame >= PAYLOAD_FRAME_BYTES || i + 1 == b->n) {
			if (cut)
				cut[frames] = i + 1;
			frames++;
			in_frame = 0;
		}
	}
	if (!b->n) {
		if (cut)
			cut[0] = 0;
		frames = 1; /* an empty block: one empty frame */
	}
	return frames;
}

/* The payloads (b->pay, in stored order) as payload_frames() cuts them,
 * the frames one after the other in b->zpay. */
static int compress_payloads(ZSTD_CCtx *cctx, tarn__block *b)
{
	uint32_t cut[TARN__BLOCK_EVENTS + 1], from = 0;
	size_t frames, k, z;
	int rc;

	if (b->n > TARN__BLOCK_EVENTS)
		return tarn__error_set(TARN_EINVAL, "block of %u events", b->n); /* never */
	frames = payload_frames(b, cut);
	b->zpay.len = 0;
	rc = tarn__buf_reserve(&b->zpay, ZSTD_compressBound(b->pay.len) + frames * 32);
	if (rc)
		return rc;
	for (k = 0; k < frames; k++) {
		b->sorted.len = 0;
		rc = tarn__shape_encode(b->pay.p, b->recs + from, cut[k] - from, &b->sorted);
		if (rc)
			return rc;
		if (b->zpay.cap - b->zpay.len < ZSTD_compressBound(b->sorted.len)) {
			rc = tarn__buf_reserve(&b->zpay, ZSTD_compressBound(b->sorted.len));
			if (rc)
				return rc;
		}
		z = ZSTD_compress2(cctx, b->zpay.p + b->zpay.len, b->zpay.cap - b->zpay.len,
				   b->sorted.p, b->sorted.len);
		if (ZSTD_isError(z))
			return tarn__error_set(TARN_EZSTD, "compress block: %s",
					       ZSTD_getErrorName(z));
		b->zpay.len += z;
		from = cut[k];
	}
	return TARN_OK;
}

static void put_dict(struct tarn__buf *e, const tarn__block *b, const struct tarn__str *d,
		     uint32_t n)
{
	uint32_t i;

	put_varint(e, n);
	for (i = 0; i < n; i++) {
		put_varint(e, d[i].len);
		memcpy(e->p + e->len, b->arena.p + d[i].off, d[i].len + 1);
		e->len += d[i].len + 1;
	}
}

ZSTD_CCtx *tarn__block_cctx(void)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();

	if (c) {
		ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, TARN__ZSTD_LEVEL);
		/* The checksum lets verify tell a damaged block from a good one. */
		ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
	}
	return c;
}

int tarn__block_encode(tarn__block *b, ZSTD_CCtx *cctx)
{
	struct tarn__buf *e = &b->enc;
	struct tarn__rec *sorted;
	uint32_t *tmp, i, n = b->n;
	int64_t prev;
	int rc;

	free(b->order);
	b->order = malloc(2 * (size_t)(n ? n : 1) * sizeof(*b->order));
	if (!b->order)
		return tarn__error_set(TARN_ENOMEM, "block order");
	tmp = b->order + n;
	for (i = 0; i < n; i++)
		b->order[i] = i;
	sort_order(b, b->order, tmp, n);
	/* the rows in sorted order, payloads rewritten in that order too */
	sorted = malloc((size_t)(n ? n : 1) * sizeof(*sorted));
	if (!sorted)
		return tarn__error_set(TARN_ENOMEM, "block order");
	b->sorted.len = 0;
	rc = tarn__buf_reserve(&b->sorted, b->pay.len);
	for (i = 0; !rc && i < n; i++) {
		struct tarn__rec r = b->recs[b->order[i]];
		uint32_t len = stored_len(&r);

		memcpy(b->sorted.p + b->sorted.len, b->pay.p + r.pay_off, len);
		r.pay_off = (uint32_t)b->sorted.len;
		b->sorted.len += len;
		sorted[i] = r;
	}
	if (rc) {
		free(sorted);
		return rc;
	}
	memcpy(b->recs, sorted, n * sizeof(*sorted));
	free(sorted);
	{
		struct tarn__buf t = b->pay;
		b->pay = b->sorted;
		b->sorted = t;
	}

	/* fields, column by column */
	e->len = 0;
	rc = tarn__buf_reserve(e, 64 + b->arena.len * 2 + (size_t)n * 12 * TARN__VARINT_MAX);
	if (rc)
		return rc;
	e->p[e->len++] = BLOCK_FORMAT_SHAPED;
	b->format = BLOCK_FORMAT_SHAPED;
	put_varint(e, n);
	put_dict(e, b, b->names, b->n_names);
	put_dict(e, b, b->topics, b->n_topics);
	for (prev = 0, i = 0; i < n; i++) {
		put_varint(e, tarn__varint_zigzag(b->recs[i].time_us - prev));
		prev = b->recs[i].time_us;
	}
	for (i = 0; i < n; i++)
		e->p[e->len++] = b->recs[i].is_uuid ? 0 : b->recs[i].id_len;
	for (i = 0; i < n; i++) {
		memcpy(e->p + e->len, b->arena.p + b->recs[i].id_off, b->recs[i].id_len);
		e->len += b->recs[i].id_len;
	}
	for (i = 0; i < n; i++)
		put_varint(e, b->recs[i].name_ix);
	for (i = 0; i < n; i++)
		put_varint(e, b->recs[i].pay_len);
	for (i = 0; i < n; i++)
		put_varint(e, b->recs[i].elide);
	for (i = 0; i < n; i++)
		put_varint(e,
			   b->recs[i].key_len == UINT32_MAX ? 0 : (uint64_t)b->recs[i].key_len + 1);
	for (i = 0; i < n; i++) {
		if (b->recs[i].key_len != UINT32_MAX) {
			memcpy(e->p + e->len, b->arena.p + b->recs[i].key_off, b->recs[i].key_len);
			e->len += b->recs[i].key_len;
		}
	}
	for (i = 0; i < n; i++)
		put_varint(e, b->recs[i].hdr_len);
	for (i = 0; i < n; i++) {
		memcpy(e->p + e->len, b->arena.p + b->recs[i].hdr_off, b->recs[i].hdr_len);
		e->len += b->recs[i].hdr_len;
	}
	for (i = 0; i < n; i++)
		put_varint(e, b->recs[i].topic_ix);
	for (i = 0; i < n; i++)
		put_varint(e, (uint64_t)((int64_t)b->recs[i].partition + 1));
	for (prev = 0, i = 0; i < n; i++) {
		put_varint(e, tarn__varint_zigzag(b->recs[i].offset - prev));
		prev = b->recs[i].offset;
	}
	for (i = 0; i < n; i++)
		put_varint(e, b->recs[i].kafka_ts_us < 0
				      ? 0
				      : tarn__varint_zigzag(b->recs[i].kafka_ts_us -
							    b->recs[i].time_us) +
						1);
	for (prev = 0, i = 0; i < n; i++) {
		put_varint(e, tarn__varint_zigzag(b->recs[i].ingest_us - prev));
		prev = b->recs[i].ingest_us;
	}
	rc = compress_into(cctx, &b->zmeta, e);
	if (!rc)
		rc = compress_payloads(cctx, b);
	if (!rc)
		b->has_payloads = 1;
	return rc;
}

/* ---- reading a block ---- */

/* The zstd frames one after the other in z: their content sizes added up
 * (each frame must state its own) in *total, and, when frame_at is not
 * NULL, the frame whose content holds offset `find` (or the last frame):
 * it starts *frame_at bytes into z and *content_at bytes into the content.
 * -1 when they do not parse or add up to more than MAX_FRAME_BYTES. */
static int frames_walk(const void *z, size_t zlen, uint64_t find, uint64_t *total, size_t *frame_at,
		       uint64_t *content_at)
{
	const unsigned char *p = z;
	size_t f_at = 0;
	uint64_t c_at = 0;
	int found = 0;

	*total = 0;
	do {
		unsigned long long size = ZSTD_getFrameContentSize(p, zlen);
		size_t fz = ZSTD_findFrameCompressedSize(p, zlen);

		if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
		    ZSTD_isError(fz) || fz > zlen || size > MAX_FRAME_BYTES - *total)
			return -1;
		if (!found) {
			f_at = (size_t)(p - (const unsigned char *)z);
			c_at = *total;
			found = find < *total + size;
		}
		*total += size;
		p += fz;
		zlen -= fz;
	} while (zlen);
	if (frame_at) {
		*frame_at = f_at;
		*content_at = c_at;
	}
	return 0;
}

/* Decode the frames in z (one, or a block's payload frames) into out. */
static int decompress_into(ZSTD_DCtx *dctx, struct tarn__buf *out, const void *z, size_t zlen,
			   const char *where, const char *what)
{
	uint64_t size;
	size_t got;
	int rc;

	if (frames_walk(z, zlen, UINT64_MAX, &size, NULL, NULL))
		return tarn__error_set(TARN_ECORRUPT, "%s: %s frame has no valid size", where,
				       what);
	out->len = 0;
	rc = tarn__buf_reserve(out, size ? (size_t)size : 1);
	if (rc)
		return rc;
	/* several frames one after the other decode as one (zstd.h,
	 * ZSTD_decompress), each checked against its own checksum */
	got = ZSTD_decompressDCtx(dctx, out->p, (size_t)size, z, zlen);
	if (ZSTD_isError(got) || got != size)
		return tarn__error_set(TARN_ECORRUPT, "%s: %s frame does not decompress: %s", where,
				       what,
				       ZSTD_isError(got) ? ZSTD_getErrorName(got) : "wrong length");
	out->len = got;
	return TARN_OK;
}

static int read_dict(struct tarn__reader *r, const unsigned char *base, struct tarn__str **dict,
		     uint32_t *n, uint32_t *cap, uint32_t limit)
{
	uint64_t count = tarn__reader_varint(r), i;

	if (r->bad || count > limit)
		return -1;
	if (count > *cap) {
		struct tarn__str *nd = realloc(*dict, (size_t)(count ? count : 1) * sizeof(*nd));
		if (!nd)
			return -2;
		*dict = nd;
		*cap = (uint32_t)count;
	}
	for (i = 0; i < count; i++) {
		uint64_t len = tarn__reader_varint(r);
		const unsigned char *s =
			len < UINT32_MAX ? tarn__reader_bytes(r, (size_t)len + 1) : NULL;

		/* each string is stored with its NUL and holds no other */
		if (r->bad || !s || s[len] != '\0' || memchr(s, '\0', (size_t)len))
			return -1;
		(*dict)[i].off = (uint32_t)(s - base);
		(*dict)[i].len = (uint32_t)len;
	}
	*n = (uint32_t)count;
	return 0;
}

#define BAD(what)                                                                                  \
	do {                                                                                       \
		why = what;                                                                        \
		goto corrupt;                                                                      \
	} while (0)

int tarn__block_decode(tarn__block *b, ZSTD_DCtx *dctx, const void *zmeta, size_t zmeta_len,
		       const char *where)
{
	struct tarn__reader r;
	const char *why = NULL;
	uint64_t n, i;
	int64_t prev;
	int rc;

	tarn__block_reset(b);
	rc = decompress_into(dctx, &b->arena, zmeta, zmeta_len, where, "event");
	if (rc)
		return rc;
	r.p = b->arena.p;
	r.end = b->arena.p + b->arena.len;
	r.bad = 0;
	if (r.p == r.end ||
	    (*r.p != BLOCK_FORMAT && *r.p != BLOCK_FORMAT_SPLIT && *r.p != BLOCK_FORMAT_SHAPED))
		BAD("unknown block format");
	b->format = *r.p++;
	n = tarn__reader_varint(&r);
	if (r.bad || n == 0 || n > TARN__BLOCK_EVENTS)
		BAD("bad event count");
	if (n > b->cap) {
		struct tarn__rec *nr = realloc(b->recs, (size_t)n * sizeof(*nr));
		if (!nr)
			return tarn__error_set(TARN_ENOMEM, "block");
		b->recs = nr;
		b->cap = (uint32_t)n;
	}
	memset(b->recs, 0, (size_t)n * sizeof(*b->recs));
	rc = read_dict(&r, b->arena.p, &b->names, &b->n_names, &b->names_cap, (uint32_t)n);
	if (!rc)
		rc = read_dict(&r, b->arena.p, &b->topics, &b->n_topics, &b->topics_cap,
			       (uint32_t)n);
	if (rc == -2)
		return tarn__error_set(TARN_ENOMEM, "block");
	if (rc)
		BAD("bad dictionary");
	for (prev = 0, i = 0; i < n; i++) {
		prev += tarn__varint_unzigzag(tarn__reader_varint(&r));
		b->recs[i].time_us = prev;
	}
	for (i = 0; i < n; i++) {
		const unsigned char *k = tarn__reader_bytes(&r, 1);
		if (!k)
			break;
		b->recs[i].is_uuid = *k == 0;
		b->recs[i].id_len = *k == 0 ? 16 : *k;
	}
	for (i = 0; i < n && !r.bad; i++) {
		const unsigned char *id = tarn__reader_bytes(&r, b->recs[i].id_len);
		b->recs[i].id_off = id ? (uint32_t)(id - b->arena.p) : 0;
	}
	for (i = 0; i < n; i++) {
		uint64_t v = tarn__reader_varint(&r);
		if (v > b->n_names)
			BAD("bad name index");
		b->recs[i].name_ix = (uint32_t)v;
	}
	for (i = 0; i < n; i++) {
		uint64_t v = tarn__reader_varint(&r);
		if (v > UINT32_MAX / 2)
			BAD("bad payload size");
		b->recs[i].pay_len = (uint32_t)v;
	}
	for (i = 0; i < n; i++) {
		uint64_t v = tarn__reader_varint(&r);
		if (v && (v - 1 + TARN__UUID_TEXT > b->recs[i].pay_len || !b->recs[i].is_uuid))
			BAD("bad id position");
		b->recs[i].elide = (uint32_t)v;
	}
	for (i = 0; i < n; i++) {
		uint64_t v = tarn__reader_varint(&r);
		if (v > UINT32_MAX / 2)
			BAD("bad key size");
		b->recs[i].key_len = v ? (uint32_t)(v - 1) : UINT32_MAX;
	}
	for (i = 0; i < n && !r.bad; i++) {
		if (b->recs[i].key_len != UINT32_MAX) {
			const unsigned char *k = tarn__reader_bytes(&r, b->recs[i].key_len);
			b->recs[i].key_off = k ? (uint32_t)(k - b->arena.p) : 0;
		}
	}
	for (i = 0; i < n; i++) {
		uint64_t v = tarn__reader_varint(&r);
		if (v > UINT32_MAX / 2)
			BAD("bad header size");
		b->recs[i].hdr_len = (uint32_t)v;
	}
	for (i = 0; i < n && !r.bad; i++) {
		const unsigned char *h = tarn__reader_bytes(&r, b->recs[i].hdr_len);
		b->recs[i].hdr_off = h ? (uint32_t)(h - b->arena.p) : 0;
	}
	for (i = 0; i < n; i++) {
		uint64_t v = tarn__reader_varint(&r);
		if (v > b->n_topics)
			BAD("bad topic index");
		b->recs[i].topic_ix = (uint32_t)v;
	}
	for (i = 0; i < n; i++) {
		uint64_t v = tarn__reader_varint(&r);
		if (v > (uint64_t)INT32_MAX + 1)
			BAD("bad partition");
		b->recs[i].partition = (int32_t)((int64_t)v - 1);
	}
	for (prev = 0, i = 0; i < n; i++) {
		prev += tarn__varint_unzigzag(tarn__reader_varint(&r));
		b->recs[i].offset = prev;
	}
	for (i = 0; i < n; i++) {
		uint64_t v = tarn__reader_varint(&r);
		b->recs[i].kafka_ts_us = v ? b->recs[i].time_us + tarn__varint_unzigzag(v - 1) : -1;
	}
	for (prev = 0, i = 0; i < n; i++) {
		prev += tarn__varint_unzigzag(tarn__reader_varint(&r));
		b->recs[i].ingest_us = prev;
	}
	if (r.bad)
		BAD("fields run past the frame");
	if (r.p != r.end)
		BAD("trailing bytes");
	b->n = (uint32_t)n;
	b->min_time = b->recs[0].time_us;
	b->max_time = b->recs[n - 1].time_us;
	for (i = 0; i < n; i++) {
		if (i && rec_cmp(b, &b->recs[i - 1], &b->recs[i]) >= 0)
			BAD("events out of order");
		b->raw_bytes += b->recs[i].pay_len;
	}
	return TARN_OK;
corrupt:
	b->n = 0;
	return tarn__error_set(TARN_ECORRUPT, "%s: %s", where, why);
}

/* Each event's offset in the payload frame, in event order; returns the
 * frame's size that the events say. */
static uint64_t place_payloads(tarn__block *b)
{
	uint64_t off = 0;
	uint32_t i;

	for (i = 0; i < b->n; i++) {
		b->recs[i].pay_off = (uint32_t)off;
		off += stored_len(&b->recs[i]);
	}
	return off;
}

/* A shaped block's payload frames (format 3): each frame decoded and
 * rebuilt into b->pay at its events' offsets; only the frame that holds
 * event `only` when that is below b->n. b->pay gets room for the events
 * through the last frame decoded; the bytes of frames not decoded are left
 * unset. */
static int decode_shaped(tarn__block *b, ZSTD_DCtx *dctx, const void *zpay, size_t zpay_len,
			 uint32_t only, const char *where)
{
	uint32_t cut[TARN__BLOCK_EVENTS + 1], from = 0;
	const unsigned char *p = zpay;
	struct tarn__buf content = { NULL, 0, 0 };
	size_t frames, k, left = zpay_len;
	uint64_t total = place_payloads(b), upto = 0;
	const char *why = "payload frames do not match the events";
	int rc = TARN_OK;

	frames = payload_frames(b, cut);
	b->pay.len = 0;
	if (only < b->n) /* room through the end of the frame that holds it */
		for (k = 0; k < frames; k++)
			if (only < cut[k]) {
				upto = cut[k] < b->n ? b->recs[cut[k]].pay_off : total;
				break;
			}
	if (only >= b->n)
		upto = total;
	rc = tarn__buf_reserve(&b->pay, upto ? (size_t)upto : 1);
	for (k = 0; !rc && k < frames; k++) {
		unsigned long long size = left ? ZSTD_getFrameContentSize(p, left) : 0;
		size_t fz = left ? ZSTD_findFrameCompressedSize(p, left) : 0;
		size_t got;

		if (!left || size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
		    ZSTD_isError(fz) || fz > left || size > MAX_FRAME_BYTES) {
			rc = TARN_ECORRUPT;
			break;
		}
		if (only >= b->n || (only >= from && only < cut[k])) {
			content.len = 0;
			rc = tarn__buf_reserve(&content, size ? (size_t)size : 1);
			if (rc)
				break;
			got = ZSTD_decompressDCtx(dctx, content.p, (size_t)size, p, fz);
			if (ZSTD_isError(got) || got != size) {
				why = ZSTD_isError(got) ? ZSTD_getErrorName(got) : "wrong length";
				rc = TARN_ECORRUPT;
				break;
			}
			rc = tarn__shape_decode(content.p, got, b->recs + from, cut[k] - from,
						b->pay.p, &why);
			if (rc)
				break;
		}
		p += fz;
		left -= fz;
		from = cut[k];
	}
	if (!rc && left)
		rc = TARN_ECORRUPT;
	free(content.p);
	if (rc == TARN_ECORRUPT)
		return tarn__error_set(TARN_ECORRUPT, "%s: payload frame: %s", where, why);
	if (rc)
		return rc;
	b->pay.len = (size_t)upto;
	return TARN_OK;
}

int tarn__block_decode_payloads(tarn__block *b, ZSTD_DCtx *dctx, const void *zpay, size_t zpay_len,
				const char *where)
{
	uint64_t off;
	int rc;

	b->has_payloads = 0;
	if (b->format == BLOCK_FORMAT_SHAPED) {
		rc = decode_shaped(b, dctx, zpay, zpay_len, UINT32_MAX, where);
		if (!rc)
			b->has_payloads = 1;
		return rc;
	}
	rc = decompress_into(dctx, &b->pay, zpay, zpay_len, where, "payload");
	if (rc)
		return rc;
	off = place_payloads(b);
	if (off != b->pay.len)
		return tarn__error_set(TARN_ECORRUPT,
				       "%s: payload frame holds %zu bytes, events"
				       " say %llu",
				       where, b->pay.len, (unsigned long long)off);
	b->has_payloads = 1;
	return TARN_OK;
}

int tarn__block_decode_payload_prefix(tarn__block *b, ZSTD_DCtx *dctx, const void *zpay,
				      size_t zpay_len, uint32_t i, const char *where)
{
	uint64_t off, need, total, at = 0;
	size_t skip = 0;
	ZSTD_outBuffer out;
	ZSTD_inBuffer in;
	int rc;

	b->has_payloads = 0;
	if (b->format == BLOCK_FORMAT_SHAPED) {
		if (i >= b->n)
			return tarn__error_set(TARN_ECORRUPT, "%s: no event %u in the block", where,
					       i);
		return decode_shaped(b, dctx, zpay, zpay_len, i, where);
	}
	off = place_payloads(b);
	/* the frames before the one that holds event i are stepped over (a
	 * frame holds whole events): b->pay has event i's bytes at their
	 * offset, not those of the frames before */
	if (i >= b->n || frames_walk(zpay, zpay_len, b->recs[i].pay_off, &total, &skip, &at) ||
	    total != off)
		return tarn__error_set(TARN_ECORRUPT,
				       "%s: payload frame does not match its"
				       " events",
				       where);
	need = b->recs[i].pay_off + (uint64_t)stored_len(&b->recs[i]);
	b->pay.len = 0;
	rc = tarn__buf_reserve(&b->pay, need ? (size_t)need : 1);
	if (rc)
		return rc;
	in.src = (const unsigned char *)zpay + skip;
	in.size = zpay_len - skip;
	in.pos = 0;
	out.dst = b->pay.p + at;
	out.size = (size_t)(need - at);
	out.pos = 0;
	ZSTD_DCtx_reset(dctx, ZSTD_reset_session_only);
	while (out.pos < out.size) {
		size_t was_in = in.pos, was_out = out.pos;
		size_t z = ZSTD_decompressStream(dctx, &out, &in);
		if (ZSTD_isError(z))
			return tarn__error_set(TARN_ECORRUPT,
					       "%s: payload frame does not"
					       " decompress: %s",
					       where, ZSTD_getErrorName(z));
		if (out.pos < out.size && (z == 0 || (in.pos == was_in && out.pos == was_out)))
			return tarn__error_set(TARN_ECORRUPT, "%s: payload frame ends early",
					       where);
	}
	b->pay.len = (size_t)need;
	return TARN_OK;
}

int tarn__block_payload(const tarn__block *b, uint32_t i, struct tarn__buf *scratch,
			const unsigned char **out, size_t *len)
{
	const struct tarn__rec *r = &b->recs[i];
	const unsigned char *p = b->pay.p + r->pay_off;
	size_t at;
	char text[TARN__UUID_TEXT + 1];
	int rc;

	*len = r->pay_len;
	if (!r->elide) {
		*out = p ? p : (const unsigned char *)"";
		return TARN_OK;
	}
	at = r->elide - 1;
	scratch->len = 0;
	rc = tarn__buf_reserve(scratch, r->pay_len);
	if (rc)
		return rc;
	uuid_unparse_lower(b->arena.p + r->id_off, text);
	memcpy(scratch->p, p, at);
	memcpy(scratch->p + at, text, TARN__UUID_TEXT);
	memcpy(scratch->p + at + TARN__UUID_TEXT, p + at, r->pay_len - at - TARN__UUID_TEXT);
	scratch->len = r->pay_len;
	*out = scratch->p;
	return TARN_OK;
}

int tarn__block_event(const tarn__block *b, uint32_t i, struct tarn__buf *scratch, tarn_event *ev)
{
	const struct tarn__rec *r = &b->recs[i];
	int rc;

	ev->time_us = r->time_us;
	ev->id_is_uuid = r->is_uuid;
	ev->id_len = r->id_len;
	memcpy(ev->id, b->arena.p + r->id_off, r->id_len);
	if (r->name_ix) {
		const struct tarn__str *s = &b->names[r->name_ix - 1];
		size_t len = s->len > TARN_NAME_MAX ? TARN_NAME_MAX : s->len;
		memcpy(ev->name, b->arena.p + s->off, len);
		ev->name[len] = '\0';
		ev->has_name = 1;
	}
	if (r->key_len != UINT32_MAX) {
		ev->key = r->key_len ? (const void *)(b->arena.p + r->key_off) : "";
		ev->key_len = r->key_len;
	}
	if (r->hdr_len) {
		ev->headers = b->arena.p + r->hdr_off;
		ev->headers_len = r->hdr_len;
	}
	ev->topic = r->topic_ix ? (const char *)b->arena.p + b->topics[r->topic_ix - 1].off : NULL;
	ev->partition = r->partition;
	ev->offset = r->offset;
	ev->kafka_ts_us = r->kafka_ts_us;
	ev->ingest_us = r->ingest_us;
	ev->payload_len = r->pay_len;
	ev->payload = NULL;
	ev->id_text_at = r->elide ? r->elide - 1 : SIZE_MAX; /* where it was put back */
	if (b->has_payloads) {
		const unsigned char *p;
		size_t len;
		rc = tarn__block_payload(b, i, scratch, &p, &len);
		if (rc)
			return rc;
		ev->payload = p;
	}
	return TARN_OK;
}

uint32_t tarn__block_lower_bound(const tarn__block *b, int64_t time_us)
{
	uint32_t lo = 0, hi = b->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (b->recs[mid].time_us < time_us)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int64_t tarn__block_find(const tarn__block *b, int64_t time_us, int is_uuid,
			 const unsigned char *id, size_t id_len)
{
	uint32_t i;

	for (i = tarn__block_lower_bound(b, time_us); i < b->n && b->recs[i].time_us == time_us;
	     i++) {
		const struct tarn__rec *r = &b->recs[i];
		if (!r->is_uuid == !is_uuid && r->id_len == id_len &&
		    memcmp(b->arena.p + r->id_off, id, id_len) == 0)
			return i;
	}
	return -1;
}
