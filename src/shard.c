/* The shard store: one SQLite file per UTC event date. Events live in
 * compressed blocks (block.c), appended in the order they arrive. Which
 * events are new is decided lake-wide by the id index (idindex.c): the
 * shard only stores, and finds an event by id in a given block when the
 * index names that block as a candidate. (docs/FORMAT.md) */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>

#include "tarn/time.h"
#include "error_internal.h"
#include "lake_internal.h"

static const char shard_schema[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS blocks(block_id INTEGER PRIMARY KEY,"
	" n_events INTEGER NOT NULL, min_time INTEGER NOT NULL, max_time INTEGER NOT NULL,"
	" raw_bytes INTEGER NOT NULL, zstd_bytes INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS block_data(block_id INTEGER PRIMARY KEY,"
	" events BLOB NOT NULL, payloads BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS block_alias(first_old INTEGER PRIMARY KEY,"
	" last_old INTEGER NOT NULL, new_id INTEGER NOT NULL);";

/* Decoded blocks kept for duplicate checks and reads. */
#define CACHE_SLOTS 2
/* Open-addressing table over the events of the block being filled. */
#define PEND_SLOTS (2 * TARN__BLOCK_EVENTS)

struct cache_slot {
	tarn__block blk; /* blk.id == -1: empty */
	uint64_t used;	 /* LRU clock */
};

struct pend_slot {
	uint64_t fp;
	uint32_t ix1; /* 1 + index into pend.recs, 0: empty */
};

struct tarn__shard {
	char date[11];
	char *path;
	int readonly;
	int64_t day_start_us;
	sqlite3 *db;
	sqlite3_stmt *ins_block, *ins_data, *get_events, *get_data;
	sqlite3_stmt *set_meta, *get_meta;
	int in_txn;
	int64_t last_commit_us; /* when this handle last committed a batch */
	uint64_t pending_dups;
	tarn__block pend; /* the block this batch is filling */
	struct pend_slot *ptab;
	struct tarn__span *spans; /* every block on disk, in block_id order */
	size_t n_spans, spans_cap, begin_spans;
	int64_t next_block_id, begin_block_id;
	struct cache_slot cache[CACHE_SLOTS];
	uint64_t clock;
	struct tarn__buf scratch, scratch2;
	ZSTD_CCtx *cctx; /* for blocks encoded on this thread */
	ZSTD_DCtx *dctx;
	/* A full block being encoded on another thread (exec): its id is
	 * fly_id; its rows are written by settle(). At most one a shard. */
	const struct tarn__exec *exec;
	tarn__block fly;
	int64_t fly_id;
	int fly_busy, fly_queued, fly_rc;
	int fly_done; /* atomic: set when its encoding ended */
};

const char *tarn__shard_date(const tarn__shard *s)
{
	return s->date;
}
const char *tarn__shard_path(const tarn__shard *s)
{
	return s->path;
}
sqlite3 *tarn__shard_db(tarn__shard *s)
{
	return s->db;
}
int tarn__shard_dirty(const tarn__shard *s)
{
	return s->in_txn;
}

size_t tarn__shard_spans(const tarn__shard *s, const struct tarn__span **out)
{
	*out = s->spans;
	return s->n_spans;
}

static int meta_get(tarn__shard *s, const char *key, int64_t *i, char *text, size_t text_len)
{
	int rc;

	sqlite3_reset(s->get_meta);
	sqlite3_bind_text(s->get_meta, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s->get_meta);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s->get_meta);
		return TARN_ENOTFOUND;
	}
	if (rc != SQLITE_ROW) {
		rc = tarn__error_sqlite(s->db, "%s: read meta %s", s->path, key);
		sqlite3_reset(s->get_meta);
		return rc;
	}
	if (i)
		*i = sqlite3_column_int64(s->get_meta, 0);
	if (text) {
		const unsigned char *t = sqlite3_column_text(s->get_meta, 0);
		snprintf(text, text_len, "%s", t ? (const char *)t : "");
	}
	sqlite3_reset(s->get_meta);
	return TARN_OK;
}

static int meta_set_int(tarn__shard *s, const char *key, int64_t v)
{
	int rc;

	sqlite3_reset(s->set_meta);
	sqlite3_bind_text(s->set_meta, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->set_meta, 2, v);
	rc = sqlite3_step(s->set_meta);
	sqlite3_reset(s->set_meta);
	if (rc != SQLITE_DONE)
		return tarn__error_sqlite(s->db, "%s: write meta %s", s->path, key);
	return TARN_OK;
}

static int prepare_all(tarn__shard *s)
{
	static const struct {
		size_t at;
		int writer;
		const char *sql;
	} stmts[] = {
		{ offsetof(tarn__shard, get_meta), 0, "SELECT value FROM meta WHERE key=?" },
		{ offsetof(tarn__shard, get_events), 0,
		  "SELECT events FROM block_data WHERE block_id=?" },
		{ offsetof(tarn__shard, get_data), 0,
		  "SELECT events, payloads FROM block_data WHERE block_id=?" },
		{ offsetof(tarn__shard, set_meta), 1,
		  "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)" },
		{ offsetof(tarn__shard, ins_block), 1,
		  "INSERT INTO blocks(block_id, n_events, min_time, max_time, raw_bytes,"
		  " zstd_bytes) VALUES(?,?,?,?,?,?)" },
		{ offsetof(tarn__shard, ins_data), 1,
		  "INSERT INTO block_data(block_id, events, payloads) VALUES(?,?,?)" },
	};
	size_t i;
	int rc = TARN_OK;

	for (i = 0; rc == TARN_OK && i < sizeof(stmts) / sizeof(stmts[0]); i++) {
		if (stmts[i].writer && s->readonly)
			continue;
		rc = tarn__sql_prepare(s->db, stmts[i].sql,
				       (sqlite3_stmt **)((char *)s + stmts[i].at), s->path);
	}
	return rc;
}

/* A new shard gets its schema and identity in one transaction, so a crash
 * leaves either no tables (re-created next time) or a complete shard. */
static int create_schema(tarn__shard *s)
{
	int rc;

	rc = tarn__sql_exec(s->db, "BEGIN IMMEDIATE", s->path);
	if (rc)
		return rc;
	rc = tarn__sql_exec(s->db, shard_schema, s->path);
	if (!rc)
		rc = tarn__sql_stamp(s->db, s->path);
	if (!rc) {
		char sql[160];
		snprintf(sql, sizeof(sql),
			 "INSERT OR IGNORE INTO meta VALUES('event_date', '%s'),"
			 " ('commit_seq', 0), ('duplicates', 0)",
			 s->date); /* s->date was validated as YYYY-MM-DD */
		rc = tarn__sql_exec(s->db, sql, s->path);
	}
	if (!rc)
		return tarn__sql_exec(s->db, "COMMIT", s->path);
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static int check_shard(tarn__shard *s)
{
	char date[32];
	int rc = meta_get(s, "event_date", NULL, date, sizeof(date));

	if (rc == TARN_ENOTFOUND)
		return tarn__error_set(TARN_ECORRUPT, "%s: not a tarn shard (no event_date)",
				       s->path);
	if (rc)
		return rc;
	if (strcmp(date, s->date) != 0)
		return tarn__error_set(TARN_ECORRUPT, "%s: holds event date %s, not %s", s->path,
				       date, s->date);
	return TARN_OK;
}

static int push_span(tarn__shard *s, int64_t id, int64_t lo, int64_t hi, uint32_t n)
{
	if (s->n_spans == s->spans_cap) {
		size_t cap = s->spans_cap ? s->spans_cap * 2 : 64;
		struct tarn__span *ns = realloc(s->spans, cap * sizeof(*ns));
		if (!ns)
			return tarn__error_set(TARN_ENOMEM, "%s: block list", s->path);
		s->spans = ns;
		s->spans_cap = cap;
	}
	s->spans[s->n_spans].block_id = id;
	s->spans[s->n_spans].min_time = lo;
	s->spans[s->n_spans].max_time = hi;
	s->spans[s->n_spans].n_events = n;
	s->n_spans++;
	return TARN_OK;
}

static void drop_spans(tarn__shard *s, size_t keep)
{
	if (s->n_spans > keep)
		s->n_spans = keep;
}

/* The block list is small (one row per few thousand events) and answers
 * "which blocks can hold time t" without touching the blobs. */
static int load_spans(tarn__shard *s)
{
	sqlite3_stmt *st;
	int rc;

	rc = tarn__sql_prepare(s->db,
			       "SELECT block_id, min_time, max_time, n_events FROM blocks"
			       " ORDER BY block_id",
			       &st, s->path);
	if (rc)
		return rc;
	s->n_spans = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t n = sqlite3_column_int64(st, 3);
		if (n <= 0 || n > TARN__BLOCK_EVENTS) {
			sqlite3_finalize(st);
			return tarn__error_set(TARN_ECORRUPT, "%s: block %lld: bad event count",
					       s->path, (long long)sqlite3_column_int64(st, 0));
		}
		rc = push_span(s, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
			       sqlite3_column_int64(st, 2), (uint32_t)n);
		if (rc) {
			sqlite3_finalize(st);
			return rc;
		}
	}
	if (rc != SQLITE_DONE)
		rc = tarn__error_sqlite(s->db, "%s: read blocks", s->path);
	else
		rc = TARN_OK;
	sqlite3_finalize(st);
	s->next_block_id = s->n_spans ? s->spans[s->n_spans - 1].block_id + 1 : 1;
	return rc;
}

int tarn__shard_open(tarn__shard **out, const char *lake_dir, const char *date, int readonly,
		     int create_mode)
{
	tarn__shard *s;
	char name[32];
	int rc, i, is_new = 0;

	*out = NULL;
	if (tarn_time_parse_date(date, NULL) != TARN_OK)
		return tarn__error_set(TARN_EINVAL, "'%s' is not a YYYY-MM-DD date", date);
	s = calloc(1, sizeof(*s));
	if (!s)
		return tarn__error_set(TARN_ENOMEM, "shard %s", date);
	memcpy(s->date, date, 11);
	tarn_time_parse_date(date, &s->day_start_us);
	s->readonly = readonly;
	tarn__block_init(&s->pend);
	tarn__block_init(&s->fly);
	for (i = 0; i < CACHE_SLOTS; i++)
		tarn__block_init(&s->cache[i].blk);
	snprintf(name, sizeof(name), "shards/%s.db", date);
	s->path = tarn__path_join(lake_dir, name);
	if (!s->path) {
		rc = tarn__error_set(TARN_ENOMEM, "shard %s", date);
		goto fail;
	}
	if (!readonly && access(s->path, F_OK) != 0)
		is_new = 1;
	/* a new shard frees the pages of compacted blocks (incremental_vacuum) */
	rc = tarn__sql_open_ex(&s->db, s->path, readonly, readonly ? 0 : create_mode,
			       is_new ? "PRAGMA auto_vacuum=INCREMENTAL" : NULL);
	if (rc)
		goto fail;
	if (readonly) {
		/* a writer creating this shard has not committed its schema yet
		 * (or left an empty file at a crash): no events here for now */
		sqlite3_stmt *st;
		if (tarn__sql_prepare(s->db, "SELECT count(*) FROM sqlite_schema", &st, s->path) ==
		    TARN_OK) {
			int empty =
				sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0;
			sqlite3_finalize(st);
			if (empty) {
				rc = tarn__error_set(TARN_ENOTFOUND, "%s: no tables yet", s->path);
				goto fail;
			}
		}
	}
	if (!readonly) {
		/* an empty file left by a crash before its schema commit is new too */
		sqlite3_stmt *st;
		if (tarn__sql_prepare(s->db, "SELECT count(*) FROM sqlite_schema", &st, s->path) ==
		    TARN_OK) {
			if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0)
				is_new = 1;
			sqlite3_finalize(st);
		}
		if (is_new) {
			rc = create_schema(s);
			if (rc)
				goto fail;
		}
	}
	/* many shards may be open at once: a small page cache each */
	if (!readonly)
		sqlite3_exec(s->db, "PRAGMA cache_size=-512", NULL, NULL, NULL);
	rc = prepare_all(s);
	if (rc) {
		if (sqlite3_errcode(s->db) == SQLITE_ERROR)
			rc = tarn__error_set(TARN_ECORRUPT, "%s: not a tarn shard (%s)", s->path,
					     sqlite3_errmsg(s->db));
		goto fail;
	}
	rc = check_shard(s);
	if (!rc)
		rc = load_spans(s);
	if (rc)
		goto fail;
	s->dctx = ZSTD_createDCtx();
	if (!s->dctx) {
		rc = tarn__error_set(TARN_ENOMEM, "zstd context");
		goto fail;
	}
	*out = s;
	return TARN_OK;
fail:
	/* A shard this call was creating holds nothing: remove it rather
	 * than leave a file without tables (a disk that filled up during
	 * create_schema) for verify to report. */
	tarn__shard_close(s);
	if (is_new && !readonly) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", tarn_error_last());
		if (tarn__shard_unlink(lake_dir, date))
			tarn__error_set(rc, "%s", msg); /* the first error is the one */
	}
	return rc;
}

int tarn__shard_unlink(const char *lake_dir, const char *date)
{
	static const char *const tails[] = { "", "-wal", "-shm", "-journal" };
	char name[48];
	size_t i;
	int rc = TARN_OK, gone = 0;
	char *path;

	for (i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		snprintf(name, sizeof(name), "shards/%s.db%s", date, tails[i]);
		path = tarn__path_join(lake_dir, name);
		if (!path)
			return tarn__error_set(TARN_ENOMEM, "delete shard %s", date);
		if (unlink(path) == 0) {
			tarn__fs_note(TARN__FS_UNLINK, path);
			gone = 1;
		} else if (errno != ENOENT && !rc) {
			rc = tarn__error_set(TARN_EIO, "delete %s: %s", path, strerror(errno));
		}
		free(path);
	}
	if (!gone)
		return rc;
	/* the deletion must survive a power cut as a creation must: without
	 * the folder's fsync a pruned shard came back (tests/powerloss, prune) */
	snprintf(name, sizeof(name), "shards/%s.db", date);
	path = tarn__path_join(lake_dir, name);
	if (!path)
		return rc ? rc : tarn__error_set(TARN_ENOMEM, "delete shard %s", date);
	if (!rc)
		rc = tarn__fs_sync_parent(path);
	free(path);
	return rc;
}

/* Give back what only a writer in the middle of a batch needs. */
void tarn__shard_trim(tarn__shard *s)
{
	int i;

	if (!s || s->in_txn)
		return;
	tarn__block_free(&s->pend);
	tarn__block_free(&s->fly);
	free(s->ptab);
	s->ptab = NULL;
	for (i = 0; i < CACHE_SLOTS; i++)
		tarn__block_free(&s->cache[i].blk);
	free(s->scratch.p);
	free(s->scratch2.p);
	memset(&s->scratch, 0, sizeof(s->scratch));
	memset(&s->scratch2, 0, sizeof(s->scratch2));
	ZSTD_freeCCtx(s->cctx);
	s->cctx = NULL;
}

void tarn__shard_close(tarn__shard *s)
{
	if (!s)
		return;
	if (s->in_txn)
		tarn__shard_rollback(s);
	tarn__shard_trim(s);
	sqlite3_finalize(s->ins_block);
	sqlite3_finalize(s->ins_data);
	sqlite3_finalize(s->get_events);
	sqlite3_finalize(s->get_data);
	sqlite3_finalize(s->set_meta);
	sqlite3_finalize(s->get_meta);
	sqlite3_close(s->db);
	drop_spans(s, 0);
	free(s->spans);
	free(s->path);
	ZSTD_freeDCtx(s->dctx);
	free(s);
}

static int begin(tarn__shard *s)
{
	int rc;

	if (s->in_txn)
		return TARN_OK;
	rc = tarn__sql_exec(s->db, "BEGIN IMMEDIATE", s->path);
	if (rc)
		return rc;
	s->in_txn = 1;
	s->pending_dups = 0;
	s->begin_block_id = s->next_block_id;
	s->begin_spans = s->n_spans;
	tarn__block_reset(&s->pend);
	if (s->ptab)
		memset(s->ptab, 0, PEND_SLOTS * sizeof(*s->ptab));
	return TARN_OK;
}

/* ---- the block cache ---- */

static int settle(tarn__shard *s);

static struct cache_slot *cache_lookup(tarn__shard *s, int64_t block_id)
{
	int i;

	for (i = 0; i < CACHE_SLOTS; i++)
		if (s->cache[i].blk.id == block_id && s->cache[i].blk.n)
			return &s->cache[i];
	return NULL;
}

/* Free a cached block's decoded payloads (all or a prefix), keeping its
 * fields: a megabyte a block, needed only to compare a re-delivery's
 * bytes. */
static void drop_payloads(struct cache_slot *c)
{
	free(c->blk.pay.p);
	memset(&c->blk.pay, 0, sizeof(c->blk.pay));
	c->blk.has_payloads = 0;
}

/* drop_payloads for the cache's blocks but keep (which may be NULL). */
static void cache_drop_payloads(tarn__shard *s, const struct cache_slot *keep)
{
	int i;

	for (i = 0; i < CACHE_SLOTS; i++)
		if (&s->cache[i] != keep && s->cache[i].blk.has_payloads)
			drop_payloads(&s->cache[i]);
}

static struct cache_slot *cache_victim(tarn__shard *s)
{
	struct cache_slot *v = &s->cache[0];
	int i;

	for (i = 1; i < CACHE_SLOTS; i++)
		if (s->cache[i].used < v->used)
			v = &s->cache[i];
	return v;
}

/* Step st (get_events or get_data) to block_id's row, and name the block
 * in where (96 bytes) for messages. On an error st is reset. */
static int block_row(tarn__shard *s, sqlite3_stmt *st, int64_t block_id, char *where)
{
	int rc;

	snprintf(where, 96, "%s block %lld", s->date, (long long)block_id);
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, block_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return TARN_OK;
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return tarn__error_set(TARN_ECORRUPT, "%s: block %lld missing", s->path,
				       (long long)block_id);
	return tarn__error_sqlite(s->db, "%s: read block", s->path);
}

/* Read block_id into b: its events when fields, its payloads when
 * payloads (then b already holds its events, or fields is set too). */
static int read_block(tarn__shard *s, int64_t block_id, int fields, int payloads, tarn__block *b)
{
	sqlite3_stmt *st = payloads ? s->get_data : s->get_events;
	char where[96];
	int rc = block_row(s, st, block_id, where);

	if (rc)
		return rc;
	if (fields)
		rc = tarn__block_decode(b, s->dctx, sqlite3_column_blob(st, 0),
					(size_t)sqlite3_column_bytes(st, 0), where);
	if (!rc && payloads)
		rc = tarn__block_decode_payloads(b, s->dctx, sqlite3_column_blob(st, 1),
						 (size_t)sqlite3_column_bytes(st, 1), where);
	sqlite3_reset(st);
	if (rc) {
		b->id = -1;
		b->n = 0;
		return rc;
	}
	b->id = block_id;
	return TARN_OK;
}

int tarn__shard_read_block(tarn__shard *s, int64_t block_id, int want_payloads, tarn__block *b)
{
	int rc = settle(s);

	return rc ? rc : read_block(s, block_id, 1, want_payloads, b);
}

int tarn__shard_read_payloads(tarn__shard *s, tarn__block *b)
{
	int rc = settle(s);

	return rc ? rc : read_block(s, b->id, 0, 1, b);
}

/* tarn__shard_block without settling the in-flight block first: for a
 * block_id written before it. */
static int cached_block(tarn__shard *s, int64_t block_id, int want_payloads,
			const tarn__block **out)
{
	struct cache_slot *slot = cache_lookup(s, block_id);
	int rc = TARN_OK;

	if (!slot) {
		slot = cache_victim(s);
		rc = read_block(s, block_id, 1, want_payloads, &slot->blk);
	} else if (want_payloads && !slot->blk.has_payloads) {
		/* its events are decoded already: only the payloads frame */
		rc = read_block(s, block_id, 0, 1, &slot->blk);
	}
	if (rc)
		return rc;
	/* at most one block's payloads decoded at a time */
	if (want_payloads)
		cache_drop_payloads(s, slot);
	slot->used = ++s->clock;
	*out = &slot->blk;
	return TARN_OK;
}

int tarn__shard_block(tarn__shard *s, int64_t block_id, int want_payloads, const tarn__block **out)
{
	int rc = settle(s);

	return rc ? rc : cached_block(s, block_id, want_payloads, out);
}

/* ---- writing ---- */

/* Write encoded block b as block `id` (the next after every block written)
 * and keep its fields in the cache; b comes back empty. */
static int write_block(tarn__shard *s, tarn__block *b, int64_t id)
{
	struct cache_slot *slot;
	int rc;

	sqlite3_reset(s->ins_block);
	sqlite3_bind_int64(s->ins_block, 1, id);
	sqlite3_bind_int64(s->ins_block, 2, b->n);
	sqlite3_bind_int64(s->ins_block, 3, b->min_time);
	sqlite3_bind_int64(s->ins_block, 4, b->max_time);
	sqlite3_bind_int64(s->ins_block, 5, (sqlite3_int64)b->raw_bytes);
	sqlite3_bind_int64(s->ins_block, 6, (sqlite3_int64)(b->zmeta.len + b->zpay.len));
	rc = sqlite3_step(s->ins_block);
	sqlite3_reset(s->ins_block);
	if (rc != SQLITE_DONE)
		return tarn__error_sqlite(s->db, "%s: write block", s->path);
	sqlite3_reset(s->ins_data);
	sqlite3_bind_int64(s->ins_data, 1, id);
	sqlite3_bind_blob(s->ins_data, 2, b->zmeta.p, (int)b->zmeta.len, SQLITE_STATIC);
	sqlite3_bind_blob(s->ins_data, 3, b->zpay.p, (int)b->zpay.len, SQLITE_STATIC);
	rc = sqlite3_step(s->ins_data);
	sqlite3_reset(s->ins_data);
	if (rc != SQLITE_DONE)
		return tarn__error_sqlite(s->db, "%s: write block", s->path);
	rc = push_span(s, id, b->min_time, b->max_time, b->n);
	if (rc)
		return rc;
	/* The block just written is the likeliest home of the next
	 * re-delivery: keep its fields decoded, and reuse the slot's buffers. */
	b->id = id;
	slot = cache_victim(s);
	{
		tarn__block t = slot->blk;
		slot->blk = *b;
		*b = t;
	}
	slot->used = ++s->clock;
	/* A re-delivery of a recent event is decided by the id index's payload
	 * hash; the cache keeps only the block's fields (ids), not its
	 * megabyte of payloads: memory is bounded per open shard. The
	 * payload and encoding buffers go back to b, to be filled again
	 * rather than freed and allocated each block (which fragmented the
	 * heap by megabytes). */
	{
		struct tarn__buf *mine[] = { &slot->blk.pay, &slot->blk.enc, &slot->blk.sorted,
					     &slot->blk.zmeta, &slot->blk.zpay };
		struct tarn__buf *theirs[] = { &b->pay, &b->enc, &b->sorted, &b->zmeta, &b->zpay };
		uint32_t *order = slot->blk.order;
		size_t i;

		for (i = 0; i < sizeof(mine) / sizeof(mine[0]); i++) {
			struct tarn__buf t = *mine[i];
			*mine[i] = *theirs[i];
			*theirs[i] = t;
		}
		slot->blk.order = b->order;
		b->order = order;
	}
	tarn__block_drop_scratch(&slot->blk);
	drop_payloads(slot);
	tarn__block_reset(b);
	return TARN_OK;
}

static void encode_fly(tarn__shard *s, ZSTD_CCtx *cctx)
{
	s->fly_rc = tarn__block_encode(&s->fly, cctx);
	__atomic_store_n(&s->fly_done, 1, __ATOMIC_RELEASE);
}

/* On the exec's thread, with its context. Touches only s->fly, fly_rc and
 * fly_done (the storing thread leaves them alone until it waits). */
static void encode_job(void *arg)
{
	tarn__shard *s = arg;

	encode_fly(s, s->exec->cctx);
}

/* Finish the in-flight block: wait for its encoding (or encode it here
 * when the exec's thread has not started it), then write it. */
static int settle(tarn__shard *s)
{
	int rc;

	if (!s->fly_busy)
		return TARN_OK;
	if (s->fly_queued && s->exec->settle(s->exec->ctx, s))
		encode_fly(s, s->exec->cctx_here);
	s->fly_queued = 0;
	s->fly_busy = 0;
	rc = s->fly_rc;
	if (rc)
		rc = tarn__error_set(rc, "%s: encode block %lld", s->path, (long long)s->fly_id);
	else
		rc = write_block(s, &s->fly, s->fly_id);
	tarn__block_reset(&s->fly);
	return rc;
}

/* Forget the in-flight block (its batch rolls back). */
static void discard_fly(tarn__shard *s)
{
	if (!s->fly_busy)
		return;
	if (s->fly_queued)
		s->exec->settle(s->exec->ctx, s); /* dropped, or run: either way gone */
	s->fly_queued = s->fly_busy = 0;
	tarn__block_reset(&s->fly);
}

int tarn__shard_set_exec(tarn__shard *s, const struct tarn__exec *exec)
{
	int rc = settle(s);

	s->exec = exec;
	return rc;
}

/* The block being filled is full (or the batch commits): encode and write
 * it, on the exec's thread when there is one. */
static int flush_block(tarn__shard *s)
{
	int rc;

	if (s->pend.n == 0)
		return TARN_OK;
	rc = settle(s);
	if (rc)
		return rc;
	if (s->exec) {
		tarn__block t = s->fly;

		s->fly = s->pend;
		s->pend = t;
		tarn__block_reset(&s->pend);
		s->fly_id = s->next_block_id++;
		s->fly_busy = 1;
		s->fly_rc = TARN_OK;
		s->fly_done = 0;
		s->fly_queued = s->exec->submit(s->exec->ctx, encode_job, s) == 0;
		if (!s->fly_queued)
			encode_fly(s, s->exec->cctx_here); /* the exec could not take it */
	} else {
		if (!s->cctx) {
			s->cctx = tarn__block_cctx();
			if (!s->cctx)
				rc = tarn__error_set(TARN_ENOMEM, "zstd context");
		}
		if (!rc)
			rc = tarn__block_encode(&s->pend, s->cctx);
		if (!rc)
			rc = write_block(s, &s->pend, s->next_block_id);
		if (!rc)
			s->next_block_id++;
	}
	if (s->ptab)
		memset(s->ptab, 0, PEND_SLOTS * sizeof(*s->ptab));
	return rc;
}

static int same_payload(const tarn__block *b, uint32_t i, const tarn_event *ev,
			struct tarn__buf *scratch, tarn_add_result *res)
{
	const unsigned char *old;
	size_t len;
	int rc;

	if (b->recs[i].pay_len != ev->payload_len) {
		*res = TARN_ADD_CONFLICT;
		return TARN_OK;
	}
	rc = tarn__block_payload(b, i, scratch, &old, &len);
	if (rc)
		return rc;
	*res = len == 0 || memcmp(old, ev->payload, len) == 0 ? TARN_ADD_DUPLICATE
							      : TARN_ADD_CONFLICT;
	return TARN_OK;
}

/* Compare ev with event i of block block_id, whose fields the cache holds,
 * decoding only the payload frame that holds event i, and only as far as
 * event i (a far re-delivery costs a quarter of the block's decoding on
 * average, not all of it). */
static int same_payload_prefix(tarn__shard *s, int64_t block_id, uint32_t i, const tarn_event *ev,
			       tarn_add_result *res)
{
	struct cache_slot *slot = cache_lookup(s, block_id);
	sqlite3_stmt *st = s->get_data;
	char where[96];
	int rc;

	if (!slot)
		return tarn__error_set(TARN_EINVAL, "%s: block %lld is not read", s->path,
				       (long long)block_id);
	rc = block_row(s, st, block_id, where);
	if (rc)
		return rc;
	rc = tarn__block_decode_payload_prefix(&slot->blk, s->dctx, sqlite3_column_blob(st, 1),
					       (size_t)sqlite3_column_bytes(st, 1), i, where);
	sqlite3_reset(st);
	if (!rc)
		rc = same_payload(&slot->blk, i, ev, &s->scratch, res);
	/* kept per shard, the prefix buffers were 3 MB of a 10M ingest's peak */
	drop_payloads(slot);
	return rc;
}

/* Index of the event with this id in block b, or -1: by (time, id) first,
 * as a re-delivery usually carries the same time, then by id alone. */
static int64_t find_id(const tarn__block *b, const tarn_event *ev)
{
	int64_t i = tarn__block_find(b, ev->time_us, ev->id_is_uuid, ev->id, ev->id_len);
	uint32_t k;

	if (i >= 0)
		return i;
	for (k = 0; k < b->n; k++) {
		const struct tarn__rec *r = &b->recs[k];
		if (r->id_len == ev->id_len && !r->is_uuid == !ev->id_is_uuid &&
		    memcmp(b->arena.p + r->id_off, ev->id, ev->id_len) == 0)
			return k;
	}
	return -1;
}

/* The block that compaction moved *block_id's events to, or -1. */
static int alias_of(tarn__shard *s, int64_t *block_id)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db,
			       "SELECT new_id FROM block_alias WHERE first_old <= ?1"
			       " AND last_old >= ?1 ORDER BY first_old DESC LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK) {
		*block_id = -1; /* a shard from before compaction existed */
		return TARN_OK;
	}
	sqlite3_bind_int64(st, 1, *block_id);
	rc = sqlite3_step(st);
	*block_id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return tarn__error_sqlite(s->db, "%s: block_alias", s->path);
	return TARN_OK;
}

int tarn__shard_find(tarn__shard *s, int64_t block_id, uint64_t h, const tarn_event *ev, int *found,
		     tarn_add_result *res)
{
	const tarn__block *b;
	size_t k;
	int64_t i;
	int rc;

	*found = 0;
	/* Only the in-flight block itself needs writing first: the others
	 * are on disk, and its encoding (on the exec's thread) touches
	 * nothing else. Settling for every far re-delivery made the storing
	 * thread encode the in-flight block itself (8% of a 10M ingest). */
	if (s->fly_busy && block_id == s->fly_id) {
		rc = settle(s);
		if (rc)
			return rc;
	}
	if (block_id == s->next_block_id && s->in_txn && s->ptab) {
		uint32_t x = (uint32_t)h & (PEND_SLOTS - 1);
		for (; s->ptab[x].ix1; x = (x + 1) & (PEND_SLOTS - 1)) {
			const struct tarn__rec *r = &s->pend.recs[s->ptab[x].ix1 - 1];
			if (s->ptab[x].fp == h && !r->is_uuid == !ev->id_is_uuid &&
			    r->id_len == ev->id_len &&
			    memcmp(s->pend.arena.p + r->id_off, ev->id, ev->id_len) == 0) {
				*found = 1;
				return same_payload(&s->pend, s->ptab[x].ix1 - 1, ev, &s->scratch,
						    res);
			}
		}
		return TARN_OK;
	}
	/* a block the index names but the shard lacks (a pruned or rolled
	 * back one) holds nothing */
	for (k = 0; k < s->n_spans && s->spans[k].block_id != block_id; k++)
		;
	if (k == s->n_spans) {
		/* compacted: its events moved to one new block */
		rc = alias_of(s, &block_id);
		if (rc || block_id < 0)
			return rc;
		for (k = 0; k < s->n_spans && s->spans[k].block_id != block_id; k++)
			;
		if (k == s->n_spans)
			return TARN_OK;
	}
	rc = cached_block(s, block_id, 0, &b);
	if (rc)
		return rc;
	i = find_id(b, ev);
	if (i < 0)
		return TARN_OK;
	*found = 1;
	if (b->has_payloads || b->recs[i].pay_len != ev->payload_len)
		return same_payload(b, (uint32_t)i, ev, &s->scratch, res);
	return same_payload_prefix(s, block_id, (uint32_t)i, ev, res);
}

int tarn__shard_count_duplicate(tarn__shard *s)
{
	int rc;

	if (s->readonly)
		return tarn__error_set(TARN_EINVAL, "%s: opened read-only", s->path);
	rc = begin(s);
	if (!rc)
		s->pending_dups++;
	return rc;
}

int tarn__shard_append(tarn__shard *s, uint64_t h, const tarn_event *ev, int64_t *block_id)
{
	uint32_t x;
	int rc;

	if (s->readonly)
		return tarn__error_set(TARN_EINVAL, "%s: opened read-only", s->path);
	if (ev->time_us < s->day_start_us || ev->time_us >= s->day_start_us + TARN_US_PER_DAY)
		return tarn__error_set(TARN_EINVAL, "%s: event time is not on %s", s->path,
				       s->date);
	if (ev->payload_len > INT32_MAX / 2)
		return tarn__error_set(TARN_EINVAL, "payload too large");
	if (!s->ptab) {
		s->ptab = calloc(PEND_SLOTS, sizeof(*s->ptab));
		if (!s->ptab)
			return tarn__error_set(TARN_ENOMEM, "%s: batch index", s->path);
	}
	rc = begin(s);
	/* a block whose encoding ended is written at once: its buffers are
	 * not kept beside the next block's */
	if (!rc && s->fly_busy && __atomic_load_n(&s->fly_done, __ATOMIC_ACQUIRE))
		rc = settle(s);
	if (rc)
		return rc;
	if (s->pend.n >= TARN__BLOCK_EVENTS ||
	    (s->pend.n && s->pend.raw_bytes + ev->payload_len > TARN__BLOCK_BYTES)) {
		rc = flush_block(s);
		if (rc)
			return rc;
	}
	rc = tarn__block_add(&s->pend, ev);
	if (rc)
		return rc;
	for (x = (uint32_t)h & (PEND_SLOTS - 1); s->ptab[x].ix1; x = (x + 1) & (PEND_SLOTS - 1))
		;
	s->ptab[x].fp = h;
	s->ptab[x].ix1 = s->pend.n;
	*block_id = s->next_block_id;
	return TARN_OK;
}

/* ---- compaction ---- */

/* Run one statement binding up to three integers. */
static int exec3(tarn__shard *s, const char *sql, int64_t a, int64_t b, int64_t c)
{
	sqlite3_stmt *st;
	int rc = tarn__sql_prepare(s->db, sql, &st, s->path);

	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, a);
	if (sqlite3_bind_parameter_count(st) > 1)
		sqlite3_bind_int64(st, 2, b);
	if (sqlite3_bind_parameter_count(st) > 2)
		sqlite3_bind_int64(st, 3, c);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tarn__error_sqlite(s->db, "%s: compact", s->path);
	sqlite3_finalize(st);
	return rc;
}

/* Write the block being filled and point the old blocks it holds at it. */
static int compact_flush(tarn__shard *s, const int64_t *olds, size_t n_olds,
			 struct tarn__compact_result *r)
{
	int64_t new_id = s->next_block_id;
	size_t i;
	int rc;

	if (s->pend.n == 0)
		return TARN_OK;
	rc = flush_block(s);
	if (!rc)
		rc = settle(s); /* written before the old blocks go */
	for (i = 0; !rc && i < n_olds; i++) {
		rc = exec3(s, "DELETE FROM blocks WHERE block_id=?1", olds[i], 0, 0);
		if (!rc)
			rc = exec3(s, "DELETE FROM block_data WHERE block_id=?1", olds[i], 0, 0);
		/* an earlier compaction's ids that pointed here follow */
		if (!rc)
			rc = exec3(s, "UPDATE block_alias SET new_id=?2 WHERE new_id=?1", olds[i],
				   new_id, 0);
	}
	/* one row per run of consecutive old ids (a trickle's blocks are):
	 * the table stays a few rows, not one per small block */
	for (i = 0; !rc && i < n_olds;) {
		size_t j = i;
		while (j + 1 < n_olds && olds[j + 1] == olds[j] + 1)
			j++;
		rc = exec3(s,
			   "INSERT OR REPLACE INTO block_alias(first_old, last_old, new_id)"
			   " VALUES(?1, ?2, ?3)",
			   olds[i], olds[j], new_id);
		i = j + 1;
	}
	if (!rc) {
		r->new_blocks++;
		r->new_max_block = new_id;
	}
	return rc;
}

int tarn__shard_compact(tarn__shard *s, struct tarn__compact_result *r)
{
	int64_t *ids = NULL, *olds = NULL;
	size_t n_ids = 0, n_olds = 0, k;
	tarn__block old;
	int rc;

	size_t n_small = 0, n_older = 0;

	memset(r, 0, sizeof(*r));
	if (s->readonly || s->in_txn)
		return tarn__error_set(TARN_EINVAL, "%s: cannot compact %s", s->path,
				       s->readonly ? "read-only" : "in a batch");
	r->old_max_block = s->n_spans ? s->spans[s->n_spans - 1].block_id : 0;
	ids = malloc((s->n_spans ? s->n_spans : 1) * sizeof(*ids));
	olds = malloc((s->n_spans ? s->n_spans : 1) * sizeof(*olds));
	if (!ids || !olds) {
		free(ids);
		free(olds);
		return tarn__error_set(TARN_ENOMEM, "%s: compact", s->path);
	}
	/* the small blocks, and the blocks of an older format (read by their
	 * field frame): those written before shaped payload frames */
	tarn__block_init(&old);
	rc = TARN_OK;
	for (k = 0; !rc && k < s->n_spans; k++) {
		int small = s->spans[k].n_events < TARN__COMPACT_SMALL;

		if (!small) {
			rc = tarn__shard_read_block(s, s->spans[k].block_id, 0, &old);
			if (rc || old.format >= TARN__BLOCK_FORMAT_NOW)
				continue;
		}
		ids[n_ids++] = s->spans[k].block_id;
		n_small += small;
		n_older += !small;
	}
	if (rc || (n_small < 2 && !n_older)) {
		tarn__block_free(&old);
		free(ids);
		free(olds);
		return rc;
	}
	rc = begin(s);
	for (k = 0; !rc && k < n_ids; k++) {
		uint32_t i;

		rc = tarn__shard_read_block(s, ids[k], 1, &old);
		if (rc)
			break;
		/* an old block goes whole into one new block, so that each old
		 * id has one successor (block_alias) */
		if (s->pend.n && (s->pend.n + old.n > TARN__BLOCK_EVENTS ||
				  s->pend.raw_bytes + old.raw_bytes > TARN__BLOCK_BYTES)) {
			rc = compact_flush(s, olds, n_olds, r);
			n_olds = 0;
		}
		for (i = 0; !rc && i < old.n; i++) {
			tarn_event ev;
			tarn_event_init(&ev);
			rc = tarn__block_event(&old, i, &s->scratch2, &ev);
			if (!rc)
				rc = tarn__block_add(&s->pend, &ev);
		}
		olds[n_olds++] = ids[k];
		r->old_blocks++;
		r->events += old.n;
	}
	if (!rc)
		rc = compact_flush(s, olds, n_olds, r);
	/* the events are the same: commit_seq (and so the gold watermark) stays */
	if (!rc)
		rc = tarn__sql_exec(s->db, "COMMIT", s->path);
	tarn__block_free(&old);
	free(ids);
	free(olds);
	if (rc) {
		tarn__shard_rollback(s);
		return rc;
	}
	s->in_txn = 0;
	for (k = 0; k < CACHE_SLOTS; k++)
		s->cache[k].blk.id = -1;
	drop_spans(s, 0);
	rc = load_spans(s);
	/* give the freed pages back, and empty the WAL; best effort: a reader
	 * holding an old snapshot only delays it */
	sqlite3_exec(s->db, "PRAGMA incremental_vacuum; PRAGMA wal_checkpoint(TRUNCATE)", NULL,
		     NULL, NULL);
	return rc;
}

int64_t tarn__shard_last_commit_us(const tarn__shard *s)
{
	return s->last_commit_us;
}

int tarn__shard_idle_small(const tarn__shard *s)
{
	size_t k, n = 0;

	for (k = 0; k < s->n_spans; k++)
		if (s->spans[k].n_events < TARN__COMPACT_SMALL)
			n++;
	return (int)n;
}

int tarn__shard_seq(tarn__shard *s, int64_t *seq)
{
	return meta_get(s, "commit_seq", seq, NULL, 0);
}

int tarn__shard_flush(tarn__shard *s)
{
	return s->in_txn ? flush_block(s) : TARN_OK;
}

int tarn__shard_commit(tarn__shard *s, int64_t *seq)
{
	int64_t cur = 0, dups = 0;
	int rc;

	if (!s->in_txn)
		return tarn__shard_seq(s, seq);
	rc = flush_block(s);
	if (!rc)
		rc = settle(s);
	if (!rc)
		rc = meta_get(s, "commit_seq", &cur, NULL, 0);
	if (!rc)
		rc = meta_get(s, "duplicates", &dups, NULL, 0);
	if (!rc)
		rc = meta_set_int(s, "commit_seq", cur + 1);
	if (!rc && s->pending_dups)
		rc = meta_set_int(s, "duplicates", dups + (int64_t)s->pending_dups);
	if (!rc)
		rc = tarn__sql_exec(s->db, "COMMIT", s->path);
	if (rc) {
		tarn__shard_rollback(s);
		return rc;
	}
	s->in_txn = 0;
	s->pending_dups = 0;
	s->last_commit_us = tarn_time_now_us();
	/* a batch's re-deliveries are compared; the next batch's may be of
	 * other blocks: do not keep payloads across batches */
	cache_drop_payloads(s, NULL);
	*seq = cur + 1;
	return TARN_OK;
}

void tarn__shard_rollback(tarn__shard *s)
{
	int i;

	if (!s->in_txn)
		return;
	discard_fly(s);
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	s->in_txn = 0;
	s->pending_dups = 0;
	tarn__block_reset(&s->pend);
	if (s->ptab)
		memset(s->ptab, 0, PEND_SLOTS * sizeof(*s->ptab));
	/* blocks written by the rolled-back batch are gone: forget them */
	for (i = 0; i < CACHE_SLOTS; i++)
		if (s->cache[i].blk.id >= s->begin_block_id)
			s->cache[i].blk.id = -1;
	drop_spans(s, s->begin_spans);
	s->next_block_id = s->begin_block_id;
}

/* ---- reading ---- */

static int emit_range(tarn__shard *s, const tarn__block *b, uint32_t from, int64_t until_us,
		      tarn__shard_event_cb cb, void *ctx, uint64_t *count, uint32_t *stop_at)
{
	uint32_t i;
	int rc;

	for (i = from; i < b->n && b->recs[i].time_us < until_us; i++) {
		tarn_event ev;

		if (stop_at && i > from)
			break;
		tarn_event_init(&ev);
		rc = tarn__block_event(b, i, &s->scratch2, &ev);
		if (rc)
			return rc;
		(*count)++;
		rc = cb(ctx, &ev);
		if (rc)
			return rc;
	}
	if (stop_at)
		*stop_at = i;
	return TARN_OK;
}

static int span_cmp(const void *a, const void *b)
{
	const struct tarn__span *x = a, *y = b;

	if (x->min_time != y->min_time)
		return x->min_time < y->min_time ? -1 : 1;
	return x->block_id < y->block_id ? -1 : x->block_id > y->block_id;
}

struct cursor {
	tarn__block blk;
	uint32_t pos;
};

static int cursor_before(const struct cursor *x, const struct cursor *y)
{
	const struct tarn__rec *a = &x->blk.recs[x->pos], *b = &y->blk.recs[y->pos];

	return tarn__event_key_cmp(a->time_us, a->is_uuid, x->blk.arena.p + a->id_off, a->id_len,
				   b->time_us, b->is_uuid, y->blk.arena.p + b->id_off,
				   b->id_len) < 0;
}

/* Time order across blocks: blocks are sorted inside; open them in order
 * of their first event and always emit the smallest head. Only blocks
 * whose spans overlap are held at once (one or two for data that arrived
 * roughly in time order). */
static int scan_time_order(tarn__shard *s, int64_t since_us, int64_t until_us,
			   tarn__shard_event_cb cb, void *ctx, uint64_t *count)
{
	struct tarn__span *order = NULL;
	struct cursor *act = NULL;
	size_t n = 0, next = 0, n_act = 0, cap = 0, k;
	int rc = TARN_OK;

	order = malloc((s->n_spans ? s->n_spans : 1) * sizeof(*order));
	if (!order)
		return tarn__error_set(TARN_ENOMEM, "%s: scan", s->path);
	for (k = 0; k < s->n_spans; k++)
		if (s->spans[k].max_time >= since_us && s->spans[k].min_time < until_us)
			order[n++] = s->spans[k];
	qsort(order, n, sizeof(*order), span_cmp);
	while (rc == TARN_OK && (next < n || n_act)) {
		size_t best = 0;

		/* open every block that may hold something before the heads */
		while (next < n) {
			int64_t head = INT64_MAX;
			for (k = 0; k < n_act; k++)
				if (act[k].blk.recs[act[k].pos].time_us < head)
					head = act[k].blk.recs[act[k].pos].time_us;
			if (n_act && order[next].min_time > head)
				break;
			if (n_act == cap) {
				size_t nc = cap ? cap * 2 : 4;
				struct cursor *na = realloc(act, nc * sizeof(*na));
				if (!na) {
					rc = tarn__error_set(TARN_ENOMEM, "%s: scan", s->path);
					break;
				}
				for (k = cap; k < nc; k++)
					tarn__block_init(&na[k].blk);
				act = na;
				cap = nc;
			}
			rc = tarn__shard_read_block(s, order[next].block_id, 1, &act[n_act].blk);
			next++;
			if (rc)
				break;
			act[n_act].pos = tarn__block_lower_bound(&act[n_act].blk, since_us);
			if (act[n_act].pos < act[n_act].blk.n &&
			    act[n_act].blk.recs[act[n_act].pos].time_us < until_us)
				n_act++;
		}
		if (rc || n_act == 0)
			continue;
		for (k = 1; k < n_act; k++)
			if (cursor_before(&act[k], &act[best]))
				best = k;
		rc = emit_range(s, &act[best].blk, act[best].pos, until_us, cb, ctx, count,
				&act[best].pos);
		if (rc)
			break;
		if (act[best].pos >= act[best].blk.n ||
		    act[best].blk.recs[act[best].pos].time_us >= until_us) {
			/* exhausted: move the last cursor into its place */
			struct cursor t = act[best];
			act[best] = act[n_act - 1];
			act[n_act - 1] = t;
			n_act--;
		}
	}
	for (k = 0; k < cap; k++)
		tarn__block_free(&act[k].blk);
	free(act);
	free(order);
	return rc;
}

int tarn__shard_scan(tarn__shard *s, int64_t since_us, int64_t until_us, int time_order,
		     tarn__shard_event_cb cb, void *ctx, uint64_t *n)
{
	uint64_t count = 0;
	size_t k;
	int rc = settle(s);

	if (rc)
		return rc;
	if (time_order) {
		rc = scan_time_order(s, since_us, until_us, cb, ctx, &count);
	} else {
		for (k = 0; rc == TARN_OK && k < s->n_spans; k++) {
			const tarn__block *b;

			if (s->spans[k].max_time < since_us || s->spans[k].min_time >= until_us)
				continue;
			rc = tarn__shard_block(s, s->spans[k].block_id, 1, &b);
			if (!rc)
				rc = emit_range(s, b, tarn__block_lower_bound(b, since_us),
						until_us, cb, ctx, &count, NULL);
		}
	}
	if (n)
		*n += count;
	return rc;
}

static int is_shard_name(const char *name)
{
	char date[11];

	if (strlen(name) != 13 || strcmp(name + 10, ".db") != 0)
		return 0;
	memcpy(date, name, 10);
	date[10] = '\0';
	return tarn_time_parse_date(date, NULL) == TARN_OK;
}

static int cmp_dates(const void *a, const void *b)
{
	return strcmp(a, b);
}

int tarn__shard_list(const char *lake_dir, char (**dates)[11], size_t *n,
		     void (*odd)(void *ctx, const char *name), void *odd_ctx)
{
	char *path = tarn__path_join(lake_dir, "shards");
	char(*list)[11] = NULL;
	size_t count = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	*dates = NULL;
	*n = 0;
	if (!path)
		return tarn__error_set(TARN_ENOMEM, "list shards");
	d = opendir(path);
	if (!d) {
		int e = errno;
		free(path);
		if (e == ENOENT)
			return TARN_OK;
		return tarn__error_set(TARN_EIO, "%s/shards: %s", lake_dir, strerror(e));
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (!is_shard_name(de->d_name)) {
			size_t l = strlen(de->d_name);
			/* SQLite's own companions of a shard are expected */
			if (!(l > 4 && (strcmp(de->d_name + l - 4, "-wal") == 0 ||
					strcmp(de->d_name + l - 4, "-shm") == 0 ||
					(l > 8 && strcmp(de->d_name + l - 8, "-journal") == 0))) &&
			    odd)
				odd(odd_ctx, de->d_name);
			continue;
		}
		if (count == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			char(*nl)[11] = realloc(list, ncap * sizeof(*list));
			if (!nl) {
				closedir(d);
				free(list);
				free(path);
				return tarn__error_set(TARN_ENOMEM, "list shards");
			}
			list = nl;
			cap = ncap;
		}
		memcpy(list[count], de->d_name, 10);
		list[count][10] = '\0';
		count++;
	}
	closedir(d);
	free(path);
	if (count)
		qsort(list, count, sizeof(*list), cmp_dates);
	*dates = list;
	*n = count;
	return TARN_OK;
}
