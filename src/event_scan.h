/* Library-internal: the values at a few JSON paths of one payload, read
 * in the streaming parse that extraction uses (event.c). The declared
 * aggregates' native path (aggregate.c, sqlexpr.c) reads payload->>'$.a.b'
 * through it instead of asking SQLite to parse the payload again. */
#ifndef TARN_EVENT_SCAN_H
#define TARN_EVENT_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "tarn/event.h"

#define TARN__JPATH_PARTS 32  /* a path with more parts never matches */
#define TARN__JPATHS_MAX  32  /* paths read in one parse */
#define TARN__JVALUE_CAP  256 /* bytes of a value kept when it is not in the payload */

/* What is at a path. */
typedef enum tarn__jtype {
	TARN__J_NONE,	   /* the path is absent */
	TARN__J_NULL,	   /* null */
	TARN__J_STRING,	   /* a string (decoded) */
	TARN__J_INTEGER,   /* a number without fraction or exponent (text as written) */
	TARN__J_REAL,	   /* a number with either (text as written) */
	TARN__J_TRUE,	   /* true */
	TARN__J_FALSE,	   /* false */
	TARN__J_CONTAINER, /* an object or an array (not kept) */
} tarn__jtype;

/* A dotted path ("a.b.c": keys of nested objects, never array indexes),
 * compiled: its parts point into the text given to tarn__jpath_compile,
 * which must outlive it. n == 0: a path that never matches. */
typedef struct tarn__jpath {
	const char *part[TARN__JPATH_PARTS];
	size_t len[TARN__JPATH_PARTS];
	int n;
} tarn__jpath;

/* The value at a path. s: the value's bytes (strings decoded, numbers as
 * written), pointing into the payload when they are there unchanged
 * (in_payload 1), else into buf, which holds only the first
 * TARN__JVALUE_CAP bytes of a value of len bytes. */
typedef struct tarn__jvalue {
	tarn__jtype type;
	size_t len; /* bytes */
	const char *s;
	int in_payload;
	char buf[TARN__JVALUE_CAP];
} tarn__jvalue;

/* Compile the dotted path (NUL-terminated, borrowed). A path with more
 * than TARN__JPATH_PARTS parts, or a part over 255 bytes, never matches. */
void tarn__jpath_compile(tarn__jpath *p, const char *dotted);

/* Read the values of n (<= TARN__JPATHS_MAX) paths of payload (len bytes)
 * into out[0..n-1], with the lookup rules of SQLite's JSON functions
 * (json1 in SQLite 3.40, https://sqlite.org/json1.html): where an object
 * has one key twice, the first one is taken, and a key written with
 * escapes matches no path. The parse stops once every path has its value:
 * the text after that point is not checked, so payload should be one
 * that extraction accepted (a stored event's). Returns 0, or -1 when the
 * part read is not JSON (RFC 8259) or nests deeper than 512.
 * Thread-safe. */
int tarn__json_lookup(const void *payload, size_t len, const tarn__jpath *const *paths, int n,
		      tarn__jvalue *out);

/* A JSON integer's text (a TARN__J_INTEGER value's bytes, n of them) as
 * SQLite's ->> reads it (json1's jsonReturn in 3.40): *out and 0, or -1
 * when it does not fit 64 bits (SQLite then reads a REAL). Thread-safe. */
int tarn__json_int(const char *s, size_t n, int64_t *out);

/* tarn_event_extract (tarn/event.h), and in the same parse the values of
 * n (<= TARN__JPATHS_MAX) paths, read as tarn__json_lookup reads them,
 * into out[0..n-1] (filled when it returns TARN_OK; their bytes point
 * into ev->payload or into out). Returns what tarn_event_extract does. */
int tarn__event_extract_paths(tarn_event *ev, const tarn_extract_options *opts,
			      const tarn__jpath *const *paths, int n, tarn__jvalue *out,
			      tarn_reject *why, char *detail, size_t detail_len);

#endif
