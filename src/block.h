/* Library-internal: the compressed block, the unit in which a shard stores
 * events (docs/FORMAT.md, "Blocks"). A block holds up to TARN__BLOCK_EVENTS
 * events as two zstd frames (RFC 8878): one of per-event fields laid out
 * column by column, one of the payloads. The same structure holds a block
 * being filled by a batch (arrival order) and a block read back (sorted by
 * event time, then event id). */
#ifndef TARN_BLOCK_H
#define TARN_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include <zstd.h>

#include "tarn/event.h"
#include "uuid_text.h"

#define TARN__BLOCK_EVENTS 4096		 /* events per block */
#define TARN__BLOCK_BYTES  (1024 * 1024) /* payload bytes per block (before elision) */
#define TARN__ZSTD_LEVEL   3
/* The block format tarn writes: 3, payload frames shaped (src/shape.h).
 * Readers also take 1 and 2 (docs/FORMAT.md, "Blocks"). */
#define TARN__BLOCK_FORMAT_NOW 3

/* One event of a block. Offsets point into the block's arena (id, key,
 * headers, dictionary strings) and payload buffer. */
struct tarn__rec {
	int64_t time_us;     /* microseconds since the epoch, UTC */
	int64_t offset;	     /* Kafka offset or line number, -1 when none */
	int64_t kafka_ts_us; /* -1 when none */
	int64_t ingest_us;
	uint32_t id_off;
	uint32_t key_off, key_len; /* key_len UINT32_MAX: no key */
	uint32_t hdr_off, hdr_len; /* hdr_len 0: no headers */
	uint32_t pay_off;	   /* stored (elided) payload in the payload buffer */
	uint32_t pay_len;	   /* bytes of the original payload */
	uint32_t elide;		   /* 0, or 1 + offset where the id's text was cut out */
	uint32_t name_ix;	   /* 0: no name, else 1 + index into names */
	uint32_t topic_ix;	   /* 0: no topic, else 1 + index into topics */
	int32_t partition;	   /* -1 when none */
	uint8_t id_len;
	uint8_t is_uuid;
};

struct tarn__str {
	uint32_t off, len; /* in the arena */
};

/* A growable byte buffer. */
struct tarn__buf {
	unsigned char *p;
	size_t len, cap;
};

typedef struct tarn__block {
	int64_t id; /* blocks.block_id, -1 when not from disk */
	struct tarn__rec *recs;
	uint32_t n, cap;
	struct tarn__buf arena; /* ids, keys, headers, dictionary strings */
	struct tarn__buf pay;	/* payloads, the id's text cut out where elided */
	struct tarn__str *names, *topics;
	uint32_t n_names, n_topics, names_cap, topics_cap;
	int has_payloads; /* 0 when only the field frame was decoded */
	int format;	  /* the block format byte (docs/FORMAT.md, "Blocks") */
	int64_t min_time, max_time;
	uint64_t raw_bytes; /* sum of original payload sizes */
	/* scratch for encoding */
	struct tarn__buf enc, sorted, zmeta, zpay;
	uint32_t *order;
} tarn__block;

/* Start empty (also after tarn__block_free). */
void tarn__block_init(tarn__block *b);
/* Forget the events, keep the buffers. */
void tarn__block_reset(tarn__block *b);
/* Free the buffers only encoding needs (a block kept for reading). */
void tarn__block_drop_scratch(tarn__block *b);
/* Free every buffer; b is empty afterwards. Accepts an empty block. */
void tarn__block_free(tarn__block *b);

/* Append an event in arrival order, copying everything it points to. When
 * the event's id is a UUID whose lowercase text occurs in the payload, that
 * text is cut out of the stored payload and restored on read (the id is
 * kept once, as 16 bytes). Returns TARN_OK or TARN_ENOMEM/TARN_EINVAL. */
int tarn__block_add(tarn__block *b, const tarn_event *ev);

/* Sort the events by (event time, event id) and compress the field frame
 * into b->zmeta and the payloads into b->zpay: one frame, or (past 512 KiB
 * of payloads) several frames one after the other, each of whole events
 * (docs/FORMAT.md). The block's events are left sorted. */
int tarn__block_encode(tarn__block *b, ZSTD_CCtx *cctx);
/* A compression context for tarn__block_encode (level TARN__ZSTD_LEVEL,
 * frame checksums on), or NULL when out of memory. Free with
 * ZSTD_freeCCtx. */
ZSTD_CCtx *tarn__block_cctx(void);

/* Read a block back: the field frame, then (when want_payloads) the
 * payload frames. Every length and offset is checked: TARN_ECORRUPT names
 * what is wrong; TARN_EZSTD when a frame does not decompress. */
int tarn__block_decode(tarn__block *b, ZSTD_DCtx *dctx, const void *zmeta, size_t zmeta_len,
		       const char *where);
int tarn__block_decode_payloads(tarn__block *b, ZSTD_DCtx *dctx, const void *zpay, size_t zpay_len,
				const char *where);

/* Decode, of the payload frames of a block whose fields are decoded, only
 * the frame that holds event i, as far as the end of event i's payload (a
 * re-delivery's comparison needs no more: on average a quarter of a
 * megabyte block). b->pay holds event i's bytes at its offset and
 * has_payloads stays 0: tarn__block_payload works for event i only. The
 * frame's checksum, at its end, is not reached, so damage inside it is
 * not reported here (a comparison sees different bytes; tarn verify reads
 * whole frames). TARN_ECORRUPT when the frame does not match
 * the events or does not decompress, TARN_ENOMEM. */
int tarn__block_decode_payload_prefix(tarn__block *b, ZSTD_DCtx *dctx, const void *zpay,
				      size_t zpay_len, uint32_t i, const char *where);

/* The original payload of event i: borrowed from the block, or rebuilt in
 * scratch when the id's text was cut out. Needs the payloads (or their
 * prefix through event i, tarn__block_decode_payload_prefix). */
int tarn__block_payload(const tarn__block *b, uint32_t i, struct tarn__buf *scratch,
			const unsigned char **out, size_t *len);

/* Fill ev (tarn_event_init first) from event i: id, time, name, key,
 * headers, topic, partition, offset, timestamps; payload only when the
 * block has its payloads (else payload NULL, payload_len the size). The
 * pointers are borrowed from b and scratch. */
int tarn__block_event(const tarn__block *b, uint32_t i, struct tarn__buf *scratch, tarn_event *ev);

/* Order of two events: event time, then TEXT ids before UUIDs (as SQLite
 * orders TEXT before BLOB), then bytes, then length. */
int tarn__event_key_cmp(int64_t t1, int uuid1, const unsigned char *id1, size_t len1, int64_t t2,
			int uuid2, const unsigned char *id2, size_t len2);

/* Index of the event with this time and id in a sorted block, or -1. */
int64_t tarn__block_find(const tarn__block *b, int64_t time_us, int is_uuid,
			 const unsigned char *id, size_t id_len);

/* Index of the first event with time >= time_us in a sorted block. */
uint32_t tarn__block_lower_bound(const tarn__block *b, int64_t time_us);

int tarn__buf_reserve(struct tarn__buf *b, size_t more);

#endif
