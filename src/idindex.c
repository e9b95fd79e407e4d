/* The lake-wide index of event ids: filter, in-memory ids, sorted runs in
 * ids.db (idindex.h; docs/FORMAT.md, "ids.db"). */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tarn/time.h"
#include "error_internal.h"
#include "hash.h"
#include "idindex.h"
#include "sqlutil.h"
#include "varint.h"

static const char ids_schema[] = "CREATE TABLE IF NOT EXISTS runs(run_id INTEGER PRIMARY KEY,"
				 " level INTEGER NOT NULL, n_ids INTEGER NOT NULL);"
				 "CREATE TABLE IF NOT EXISTS run_pages(page INTEGER PRIMARY KEY,"
				 " n INTEGER NOT NULL, data BLOB NOT NULL);"
				 "CREATE TABLE IF NOT EXISTS covered(day INTEGER PRIMARY KEY,"
				 " block_id INTEGER NOT NULL) WITHOUT ROWID;";

/* Entries a page holds (more only to keep equal hashes on one page): about
 * 3 KB encoded, so that a page is one row that fits in one 4 KB SQLite page
 * (a rowid table keeps up to 4,061 bytes of a row in the b-tree page). A
 * page's rowid is run_id << 32 | its first hash: a run's pages are one
 * range of the b-tree, written in order. */
#define PAGE_IDS   1024
#define PAGE_BYTES 4000
/* Runs of one level merged into one of the next. */
#define MERGE_FANIN 4
/* Filter: 512-bit lines, PROBES bits an id in its line. */
#define LINE_WORDS     8
#define PROBES	       6
#define BITS_PER_ID    10
#define FILTER_MIN_IDS (1u << 20)
/* Ids of the last flush kept in memory with their payload hashes: a
 * re-delivery soon after a flush (within 1,000 lines in the bench, ~200
 * of its 1M lines) is then decided without decoding a block. 64k, not
 * 16k: read from a topic's partitions, a re-delivery and its original
 * are up to a fetch round of every partition apart (~45,000 messages
 * with 8 partitions), and each one past the kept ids cost a block read;
 * the 524,866 messages of bench-kafka in consumption order ingested in
 * 2.4 s with 16k kept, 1.0-1.3 s with 64k (1.0 s in produced order), at
 * the same peak RSS (37 MB: the memory table is sized for
 * TARN__IDS_MEM + MEM_SLACK anyway). */
#define RECENT_KEPT 65536u
/* Room past TARN__IDS_MEM for the rest of a batch before its commit: a
 * stream's default batch (tarn_ingest_stream). */
#define MEM_SLACK (100000u + RECENT_KEPT)

struct entry {
	uint64_t h; /* the id hash's upper RUN_BITS bits: what a run keeps */
	int32_t day;
	uint32_t block_id;
};

struct mem_entry {
	uint64_t h;
	uint64_t payload_hash; /* keyed (tarn__idindex_payload_hash), never 0;
				* 0: unknown (an id recovered from a block) */
	struct tarn__idloc loc;
};

/* A run's sketch: one bit a slot, SKETCH_BITS slots an id, the slot of an
 * id picked by the upper 32 bits of its run hash. A clear bit proves the
 * run does not hold the id; a set one (about 2 in 5 for an id it does
 * not hold) sends the lookup to the run's page. A filter "maybe" thus
 * reads ~0.4 of the runs' pages instead of all of them. */
struct sketch {
	int64_t run_id;
	uint64_t *bits;
	uint64_t slots;
};

struct run {
	int64_t run_id;
	int level;
	uint64_t n;
	const struct sketch *sk; /* NULL: none (lookups read the page) */
};

struct tarn__idindex {
	char *path;
	sqlite3 *db;
	sqlite3_stmt *find_page, *ins_page, *ins_run, *set_covered;
	/* filter */
	uint64_t *bits;
	uint64_t n_lines;  /* power of two */
	uint64_t capacity; /* ids it was sized for */
	uint64_t n_filter; /* ids added */
	/* in memory, in insertion order; n_committed of them committed, and
	 * the first n_kept already in the runs (see RECENT_KEPT) */
	struct mem_entry *mem;
	size_t n_mem, n_committed, n_kept, mem_cap;
	uint32_t *mtab; /* open addressing over mem: 1 + index, 0 empty */
	size_t mtab_slots;
	/* runs in ids.db */
	struct run *runs;
	size_t n_runs;
	uint64_t run_ids;
	/* sketches of committed runs, and of runs written in the open
	 * flush or merge transaction (kept only once it commits) or being
	 * filled by the scan at open */
	struct sketch *sk, *sk_new;
	size_t n_sk, n_sk_new, sk_cap, sk_new_cap;
	/* covered block per day */
	struct {
		int32_t day;
		int64_t block_id;
	} * cov;
	size_t n_cov;
	uint64_t seed; /* keys the payload hash: not guessable from outside */
	int32_t *gone; /* days whose shard was deleted, sorted */
	size_t n_gone;
	/* lookup result */
	struct tarn__idcand *res;
	size_t res_cap;
	uint64_t lookups, maybes, run_lookups, run_reads;
};

/* ---- filter ---- */

static uint64_t line_of(const tarn__idindex *x, uint64_t h)
{
	return ((h & 0xffffffffu) * x->n_lines) >> 32;
}

static void filter_add(tarn__idindex *x, uint64_t h)
{
	uint64_t *line, g = tarn__hash_mix64(h ^ 0x2545f4914f6cdd1dull);
	int i;

	if (!x->bits)
		return; /* a rebuild ran out of memory: every lookup is a maybe */
	line = x->bits + line_of(x, h) * LINE_WORDS;
	for (i = 0; i < PROBES; i++, g >>= 9)
		line[(g & 511) >> 6] |= (uint64_t)1 << (g & 63);
	x->n_filter++;
}

static int filter_has(const tarn__idindex *x, uint64_t h)
{
	const uint64_t *line;
	uint64_t g = tarn__hash_mix64(h ^ 0x2545f4914f6cdd1dull);
	int i;

	if (!x->bits)
		return 1;
	line = x->bits + line_of(x, h) * LINE_WORDS;
	for (i = 0; i < PROBES; i++, g >>= 9)
		if (!(line[(g & 511) >> 6] & ((uint64_t)1 << (g & 63))))
			return 0;
	return 1;
}

/* The filter and the runs' sketches are mapped and unmapped directly
 * (mmap(2)), not taken from malloc: the filter is the largest block tarn
 * holds, replaced by one 1.5 times larger at each growth, and left to
 * malloc it moved glibc's mmap threshold (mallopt(3), M_MMAP_THRESHOLD)
 * with each free. Returns zeroed memory (anonymous pages are zero), or
 * NULL. */
static uint64_t *map_zeroed(uint64_t bytes)
{
	void *p = mmap(NULL, (size_t)bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);

	return p == MAP_FAILED ? NULL : p;
}

static void filter_free(tarn__idindex *x)
{
	if (x->bits)
		munmap(x->bits, x->n_lines * 64);
	x->bits = NULL;
	x->n_lines = 0;
}

/* A filter for `ids` ids: BITS_PER_ID bits each, bounded. The old one is
 * freed first: it is about to be rebuilt anyway, and both at once would
 * double the peak memory. */
static int filter_alloc(tarn__idindex *x, uint64_t ids)
{
	uint64_t lines = (ids * BITS_PER_ID + 511) / 512;
	uint64_t max_lines = TARN__IDFILTER_MAX_BYTES / 64;
	uint64_t *bits;

	if (lines > max_lines)
		lines = max_lines;
	if (lines < 1)
		lines = 1;
	filter_free(x);
	bits = map_zeroed(lines * 64);
	if (!bits)
		return tarn__error_set(TARN_ENOMEM, "%s: id filter of %llu bytes", x->path,
				       (unsigned long long)(lines * 64));
	x->bits = bits;
	x->n_lines = lines;
	x->capacity = lines * 512 / BITS_PER_ID;
	x->n_filter = 0;
	return TARN_OK;
}

/* ---- pages: entries sorted by (hash, day, block), bit-packed ---- */

/* A run keeps the upper RUN_BITS bits of each id's 64-bit hash: two
 * different stored ids share them with probability 2^-40 a pair, so that a
 * new id among 100M stored ones costs a block read once in ~11,000 (with
 * 32 bits it was once in 43). */
#define RUN_BITS 40
#define RUN_MASK ((UINT64_C(1) << RUN_BITS) - 1)
/* A Rice quotient of RICE_ESC or more is written as RICE_ESC ones and the
 * whole difference in RUN_BITS bits (never longer than twice the quotient). */
#define RICE_ESC 40
/* Bytes of a page before its bit stream, at most: k, the first hash's low
 * byte, the two widths, and two varints. */
#define PAGE_HEAD 14

static uint64_t run_hash(uint64_t h)
{
	return h >> (64 - RUN_BITS);
}

/* The upper 32 bits of a run hash: the part in a page's rowid. */
static uint32_t run_top(uint64_t rh)
{
	return (uint32_t)(rh >> (RUN_BITS - 32));
}

/* ---- sketches (struct sketch) ---- */

#define SKETCH_BITS 2

static uint64_t sketch_slot(const struct sketch *k, uint64_t rh)
{
	return ((uint64_t)run_top(rh) * k->slots) >> 32;
}

static void sketch_set(struct sketch *k, uint64_t rh)
{
	uint64_t i = sketch_slot(k, rh);

	k->bits[i >> 6] |= UINT64_C(1) << (i & 63);
}

static int sketch_has(const struct sketch *k, uint64_t rh)
{
	uint64_t i = sketch_slot(k, rh);

	return (k->bits[i >> 6] >> (i & 63)) & 1;
}

static uint64_t sketch_bytes(const struct sketch *k)
{
	return (k->slots + 63) / 64 * sizeof(uint64_t);
}

/* An empty sketch for a run of up to `ids` ids, when the sketches already
 * take `used` bytes. Past TARN__SKETCH_MAX_BYTES, without memory, or past
 * 2^31 ids it has no bits, and the run is read on every "maybe". */
static void sketch_init(struct sketch *k, int64_t run_id, uint64_t ids, uint64_t used)
{
	k->run_id = run_id;
	k->slots = ids * SKETCH_BITS < 64 ? 64 : ids * SKETCH_BITS;
	k->bits = NULL;
	if (k->slots <= UINT32_MAX && used + sketch_bytes(k) <= TARN__SKETCH_MAX_BYTES)
		k->bits = map_zeroed(sketch_bytes(k));
}

/* NULL bits: none. */
static void sketch_free(struct sketch *k)
{
	if (k->bits)
		munmap(k->bits, sketch_bytes(k));
	k->bits = NULL;
}

/* Bits to write any value in [0, v]. */
static int width(uint64_t v)
{
	return v ? 64 - __builtin_clzll(v) : 0;
}

/* The Rice parameter of a run of n hashes spread evenly over 2^RUN_BITS:
 * the k that minimises k + 1 + mean gap / 2^k, the expected bits of a
 * difference between neighbours. */
static int rice_k(uint64_t n)
{
	uint64_t gap = n > 1 ? (UINT64_C(1) << RUN_BITS) / n : UINT64_C(1) << (RUN_BITS - 1);
	int k, best = 0;
	double cost = 1e30;

	for (k = 0; k < RUN_BITS; k++) {
		double c = k + (double)gap / (double)(UINT64_C(1) << k);
		if (c < cost) {
			cost = c;
			best = k;
		}
	}
	return best;
}

static uint64_t rice_bits(uint64_t d, int k)
{
	uint64_t q = d >> k;

	return q >= RICE_ESC ? RICE_ESC + RUN_BITS : q + 1 + (uint64_t)k;
}

/* LSB-first bit stream into a buffer the caller sized. */
struct bit_writer {
	unsigned char *p;
	uint64_t acc;
	int n;
};

/* Append the low n bits of v (n <= 32). */
static void put_bits(struct bit_writer *w, uint64_t v, int n)
{
	if (n == 0)
		return;
	w->acc |= (v & ((UINT64_C(1) << n) - 1)) << w->n;
	w->n += n;
	while (w->n >= 8) {
		*w->p++ = (unsigned char)w->acc;
		w->acc >>= 8;
		w->n -= 8;
	}
}

static void put_ones(struct bit_writer *w, uint64_t n)
{
	for (; n >= 32; n -= 32)
		put_bits(w, UINT32_MAX, 32);
	put_bits(w, (UINT64_C(1) << n) - 1, (int)n);
}

static void put_rice(struct bit_writer *w, uint64_t d, int k)
{
	uint64_t q = d >> k;

	if (q >= RICE_ESC) {
		put_ones(w, RICE_ESC);
		put_bits(w, d, RUN_BITS / 2);
		put_bits(w, d >> (RUN_BITS / 2), RUN_BITS - RUN_BITS / 2);
		return;
	}
	put_ones(w, q);
	put_bits(w, 0, 1);
	put_bits(w, d, k > 32 ? 32 : k);
	if (k > 32)
		put_bits(w, d >> 32, k - 32);
}

struct bit_reader {
	const unsigned char *p;
	size_t len, pos; /* in bytes; pos in bits */
};

/* The next 57 bits or more, from bit pos, without moving (zeros past the
 * end: the caller checks pos against the length). */
static uint64_t peek_bits(const struct bit_reader *r)
{
	size_t at = r->pos >> 3;
	uint64_t w = 0;

	if (at + 8 <= r->len) {
		memcpy(&w, r->p + at, 8);
	} else {
		size_t i;
		for (i = 0; at + i < r->len; i++)
			w |= (uint64_t)r->p[at + i] << (8 * i);
	}
	return w >> (r->pos & 7);
}

static int get_bits(struct bit_reader *r, int n, uint64_t *v)
{
	if (r->pos + (size_t)n > r->len * 8)
		return -1;
	*v = n ? peek_bits(r) & ((UINT64_C(1) << n) - 1) : 0;
	r->pos += (size_t)n;
	return 0;
}

static int get_rice(struct bit_reader *r, int k, uint64_t *d)
{
	uint64_t w = peek_bits(r), q = (uint64_t)__builtin_ctzll(~w), lo, hi;

	/* the usual case: the quotient's ones, its zero and the k low bits
	 * all lie in the 57 bits peeked, one load for the whole code */
	if (q < RICE_ESC && q + 1 + (uint64_t)k <= 57 && r->pos + q + 1 + (size_t)k <= r->len * 8) {
		*d = q << k | ((w >> (q + 1)) & ((UINT64_C(1) << k) - 1));
		r->pos += q + 1 + (size_t)k;
		return 0;
	}
	if (q >= RICE_ESC) {
		r->pos += RICE_ESC;
		if (get_bits(r, RUN_BITS / 2, &lo) || get_bits(r, RUN_BITS - RUN_BITS / 2, &hi))
			return -1;
		*d = lo | hi << (RUN_BITS / 2);
		return 0;
	}
	r->pos += q + 1;
	if (r->pos > r->len * 8)
		return -1;
	if (k <= 32) {
		if (get_bits(r, k, &lo))
			return -1;
	} else if (get_bits(r, 32, &lo) || get_bits(r, k - 32, &hi)) {
		return -1;
	} else {
		lo |= hi << 32;
	}
	*d = q << k | lo;
	return 0;
}

/* The least and greatest day and block of a page's entries: they set the
 * bits each entry spends on them. */
struct span {
	int32_t dmin, dmax;
	uint32_t bmin, bmax;
};

static struct span span_of(const struct entry *e)
{
	struct span s = { e->day, e->day, e->block_id, e->block_id };

	return s;
}

static void span_add(struct span *s, const struct entry *e)
{
	s->dmin = e->day < s->dmin ? e->day : s->dmin;
	s->dmax = e->day > s->dmax ? e->day : s->dmax;
	s->bmin = e->block_id < s->bmin ? e->block_id : s->bmin;
	s->bmax = e->block_id > s->bmax ? e->block_id : s->bmax;
}

static int day_bits(const struct span *s)
{
	return width((uint64_t)((int64_t)s->dmax - s->dmin));
}

static int block_bits(const struct span *s)
{
	return width(s->bmax - s->bmin);
}

/* A page: k (1 byte), the first hash's low 8 bits (1), day bits (1),
 * block bits (1), zigzag(least day), least block (varints), then per
 * entry the Rice code of hash - previous hash (none for the first), day -
 * least day, block - least block. Returns the page's bytes. */
static size_t page_encode(const struct entry *e, size_t n, int k, unsigned char *out)
{
	struct span sp = span_of(&e[0]);
	struct bit_writer w;
	int dbits, bbits;
	size_t i, len = 0;

	for (i = 1; i < n; i++)
		span_add(&sp, &e[i]);
	dbits = day_bits(&sp);
	bbits = block_bits(&sp);
	out[len++] = (unsigned char)k;
	out[len++] = (unsigned char)e[0].h;
	out[len++] = (unsigned char)dbits;
	out[len++] = (unsigned char)bbits;
	len += tarn__varint_put(out + len, tarn__varint_zigzag(sp.dmin));
	len += tarn__varint_put(out + len, sp.bmin);
	w.p = out + len;
	w.acc = 0;
	w.n = 0;
	for (i = 0; i < n; i++) {
		if (i)
			put_rice(&w, e[i].h - e[i - 1].h, k);
		put_bits(&w, (uint64_t)((int64_t)e[i].day - sp.dmin), dbits);
		put_bits(&w, e[i].block_id - sp.bmin, bbits);
	}
	if (w.n)
		put_bits(&w, 0, 8 - w.n);
	return (size_t)(w.p - out);
}

/* Decode a page's entries into e (room for n). With stop_h below
 * UINT64_MAX (a probe) e gets only the entries whose hash is stop_h: those
 * below it are stepped over without decoding their day and block, and
 * decoding stops at the first above it. Else e gets every entry, with its
 * day and block only when want_loc (a filter wants the hashes alone).
 * *got says how many e holds. first_top is the first hash's upper 32 bits
 * (from the page's rowid). */
static int page_decode_upto(const void *data, size_t len, uint32_t first_top, size_t n,
			    struct entry *e, const char *path, uint64_t stop_h, int want_loc,
			    size_t *got)
{
	const unsigned char *p = data, *end = p + len;
	uint64_t zd, bmin, v, h;
	struct bit_reader r;
	int64_t dmin;
	int k, dbits, bbits, probe = stop_h != UINT64_MAX;
	size_t i;

	*got = 0;
	if (len < 4)
		goto damaged;
	k = p[0];
	h = (uint64_t)first_top << (RUN_BITS - 32) | p[1];
	dbits = p[2];
	bbits = p[3];
	p += 4;
	if (k >= RUN_BITS || dbits > 32 || bbits > 32 || tarn__varint_get(&p, end, &zd) ||
	    tarn__varint_get(&p, end, &bmin) || bmin > UINT32_MAX)
		goto damaged;
	dmin = tarn__varint_unzigzag(zd);
	r.p = p;
	r.len = (size_t)(end - p);
	r.pos = 0;
	for (i = 0; i < n; i++) {
		int64_t day;
		if (i) {
			if (get_rice(&r, k, &v) || v > RUN_MASK - h)
				goto damaged;
			h += v;
		}
		if (probe && h > stop_h)
			break;
		if ((probe && h < stop_h) || (!probe && !want_loc)) {
			if (r.pos + (size_t)(dbits + bbits) > r.len * 8)
				goto damaged;
			r.pos += (size_t)(dbits + bbits);
			if (!probe) {
				e[*got].h = h;
				e[*got].day = 0;
				e[*got].block_id = 0;
				(*got)++;
			}
			continue;
		}
		if (get_bits(&r, dbits, &v))
			goto damaged;
		day = dmin + (int64_t)v;
		if (day < INT32_MIN || day > INT32_MAX || get_bits(&r, bbits, &v) ||
		    bmin + v > UINT32_MAX)
			goto damaged;
		e[*got].h = h;
		e[*got].day = (int32_t)day;
		e[*got].block_id = (uint32_t)(bmin + v);
		(*got)++;
	}
	return TARN_OK;
damaged:
	return tarn__error_set(TARN_ECORRUPT, "%s: damaged run page", path);
}

/* Decode a whole page into e (room for n). */
static int page_decode(const void *data, size_t len, uint32_t first_top, size_t n, struct entry *e,
		       const char *path)
{
	size_t got;

	return page_decode_upto(data, len, first_top, n, e, path, UINT64_MAX, 1, &got);
}

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	if (x->day != y->day)
		return x->day < y->day ? -1 : 1;
	return x->block_id < y->block_id ? -1 : x->block_id > y->block_id;
}

static int64_t page_key(int64_t run_id, uint32_t top)
{
	return (int64_t)((uint64_t)run_id << 32 | top);
}

/* Append *k to the vector (v, n, cap). -1 without memory. */
static int sketch_push(struct sketch **v, size_t *n, size_t *cap, const struct sketch *k)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		struct sketch *nv = realloc(*v, c * sizeof(*nv));
		if (!nv)
			return -1;
		*v = nv;
		*cap = c;
	}
	(*v)[(*n)++] = *k;
	return 0;
}

/* Bytes of all sketches kept (committed or waiting for a commit). */
static uint64_t sketches_bytes(const tarn__idindex *x)
{
	uint64_t b = 0;
	size_t i;

	for (i = 0; i < x->n_sk; i++)
		b += x->sk[i].bits ? sketch_bytes(&x->sk[i]) : 0;
	for (i = 0; i < x->n_sk_new; i++)
		b += x->sk_new[i].bits ? sketch_bytes(&x->sk_new[i]) : 0;
	return b;
}

static int run_exists(const tarn__idindex *x, int64_t run_id)
{
	size_t i;

	for (i = 0; i < x->n_runs; i++)
		if (x->runs[i].run_id == run_id)
			return 1;
	return 0;
}

/* Point each run at its committed sketch, if it has one. */
static void sketches_attach(tarn__idindex *x)
{
	size_t i, j;

	for (i = 0; i < x->n_runs; i++) {
		x->runs[i].sk = NULL;
		for (j = 0; j < x->n_sk; j++)
			if (x->sk[j].run_id == x->runs[i].run_id)
				x->runs[i].sk = &x->sk[j];
	}
}

/* A flush or merge transaction committed (x->runs as it left them): the
 * sketches of the runs it wrote are kept, those of the runs it merged
 * away (or of runs it wrote and merged again) are freed. */
static void sketches_commit(tarn__idindex *x)
{
	size_t i, k = 0;

	for (i = 0; i < x->n_sk; i++) {
		if (run_exists(x, x->sk[i].run_id))
			x->sk[k++] = x->sk[i];
		else
			sketch_free(&x->sk[i]);
	}
	x->n_sk = k;
	for (i = 0; i < x->n_sk_new; i++)
		if (!run_exists(x, x->sk_new[i].run_id) ||
		    sketch_push(&x->sk, &x->n_sk, &x->sk_cap, &x->sk_new[i]))
			sketch_free(&x->sk_new[i]);
	x->n_sk_new = 0;
	sketches_attach(x);
}

/* A flush or merge transaction rolled back: its runs are gone, and with
 * them their sketches (their run ids will be used again). */
static void sketches_rollback(tarn__idindex *x)
{
	size_t i;

	for (i = 0; i < x->n_sk_new; i++)
		sketch_free(&x->sk_new[i]);
	x->n_sk_new = 0;
}

/* Writes one run, page by page, from entries given in order. */
struct run_writer {
	tarn__idindex *x;
	int64_t run_id;
	int k; /* Rice parameter of the run (rice_k) */
	struct entry page[PAGE_IDS * 2];
	size_t n;
	uint64_t hash_bits; /* of the page's Rice codes */
	struct span span;   /* of the page's entries */
	uint64_t total;
	struct sketch sk; /* of the run's entries */
	unsigned char buf[PAGE_HEAD + PAGE_IDS * 2 * 24];
};

static void writer_start(struct run_writer *w, int64_t run_id, uint64_t ids)
{
	w->run_id = run_id;
	w->k = rice_k(ids);
	w->n = 0;
	w->total = 0;
	sketch_free(&w->sk); /* of a run that was not ended */
	sketch_init(&w->sk, run_id, ids, sketches_bytes(w->x));
}

static int write_page(struct run_writer *w)
{
	tarn__idindex *x = w->x;
	size_t len = page_encode(w->page, w->n, w->k, w->buf);
	int rc;

	sqlite3_reset(x->ins_page);
	sqlite3_bind_int64(x->ins_page, 1, page_key(w->run_id, run_top(w->page[0].h)));
	sqlite3_bind_int64(x->ins_page, 2, (sqlite3_int64)w->n);
	sqlite3_bind_blob(x->ins_page, 3, w->buf, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(x->ins_page);
	sqlite3_reset(x->ins_page);
	if (rc != SQLITE_DONE)
		return tarn__error_sqlite(x->db, "%s: write run page", x->path);
	w->n = 0;
	return TARN_OK;
}

/* Bytes of the page with e added: exact up to the varints' length. */
static uint64_t page_bytes_with(const struct run_writer *w, const struct entry *e)
{
	struct span sp = w->span;
	uint64_t bits;

	span_add(&sp, e);
	bits = w->hash_bits + rice_bits(e->h - w->page[w->n - 1].h, w->k) +
	       (w->n + 1) * (uint64_t)(day_bits(&sp) + block_bits(&sp));
	return PAGE_HEAD + (bits + 7) / 8;
}

/* Equal upper 32 bits stay on one page (a page's rowid holds them), so a
 * lookup reads one page per run. */
static int writer_put(struct run_writer *w, const struct entry *e)
{
	int rc;

	if (w->n && run_top(e->h) != run_top(w->page[w->n - 1].h) &&
	    page_bytes_with(w, e) > PAGE_BYTES) {
		rc = write_page(w);
		if (rc)
			return rc;
	}
	if (w->n == sizeof(w->page) / sizeof(w->page[0])) {
		/* thousands of ids share 32 bits of hash: only by design */
		rc = write_page(w);
		if (rc)
			return rc;
	}
	if (w->n == 0) {
		w->hash_bits = 0;
		w->span = span_of(e);
	} else {
		w->hash_bits += rice_bits(e->h - w->page[w->n - 1].h, w->k);
		span_add(&w->span, e);
	}
	w->page[w->n++] = *e;
	w->total++;
	if (w->sk.bits)
		sketch_set(&w->sk, e->h);
	return TARN_OK;
}

static int writer_end(struct run_writer *w, int level)
{
	tarn__idindex *x = w->x;
	int rc = w->n ? write_page(w) : TARN_OK;

	if (rc)
		return rc;
	sqlite3_reset(x->ins_run);
	sqlite3_bind_int64(x->ins_run, 1, w->run_id);
	sqlite3_bind_int(x->ins_run, 2, level);
	sqlite3_bind_int64(x->ins_run, 3, (sqlite3_int64)w->total);
	rc = sqlite3_step(x->ins_run);
	sqlite3_reset(x->ins_run);
	if (rc != SQLITE_DONE)
		return tarn__error_sqlite(x->db, "%s: write run", x->path);
	/* the run's sketch waits for the transaction's commit */
	if (w->sk.bits && sketch_push(&x->sk_new, &x->n_sk_new, &x->sk_new_cap, &w->sk))
		sketch_free(&w->sk);
	w->sk.bits = NULL;
	return TARN_OK;
}

static int64_t next_run_id(const tarn__idindex *x)
{
	int64_t id = 0;
	size_t i;

	for (i = 0; i < x->n_runs; i++)
		if (x->runs[i].run_id > id)
			id = x->runs[i].run_id;
	return id + 1;
}

/* ---- reading runs ---- */

static int load_runs(tarn__idindex *x)
{
	sqlite3_stmt *st;
	int rc;

	x->n_runs = 0;
	x->run_ids = 0;
	rc = tarn__sql_prepare(x->db, "SELECT run_id, level, n_ids FROM runs ORDER BY run_id", &st,
			       x->path);
	if (rc)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (x->n_runs % 16 == 0) {
			struct run *n = realloc(x->runs, (x->n_runs + 16) * sizeof(*n));
			if (!n) {
				sqlite3_finalize(st);
				return tarn__error_set(TARN_ENOMEM, "%s: runs", x->path);
			}
			x->runs = n;
		}
		x->runs[x->n_runs].run_id = sqlite3_column_int64(st, 0);
		x->runs[x->n_runs].level = sqlite3_column_int(st, 1);
		x->runs[x->n_runs].n = (uint64_t)sqlite3_column_int64(st, 2);
		x->runs[x->n_runs].sk = NULL;
		x->run_ids += x->runs[x->n_runs].n;
		x->n_runs++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return tarn__error_sqlite(x->db, "%s: read runs", x->path);
	sketches_attach(x);
	return TARN_OK;
}

static int load_covered(tarn__idindex *x)
{
	sqlite3_stmt *st;
	int rc;

	x->n_cov = 0;
	rc = tarn__sql_prepare(x->db, "SELECT day, block_id FROM covered ORDER BY day", &st,
			       x->path);
	if (rc)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (x->n_cov % 64 == 0) {
			void *n = realloc(x->cov, (x->n_cov + 64) * sizeof(*x->cov));
			if (!n) {
				sqlite3_finalize(st);
				return tarn__error_set(TARN_ENOMEM, "%s: covered", x->path);
			}
			x->cov = n;
		}
		x->cov[x->n_cov].day = (int32_t)sqlite3_column_int64(st, 0);
		x->cov[x->n_cov].block_id = sqlite3_column_int64(st, 1);
		x->n_cov++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return tarn__error_sqlite(x->db, "%s: read covered", x->path);
	return TARN_OK;
}

/* Calls fn for every entry of every run, page by page (sequential reads),
 * with its run id and its hash only (day and block 0: the filter and the
 * sketches want no more). */
static int scan_runs(tarn__idindex *x,
		     int (*fn)(tarn__idindex *, int64_t, const struct entry *, size_t))
{
	struct entry *e = malloc(PAGE_IDS * 2 * sizeof(*e));
	sqlite3_stmt *st = NULL;
	int rc, step;

	if (!e)
		return tarn__error_set(TARN_ENOMEM, "%s: page", x->path);
	rc = tarn__sql_prepare(x->db,
			       "SELECT page & 4294967295, n, data, page >> 32"
			       " FROM run_pages",
			       &st, x->path);
	if (rc) {
		free(e);
		return rc;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t n = sqlite3_column_int64(st, 1);
		size_t got;
		if (n <= 0 || n > PAGE_IDS * 2) {
			rc = tarn__error_set(TARN_ECORRUPT, "%s: damaged run page", x->path);
			break;
		}
		rc = page_decode_upto(sqlite3_column_blob(st, 2),
				      (size_t)sqlite3_column_bytes(st, 2),
				      (uint32_t)sqlite3_column_int64(st, 0), (size_t)n, e, x->path,
				      UINT64_MAX, 0, &got);
		if (!rc)
			rc = fn(x, sqlite3_column_int64(st, 3), e, got);
		if (rc)
			break;
	}
	if (!rc && step != SQLITE_DONE)
		rc = tarn__error_sqlite(x->db, "%s: read run pages", x->path);
	sqlite3_finalize(st);
	free(e);
	return rc;
}

/* The filter keys on what a run keeps of a hash (run_hash): adding a
 * run's entry sets the bits of a hash with those upper bits, which is what
 * a lookup of any id with those bits then tests. */
static uint64_t run_key(uint64_t rh)
{
	return tarn__hash_mix64(rh * TARN__HASH_GOLDEN);
}

static uint64_t filter_key(uint64_t h)
{
	return run_key(run_hash(h));
}

/* Start loading the filter line of key. */
static void filter_prefetch(const tarn__idindex *x, uint64_t key)
{
	if (x->bits)
		__builtin_prefetch(x->bits + line_of(x, key) * LINE_WORDS);
}

/* Each id's line is a cache miss: ask for the line of the id 8 ahead (a
 * rebuild at 7.6M ids took 0.6 s of a 10M ingest without it). */
#define REBUILD_AHEAD 8
static int add_page_to_filter(tarn__idindex *x, int64_t run_id, const struct entry *e, size_t n)
{
	size_t i;

	/* at open, the runs' sketches are pending until the scan ends (the
	 * index writes no run while it scans) */
	for (i = 0; i < x->n_sk_new; i++) {
		struct sketch *k = &x->sk_new[i];
		size_t j;
		if (k->run_id != run_id)
			continue;
		for (j = 0; j < n; j++)
			sketch_set(k, e[j].h);
	}

	for (i = 0; i < n && i < REBUILD_AHEAD; i++)
		filter_prefetch(x, run_key(e[i].h));
	for (i = 0; i < n; i++) {
		if (i + REBUILD_AHEAD < n)
			filter_prefetch(x, run_key(e[i + REBUILD_AHEAD].h));
		filter_add(x, run_key(e[i].h));
	}
	return TARN_OK;
}

/* Size the filter for `capacity` ids (at least FILTER_MIN_IDS) and fill
 * it from the runs and the ids in memory. */
static int filter_fill(tarn__idindex *x, uint64_t capacity)
{
	size_t i;
	int rc = filter_alloc(x, capacity > FILTER_MIN_IDS ? capacity : FILTER_MIN_IDS);

	if (!rc)
		rc = scan_runs(x, add_page_to_filter);
	for (i = 0; !rc && i < x->n_mem; i++)
		filter_add(x, filter_key(x->mem[i].h));
	if (rc) {
		/* a filter that missed some ids would call them new: none at
		 * all makes every lookup a "maybe" instead */
		filter_free(x);
	}
	return rc;
}

/* Size the filter for what is stored, with room for half as many again. */
static int filter_rebuild(tarn__idindex *x, uint64_t ids)
{
	return filter_fill(x, ids + ids / 2);
}

int tarn__idindex_expect(tarn__idindex *x, uint64_t more)
{
	uint64_t want = x->run_ids + x->n_mem + more;
	int rc;

	want += want / 10;
	if (!x->bits || want <= x->capacity || x->n_lines * 64 >= TARN__IDFILTER_MAX_BYTES)
		return TARN_OK;
	rc = filter_fill(x, want);
	if (rc)
		filter_rebuild(x, x->run_ids + x->n_mem); /* as it was, if memory allows */
	return rc;
}

/* ---- the ids in memory ---- */

static int mem_reserve(tarn__idindex *x)
{
	if (x->n_mem < x->mem_cap)
		return TARN_OK;
	{
		size_t cap = x->mem_cap ? x->mem_cap * 2 : 4096;
		/* a flush follows the commit that passes TARN__IDS_MEM: leave
		 * room for one batch past it rather than doubling */
		if (x->mem_cap < TARN__IDS_MEM + MEM_SLACK && cap > TARN__IDS_MEM + MEM_SLACK)
			cap = TARN__IDS_MEM + MEM_SLACK;
		struct mem_entry *m = realloc(x->mem, cap * sizeof(*m));
		if (!m)
			return tarn__error_set(TARN_ENOMEM, "%s: ids in memory", x->path);
		x->mem = m;
		x->mem_cap = cap;
	}
	return TARN_OK;
}

static void mtab_insert(tarn__idindex *x, size_t ix)
{
	size_t mask = x->mtab_slots - 1, k = (size_t)(x->mem[ix].h >> 7) & mask;

	while (x->mtab[k])
		k = (k + 1) & mask;
	x->mtab[k] = (uint32_t)ix + 1;
}

/* The table is at most three quarters full: grow it (rehash) first. At
 * 0.75 the ~150K ids of a flush fit 256K slots (1 MB) rather than 512K;
 * a probe stays within a cache line or two (4-byte slots). */
static int mtab_reserve(tarn__idindex *x)
{
	size_t i, slots;
	uint32_t *t;

	if (x->mtab && (x->n_mem + 1) * 4 <= x->mtab_slots * 3)
		return TARN_OK;
	slots = x->mtab_slots ? x->mtab_slots * 2 : 8192;
	while ((x->n_mem + 1) * 4 > slots * 3)
		slots *= 2;
	t = calloc(slots, sizeof(*t));
	if (!t)
		return tarn__error_set(TARN_ENOMEM, "%s: ids in memory", x->path);
	free(x->mtab);
	x->mtab = t;
	x->mtab_slots = slots;
	for (i = 0; i < x->n_mem; i++)
		mtab_insert(x, i);
	return TARN_OK;
}

static int mem_push(tarn__idindex *x, uint64_t h, uint64_t payload_hash, struct tarn__idloc loc,
		    int has_hash)
{
	int rc = mem_reserve(x);

	if (!rc)
		rc = mtab_reserve(x);
	if (rc)
		return rc;
	x->mem[x->n_mem].h = h;
	x->mem[x->n_mem].payload_hash = has_hash ? payload_hash | 1 : 0;
	x->mem[x->n_mem].loc = loc;
	mtab_insert(x, x->n_mem);
	x->n_mem++;
	if (x->n_filter >= x->capacity && x->n_lines * 64 < TARN__IDFILTER_MAX_BYTES)
		return filter_rebuild(x, x->run_ids + x->n_mem);
	filter_add(x, filter_key(h));
	return TARN_OK;
}

/* Keyed by the index's seed, so that collisions cannot be aimed at. */
uint64_t tarn__idindex_payload_hash(const tarn__idindex *x, const void *p, size_t n)
{
	return tarn__hash_words(x->seed ^ (n * TARN__HASH_GOLDEN), p, n) |
	       1; /* never 0: see struct mem_entry */
}

/* ---- open / close ---- */

static int vacuum(tarn__idindex *x, int all);

int tarn__idindex_open(tarn__idindex **out, const char *lake_dir, int file_mode)
{
	tarn__idindex *x = calloc(1, sizeof(*x));
	int rc;

	*out = NULL;
	if (!x)
		return tarn__error_set(TARN_ENOMEM, "id index");
	x->seed = tarn__hash_mix64((uint64_t)tarn_time_now_us() ^ ((uint64_t)getpid() << 32) ^
				   (uint64_t)(uintptr_t)x);
	x->path = tarn__path_join(lake_dir, "ids.db");
	if (!x->path) {
		free(x);
		return tarn__error_set(TARN_ENOMEM, "id index");
	}
	/* the pragma only on a new file: on an existing one it would write */
	rc = tarn__sql_open_ex(&x->db, x->path, 0, file_mode,
			       access(x->path, F_OK) != 0 ? "PRAGMA auto_vacuum=INCREMENTAL"
							  : NULL);
	/* runs are read in order and once: a small page cache. The pages of
	 * merged runs go back to the file system (auto_vacuum=INCREMENTAL,
	 * set on a new file above, and vacuum()). synchronous=NORMAL: a
	 * power cut may take the last runs back, never corrupt the file
	 * (sqlite.org/pragma.html#pragma_synchronous, WAL mode); the
	 * "covered" marks go back with them, so the next open re-reads those
	 * blocks (tarn__idindex_recover) and no id is lost. */
	if (!rc)
		rc = tarn__sql_exec(x->db, "PRAGMA cache_size=-512; PRAGMA synchronous=NORMAL",
				    x->path);
	if (!rc)
		rc = tarn__sql_exec(x->db, "BEGIN IMMEDIATE", x->path);
	if (!rc) {
		rc = tarn__sql_exec(x->db, ids_schema, x->path);
		if (!rc)
			rc = tarn__sql_stamp(x->db, x->path);
		if (!rc)
			rc = tarn__sql_exec(x->db, "COMMIT", x->path);
		else
			sqlite3_exec(x->db, "ROLLBACK", NULL, NULL, NULL);
	}
	if (!rc)
		rc = tarn__sql_prepare(x->db,
				       "SELECT page & 4294967295, n, data FROM run_pages"
				       " WHERE page BETWEEN ?1 AND ?2 ORDER BY page DESC LIMIT 1",
				       &x->find_page, x->path);
	if (!rc)
		rc = tarn__sql_prepare(x->db, "INSERT INTO run_pages(page, n, data) VALUES(?,?,?)",
				       &x->ins_page, x->path);
	if (!rc)
		rc = tarn__sql_prepare(x->db,
				       "INSERT INTO runs(run_id, level, n_ids) VALUES(?,?,?)",
				       &x->ins_run, x->path);
	if (!rc)
		rc = tarn__sql_prepare(x->db,
				       "INSERT OR REPLACE INTO covered(day, block_id) VALUES(?,?)",
				       &x->set_covered, x->path);
	if (!rc)
		rc = load_runs(x);
	if (!rc)
		rc = load_covered(x);
	if (!rc) {
		size_t i;
		/* the sketches of the runs are filled by the filter's scan,
		 * pending until it has read every page */
		for (i = 0; i < x->n_runs; i++) {
			struct sketch k;
			sketch_init(&k, x->runs[i].run_id, x->runs[i].n, sketches_bytes(x));
			if (k.bits && sketch_push(&x->sk_new, &x->n_sk_new, &x->sk_new_cap, &k))
				sketch_free(&k);
		}
		rc = filter_rebuild(x, x->run_ids);
		if (!rc)
			sketches_commit(x);
	}
	if (rc) {
		tarn__idindex_close(x);
		return rc;
	}
	*out = x;
	return TARN_OK;
}

void tarn__idindex_close(tarn__idindex *x)
{
	if (!x)
		return;
	if (x->db && x->n_committed > x->n_kept)
		tarn__idindex_flush(x, 1); /* best effort: recovery redoes it */
	if (x->db)
		vacuum(x, 1);
	sqlite3_finalize(x->find_page);
	sqlite3_finalize(x->ins_page);
	sqlite3_finalize(x->ins_run);
	sqlite3_finalize(x->set_covered);
	sqlite3_close(x->db);
	filter_free(x);
	free(x->mem);
	free(x->mtab);
	sketches_rollback(x);
	x->n_runs = 0;
	sketches_commit(x); /* no run left: frees them all */
	free(x->sk);
	free(x->sk_new);
	free(x->runs);
	free(x->cov);
	free(x->gone);
	free(x->res);
	free(x->path);
	free(x);
}

int64_t tarn__idindex_covered(const tarn__idindex *x, int32_t day)
{
	size_t lo = 0, hi = x->n_cov;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (x->cov[mid].day < day)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < x->n_cov && x->cov[lo].day == day ? x->cov[lo].block_id : 0;
}

/* ---- lookup ---- */

static int push_result(tarn__idindex *x, size_t *n, struct tarn__idloc loc,
		       const uint64_t *payload_hash)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (x->res[i].loc.day == loc.day && x->res[i].loc.block_id == loc.block_id &&
		    !payload_hash == !x->res[i].has_payload_hash)
			return TARN_OK;
	if (*n == x->res_cap) {
		size_t cap = x->res_cap ? x->res_cap * 2 : 16;
		struct tarn__idcand *r = realloc(x->res, cap * sizeof(*r));
		if (!r)
			return tarn__error_set(TARN_ENOMEM, "%s: lookup", x->path);
		x->res = r;
		x->res_cap = cap;
	}
	x->res[*n].loc = loc;
	x->res[*n].has_payload_hash = payload_hash != NULL;
	x->res[*n].payload_hash = payload_hash ? *payload_hash : 0;
	(*n)++;
	return TARN_OK;
}

static int lookup_run(tarn__idindex *x, int64_t run_id, uint64_t rh, size_t *n)
{
	struct entry e[PAGE_IDS * 2];
	sqlite3_stmt *st = x->find_page;
	int64_t cnt;
	size_t i, got = 0;
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, page_key(run_id, 0));
	sqlite3_bind_int64(st, 2, page_key(run_id, run_top(rh)));
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return TARN_OK;
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return tarn__error_sqlite(x->db, "%s: read run page", x->path);
	}
	cnt = sqlite3_column_int64(st, 1);
	if (cnt <= 0 || cnt > PAGE_IDS * 2) {
		sqlite3_reset(st);
		return tarn__error_set(TARN_ECORRUPT, "%s: damaged run page", x->path);
	}
	/* a probe reads the entries up to rh only (half a page on average)
	 * and keeps those equal to it */
	rc = page_decode_upto(sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2),
			      (uint32_t)sqlite3_column_int64(st, 0), (size_t)cnt, e, x->path, rh, 1,
			      &got);
	sqlite3_reset(st);
	for (i = 0; !rc && i < got; i++) {
		struct tarn__idloc loc = { e[i].day, e[i].block_id };
		rc = push_result(x, n, loc, NULL);
	}
	return rc;
}

int tarn__idindex_lookup(tarn__idindex *x, uint64_t h, const struct tarn__idcand **locs, size_t *n)
{
	size_t mask, k, i;
	int rc = TARN_OK;

	*n = 0;
	*locs = x->res;
	x->lookups++;
	if (!filter_has(x, filter_key(h)))
		return TARN_OK;
	x->maybes++;
	if (x->mtab) {
		mask = x->mtab_slots - 1;
		for (k = (size_t)(h >> 7) & mask; x->mtab[k]; k = (k + 1) & mask) {
			const struct mem_entry *m = &x->mem[x->mtab[k] - 1];
			if (m->h == h) {
				rc = push_result(x, n, m->loc,
						 m->payload_hash ? &m->payload_hash : NULL);
				if (rc)
					return rc;
			}
		}
	}
	/* An id is stored once: one found in memory (64 bits of hash equal,
	 * its payload hash known) is not looked for in the runs as well. */
	*locs = x->res;
	for (i = 0; i < *n; i++)
		if (x->res[i].has_payload_hash)
			return TARN_OK;
	x->run_lookups++;
	for (i = x->n_runs; !rc && i-- > 0;) {
		if (x->runs[i].sk && !sketch_has(x->runs[i].sk, run_hash(h)))
			continue;
		x->run_reads++;
		rc = lookup_run(x, x->runs[i].run_id, run_hash(h), n);
	}
	*locs = x->res;
	return rc;
}

void tarn__idindex_prefetch(const tarn__idindex *x, uint64_t h)
{
	filter_prefetch(x, filter_key(h));
	if (x->mtab)
		__builtin_prefetch(&x->mtab[(h >> 7) & (x->mtab_slots - 1)]);
}

int tarn__idindex_add(tarn__idindex *x, uint64_t h, uint64_t payload_hash, struct tarn__idloc loc)
{
	return mem_push(x, h, payload_hash, loc, 1);
}

int tarn__idindex_recover(tarn__idindex *x, uint64_t h, struct tarn__idloc loc)
{
	int rc = mem_push(x, h, 0, loc, 0);

	if (!rc)
		x->n_committed = x->n_mem;
	if (!rc && x->n_committed - x->n_kept >= TARN__IDS_MEM)
		rc = tarn__idindex_flush(x, 0);
	return rc;
}

static int set_covered(tarn__idindex *x, int32_t day, int64_t block_id);

static int day_gone(const tarn__idindex *x, int32_t day)
{
	size_t i;

	for (i = 0; i < x->n_gone; i++)
		if (x->gone[i] == day)
			return 1;
	return 0;
}

void tarn__idindex_forget_day(tarn__idindex *x, int32_t day)
{
	sqlite3_stmt *st;
	int32_t *g;

	if (!x || day_gone(x, day))
		return;
	g = realloc(x->gone, (x->n_gone + 1) * sizeof(*g));
	if (g) {
		x->gone = g;
		x->gone[x->n_gone++] = day;
	}
	if (tarn__sql_prepare(x->db, "DELETE FROM covered WHERE day=?", &st, x->path) == TARN_OK) {
		sqlite3_bind_int64(st, 1, day);
		sqlite3_step(st);
		sqlite3_finalize(st);
	}
	load_covered(x);
}

void tarn__idindex_set_covered(tarn__idindex *x, int32_t day, int64_t block_id)
{
	if (x && set_covered(x, day, block_id) == TARN_OK)
		load_covered(x);
}

void tarn__idindex_commit(tarn__idindex *x)
{
	if (x)
		x->n_committed = x->n_mem;
}

void tarn__idindex_rollback(tarn__idindex *x)
{
	size_t i;

	if (!x || x->n_mem == x->n_committed)
		return;
	/* the filter keeps their bits: a false "maybe" at worst */
	x->n_mem = x->n_committed;
	memset(x->mtab, 0, x->mtab_slots * sizeof(*x->mtab));
	for (i = 0; i < x->n_mem; i++)
		mtab_insert(x, i);
}

/* ---- flush and merge ---- */

static int set_covered(tarn__idindex *x, int32_t day, int64_t block_id)
{
	int rc;

	sqlite3_reset(x->set_covered);
	sqlite3_bind_int64(x->set_covered, 1, day);
	sqlite3_bind_int64(x->set_covered, 2, block_id);
	rc = sqlite3_step(x->set_covered);
	sqlite3_reset(x->set_covered);
	if (rc != SQLITE_DONE)
		return tarn__error_sqlite(x->db, "%s: write covered", x->path);
	return TARN_OK;
}

/* LSD radix sort of n entries on the low `bits` bits of their hash (a
 * pass a byte); tmp holds n entries. */
static void radix_entries(struct entry *e, struct entry *tmp, size_t n, int bits)
{
	struct entry *src = e, *dst = tmp, *t;
	size_t count[256], i;
	int shift;

	for (shift = 0; shift < bits; shift += 8) {
		size_t sum = 0;

		memset(count, 0, sizeof(count));
		for (i = 0; i < n; i++)
			count[(src[i].h >> shift) & 0xff]++;
		for (i = 0; i < 256; i++) {
			size_t c = count[i];
			count[i] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			dst[count[(src[i].h >> shift) & 0xff]++] = src[i];
		t = src;
		src = dst;
		dst = t;
	}
	if (src != e)
		memcpy(e, src, n * sizeof(*e));
}

/* The n in-memory ids from mem as entries in e, sorted as entry_cmp
 * sorts: scattered by the top byte of their run hash straight from mem,
 * each of those 256 buckets sorted by radix_entries on the other 32 bits
 * with a bucket-sized tmp, then the rare runs of equal hashes by
 * insertion. (One LSD sort over all n needed a second array of n entries:
 * 2.6 MB of a 10M-event ingest's peak. A qsort was 3% of ingest.) */
static int sort_mem(const struct mem_entry *mem, size_t n, struct entry *e)
{
	size_t start[257] = { 0 }, pos[256], i, j, most = 0;
	struct entry *tmp;

	for (i = 0; i < n; i++)
		start[(run_hash(mem[i].h) >> 32) + 1]++;
	for (i = 0; i < 256; i++) {
		most = start[i + 1] > most ? start[i + 1] : most;
		start[i + 1] += start[i];
	}
	memcpy(pos, start, sizeof(pos));
	for (i = 0; i < n; i++) {
		uint64_t rh = run_hash(mem[i].h);
		struct entry *d = &e[pos[rh >> 32]++];
		d->h = rh;
		d->day = mem[i].loc.day;
		d->block_id = mem[i].loc.block_id;
	}
	tmp = malloc((most ? most : 1) * sizeof(*tmp));
	if (!tmp)
		return TARN_ENOMEM;
	for (i = 0; i < 256; i++)
		radix_entries(e + start[i], tmp, start[i + 1] - start[i], 32);
	free(tmp);
	for (i = 1; i < n; i++) {
		struct entry x = e[i];

		for (j = i; j > 0 && e[j - 1].h == x.h && entry_cmp(&e[j - 1], &x) > 0; j--)
			e[j] = e[j - 1];
		e[j] = x;
	}
	return TARN_OK;
}

/* Write the in-memory ids as a level-0 run and move each day's covered
 * block up, in the caller's transaction. */
static int write_mem_run(tarn__idindex *x, struct run_writer *w)
{
	const struct mem_entry *mem = x->mem + x->n_kept;
	size_t n = x->n_mem - x->n_kept, i, n_days = 0;
	struct entry *e = malloc((n ? n : 1) * sizeof(*e));
	int rc = TARN_OK;

	if (!e || sort_mem(mem, n, e)) {
		free(e);
		return tarn__error_set(TARN_ENOMEM, "%s: run", x->path);
	}
	writer_start(w, next_run_id(x), n);
	for (i = 0; !rc && i < n; i++)
		rc = writer_put(w, &e[i]);
	if (!rc)
		rc = writer_end(w, 0);
	/* per day, the highest block: ids come in runs of one day, so each run
	 * becomes one (day, highest block) entry, then those are sorted */
	for (i = 0; !rc && i < n; i++) {
		const struct tarn__idloc *l = &mem[i].loc;

		if (n_days && e[n_days - 1].day == l->day) {
			if (l->block_id > e[n_days - 1].block_id)
				e[n_days - 1].block_id = l->block_id;
			continue;
		}
		e[n_days].h = 0;
		e[n_days].day = l->day;
		e[n_days++].block_id = l->block_id;
	}
	if (!rc)
		qsort(e, n_days, sizeof(*e), entry_cmp);
	for (i = 0; !rc && i < n_days; i++) {
		if (i + 1 < n_days && e[i + 1].day == e[i].day)
			continue;
		if ((int64_t)e[i].block_id > tarn__idindex_covered(x, e[i].day))
			rc = set_covered(x, e[i].day, e[i].block_id);
	}
	free(e);
	return rc;
}

/* A cursor over one run's pages, for merging. */
struct run_cursor {
	sqlite3_stmt *st;
	struct entry e[PAGE_IDS * 2];
	size_t n, pos;
	int done;
};

static int cursor_next_page(tarn__idindex *x, struct run_cursor *c)
{
	int rc = sqlite3_step(c->st);
	int64_t n;

	c->pos = c->n = 0;
	if (rc == SQLITE_DONE) {
		c->done = 1;
		return TARN_OK;
	}
	if (rc != SQLITE_ROW)
		return tarn__error_sqlite(x->db, "%s: read run", x->path);
	n = sqlite3_column_int64(c->st, 1);
	if (n <= 0 || n > PAGE_IDS * 2)
		return tarn__error_set(TARN_ECORRUPT, "%s: damaged run page", x->path);
	c->n = (size_t)n;
	return page_decode(sqlite3_column_blob(c->st, 2), (size_t)sqlite3_column_bytes(c->st, 2),
			   (uint32_t)sqlite3_column_int64(c->st, 0), c->n, c->e, x->path);
}

/* Merge runs [from, from + k) of x->runs into one run of `level`. */
static int merge_runs(tarn__idindex *x, size_t *ix, size_t k, int level, struct run_writer *w)
{
	struct run_cursor *c = calloc(k, sizeof(*c));
	sqlite3_stmt *del = NULL;
	size_t i;
	int rc = TARN_OK;

	if (!c)
		return tarn__error_set(TARN_ENOMEM, "%s: merge", x->path);
	{
		uint64_t ids = 0;
		for (i = 0; i < k; i++)
			ids += x->runs[ix[i]].n;
		writer_start(w, next_run_id(x), ids);
	}
	for (i = 0; !rc && i < k; i++) {
		rc = tarn__sql_prepare(x->db,
				       "SELECT page & 4294967295, n, data FROM run_pages"
				       " WHERE page BETWEEN ?1 AND ?2 ORDER BY page",
				       &c[i].st, x->path);
		if (!rc) {
			sqlite3_bind_int64(c[i].st, 1, page_key(x->runs[ix[i]].run_id, 0));
			sqlite3_bind_int64(c[i].st, 2, page_key(x->runs[ix[i]].run_id, UINT32_MAX));
			rc = cursor_next_page(x, &c[i]);
		}
	}
	while (!rc) {
		struct run_cursor *best = NULL;
		for (i = 0; i < k; i++)
			if (!c[i].done &&
			    (!best || entry_cmp(&c[i].e[c[i].pos], &best->e[best->pos]) < 0))
				best = &c[i];
		if (!best)
			break;
		/* ids of a deleted shard are not carried into the merged run */
		if (!x->n_gone || !day_gone(x, best->e[best->pos].day))
			rc = writer_put(w, &best->e[best->pos]);
		if (!rc && ++best->pos == best->n)
			rc = cursor_next_page(x, best);
	}
	for (i = 0; i < k; i++)
		sqlite3_finalize(c[i].st);
	free(c);
	if (!rc)
		rc = writer_end(w, level);
	if (!rc)
		rc = tarn__sql_prepare(x->db, "DELETE FROM run_pages WHERE page BETWEEN ?1 AND ?2",
				       &del, x->path);
	for (i = 0; !rc && i < k; i++) {
		sqlite3_reset(del);
		sqlite3_bind_int64(del, 1, page_key(x->runs[ix[i]].run_id, 0));
		sqlite3_bind_int64(del, 2, page_key(x->runs[ix[i]].run_id, UINT32_MAX));
		if (sqlite3_step(del) != SQLITE_DONE)
			rc = tarn__error_sqlite(x->db, "%s: drop merged run", x->path);
	}
	sqlite3_finalize(del);
	del = NULL;
	if (!rc)
		rc = tarn__sql_prepare(x->db, "DELETE FROM runs WHERE run_id=?1", &del, x->path);
	for (i = 0; !rc && i < k; i++) {
		sqlite3_reset(del);
		sqlite3_bind_int64(del, 1, x->runs[ix[i]].run_id);
		if (sqlite3_step(del) != SQLITE_DONE)
			rc = tarn__error_sqlite(x->db, "%s: drop merged run", x->path);
	}
	sqlite3_finalize(del);
	return rc;
}

/* While some level holds MERGE_FANIN runs, merge them into the next. */
static int merge_levels(tarn__idindex *x, struct run_writer *w)
{
	int level, rc;

	for (level = 0; level < 64; level++) {
		size_t ix[MERGE_FANIN], k = 0, i;
		for (i = 0; i < x->n_runs && k < MERGE_FANIN; i++)
			if (x->runs[i].level == level)
				ix[k++] = i;
		if (k < MERGE_FANIN)
			continue;
		rc = merge_runs(x, ix, k, level + 1, w);
		if (!rc)
			rc = load_runs(x);
		if (rc)
			return rc;
		level = -1; /* start over: the new run may complete a level */
	}
	return TARN_OK;
}

/* After a flush: keep the last RECENT_KEPT flushed ids that have a payload
 * hash (recovered ones have none) as mem[0, n_kept). A lookup that finds
 * one decides without the runs, as for any id in memory. */
static void keep_recent(tarn__idindex *x)
{
	size_t i, k = 0;

	for (i = x->n_mem > RECENT_KEPT ? x->n_mem - RECENT_KEPT : 0; i < x->n_mem; i++)
		if (x->mem[i].payload_hash)
			x->mem[k++] = x->mem[i];
	x->n_mem = x->n_committed = x->n_kept = k;
	if (!x->mtab)
		return;
	memset(x->mtab, 0, x->mtab_slots * sizeof(*x->mtab));
	for (i = 0; i < k; i++)
		mtab_insert(x, i);
}

/* The value of a PRAGMA that returns one integer, or -1. */
static int64_t pragma_int(tarn__idindex *x, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (tarn__sql_prepare(x->db, sql, &st, x->path) != TARN_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Give the pages that merges freed back to the file system (ids.db is
 * auto_vacuum=INCREMENTAL) at close (all), or when they are over half
 * the file: until then the next runs reuse them. Shrinking the file after
 * every merge moved pages for 0.2 s of a 10M-event ingest. */
static int vacuum(tarn__idindex *x, int all)
{
	int64_t free_pages = pragma_int(x, "PRAGMA freelist_count");

	if (free_pages <= 0 || (!all && free_pages * 2 < pragma_int(x, "PRAGMA page_count")))
		return TARN_OK;
	return tarn__sql_exec(x->db, "PRAGMA incremental_vacuum", x->path);
}

int tarn__idindex_flush(tarn__idindex *x, int force)
{
	struct run_writer *w;
	int rc;

	if (!x || x->n_committed == x->n_kept || x->n_mem != x->n_committed ||
	    (!force && x->n_committed - x->n_kept < TARN__IDS_MEM))
		return TARN_OK;
	w = calloc(1, sizeof(*w));
	if (!w)
		return tarn__error_set(TARN_ENOMEM, "%s: run", x->path);
	w->x = x;
	rc = tarn__sql_exec(x->db, "BEGIN IMMEDIATE", x->path);
	if (!rc)
		rc = write_mem_run(x, w);
	if (!rc)
		rc = tarn__sql_exec(x->db, "COMMIT", x->path);
	if (rc) {
		sqlite3_exec(x->db, "ROLLBACK", NULL, NULL, NULL);
		sketches_rollback(x);
		load_covered(x);
		sketch_free(&w->sk);
		free(w);
		return rc;
	}
	keep_recent(x);
	rc = load_runs(x);
	sketches_commit(x);
	if (!rc)
		rc = load_covered(x);
	/* Merging is its own transaction: a crash in it leaves the runs as
	 * they were, all readable. */
	if (!rc)
		rc = tarn__sql_exec(x->db, "BEGIN IMMEDIATE", x->path);
	if (!rc) {
		int merged = x->n_runs;
		rc = merge_levels(x, w);
		merged = merged != (int)x->n_runs;
		if (!rc)
			rc = tarn__sql_exec(x->db, "COMMIT", x->path);
		if (rc) {
			sqlite3_exec(x->db, "ROLLBACK", NULL, NULL, NULL);
			sketches_rollback(x);
			load_runs(x);
		} else {
			sketches_commit(x);
			if (merged)
				rc = vacuum(x, 0);
		}
	}
	sketch_free(&w->sk);
	free(w);
	return rc;
}

void tarn__idindex_stats(const tarn__idindex *x, struct tarn__idindex_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!x)
		return;
	st->run_ids = x->run_ids;
	st->mem_ids = x->n_mem;
	st->runs = x->n_runs;
	st->filter_bytes = x->n_lines * 64;
	st->lookups = x->lookups;
	st->filter_maybe = x->maybes;
	st->run_lookups = x->run_lookups;
	st->run_reads = x->run_reads;
}
