/* Library-internal: field-aware payload frames (docs/FORMAT.md, "Shaped
 * payload frames"). Events of one shape repeat the same keys, spacing and
 * punctuation; a shaped frame keeps each shape once (its template) and
 * each field's values as a column of their own, so that zstd sees like
 * values side by side. Values are kept as the bytes they were written
 * with; a column is stored as plain bytes, as a dictionary, as integer
 * deltas, or as a rendering of the event's own time, whichever fits. The
 * frame decodes to the payloads byte for byte: the split into template and
 * values is lossless for any bytes, JSON or not. */
#ifndef TARN_SHAPE_H
#define TARN_SHAPE_H

#include <stddef.h>
#include <stdint.h>

#include "block.h"

/* Append to out the shaped frame content of the n events recs[0..n):
 * event i's stored payload is recs[i]'s stored length (pay_len, less the
 * cut id text when elided) of bytes at base + recs[i].pay_off, and
 * recs[i].time_us (µs since the Unix epoch, UTC) is its event time. Reads
 * nothing else of recs. The content starts with a mode byte: shaped, or
 * (when the events share too few shapes to gain) the payloads one after
 * the other. Returns TARN_OK, or TARN_ENOMEM (out may then hold part of
 * the content). Thread-safe; allocates only for the call. */
int tarn__shape_encode(const unsigned char *base, const struct tarn__rec *recs, uint32_t n,
		       struct tarn__buf *out);

/* Rebuild, from the content in[0..in_len) that tarn__shape_encode wrote
 * for the same n events, each event's stored payload at base +
 * recs[i].pay_off (the caller makes room for recs[i]'s stored length
 * there). Every count, length and index is checked against the frame and
 * against the events' stored lengths. Returns TARN_OK; TARN_ECORRUPT (and
 * *why, static text, says what is wrong) when the content does not fit
 * the events; TARN_ENOMEM. Thread-safe. */
int tarn__shape_decode(const unsigned char *in, size_t in_len, const struct tarn__rec *recs,
		       uint32_t n, unsigned char *base, const char **why);

#endif
