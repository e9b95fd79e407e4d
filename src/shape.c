/* Field-aware payload frames (shape.h; docs/FORMAT.md, "Shaped payload
 * frames"). A payload is cut into literal pieces (punctuation, spacing,
 * object keys) and values (the inside of a string that is not a key, or a
 * run of number and word characters: numbers, true, false, null). The
 * literal pieces are its template; events with the same template share
 * it, and the values of each template's k-th slot form a column. */
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "hash.h"
#include "shape.h"
#include "tarn/time.h"
#include "varint.h"

#define MODE_RAW    0 /* the payloads one after the other */
#define MODE_SHAPED 1

#define MAX_SLOTS 255 /* an event with more values is kept whole */

/* a column's first byte: how its values are stored, and whether a tag
 * byte a value says which are renderings of the event's time */
#define COL_PLAIN 0 /* lengths, then the bytes */
#define COL_DICT  1 /* distinct values, then an index a value */
#define COL_INT	  2 /* canonical decimal integers as zigzag deltas */
#define COL_TAGS  4

/* renderings of an event's time (µs since the epoch, UTC) that a value
 * can be: RFC 3339 with milliseconds, seconds or microseconds and 'Z';
 * whole milliseconds or seconds since the epoch in decimal */
enum { R_NONE, R_MS, R_S, R_US, R_EPOCH_MS, R_EPOCH_S, R_LAST = R_EPOCH_S };

#define RENDER_MAX 32

struct clock {
	int64_t day;
	int ok;
	char date[11];
};

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static size_t put_digits(char *out, uint64_t v, int width)
{
	char t[24];
	int n = 0, i;

	do {
		t[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v || n < width);
	for (i = 0; i < n; i++)
		out[i] = t[n - 1 - i];
	return (size_t)n;
}

/* The text of rendering `kind` of time us into out, its length, or 0 when
 * that rendering cannot stand for the time (a fraction it would drop, a
 * time out of tarn's range). */
static size_t render(struct clock *c, int64_t us, int kind, char out[RENDER_MAX])
{
	int64_t day, rem;
	size_t n;

	if (us < TARN_TIME_MIN_US || us > TARN_TIME_MAX_US)
		return 0;
	if ((kind == R_MS || kind == R_EPOCH_MS) && us % 1000)
		return 0;
	if ((kind == R_S || kind == R_EPOCH_S) && us % 1000000)
		return 0;
	if (kind == R_EPOCH_MS || kind == R_EPOCH_S)
		return us < 0 ? 0
			      : put_digits(out,
					   (uint64_t)us / (kind == R_EPOCH_MS ? 1000 : 1000000), 1);
	if (kind < R_MS || kind > R_US)
		return 0;
	day = floor_div(us, TARN_US_PER_DAY);
	if (!c->ok || c->day != day) {
		if (tarn_time_date(us, c->date) != TARN_OK)
			return 0;
		c->day = day;
		c->ok = 1;
	}
	rem = us - day * TARN_US_PER_DAY;
	memcpy(out, c->date, 10);
	out[10] = 'T';
	put_digits(out + 11, (uint64_t)(rem / 3600000000LL), 2);
	out[13] = ':';
	put_digits(out + 14, (uint64_t)(rem / 60000000 % 60), 2);
	out[16] = ':';
	put_digits(out + 17, (uint64_t)(rem / 1000000 % 60), 2);
	n = 19;
	if (kind == R_MS) {
		out[n++] = '.';
		n += put_digits(out + n, (uint64_t)(rem / 1000 % 1000), 3);
	} else if (kind == R_US) {
		out[n++] = '.';
		n += put_digits(out + n, (uint64_t)(rem % 1000000), 6);
	}
	out[n++] = 'Z';
	return n;
}

/* Which rendering of us the value v is, or R_NONE. */
static int rendering_of(struct clock *c, int64_t us, const unsigned char *v, size_t len)
{
	char t[RENDER_MAX];
	int k;

	if (!len || v[0] < '0' || v[0] > '9')
		return R_NONE;
	for (k = R_MS; k <= R_LAST; k++) {
		static const size_t want[] = { 0, 24, 20, 27, 0, 0 };

		if (want[k] && len != want[k])
			continue;
		if (!want[k] && len > 20)
			continue;
		if (render(c, us, k, t) == len && !memcmp(t, v, len))
			return k;
	}
	return R_NONE;
}

/* A canonical decimal integer (no '+', no leading zero, not "-0") of at
 * most 18 digits, so that deltas never overflow: its value in *out. */
static int canonical_int(const unsigned char *v, size_t len, int64_t *out)
{
	size_t i = 0;
	int64_t x = 0;
	int neg = 0;

	if (len && v[0] == '-') {
		neg = 1;
		i = 1;
	}
	if (i == len || len - i > 18 || (v[i] == '0' && len - i > 1) || (neg && v[i] == '0'))
		return 0;
	for (; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return 0;
		x = x * 10 + (v[i] - '0');
	}
	*out = neg ? -x : x;
	return 1;
}

static size_t int_text(int64_t x, char out[RENDER_MAX])
{
	if (x < 0) {
		out[0] = '-';
		return 1 + put_digits(out + 1, (uint64_t)0 - (uint64_t)x, 1);
	}
	return put_digits(out, (uint64_t)x, 1);
}

static uint32_t stored(const struct tarn__rec *r)
{
	return r->elide ? r->pay_len - TARN__UUID_TEXT : r->pay_len;
}

static uint64_t hash_bytes(const unsigned char *p, size_t n)
{
	return tarn__hash_bytes(p, n);
}

static int is_word(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '-' || c == '+' || c == '.';
}

/* ---- encoding ---- */

struct span {
	uint32_t off, len; /* into the payloads' base */
};

struct enc {
	struct tarn__buf tpl; /* the templates, as written */
	struct tarn__buf key; /* the template being built */
	uint32_t *tpl_off;    /* template t at tpl.p + tpl_off[t] */
	uint32_t *tpl_len, *tpl_slots;
	uint64_t *tpl_hash;
	uint32_t n_tpl, last;
	int32_t *table; /* open addressing: template index or -1 */
	uint32_t table_mask;
};

static int buf_room(struct tarn__buf *b, size_t more)
{
	return tarn__buf_reserve(b, more);
}

static void put_var(struct tarn__buf *b, uint64_t v)
{
	b->len += tarn__varint_put(b->p + b->len, v);
}

/* The offset of the quote that closes a string whose inside starts at
 * `from` (one not escaped: after an even run of backslashes), or len. */
static uint32_t close_quote(const unsigned char *p, uint32_t from, uint32_t len)
{
	while (from < len) {
		const unsigned char *q = memchr(p + from, '"', len - from);
		uint32_t at, k;

		if (!q)
			return len;
		at = (uint32_t)(q - p);
		for (k = at; k > from && p[k - 1] == '\\'; k--)
			;
		if ((at - k) % 2 == 0)
			return at;
		from = at + 1;
	}
	return len;
}

/* Cut the payload p[0..len) (at offset `at` of base) into literals and
 * values: the values' spans go to vals (room for MAX_SLOTS), the template
 * (slot count, then each literal as length and bytes) into e->key. Returns
 * the number of values, or -1 when there are more than MAX_SLOTS. */
static int cut(struct enc *e, const unsigned char *p, uint32_t len, uint32_t at, struct span *vals)
{
	uint32_t pos = 0, lit = 0, lit_len[MAX_SLOTS + 1], lit_at[MAX_SLOTS + 1];
	int n = 0, i;

	while (pos < len) {
		unsigned char c = p[pos];
		uint32_t q, s, end;

		if (c == '"') {
			q = close_quote(p, pos + 1, len);
			if (q >= len)
				break; /* unterminated: the rest is literal */
			for (s = q + 1; s < len && (p[s] == ' ' || p[s] == '\t' || p[s] == '\n' ||
						    p[s] == '\r');
			     s++)
				;
			if (s < len && p[s] == ':') { /* a key: part of the shape */
				pos = q + 1;
				continue;
			}
			s = pos + 1;
			end = q;
		} else if (is_word(c)) {
			for (q = pos; q < len && is_word(p[q]); q++)
				;
			s = pos;
			end = q;
		} else {
			pos++;
			continue;
		}
		if (n == MAX_SLOTS)
			return -1;
		lit_at[n] = lit;
		lit_len[n] = s - lit;
		vals[n].off = at + s;
		vals[n].len = end - s;
		n++;
		lit = end;
		pos = end + (c == '"');
	}
	lit_at[n] = lit;
	lit_len[n] = len - lit;
	e->key.len = 0;
	{
		size_t need = TARN__VARINT_MAX * (size_t)(n + 2) + len;
		if (buf_room(&e->key, need))
			return -2;
	}
	put_var(&e->key, (uint64_t)n);
	for (i = 0; i <= n; i++) {
		put_var(&e->key, lit_len[i]);
		memcpy(e->key.p + e->key.len, p + lit_at[i], lit_len[i]);
		e->key.len += lit_len[i];
	}
	return n;
}

/* The index of the template in e->key, added when new; -1 out of memory.
 * The previous event's template is tried first (most events share it). */
static int64_t template_of(struct enc *e, uint32_t slots)
{
	uint64_t h;
	uint32_t at, t;

	if (e->n_tpl && e->tpl_len[e->last] == e->key.len &&
	    !memcmp(e->tpl.p + e->tpl_off[e->last], e->key.p, e->key.len))
		return e->last;
	h = hash_bytes(e->key.p, e->key.len);
	at = (uint32_t)h & e->table_mask;

	for (;; at = (at + 1) & e->table_mask) {
		int32_t x = e->table[at];
		if (x < 0)
			break;
		if (e->tpl_hash[x] == h && e->tpl_len[x] == e->key.len &&
		    !memcmp(e->tpl.p + e->tpl_off[x], e->key.p, e->key.len))
			return e->last = (uint32_t)x;
	}
	if (buf_room(&e->tpl, e->key.len))
		return -1;
	t = e->n_tpl++;
	e->tpl_off[t] = (uint32_t)e->tpl.len;
	e->tpl_len[t] = (uint32_t)e->key.len;
	e->tpl_slots[t] = slots;
	e->tpl_hash[t] = h;
	memcpy(e->tpl.p + e->tpl.len, e->key.p, e->key.len);
	e->tpl.len += e->key.len;
	e->table[at] = (int32_t)t;
	e->last = t;
	return t;
}

/* Write one column: the values v[0..m) of the events ev[0..m) (indexes
 * into recs), with tag, dix and dtab as scratch. */
static int put_column(struct tarn__buf *out, const unsigned char *base,
		      const struct tarn__rec *recs, const uint32_t *ev, const struct span *const *v,
		      uint32_t m, unsigned char *tag, uint32_t *dix, int32_t *dtab)
{
	struct clock clk = { 0, 0, "" };
	uint32_t i, left = 0, nd = 0, dmask;
	uint64_t plain = 0, dict_bytes = 0;
	int is_int = 1, has_tags = 0, mode;
	int64_t x, prev;

	for (i = 0; i < m; i++) {
		tag[i] = (unsigned char)rendering_of(&clk, recs[ev[i]].time_us, base + v[i]->off,
						     v[i]->len);
		if (tag[i])
			has_tags = 1;
		else
			left++;
	}
	/* which way the values not rendered are stored (dtab has room for
	 * twice the events, rounded up to a power of two) */
	for (dmask = 15; dmask + 1 < 2 * m; dmask = dmask * 2 + 1)
		;
	memset(dtab, 0xff, ((size_t)dmask + 1) * sizeof(*dtab));
	for (i = 0; i < m; i++) {
		const unsigned char *p = base + v[i]->off;
		uint32_t len = v[i]->len, at;

		if (tag[i])
			continue;
		plain += len + 1 + (len > 127);
		if (is_int && !canonical_int(p, len, &x))
			is_int = 0;
		for (at = (uint32_t)hash_bytes(p, len) & dmask;; at = (at + 1) & dmask) {
			int32_t y = dtab[at];
			if (y < 0) {
				dtab[at] = (int32_t)i;
				dix[i] = nd++;
				dict_bytes += len + 1 + (len > 127);
				break;
			}
			if (v[y]->len == len && !memcmp(base + v[y]->off, p, len)) {
				dix[i] = dix[y];
				break;
			}
		}
	}
	if (is_int && left)
		mode = COL_INT;
	else if (dict_bytes + (uint64_t)left * (nd > 256 ? 2 : 1) < plain)
		mode = COL_DICT;
	else
		mode = COL_PLAIN;
	if (buf_room(out, 8 + (size_t)m * (1 + 2 * TARN__VARINT_MAX) + plain))
		return TARN_ENOMEM;
	out->p[out->len++] = (unsigned char)(mode | (has_tags ? COL_TAGS : 0));
	if (has_tags) {
		memcpy(out->p + out->len, tag, m);
		out->len += m;
	}
	if (mode == COL_INT) {
		for (prev = 0, i = 0; i < m; i++) {
			if (tag[i])
				continue;
			canonical_int(base + v[i]->off, v[i]->len, &x);
			put_var(out, tarn__varint_zigzag(x - prev));
			prev = x;
		}
		return TARN_OK;
	}
	if (mode == COL_DICT) {
		uint32_t k = 0;

		put_var(out, nd);
		/* the distinct values in order of first use: dix of a first
		 * use is k, in increasing i */
		for (i = 0; i < m; i++)
			if (!tag[i] && dix[i] == k) {
				put_var(out, v[i]->len);
				k++;
			}
		for (k = 0, i = 0; i < m; i++)
			if (!tag[i] && dix[i] == k) {
				memcpy(out->p + out->len, base + v[i]->off, v[i]->len);
				out->len += v[i]->len;
				k++;
			}
		for (i = 0; i < m; i++) {
			if (tag[i])
				continue;
			out->p[out->len++] = (unsigned char)dix[i];
			if (nd > 256)
				out->p[out->len++] = (unsigned char)(dix[i] >> 8);
		}
		return TARN_OK;
	}
	for (i = 0; i < m; i++)
		if (!tag[i])
			put_var(out, v[i]->len);
	for (i = 0; i < m; i++)
		if (!tag[i]) {
			memcpy(out->p + out->len, base + v[i]->off, v[i]->len);
			out->len += v[i]->len;
		}
	return TARN_OK;
}

static int put_raw(const unsigned char *base, const struct tarn__rec *recs, uint32_t n,
		   struct tarn__buf *out, size_t start)
{
	uint64_t total = 0;
	uint32_t i;

	out->len = start;
	for (i = 0; i < n; i++)
		total += stored(&recs[i]);
	if (buf_room(out, 1 + total))
		return TARN_ENOMEM;
	out->p[out->len++] = MODE_RAW;
	for (i = 0; i < n; i++) {
		memcpy(out->p + out->len, base + recs[i].pay_off, stored(&recs[i]));
		out->len += stored(&recs[i]);
	}
	return TARN_OK;
}

int tarn__shape_encode(const unsigned char *base, const struct tarn__rec *recs, uint32_t n,
		       struct tarn__buf *out)
{
	struct enc e;
	struct span *vals = NULL, slot[MAX_SLOTS];
	const struct span **col = NULL;
	uint32_t *vstart = NULL, *tpl_of = NULL, *order = NULL, *tstart = NULL, *ev = NULL,
		 *dix = NULL;
	unsigned char *tag = NULL;
	int32_t *dtab = NULL;
	uint64_t n_vals = 0, cap_vals = 0;
	size_t start = out->len;
	uint32_t i, t, k, tsize, dmask;
	int rc = TARN_ENOMEM;

	if (!base) /* no payload has a byte */
		base = (const unsigned char *)"";
	memset(&e, 0, sizeof(e));
	for (tsize = 16; tsize < 2 * (n + 1); tsize <<= 1)
		;
	for (dmask = 15; dmask + 1 < 2 * (n + 1); dmask = dmask * 2 + 1)
		;
	e.table_mask = tsize - 1;
	e.table = malloc(tsize * sizeof(*e.table));
	e.tpl_off = malloc((n + 1) * sizeof(uint32_t));
	e.tpl_len = malloc((n + 1) * sizeof(uint32_t));
	e.tpl_slots = malloc((n + 1) * sizeof(uint32_t));
	e.tpl_hash = malloc((n + 1) * sizeof(uint64_t));
	vstart = malloc((n + 1) * sizeof(*vstart));
	tpl_of = malloc((n + 1) * sizeof(*tpl_of));
	order = malloc((n + 1) * sizeof(*order));
	tstart = malloc((n + 2) * sizeof(*tstart));
	ev = malloc((n + 1) * sizeof(*ev));
	dix = malloc((n + 1) * sizeof(*dix));
	col = malloc((n + 1) * sizeof(*col));
	tag = malloc(n + 1);
	dtab = malloc(((size_t)dmask + 1) * sizeof(*dtab));
	if (!e.table || !e.tpl_off || !e.tpl_len || !e.tpl_slots || !e.tpl_hash || !vstart ||
	    !tpl_of || !order || !tstart || !ev || !dix || !col || !tag || !dtab)
		goto out;
	memset(e.table, 0xff, tsize * sizeof(*e.table));

	/* cut every payload; tpl_of[i] is 0 for an event kept whole, else
	 * 1 + its template */
	for (i = 0; i < n; i++) {
		uint32_t len = stored(&recs[i]);
		int s = cut(&e, base + recs[i].pay_off, len, recs[i].pay_off, slot);
		int64_t x;

		if (s == -2)
			goto out;
		vstart[i] = (uint32_t)n_vals;
		if (s < 0) {
			tpl_of[i] = 0;
			continue;
		}
		x = template_of(&e, (uint32_t)s);
		if (x < 0)
			goto out;
		tpl_of[i] = (uint32_t)x + 1;
		if (n_vals + (uint64_t)s > cap_vals) {
			uint64_t nc = cap_vals ? cap_vals * 2 : 4096;
			struct span *nv;

			while (nc < n_vals + (uint64_t)s)
				nc *= 2;
			nv = realloc(vals, nc * sizeof(*vals));
			if (!nv)
				goto out;
			vals = nv;
			cap_vals = nc;
		}
		if (s)
			memcpy(vals + n_vals, slot, (size_t)s * sizeof(*slot));
		n_vals += (uint64_t)s;
	}
	/* too many shapes for templates to pay: the payloads as they are */
	if (!n || (uint64_t)e.n_tpl * 4 > (uint64_t)n + 32) {
		rc = put_raw(base, recs, n, out, start);
		goto out;
	}
	if (buf_room(out, 1 + TARN__VARINT_MAX + e.tpl.len + (size_t)n * TARN__VARINT_MAX))
		goto out;
	out->p[out->len++] = MODE_SHAPED;
	put_var(out, e.n_tpl);
	memcpy(out->p + out->len, e.tpl.p, e.tpl.len);
	out->len += e.tpl.len;
	for (i = 0; i < n; i++)
		put_var(out, tpl_of[i]);
	/* events kept whole: their bytes (their lengths are the events') */
	for (i = 0; i < n; i++) {
		if (tpl_of[i])
			continue;
		if (buf_room(out, stored(&recs[i])))
			goto out;
		memcpy(out->p + out->len, base + recs[i].pay_off, stored(&recs[i]));
		out->len += stored(&recs[i]);
	}
	/* the events of each template, in event order */
	memset(tstart, 0, (n + 2) * sizeof(*tstart));
	for (i = 0; i < n; i++)
		tstart[tpl_of[i] + 1]++;
	for (t = 1; t <= e.n_tpl + 1 && t <= n + 1; t++)
		tstart[t] += tstart[t - 1];
	for (i = 0; i < n; i++)
		order[tstart[tpl_of[i]]++] = i;
	for (t = e.n_tpl + 1; t > 0; t--)
		tstart[t] = tstart[t - 1];
	tstart[0] = 0;
	/* then each template's slots, a column each */
	for (t = 1; t <= e.n_tpl; t++) {
		uint32_t m = tstart[t + 1] - tstart[t];

		for (i = 0; i < m; i++)
			ev[i] = order[tstart[t] + i];
		for (k = 0; k < e.tpl_slots[t - 1]; k++) {
			for (i = 0; i < m; i++)
				col[i] = &vals[vstart[ev[i]] + k];
			rc = put_column(out, base, recs, ev, col, m, tag, dix, dtab);
			if (rc)
				goto out;
		}
	}
	rc = TARN_OK;
out:
	free(e.tpl.p);
	free(e.key.p);
	free(e.table);
	free(e.tpl_off);
	free(e.tpl_len);
	free(e.tpl_slots);
	free(e.tpl_hash);
	free(vals);
	free(vstart);
	free(tpl_of);
	free(order);
	free(tstart);
	free(ev);
	free(dix);
	free(col);
	free(tag);
	free(dtab);
	if (rc == TARN_ENOMEM)
		return tarn__error_set(TARN_ENOMEM, "shape a payload frame");
	return rc;
}

/* ---- decoding ---- */

/* a value while decoding: bytes in the frame, or in the rendered text */
struct val {
	uint32_t off, len;
	int rendered;
};

struct tpl {
	uint32_t first; /* its first literal in the literals' array */
	uint32_t slots;
};

static int bad_frame(const char **why, const char *what)
{
	*why = what;
	return TARN_ECORRUPT;
}

/* Read one column (slot k of the m events ev[0..m) of a template) into
 * their values. */
static int get_column(struct tarn__reader *r, const unsigned char *in, size_t in_len,
		      const struct tarn__rec *recs, const uint32_t *ev, uint32_t m,
		      struct val *vals, const uint32_t *vstart, uint32_t k, struct tarn__str *dict,
		      struct tarn__buf *text, struct clock *clk, const char **why)
{
	const unsigned char *h = tarn__reader_bytes(r, 1), *tags = NULL, *lens = NULL;
	uint64_t nd = 0, plain_at = 0, j;
	int64_t prev = 0;
	int mode;

	if (!h || (*h & ~(COL_TAGS | 3)) || (*h & 3) == 3)
		return bad_frame(why, "bad column");
	mode = *h & 3;
	if (*h & COL_TAGS) {
		tags = tarn__reader_bytes(r, m);
		if (!tags)
			return bad_frame(why, "payload frame ends early");
	}
	if (mode == COL_DICT) {
		uint64_t at = 0;
		const unsigned char *db;

		nd = tarn__reader_varint(r);
		if (r->bad || nd > m)
			return bad_frame(why, "bad dictionary");
		for (j = 0; j < nd; j++) {
			uint64_t len = tarn__reader_varint(r);

			at += len;
			if (r->bad || at > in_len)
				return bad_frame(why, "bad dictionary");
			dict[j].off = (uint32_t)(at - len);
			dict[j].len = (uint32_t)len;
		}
		db = tarn__reader_bytes(r, at);
		if (!db)
			return bad_frame(why, "payload frame ends early");
		for (j = 0; j < nd; j++)
			dict[j].off += (uint32_t)(db - in);
	} else if (mode == COL_PLAIN) {
		uint64_t sum = 0;

		lens = r->p;
		for (j = 0; j < m; j++) {
			if (tags && tags[j])
				continue;
			sum += tarn__reader_varint(r);
			if (r->bad || sum > in_len)
				return bad_frame(why, "bad value length");
		}
		plain_at = (uint64_t)(r->p - in);
		if (!tarn__reader_bytes(r, sum))
			return bad_frame(why, "payload frame ends early");
	}
	for (j = 0; j < m; j++) {
		struct val *v = &vals[vstart[ev[j]] + k];
		char tx[RENDER_MAX];
		size_t tl;

		if (tags && tags[j]) {
			tl = tags[j] <= R_LAST ? render(clk, recs[ev[j]].time_us, tags[j], tx) : 0;
			if (!tl)
				return bad_frame(why, "bad time rendering");
		} else if (mode == COL_INT) {
			int64_t d = tarn__varint_unzigzag(tarn__reader_varint(r));

			if (r->bad || (d > 0 && prev > INT64_MAX - d) ||
			    (d < 0 && prev < INT64_MIN - d))
				return bad_frame(why, "bad integer");
			prev += d;
			tl = int_text(prev, tx);
		} else if (mode == COL_DICT) {
			const unsigned char *ix = tarn__reader_bytes(r, nd > 256 ? 2 : 1);
			uint32_t x;

			if (!ix)
				return bad_frame(why, "payload frame ends early");
			x = ix[0] | (nd > 256 ? (uint32_t)ix[1] << 8 : 0);
			if (x >= nd)
				return bad_frame(why, "bad dictionary index");
			v->off = dict[x].off;
			v->len = dict[x].len;
			v->rendered = 0;
			continue;
		} else {
			uint64_t len = 0;

			tarn__varint_get(&lens, r->end, &len); /* read and checked above */
			v->off = (uint32_t)plain_at;
			v->len = (uint32_t)len;
			v->rendered = 0;
			plain_at += len;
			continue;
		}
		if (tarn__buf_reserve(text, tl))
			return TARN_ENOMEM;
		memcpy(text->p + text->len, tx, tl);
		v->off = (uint32_t)text->len;
		v->len = (uint32_t)tl;
		v->rendered = 1;
		text->len += tl;
	}
	return TARN_OK;
}

#define CORRUPT(what)                                                                              \
	do {                                                                                       \
		*why = what;                                                                       \
		rc = TARN_ECORRUPT;                                                                \
		goto out;                                                                          \
	} while (0)

int tarn__shape_decode(const unsigned char *in, size_t in_len, const struct tarn__rec *recs,
		       uint32_t n, unsigned char *base, const char **why)
{
	struct tarn__reader r = { in, in + in_len, 0 };
	struct tpl *tpl = NULL;
	struct val *vals = NULL;
	struct tarn__buf text = { NULL, 0, 0 };
	struct tarn__str *dict = NULL;
	uint32_t *tpl_of = NULL, *vstart = NULL, *order = NULL, *tstart = NULL, i, t, k;
	struct tarn__str *lits = NULL;
	uint32_t n_lits = 0, cap_lits = 0;
	uint64_t n_tpl, n_vals = 0;
	struct clock clk = { 0, 0, "" };
	int rc = TARN_ENOMEM;

	*why = NULL;
	if (r.p == r.end)
		CORRUPT("empty payload frame");
	if (*r.p == MODE_RAW) {
		r.p++;
		for (i = 0; i < n; i++) {
			const unsigned char *p = tarn__reader_bytes(&r, stored(&recs[i]));
			if (!p)
				CORRUPT("payload frame ends early");
			memcpy(base + recs[i].pay_off, p, stored(&recs[i]));
		}
		if (r.p != r.end)
			CORRUPT("payload frame has trailing bytes");
		return TARN_OK;
	}
	if (*r.p != MODE_SHAPED)
		CORRUPT("unknown payload frame mode");
	r.p++;
	n_tpl = tarn__reader_varint(&r);
	if (r.bad || n_tpl > n)
		CORRUPT("bad template count");
	tpl = malloc((size_t)(n_tpl + 1) * sizeof(*tpl));
	tpl_of = malloc(((size_t)n + 1) * sizeof(*tpl_of));
	vstart = malloc(((size_t)n + 1) * sizeof(*vstart));
	order = malloc(((size_t)n + 1) * sizeof(*order));
	tstart = malloc(((size_t)n_tpl + 2) * sizeof(*tstart));
	dict = malloc(((size_t)n + 1) * sizeof(*dict));
	if (!tpl || !tpl_of || !vstart || !order || !tstart || !dict)
		goto out;
	for (t = 0; t < n_tpl; t++) {
		uint64_t s = tarn__reader_varint(&r);

		if (r.bad || s > MAX_SLOTS)
			CORRUPT("bad template");
		tpl[t].slots = (uint32_t)s;
		tpl[t].first = n_lits;
		if (n_lits + s + 1 > cap_lits) {
			uint32_t nc = cap_lits ? cap_lits * 2 : 1024;
			struct tarn__str *nl;

			while (nc < n_lits + s + 1)
				nc *= 2;
			nl = realloc(lits, nc * sizeof(*lits));
			if (!nl)
				goto out;
			lits = nl;
			cap_lits = nc;
		}
		for (k = 0; k <= s; k++) {
			uint64_t len = tarn__reader_varint(&r);
			const unsigned char *lit = tarn__reader_bytes(&r, len);

			if (!lit)
				CORRUPT("bad template");
			lits[n_lits].off = (uint32_t)(lit - in);
			lits[n_lits++].len = (uint32_t)len;
		}
	}
	for (i = 0; i < n; i++) {
		uint64_t x = tarn__reader_varint(&r);

		if (r.bad || x > n_tpl)
			CORRUPT("bad template index");
		tpl_of[i] = (uint32_t)x;
		vstart[i] = (uint32_t)n_vals;
		if (x)
			n_vals += tpl[x - 1].slots;
	}
	vals = malloc((size_t)(n_vals ? n_vals : 1) * sizeof(*vals));
	if (!vals)
		goto out;
	for (i = 0; i < n; i++) {
		const unsigned char *p;

		if (tpl_of[i])
			continue;
		p = tarn__reader_bytes(&r, stored(&recs[i]));
		if (!p)
			CORRUPT("payload frame ends early");
		memcpy(base + recs[i].pay_off, p, stored(&recs[i]));
	}
	/* the events of each template, in event order */
	for (t = 0; t <= n_tpl + 1; t++)
		tstart[t] = 0;
	for (i = 0; i < n; i++)
		tstart[tpl_of[i] + 1]++;
	for (t = 1; t <= n_tpl + 1; t++)
		tstart[t] += tstart[t - 1];
	for (i = 0; i < n; i++)
		order[tstart[tpl_of[i]]++] = i;
	for (t = (uint32_t)n_tpl + 1; t > 0; t--)
		tstart[t] = tstart[t - 1];
	tstart[0] = 0;
	/* the columns, template by template, slot by slot */
	for (t = 1; t <= n_tpl; t++) {
		const uint32_t *ev = order + tstart[t];
		uint32_t m = tstart[t + 1] - tstart[t];

		if (!m)
			CORRUPT("a template no event uses");
		for (k = 0; k < tpl[t - 1].slots; k++) {
			rc = get_column(&r, in, in_len, recs, ev, m, vals, vstart, k, dict, &text,
					&clk, why);
			if (rc)
				goto out;
		}
	}
	rc = TARN_ENOMEM;
	if (r.bad || r.p != r.end)
		CORRUPT(r.bad ? "payload frame ends early" : "payload frame has trailing bytes");
	/* the events: literal, value, literal, ..., literal */
	for (i = 0; i < n; i++) {
		uint32_t want = stored(&recs[i]), got = 0;
		unsigned char *dst = base + recs[i].pay_off;
		const struct tarn__str *lit;

		if (!tpl_of[i])
			continue;
		lit = lits + tpl[tpl_of[i] - 1].first;
		for (k = 0;; k++) {
			const struct val *v;

			if (lit[k].len > want - got)
				CORRUPT("event does not match its size");
			memcpy(dst + got, in + lit[k].off, lit[k].len);
			got += lit[k].len;
			if (k == tpl[tpl_of[i] - 1].slots)
				break;
			v = &vals[vstart[i] + k];
			if (v->len > want - got)
				CORRUPT("event does not match its size");
			memcpy(dst + got, (v->rendered ? text.p : in) + v->off, v->len);
			got += v->len;
		}
		if (got != want)
			CORRUPT("event does not match its size");
	}
	rc = TARN_OK;
out:
	free(tpl);
	free(vals);
	free(text.p);
	free(dict);
	free(tpl_of);
	free(vstart);
	free(order);
	free(tstart);
	free(lits);
	if (rc == TARN_ENOMEM)
		return tarn__error_set(TARN_ENOMEM, "decode a payload frame");
	return rc;
}
