/* Extraction: id, time, name and gold dimensions of an event, from Kafka
 * headers first and the JSON payload (yajl, strict RFC 8259) second. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>
#include <uuid/uuid.h>

#include "tarn/event.h"
#include "uuid_text.h"
#include "tarn/headers.h"
#include "tarn/time.h"
#include "error_internal.h"
#include "event_scan.h"

void tarn_event_init(tarn_event *ev)
{
	/* field by field: the five 256-byte arrays are empty when their
	 * first byte (or id_len) says so, and clearing all of them was 2% of
	 * extraction */
	ev->id_len = 0;
	ev->id_is_uuid = 0;
	ev->id_text_at = SIZE_MAX;
	ev->time_us = 0;
	ev->name[0] = '\0';
	ev->has_name = 0;
	ev->user_id[0] = ev->event_type[0] = ev->page[0] = ev->source[0] = '\0';
	ev->has_user_id = ev->has_event_type = ev->has_page = ev->has_source = 0;
	ev->payload = NULL;
	ev->payload_len = 0;
	ev->key = NULL;
	ev->key_len = 0;
	ev->headers = NULL;
	ev->headers_len = 0;
	ev->topic = NULL;
	ev->partition = -1;
	ev->offset = -1;
	ev->kafka_ts_us = -1;
	ev->kafka_ts_is_create = 0;
	ev->ingest_us = 0;
}

const char *tarn_reject_name(tarn_reject reason)
{
	switch (reason) {
	case TARN_REJECT_NONE: return "none";
	case TARN_REJECT_NOT_JSON: return "not_json";
	case TARN_REJECT_NOT_OBJECT: return "not_object";
	case TARN_REJECT_NO_ID: return "no_id";
	case TARN_REJECT_BAD_ID: return "bad_id";
	case TARN_REJECT_NO_TIME: return "no_time";
	case TARN_REJECT_BAD_TIME: return "bad_time";
	case TARN_REJECT_BAD_NAME: return "bad_name";
	case TARN_REJECT_OVERSIZED: return "oversized";
	case TARN_REJECT_CONFLICTING_DUPLICATE: return "conflicting_duplicate";
	case TARN_REJECT_EXPIRED: return "expired";
	}
	return "unknown";
}

/* Quote at most 40 bytes of untrusted text for a message, escaping
 * everything that is not printable ASCII. */
static void quote(char *out, size_t out_len, const char *s, size_t len)
{
	size_t o = 0, i;

	for (i = 0; i < len && i < 40 && o + 5 < out_len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, out_len - o, "\\x%02x", c);
	}
	if (i < len && o + 4 < out_len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o < out_len ? o : out_len - 1] = '\0';
}

static int reject(tarn_reject *out, tarn_reject why, char *detail, size_t detail_len,
		  const char *fmt, const char *arg, size_t arg_len)
{
	char q[200] = "";
	const char *mark, *post;
	int pre;

	*out = why;
	if (arg)
		quote(q, sizeof(q), arg, arg_len);
	/* fmt holds one "%s" where the quoted argument goes */
	mark = strstr(fmt, "%s");
	pre = mark ? (int)(mark - fmt) : (int)strlen(fmt);
	post = mark ? mark + 2 : "";
	if (detail && detail_len)
		snprintf(detail, detail_len, "%.*s%s%s", pre, fmt, q, post);
	tarn__error_set(TARN_EINVAL, "%.*s%s%s", pre, fmt, q, post);
	return TARN_EINVAL;
}

/* Deepest nesting accepted; deeper input is quarantined as not_json. */
#define JSON_DEPTH 512

/* Extraction streams the payload through yajl's parser once (no document
 * tree): the fields it wants are dotted paths ("a.b.c", through objects
 * only), and the value at each path is kept as the parser passes it. A key
 * met twice in one object replaces what was kept under it (the last one
 * wins, as in a tree built from the text). */
enum want_slot {
	W_ID,
	W_TIME,
	W_TIME2,
	W_NAME,
	W_NAME2,
	W_USER,
	W_TYPE,
	W_PAGE,
	W_SOURCE,
	W_COUNT
};

#define SLOTS	  64		   /* W_COUNT and TARN__JPATHS_MAX paths: bits of a uint64_t */
#define PART_MAX  255		   /* a path with a longer part never matches */
#define VALUE_CAP TARN__JVALUE_CAP /* bytes of a value kept; every use allows <= 255 */

struct scan {
	const tarn__jpath *w[SLOTS];
	tarn__jpath custom[W_COUNT]; /* paths given in the options */
	tarn__jvalue *v;	     /* the values of slots 0..base-1, the caller's */
	tarn__jvalue *v2;	     /* and of slots base..n_slots-1 */
	int base, n_slots;
	uint64_t fw;		       /* slots read as SQLite does: the first of a
					  repeated key, none under an escaped key */
	int first_wins;		       /* every slot is: stop once all are found */
	int left, done;		       /* first_wins: slots without a value; all found */
	uint64_t live[JSON_DEPTH + 1]; /* per open container: slots whose path leads on */
	uint64_t seen[JSON_DEPTH + 1]; /* fw slots a key of that object matched */
	int depth;		       /* open containers */
	uint64_t pending;	       /* slots the last key matched */
	int values;		       /* values seen at the top level */
	int top_object, too_deep;
	const char *text, *text_end; /* the payload being parsed */
	yajl_callbacks cb;	     /* this parse's: see want_strings */
};

static void want_path(tarn__jpath *w, const char *path)
{
	const char *p = path;

	w->n = 0;
	if (!path)
		return;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (w->n == TARN__JPATH_PARTS || n > PART_MAX) {
			w->n = 0;
			return;
		}
		w->part[w->n] = p;
		w->len[w->n++] = n;
		if (!dot)
			return;
		p = dot + 1;
	}
}

/* The default paths, compiled once. */
static tarn__jpath default_want[W_COUNT];
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void compile_defaults(void)
{
	static const char *const path[W_COUNT] = {
		[W_ID] = "event_id",	 [W_TIME] = "timestamp",   [W_TIME2] = "published_at",
		[W_NAME] = "event_name", [W_NAME2] = "event_type", [W_USER] = "user_id",
		[W_TYPE] = "event_type", [W_PAGE] = "page",	   [W_SOURCE] = "source",
	};
	int i;

	for (i = 0; i < W_COUNT; i++)
		want_path(&default_want[i], path[i]);
}

/* Slot i wants field when given, else its default (none when no_default). */
static void want(struct scan *sc, int i, const char *field, int no_default)
{
	static const tarn__jpath none = { { NULL }, { 0 }, 0 };

	if (field) {
		want_path(&sc->custom[i], field);
		sc->w[i] = &sc->custom[i];
	} else {
		sc->w[i] = no_default ? &none : &default_want[i];
	}
}

static void scan_init(struct scan *sc, const tarn_extract_options *o, tarn__jvalue *v)
{
	int i;

	sc->v = v;
	pthread_once(&default_once, compile_defaults);
	sc->depth = 0;
	sc->pending = 0;
	sc->values = sc->top_object = sc->too_deep = 0;
	want(sc, W_ID, o->id_field, 0);
	want(sc, W_TIME, o->time_field, 0);
	want(sc, W_TIME2, NULL, o->time_field != NULL);
	want(sc, W_NAME, o->name_field, 0);
	want(sc, W_NAME2, NULL, o->name_field != NULL);
	want(sc, W_USER, o->user_field, 0);
	want(sc, W_TYPE, o->type_field, 0);
	want(sc, W_PAGE, o->page_field, 0);
	want(sc, W_SOURCE, o->source_field, 0);
	sc->v2 = NULL;
	sc->base = sc->n_slots = W_COUNT;
	sc->fw = 0;
	sc->first_wins = sc->done = 0;
	for (i = 0; i < W_COUNT; i++)
		sc->v[i].type = TARN__J_NONE;
}

static tarn__jvalue *slot_value(struct scan *sc, int i)
{
	return i < sc->base ? &sc->v[i] : &sc->v2[i - sc->base];
}

static void want_strings(struct scan *sc);

/* Keep a value for the slots whose whole path the last key completed. */
static int keep(struct scan *sc, tarn__jtype type, const void *p, size_t len)
{
	uint64_t m = sc->pending;
	int i;

	sc->pending = 0;
	if (sc->depth == 0)
		sc->values++;
	for (i = 0; m; i++, m >>= 1) {
		tarn__jvalue *v;
		if (!(m & 1))
			continue;
		if (sc->w[i]->n != sc->depth)
			continue;
		v = slot_value(sc, i);
		v->type = type;
		v->len = len;
		/* yajl passes a string without escapes (and a number) as a
		 * pointer into the payload, which outlives the scan */
		v->in_payload =
			(const char *)p >= sc->text && (const char *)p + len <= sc->text_end;
		if (v->in_payload) {
			v->s = p;
		} else {
			memcpy(v->buf, p, len < VALUE_CAP ? len : VALUE_CAP);
			v->s = v->buf;
		}
		/* the first key of a path is the one SQLite reads: once every
		 * slot has its value, the rest of the text cannot change one */
		if (sc->first_wins && --sc->left == 0)
			sc->done = 1;
	}
	want_strings(sc);
	return !sc->done;
}

static int on_null(void *ctx)
{
	return keep(ctx, TARN__J_NULL, "", 0);
}

static int on_bool(void *ctx, int b)
{
	return keep(ctx, b ? TARN__J_TRUE : TARN__J_FALSE, "", 0);
}

/* RFC 8259 number text; an integer is one without fraction or exponent. */
static int on_number(void *ctx, const char *s, size_t len)
{
	return keep(ctx,
		    memchr(s, '.', len) || memchr(s, 'e', len) || memchr(s, 'E', len)
			    ? TARN__J_REAL
			    : TARN__J_INTEGER,
		    s, len);
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
	return keep(ctx, TARN__J_STRING, s, len);
}

static int on_key(void *ctx, const unsigned char *k, size_t len)
{
	struct scan *sc = ctx;
	uint64_t m = sc->live[sc->depth - 1], hit = 0;
	int lvl = sc->depth - 1, i;

	/* SQLite compares a key's text as written: one with escapes (yajl
	 * hands it decoded, outside the payload) matches no path there */
	if (sc->fw) {
		if ((const char *)k < sc->text || (const char *)k + len > sc->text_end)
			m &= ~sc->fw;
		m &= ~sc->seen[lvl];
	}
	for (i = 0; m; i++, m >>= 1) {
		if (!(m & 1) || sc->w[i]->len[lvl] != len || memcmp(sc->w[i]->part[lvl], k, len))
			continue;
		hit |= (uint64_t)1 << i;
		/* a repeated key replaces the earlier value (not for fw
		 * slots: seen keeps them from matching twice) */
		slot_value(sc, i)->type = TARN__J_NONE;
	}
	sc->seen[lvl] |= hit & sc->fw;
	sc->pending = hit;
	want_strings(sc);
	return 1;
}

static int open_container(struct scan *sc, int is_map)
{
	uint64_t m = sc->pending, longer = 0;
	int i;

	if (sc->depth == 0 && sc->values == 0)
		sc->top_object = is_map;
	if (!keep(sc, TARN__J_CONTAINER, "", 0))
		return 0;
	if (sc->depth == JSON_DEPTH) {
		sc->too_deep = 1;
		return 0;
	}
	for (i = 0; is_map && m; i++, m >>= 1)
		if ((m & 1) && sc->w[i]->n > sc->depth)
			longer |= (uint64_t)1 << i;
	/* the top-level object: every wanted path starts here */
	if (sc->depth == 0 && is_map)
		for (i = 0; i < sc->n_slots; i++)
			if (sc->w[i]->n)
				longer |= (uint64_t)1 << i;
	sc->seen[sc->depth] = 0;
	sc->live[sc->depth++] = longer;
	want_strings(sc);
	return 1;
}

static int on_start_map(void *ctx)
{
	return open_container(ctx, 1);
}

static int on_start_array(void *ctx)
{
	return open_container(ctx, 0);
}

static int on_end(void *ctx)
{
	struct scan *sc = ctx;

	sc->depth--;
	sc->pending = 0;
	want_strings(sc);
	return 1;
}

static const yajl_callbacks scan_callbacks = { on_null,	  on_bool,	  NULL,		NULL,
					       on_number, on_string,	  on_start_map, on_key,
					       on_end,	  on_start_array, on_end };

/* Ask yajl for a string only where it can be kept (a wanted path's value,
 * or the top level) and for keys only inside a container on a wanted
 * path. yajl validates every string (UTF-8, escapes) in its lexer, but
 * undoes escapes, byte by byte, only for a callback that takes them
 * (yajl_parser.c); a payload's long escaped text off the wanted paths
 * took ~7% of a 1M-line ingest's instructions. yajl reads the callbacks
 * through the pointer given to yajl_alloc at each token; they start
 * complete (see parse), so a yajl that copied them would still see every
 * string. */
static void want_strings(struct scan *sc)
{
	sc->cb.yajl_string = sc->pending || sc->depth == 0 ? on_string : NULL;
	sc->cb.yajl_map_key = sc->depth > 0 && sc->live[sc->depth - 1] ? on_key : NULL;
}

/* yajl allocates a few small blocks for each parse (its handle, lexer,
 * buffers and stacks) and frees them all in yajl_free. They come from a
 * per-thread arena that each parse empties, and from malloc only once it
 * is full (a long string or deep nesting): malloc and free were a tenth
 * of the parse. Each arena block starts with its size, for realloc. */
#define ARENA_BYTES 16384
#define ARENA_ALIGN 16
static _Thread_local struct arena {
	size_t used;
	_Alignas(ARENA_ALIGN) unsigned char mem[ARENA_BYTES];
} arena;

static int in_arena(const void *p)
{
	const unsigned char *b = p;

	return b >= arena.mem && b < arena.mem + ARENA_BYTES;
}

static void *arena_malloc(void *ctx, size_t n)
{
	size_t need = ARENA_ALIGN + ((n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1));
	unsigned char *b;

	(void)ctx;
	if (n > ARENA_BYTES || need > ARENA_BYTES - arena.used)
		return malloc(n);
	b = arena.mem + arena.used;
	arena.used += need;
	memcpy(b, &n, sizeof(n));
	return b + ARENA_ALIGN;
}

static void *arena_realloc(void *ctx, void *p, size_t n)
{
	size_t old;
	void *q;

	if (!p)
		return arena_malloc(ctx, n);
	if (!in_arena(p))
		return realloc(p, n);
	memcpy(&old, (unsigned char *)p - ARENA_ALIGN, sizeof(old));
	q = arena_malloc(ctx, n);
	if (q)
		memcpy(q, p, old < n ? old : n);
	return q;
}

static void arena_free(void *ctx, void *p)
{
	(void)ctx;
	if (p && !in_arena(p))
		free(p);
}

static yajl_alloc_funcs arena_funcs = { arena_malloc, arena_realloc, arena_free, NULL };

/* Parse the payload as one JSON text (RFC 8259): strict grammar, valid
 * UTF-8 (yajl's defaults: no comments, no trailing text), nesting at most
 * JSON_DEPTH. Returns 0 with sc filled, or -1 with *err saying why. */
static int parse(const tarn_event *ev, struct scan *sc, const char **err)
{
	static _Thread_local char msg[160];
	const unsigned char *p = (const unsigned char *)(ev->payload ? ev->payload : "");
	yajl_handle h;
	yajl_status st;

	/* a raw NUL byte is never valid JSON, in a string or outside one */
	if (memchr(p, '\0', ev->payload_len)) {
		*err = "NUL byte";
		return -1;
	}
	sc->text = (const char *)p;
	sc->text_end = (const char *)p + ev->payload_len;
	arena.used = 0;
	sc->cb = scan_callbacks;
	h = yajl_alloc(&sc->cb, &arena_funcs, sc);
	if (!h) {
		*err = "out of memory";
		return -1;
	}
	st = yajl_parse(h, p, ev->payload_len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	if (st == yajl_status_client_canceled && sc->done)
		st = yajl_status_ok;
	if (st != yajl_status_ok) {
		if (sc->too_deep) {
			*err = "nesting too deep";
		} else {
			unsigned char *e = yajl_get_error(h, 0, p, ev->payload_len);
			/* yajl's message, on one line */
			snprintf(msg, sizeof(msg), "%s", e ? (const char *)e : "parse error");
			msg[strcspn(msg, "\n")] = '\0';
			if (e)
				yajl_free_error(h, e);
			*err = msg;
		}
		yajl_free(h);
		return -1;
	}
	yajl_free(h);
	return 0;
}

int tarn__json_int(const char *s, size_t n, int64_t *out)
{
	const char *end = s + n;
	uint64_t u = 0;
	int neg = s < end && *s == '-';

	for (s += neg; s < end; s++) {
		unsigned d = (unsigned)(*s - '0');
		if (u > (uint64_t)INT64_MAX / 10 ||
		    (u == (uint64_t)INT64_MAX / 10 && d > 7u + (unsigned)neg))
			return -1;
		u = u * 10 + d;
	}
	*out = neg ? (int64_t)(0 - u) : (int64_t)u;
	return 0;
}

void tarn__jpath_compile(tarn__jpath *p, const char *dotted)
{
	want_path(p, dotted);
}

int tarn__json_lookup(const void *payload, size_t len, const tarn__jpath *const *paths, int n,
		      tarn__jvalue *out)
{
	tarn_event ev = { .payload = payload, .payload_len = len };
	const char *err;
	struct scan sc;
	int i;

	if (n > TARN__JPATHS_MAX)
		n = TARN__JPATHS_MAX;
	sc.v = out;
	sc.v2 = NULL;
	sc.base = sc.n_slots = n;
	sc.fw = ((uint64_t)1 << n) - 1;
	sc.first_wins = 1;
	sc.left = n;
	sc.done = n == 0;
	sc.depth = 0;
	sc.pending = 0;
	sc.values = sc.top_object = sc.too_deep = 0;
	for (i = 0; i < n; i++) {
		sc.w[i] = paths[i];
		out[i].type = TARN__J_NONE;
	}
	return parse(&ev, &sc, &err);
}

/* The value of a hex digit, or -1 (any case). */
static const signed char hex_digit[256] = {
	['0'] = 1,  ['1'] = 2,	['2'] = 3,  ['3'] = 4,	['4'] = 5,  ['5'] = 6,
	['6'] = 7,  ['7'] = 8,	['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
	['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12,
	['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
}; /* stored plus one: 0 is "not a hex digit" */

const unsigned char tarn__uuid_digit_at[16] = { 0,  2,	4,  6,	9,  11, 14, 16,
						19, 21, 24, 26, 28, 30, 32, 34 };

/* The RFC 4122 text form, 8-4-4-4-12 hex digits, into its 16 bytes (RFC
 * 4122 section 3: the digits in order, as uuid_parse gives them, without
 * its strtoul per byte). 0 when s is not of that form. */
static int uuid_bytes(const char *s, size_t len, unsigned char out[16])
{
	const unsigned char *u = (const unsigned char *)s;
	int bad = 0, i;

	if (len != TARN__UUID_TEXT || !tarn__uuid_dashes(s))
		return 0;
	for (i = 0; i < 16; i++) {
		const unsigned char *d = u + tarn__uuid_digit_at[i];
		int hi = hex_digit[d[0]], lo = hex_digit[d[1]];
		bad |= !hi | !lo;
		out[i] = (unsigned char)((hi - 1) << 4 | (lo - 1));
	}
	return !bad;
}

static int set_id(tarn_event *ev, const char *s, size_t len)
{
	const char *pay = ev->payload;

	if (uuid_bytes(s, len, ev->id)) {
		ev->id_len = 16;
		ev->id_is_uuid = 1;
		/* read in place from the payload (not from a header, nor
		 * unescaped into a copy): where, for the block's elision */
		ev->id_text_at = pay && s >= pay && s + len <= pay + ev->payload_len
					 ? (size_t)(s - pay)
					 : SIZE_MAX;
		return 0;
	}
	if (len == 0 || len > TARN_ID_MAX)
		return -1;
	memcpy(ev->id, s, len);
	ev->id_len = len;
	ev->id_is_uuid = 0;
	return 0;
}

/* An integer's decimal text, into buf (VALUE_CAP + 1 bytes): canonical
 * ("-0" is "0") within the 64-bit range, as written outside it, so that
 * two different large integers never become one id. */
static size_t integer_text(const tarn__jvalue *v, char *buf)
{
	size_t n = v->len < VALUE_CAP ? v->len : VALUE_CAP;
	char *end;

	memcpy(buf, v->s, n);
	buf[n] = '\0';
	errno = 0;
	if (buf[0] == '-') {
		long long i = strtoll(buf, &end, 10);
		if (errno == 0 && n == v->len)
			return (size_t)snprintf(buf, VALUE_CAP + 1, "%lld", i);
	} else {
		unsigned long long u = strtoull(buf, &end, 10);
		if (errno == 0 && n == v->len)
			return (size_t)snprintf(buf, VALUE_CAP + 1, "%llu", u);
	}
	return v->len; /* may be > VALUE_CAP: then too long for any use */
}

/* Copy a dimension: strings, and integers as decimal text. */
static void set_dim(const tarn__jvalue *v, char *dst, int *has)
{
	const char *s = NULL;
	char num[VALUE_CAP + 1];
	size_t len = 0;

	*has = 0;
	dst[0] = '\0';
	if (v->type == TARN__J_STRING) {
		s = v->s;
		len = v->len;
	} else if (v->type == TARN__J_INTEGER) {
		len = integer_text(v, num);
		s = num;
	}
	if (!s || len > TARN_DIM_MAX || memchr(s, '\0', len))
		return;
	memcpy(dst, s, len);
	dst[len] = '\0';
	*has = 1;
}

static void fill_dimensions(tarn_event *ev, const struct scan *sc)
{
	set_dim(&sc->v[W_USER], ev->user_id, &ev->has_user_id);
	set_dim(&sc->v[W_TYPE], ev->event_type, &ev->has_event_type);
	set_dim(&sc->v[W_PAGE], ev->page, &ev->has_page);
	set_dim(&sc->v[W_SOURCE], ev->source, &ev->has_source);
}

/* The value of a slot, or of its default alternative when the slot's path
 * is absent; NULL when neither exists. */
static const tarn__jvalue *first_of(const struct scan *sc, int slot, int alt)
{
	if (sc->v[slot].type != TARN__J_NONE)
		return &sc->v[slot];
	if (alt >= 0 && sc->v[alt].type != TARN__J_NONE)
		return &sc->v[alt];
	return NULL;
}

int tarn_event_dimensions(tarn_event *ev, const tarn_extract_options *opts)
{
	tarn_extract_options defaults = TARN_EXTRACT_OPTIONS_INIT;
	const char *err;
	tarn__jvalue v[W_COUNT];
	struct scan sc;

	ev->has_user_id = ev->has_event_type = ev->has_page = ev->has_source = 0;
	scan_init(&sc, opts ? opts : &defaults, v);
	if (parse(ev, &sc, &err))
		return TARN_OK;
	if (sc.top_object)
		fill_dimensions(ev, &sc);
	return TARN_OK;
}

static int take_id(tarn_event *ev, const struct scan *sc, tarn_reject *why, char *detail, size_t dl)
{
	const tarn__jvalue *v;
	tarn_header h;

	if (tarn_headers_get(ev->headers, ev->headers_len, "event_id", &h) == TARN_OK) {
		if (!h.value || set_id(ev, h.value, h.value_len))
			return reject(why, TARN_REJECT_BAD_ID, detail, dl,
				      "header event_id '%s' is empty or longer than 255 bytes",
				      h.value, h.value_len);
		return TARN_OK;
	}
	v = first_of(sc, W_ID, -1);
	if (!v)
		return reject(why, TARN_REJECT_NO_ID, detail, dl,
			      "no event id (header event_id or payload field)%s", NULL, 0);
	if (v->type == TARN__J_INTEGER) {
		char num[VALUE_CAP + 1];
		size_t n = integer_text(v, num);
		if (n > TARN_ID_MAX || set_id(ev, num, n))
			return reject(why, TARN_REJECT_BAD_ID, detail, dl,
				      "event id '%s' is longer than 255 bytes", num,
				      n < VALUE_CAP ? n : VALUE_CAP);
		return TARN_OK;
	}
	if (v->type != TARN__J_STRING)
		return reject(why, TARN_REJECT_BAD_ID, detail, dl,
			      "event id is not a string or integer%s", NULL, 0);
	if (v->len > TARN_ID_MAX || set_id(ev, v->s, v->len))
		return reject(why, TARN_REJECT_BAD_ID, detail, dl,
			      "event id '%s' is empty or longer than 255 bytes", v->s, v->len);
	return TARN_OK;
}

static int take_time(tarn_event *ev, const struct scan *sc, tarn_reject *why, char *detail,
		     size_t dl)
{
	const tarn__jvalue *v;
	tarn_header h;

	if (tarn_headers_get(ev->headers, ev->headers_len, "published_at", &h) == TARN_OK) {
		if (!h.value || tarn_time_parse(h.value, h.value_len, &ev->time_us))
			return reject(why, TARN_REJECT_BAD_TIME, detail, dl,
				      "header published_at '%s' is not RFC 3339 or epoch ms",
				      h.value, h.value_len);
		return TARN_OK;
	}
	v = first_of(sc, W_TIME, W_TIME2);
	if (v && v->type == TARN__J_STRING) {
		if (v->len > VALUE_CAP || tarn_time_parse(v->s, v->len, &ev->time_us))
			return reject(why, TARN_REJECT_BAD_TIME, detail, dl,
				      "time '%s' is not RFC 3339 or epoch ms in range", v->s,
				      v->len);
		return TARN_OK;
	}
	if (v && v->type == TARN__J_INTEGER) {
		char num[VALUE_CAP + 1];
		long long ms;

		integer_text(v, num);
		ms = strtoll(num, NULL, 10); /* out of range: clamped, so refused below */
		if (ms < TARN_TIME_MIN_US / 1000 || ms > TARN_TIME_MAX_US / 1000)
			return reject(why, TARN_REJECT_BAD_TIME, detail, dl,
				      "epoch ms time is out of range%s", NULL, 0);
		ev->time_us = (int64_t)ms * 1000;
		return TARN_OK;
	}
	if (v)
		return reject(why, TARN_REJECT_BAD_TIME, detail, dl,
			      "time field is not a string or integer%s", NULL, 0);
	if (ev->kafka_ts_is_create && ev->kafka_ts_us >= TARN_TIME_MIN_US &&
	    ev->kafka_ts_us <= TARN_TIME_MAX_US) {
		ev->time_us = ev->kafka_ts_us;
		return TARN_OK;
	}
	return reject(why, TARN_REJECT_NO_TIME, detail, dl,
		      "no event time (header published_at, payload field, or Kafka CreateTime)%s",
		      NULL, 0);
}

static int set_name(tarn_event *ev, const char *s, size_t len)
{
	if (len > TARN_NAME_MAX || memchr(s, '\0', len))
		return -1;
	memcpy(ev->name, s, len);
	ev->name[len] = '\0';
	ev->has_name = 1;
	return 0;
}

/* sc is NULL when the header decides alone. */
static int take_name(tarn_event *ev, const struct scan *sc, tarn_reject *why, char *detail,
		     size_t dl)
{
	const tarn__jvalue *v;
	tarn_header h;

	if (tarn_headers_get(ev->headers, ev->headers_len, "event_name", &h) == TARN_OK) {
		if (h.value && set_name(ev, h.value, h.value_len))
			return reject(why, TARN_REJECT_BAD_NAME, detail, dl,
				      "header event_name '%s' is longer than 255 bytes or has NUL",
				      h.value, h.value_len);
		return TARN_OK;
	}
	v = sc ? first_of(sc, W_NAME, W_NAME2) : NULL;
	if (!v || v->type == TARN__J_NULL)
		return TARN_OK;
	if (v->type != TARN__J_STRING || v->len > TARN_NAME_MAX || set_name(ev, v->s, v->len))
		return reject(why, TARN_REJECT_BAD_NAME, detail, dl,
			      "event name is not a string of at most 255 bytes without NUL%s", NULL,
			      0);
	return TARN_OK;
}

/* Parse, and say not_json / not_object as extraction does. */
static int scan_payload(tarn_event *ev, struct scan *sc, tarn_reject *why, char *detail,
			size_t detail_len)
{
	const char *err = "";

	if (parse(ev, sc, &err))
		return reject(why, TARN_REJECT_NOT_JSON, detail, detail_len, "not JSON: %s", err,
			      strlen(err));
	if (!sc->top_object)
		return reject(why, TARN_REJECT_NOT_OBJECT, detail, detail_len,
			      "JSON but not an object%s", NULL, 0);
	return TARN_OK;
}

/* tarn_event_extract, and in the same parse paths[0..n-1]'s values into
 * out (n <= TARN__JPATHS_MAX, read as tarn__json_lookup does). */
static int extract(tarn_event *ev, const tarn_extract_options *opts,
		   const tarn__jpath *const *paths, int n, tarn__jvalue *out, tarn_reject *why,
		   char *detail, size_t detail_len)
{
	tarn_extract_options defaults = TARN_EXTRACT_OPTIONS_INIT;
	size_t max = opts && opts->max_payload_bytes ? opts->max_payload_bytes
						     : TARN_PAYLOAD_MAX_DEFAULT;
	tarn__jvalue v[W_COUNT];
	struct scan sc;
	int rc;

	if (!opts)
		opts = &defaults;
	ev->id_len = 0;
	ev->id_is_uuid = 0;
	ev->has_name = 0;
	ev->name[0] = '\0';
	ev->has_user_id = ev->has_event_type = ev->has_page = ev->has_source = 0;
	*why = TARN_REJECT_NONE;
	if (detail && detail_len)
		detail[0] = '\0';
	if (ev->payload_len > max) {
		char msg[64];
		snprintf(msg, sizeof(msg), "%zu", ev->payload_len);
		return reject(why, TARN_REJECT_OVERSIZED, detail, detail_len,
			      "payload of %s bytes is over the limit", msg, strlen(msg));
	}
	scan_init(&sc, opts, v);
	if (n > 0) {
		int k;
		if (n > TARN__JPATHS_MAX)
			n = TARN__JPATHS_MAX;
		for (k = 0; k < n; k++) {
			sc.w[W_COUNT + k] = paths[k];
			out[k].type = TARN__J_NONE;
		}
		sc.v2 = out;
		sc.n_slots = W_COUNT + n;
		sc.fw = (((uint64_t)1 << n) - 1) << W_COUNT;
	}
	rc = scan_payload(ev, &sc, why, detail, detail_len);
	if (!rc)
		rc = take_id(ev, &sc, why, detail, detail_len);
	if (!rc)
		rc = take_time(ev, &sc, why, detail, detail_len);
	if (!rc)
		rc = take_name(ev, &sc, why, detail, detail_len);
	if (!rc)
		fill_dimensions(ev, &sc);
	return rc;
}

int tarn_event_extract(tarn_event *ev, const tarn_extract_options *opts, tarn_reject *why,
		       char *detail, size_t detail_len)
{
	return extract(ev, opts, NULL, 0, NULL, why, detail, detail_len);
}

int tarn__event_extract_paths(tarn_event *ev, const tarn_extract_options *opts,
			      const tarn__jpath *const *paths, int n, tarn__jvalue *out,
			      tarn_reject *why, char *detail, size_t detail_len)
{
	return extract(ev, opts, paths, n, out, why, detail, detail_len);
}

int tarn_event_name(tarn_event *ev, const tarn_extract_options *opts, tarn_reject *why,
		    char *detail, size_t detail_len)
{
	tarn_extract_options defaults = TARN_EXTRACT_OPTIONS_INIT;
	tarn__jvalue v[W_COUNT];
	struct scan sc;
	tarn_header h;
	int rc;

	if (!opts)
		opts = &defaults;
	ev->has_name = 0;
	ev->name[0] = '\0';
	*why = TARN_REJECT_NONE;
	if (detail && detail_len)
		detail[0] = '\0';
	/* the header alone decides: no JSON parse on the splitter's fast path */
	if (tarn_headers_get(ev->headers, ev->headers_len, "event_name", &h) == TARN_OK)
		return take_name(ev, NULL, why, detail, detail_len);
	scan_init(&sc, opts, v);
	rc = scan_payload(ev, &sc, why, detail, detail_len);
	return rc ? rc : take_name(ev, &sc, why, detail, detail_len);
}

int tarn_event_id_format(const unsigned char *id, size_t id_len, int is_uuid, char *buf,
			 size_t buf_len)
{
	size_t o = 0, i;

	if (buf_len == 0)
		return tarn__error_set(TARN_EINVAL, "no room for the id");
	if (is_uuid && id_len == 16) {
		if (buf_len < 37) {
			buf[0] = '\0';
			return tarn__error_set(TARN_EINVAL, "no room for the id");
		}
		uuid_unparse_lower(id, buf);
		return TARN_OK;
	}
	for (i = 0; i < id_len; i++) {
		unsigned char c = id[i];
		size_t need = (c >= 0x20 && c < 0x7f && c != '\\') ? 1 : 4;
		if (o + need + 1 > buf_len) {
			buf[o] = '\0';
			return tarn__error_set(TARN_EINVAL, "no room for the id");
		}
		if (need == 1)
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, buf_len - o, "\\x%02x", c);
	}
	buf[o] = '\0';
	return TARN_OK;
}
