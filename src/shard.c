/* The shard store: one SQLite file per UTC event date, events deduplicated
 * by (event time, event id), payloads zstd-compressed in blocks. */
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
	" n_events INTEGER NOT NULL, raw_bytes INTEGER NOT NULL, data BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY,"
	" event_time INTEGER NOT NULL, event_id NOT NULL, event_name TEXT,"
	" block_id INTEGER NOT NULL, block_off INTEGER NOT NULL,"
	" payload_len INTEGER NOT NULL, key BLOB, headers BLOB, topic TEXT,"
	" partition INTEGER, kafka_offset INTEGER, kafka_ts INTEGER,"
	" ingest_time INTEGER NOT NULL);"
	"CREATE UNIQUE INDEX IF NOT EXISTS events_time_id ON events(event_time, event_id);";

/* Replay reads in time order while blocks hold arrival order; Kafka
 * partitions interleave, so a window of recent blocks is kept. */
#define CACHE_SLOTS 64

struct block_cache {
	int64_t id;            /* -1 when empty */
	unsigned char *data;
	size_t len, cap;
	uint64_t used;         /* LRU clock */
};

struct tarn__shard {
	char date[11];
	char *path;
	int readonly;
	int64_t day_start_us;
	sqlite3 *db;
	sqlite3_stmt *ins_event, *find_event, *ins_block, *get_block;
	sqlite3_stmt *set_meta, *get_meta;
	int in_txn;
	uint64_t pending_dups;
	/* the block being filled by this batch */
	unsigned char *buf;
	size_t len, cap;
	uint32_t n_pending;
	int64_t next_block_id;
	int64_t begin_block_id;
	struct block_cache cache[CACHE_SLOTS];
	uint64_t clock;
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
};

const char *tarn__shard_date(const tarn__shard *s) { return s->date; }
const char *tarn__shard_path(const tarn__shard *s) { return s->path; }
sqlite3 *tarn__shard_db(tarn__shard *s) { return s->db; }
int tarn__shard_dirty(const tarn__shard *s) { return s->in_txn; }

static int meta_get(tarn__shard *s, const char *key, int64_t *i, char *text,
		    size_t text_len)
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
	int rc;

	rc = tarn__sql_prepare(s->db, "SELECT value FROM meta WHERE key=?",
			       &s->get_meta, s->path);
	if (!rc)
		rc = tarn__sql_prepare(s->db,
				       "SELECT data, raw_bytes FROM blocks WHERE block_id=?",
				       &s->get_block, s->path);
	if (!rc)
		rc = tarn__sql_prepare(s->db,
				       "SELECT block_id, block_off, payload_len FROM events"
				       " WHERE event_time=? AND event_id=?",
				       &s->find_event, s->path);
	if (rc || s->readonly)
		return rc;
	rc = tarn__sql_prepare(s->db,
			       "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)",
			       &s->set_meta, s->path);
	if (!rc)
		rc = tarn__sql_prepare(s->db,
				       "INSERT OR IGNORE INTO events(event_time, event_id,"
				       " event_name, block_id, block_off, payload_len, key,"
				       " headers, topic, partition, kafka_offset, kafka_ts,"
				       " ingest_time) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
				       &s->ins_event, s->path);
	if (!rc)
		rc = tarn__sql_prepare(s->db,
				       "INSERT INTO blocks(block_id, n_events, raw_bytes, data)"
				       " VALUES(?,?,?,?)",
				       &s->ins_block, s->path);
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
		return tarn__error_set(TARN_ECORRUPT,
				       "%s: holds event date %s, not %s", s->path,
				       date, s->date);
	return TARN_OK;
}

static int next_block(tarn__shard *s)
{
	sqlite3_stmt *st;
	int rc;

	rc = tarn__sql_prepare(s->db, "SELECT ifnull(max(block_id), 0) + 1 FROM blocks",
			       &st, s->path);
	if (rc)
		return rc;
	if (sqlite3_step(st) == SQLITE_ROW) {
		s->next_block_id = sqlite3_column_int64(st, 0);
		rc = TARN_OK;
	} else {
		rc = tarn__error_sqlite(s->db, "%s: read blocks", s->path);
	}
	sqlite3_finalize(st);
	return rc;
}

int tarn__shard_open(tarn__shard **out, const char *lake_dir, const char *date,
		     int readonly, int create_mode)
{
	tarn__shard *s;
	char name[32];
	char *dir;
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
	for (i = 0; i < CACHE_SLOTS; i++)
		s->cache[i].id = -1;
	snprintf(name, sizeof(name), "shards/%s.db", date);
	dir = tarn__path_join(lake_dir, name);
	s->path = dir;
	if (!dir) {
		rc = tarn__error_set(TARN_ENOMEM, "shard %s", date);
		goto fail;
	}
	if (!readonly && access(s->path, F_OK) != 0)
		is_new = 1;
	rc = tarn__sql_open(&s->db, s->path, readonly, readonly ? 0 : create_mode);
	if (rc)
		goto fail;
	if (!readonly) {
		/* an empty file left by a crash before its schema commit is new too */
		sqlite3_stmt *st;
		if (tarn__sql_prepare(s->db, "SELECT count(*) FROM sqlite_schema", &st,
				      s->path) == TARN_OK) {
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
	rc = prepare_all(s);
	if (rc) {
		if (readonly && sqlite3_errcode(s->db) == SQLITE_ERROR)
			rc = tarn__error_set(TARN_ECORRUPT, "%s: not a tarn shard (%s)",
					     s->path, sqlite3_errmsg(s->db));
		goto fail;
	}
	rc = check_shard(s);
	if (!rc && !readonly)
		rc = next_block(s);
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
	tarn__shard_close(s);
	return rc;
}

void tarn__shard_close(tarn__shard *s)
{
	int i;

	if (!s)
		return;
	if (s->in_txn)
		tarn__shard_rollback(s);
	sqlite3_finalize(s->ins_event);
	sqlite3_finalize(s->find_event);
	sqlite3_finalize(s->ins_block);
	sqlite3_finalize(s->get_block);
	sqlite3_finalize(s->set_meta);
	sqlite3_finalize(s->get_meta);
	sqlite3_close(s->db);
	for (i = 0; i < CACHE_SLOTS; i++)
		free(s->cache[i].data);
	free(s->buf);
	free(s->path);
	ZSTD_freeCCtx(s->cctx);
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
	s->len = 0;
	s->n_pending = 0;
	return TARN_OK;
}

static int flush_block(tarn__shard *s)
{
	size_t bound, zlen;
	void *z;
	int rc;

	if (s->n_pending == 0)
		return TARN_OK;
	if (!s->cctx) {
		s->cctx = ZSTD_createCCtx();
		if (!s->cctx)
			return tarn__error_set(TARN_ENOMEM, "zstd context");
		ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_compressionLevel,
				       TARN__ZSTD_LEVEL);
		/* The checksum lets verify tell a damaged block from a good one. */
		ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_checksumFlag, 1);
	}
	bound = ZSTD_compressBound(s->len);
	z = malloc(bound ? bound : 1);
	if (!z)
		return tarn__error_set(TARN_ENOMEM, "compress block");
	zlen = ZSTD_compress2(s->cctx, z, bound, s->buf, s->len);
	if (ZSTD_isError(zlen)) {
		free(z);
		return tarn__error_set(TARN_EZSTD, "%s: compress: %s", s->path,
				       ZSTD_getErrorName(zlen));
	}
	sqlite3_reset(s->ins_block);
	sqlite3_bind_int64(s->ins_block, 1, s->next_block_id);
	sqlite3_bind_int64(s->ins_block, 2, s->n_pending);
	sqlite3_bind_int64(s->ins_block, 3, (sqlite3_int64)s->len);
	sqlite3_bind_blob(s->ins_block, 4, z, (int)zlen, SQLITE_STATIC);
	rc = sqlite3_step(s->ins_block);
	sqlite3_reset(s->ins_block);
	free(z);
	if (rc != SQLITE_DONE)
		return tarn__error_sqlite(s->db, "%s: write block", s->path);
	s->next_block_id++;
	s->len = 0;
	s->n_pending = 0;
	return TARN_OK;
}

static int append_payload(tarn__shard *s, const void *p, size_t n)
{
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 64 * 1024;
		unsigned char *nb;
		while (cap < s->len + n)
			cap *= 2;
		nb = realloc(s->buf, cap);
		if (!nb)
			return tarn__error_set(TARN_ENOMEM, "block buffer");
		s->buf = nb;
		s->cap = cap;
	}
	if (n)
		memcpy(s->buf + s->len, p, n);
	s->len += n;
	return TARN_OK;
}

static void bind_id(sqlite3_stmt *st, int col, const tarn_event *ev)
{
	/* UUIDs are 16-byte BLOBs, other ids TEXT: SQLite never finds a BLOB
	 * equal to a TEXT, so a 16-byte text id cannot collide with a UUID. */
	if (ev->id_is_uuid)
		sqlite3_bind_blob(st, col, ev->id, 16, SQLITE_STATIC);
	else
		sqlite3_bind_text(st, col, (const char *)ev->id, (int)ev->id_len,
				  SQLITE_STATIC);
}

static void bind_opt_blob(sqlite3_stmt *st, int col, const void *p, size_t n)
{
	if (p)
		sqlite3_bind_blob(st, col, n ? p : "", (int)n, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, col);
}

static int compare_existing(tarn__shard *s, const tarn_event *ev,
			    tarn_add_result *res)
{
	int64_t block_id, off, len;
	const unsigned char *old;
	int rc;

	sqlite3_reset(s->find_event);
	sqlite3_bind_int64(s->find_event, 1, ev->time_us);
	bind_id(s->find_event, 2, ev);
	rc = sqlite3_step(s->find_event);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s->find_event);
		return tarn__error_sqlite(s->db, "%s: look up duplicate", s->path);
	}
	block_id = sqlite3_column_int64(s->find_event, 0);
	off = sqlite3_column_int64(s->find_event, 1);
	len = sqlite3_column_int64(s->find_event, 2);
	sqlite3_reset(s->find_event);
	if ((size_t)len != ev->payload_len) {
		*res = TARN_ADD_CONFLICT;
		return TARN_OK;
	}
	rc = tarn__shard_payload(s, block_id, off, len, &old);
	if (rc)
		return rc;
	*res = (len == 0 || memcmp(old, ev->payload, (size_t)len) == 0)
		       ? TARN_ADD_DUPLICATE
		       : TARN_ADD_CONFLICT;
	return TARN_OK;
}

int tarn__shard_insert(tarn__shard *s, const tarn_event *ev,
		       tarn_add_result *res)
{
	sqlite3_stmt *st = s->ins_event;
	int rc;

	if (s->readonly)
		return tarn__error_set(TARN_EINVAL, "%s: opened read-only", s->path);
	if (ev->payload_len > INT32_MAX)
		return tarn__error_set(TARN_EINVAL, "payload too large");
	rc = begin(s);
	if (rc)
		return rc;
	if (s->n_pending >= TARN__BLOCK_EVENTS ||
	    s->len + ev->payload_len > TARN__BLOCK_BYTES) {
		rc = flush_block(s);
		if (rc)
			return rc;
	}
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, ev->time_us);
	bind_id(st, 2, ev);
	if (ev->has_name)
		sqlite3_bind_text(st, 3, ev->name, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_int64(st, 4, s->next_block_id);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)s->len);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)ev->payload_len);
	bind_opt_blob(st, 7, ev->key, ev->key_len);
	bind_opt_blob(st, 8, ev->headers_len ? ev->headers : NULL, ev->headers_len);
	if (ev->topic)
		sqlite3_bind_text(st, 9, ev->topic, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 9);
	if (ev->partition >= 0)
		sqlite3_bind_int(st, 10, ev->partition);
	else
		sqlite3_bind_null(st, 10);
	if (ev->offset >= 0)
		sqlite3_bind_int64(st, 11, ev->offset);
	else
		sqlite3_bind_null(st, 11);
	if (ev->kafka_ts_us >= 0)
		sqlite3_bind_int64(st, 12, ev->kafka_ts_us);
	else
		sqlite3_bind_null(st, 12);
	sqlite3_bind_int64(st, 13, ev->ingest_us);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return tarn__error_sqlite(s->db, "%s: insert event", s->path);
	if (sqlite3_changes(s->db) == 0) {
		rc = compare_existing(s, ev, res);
		if (!rc && *res == TARN_ADD_DUPLICATE)
			s->pending_dups++;
		return rc;
	}
	rc = append_payload(s, ev->payload, ev->payload_len);
	if (rc)
		return rc;
	s->n_pending++;
	*res = TARN_ADD_STORED;
	return TARN_OK;
}

int tarn__shard_seq(tarn__shard *s, int64_t *seq)
{
	return meta_get(s, "commit_seq", seq, NULL, 0);
}

int tarn__shard_commit(tarn__shard *s, int64_t *seq)
{
	int64_t cur = 0, dups = 0;
	int rc;

	if (!s->in_txn) {
		return tarn__shard_seq(s, seq);
	}
	rc = flush_block(s);
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
	*seq = cur + 1;
	return TARN_OK;
}

void tarn__shard_rollback(tarn__shard *s)
{
	int i;

	if (!s->in_txn)
		return;
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	s->in_txn = 0;
	s->pending_dups = 0;
	s->len = 0;
	s->n_pending = 0;
	/* blocks written by the rolled-back batch are gone: forget them */
	for (i = 0; i < CACHE_SLOTS; i++)
		if (s->cache[i].id >= s->begin_block_id)
			s->cache[i].id = -1;
	s->next_block_id = s->begin_block_id;
}

static int load_block(tarn__shard *s, int64_t block_id, struct block_cache *slot)
{
	const void *z;
	int zlen, rc;
	int64_t raw;
	size_t got;

	slot->id = -1;
	sqlite3_reset(s->get_block);
	sqlite3_bind_int64(s->get_block, 1, block_id);
	rc = sqlite3_step(s->get_block);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s->get_block);
		if (rc == SQLITE_DONE)
			return tarn__error_set(TARN_ECORRUPT, "%s: block %lld missing",
					       s->path, (long long)block_id);
		return tarn__error_sqlite(s->db, "%s: read block", s->path);
	}
	z = sqlite3_column_blob(s->get_block, 0);
	zlen = sqlite3_column_bytes(s->get_block, 0);
	raw = sqlite3_column_int64(s->get_block, 1);
	if (raw < 0 || raw > INT32_MAX) {
		sqlite3_reset(s->get_block);
		return tarn__error_set(TARN_ECORRUPT, "%s: block %lld: bad size",
				       s->path, (long long)block_id);
	}
	if ((size_t)raw > slot->cap || !slot->data) {
		unsigned char *nb = realloc(slot->data, raw ? (size_t)raw : 1);
		if (!nb) {
			sqlite3_reset(s->get_block);
			return tarn__error_set(TARN_ENOMEM, "block cache");
		}
		slot->data = nb;
		slot->cap = raw ? (size_t)raw : 1;
	}
	got = ZSTD_decompressDCtx(s->dctx, slot->data, slot->cap, z, (size_t)zlen);
	sqlite3_reset(s->get_block);
	if (ZSTD_isError(got) || got != (size_t)raw)
		return tarn__error_set(TARN_ECORRUPT, "%s: block %lld does not decompress: %s",
				       s->path, (long long)block_id,
				       ZSTD_isError(got) ? ZSTD_getErrorName(got)
							 : "wrong length");
	slot->len = got;
	slot->id = block_id;
	return TARN_OK;
}

int tarn__shard_payload(tarn__shard *s, int64_t block_id, int64_t off,
			int64_t len, const unsigned char **out)
{
	struct block_cache *slot = NULL;
	int i, rc;

	if (off < 0 || len < 0)
		return tarn__error_set(TARN_ECORRUPT, "%s: bad payload position", s->path);
	if (s->in_txn && block_id == s->next_block_id) {
		if ((size_t)(off + len) > s->len)
			return tarn__error_set(TARN_ECORRUPT, "%s: bad payload position",
					       s->path);
		*out = s->buf + off;
		return TARN_OK;
	}
	for (i = 0; i < CACHE_SLOTS; i++)
		if (s->cache[i].id == block_id)
			slot = &s->cache[i];
	if (!slot) {
		slot = &s->cache[0];
		for (i = 1; i < CACHE_SLOTS; i++)
			if (s->cache[i].used < slot->used)
				slot = &s->cache[i];
		rc = load_block(s, block_id, slot);
		if (rc)
			return rc;
	}
	slot->used = ++s->clock;
	if ((uint64_t)off + (uint64_t)len > slot->len)
		return tarn__error_set(TARN_ECORRUPT,
				       "%s: payload runs past block %lld", s->path,
				       (long long)block_id);
	*out = slot->data + off;
	return TARN_OK;
}

int tarn__shard_scan(tarn__shard *s, int64_t since_us, int64_t until_us,
		     int time_order, tarn__shard_event_cb cb, void *ctx, uint64_t *n)
{
	sqlite3_stmt *st;
	tarn_event ev;
	int rc;
	uint64_t count = 0;

	rc = tarn__sql_prepare(s->db, time_order ?
			       "SELECT event_time, event_id, event_name, block_id,"
			       " block_off, payload_len, key, headers, topic,"
			       " partition, kafka_offset, kafka_ts, ingest_time"
			       " FROM events WHERE event_time >= ? AND event_time < ?"
			       " ORDER BY event_time, event_id" :
			       "SELECT event_time, event_id, event_name, block_id,"
			       " block_off, payload_len, key, headers, topic,"
			       " partition, kafka_offset, kafka_ts, ingest_time"
			       " FROM events WHERE event_time >= ? AND event_time < ?"
			       " ORDER BY seq",
			       &st, s->path);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, since_us);
	sqlite3_bind_int64(st, 2, until_us);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *payload;
		const void *id = sqlite3_column_blob(st, 1);
		int id_len = sqlite3_column_bytes(st, 1);

		tarn_event_init(&ev);
		ev.time_us = sqlite3_column_int64(st, 0);
		ev.id_is_uuid = sqlite3_column_type(st, 1) == SQLITE_BLOB;
		if (id_len < 0 || id_len > TARN_ID_MAX) {
			rc = tarn__error_set(TARN_ECORRUPT, "%s: bad event id", s->path);
			goto out;
		}
		memcpy(ev.id, id ? id : "", (size_t)id_len);
		ev.id_len = (size_t)id_len;
		if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
			snprintf(ev.name, sizeof(ev.name), "%s",
				 (const char *)sqlite3_column_text(st, 2));
			ev.has_name = 1;
		}
		rc = tarn__shard_payload(s, sqlite3_column_int64(st, 3),
					 sqlite3_column_int64(st, 4),
					 sqlite3_column_int64(st, 5), &payload);
		if (rc)
			goto out;
		ev.payload = payload;
		ev.payload_len = (size_t)sqlite3_column_int64(st, 5);
		if (sqlite3_column_type(st, 6) != SQLITE_NULL) {
			ev.key = sqlite3_column_blob(st, 6);
			ev.key_len = (size_t)sqlite3_column_bytes(st, 6);
			if (!ev.key)
				ev.key = "";
		}
		if (sqlite3_column_type(st, 7) != SQLITE_NULL) {
			ev.headers = sqlite3_column_blob(st, 7);
			ev.headers_len = (size_t)sqlite3_column_bytes(st, 7);
		}
		ev.topic = (const char *)sqlite3_column_text(st, 8);
		ev.partition = sqlite3_column_type(st, 9) == SQLITE_NULL
				       ? -1 : sqlite3_column_int(st, 9);
		ev.offset = sqlite3_column_type(st, 10) == SQLITE_NULL
				    ? -1 : sqlite3_column_int64(st, 10);
		ev.kafka_ts_us = sqlite3_column_type(st, 11) == SQLITE_NULL
					 ? -1 : sqlite3_column_int64(st, 11);
		ev.ingest_us = sqlite3_column_int64(st, 12);
		count++;
		rc = cb(ctx, &ev);
		if (rc)
			goto out;
	}
	if (rc != SQLITE_DONE)
		rc = tarn__error_sqlite(s->db, "%s: read events", s->path);
	else
		rc = TARN_OK;
out:
	sqlite3_finalize(st);
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
	char (*list)[11] = NULL;
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
			char (*nl)[11] = realloc(list, ncap * sizeof(*list));
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
