/* A lake folder's core: its lock and files, opening and closing, adding
 * events to the shards and gold in a batch, commit and rollback, and
 * recovery after a crash. Settings, the quarantine, retention, compaction,
 * statistics and verification have files of their own (lake.h). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "tarn/time.h"
#include "aggregate.h"
#include "error_internal.h"
#include "hash.h"
#include "lake.h"
#include "sqlutil.h"

#define MAX_OPEN_SHARDS 64
/* Space kept back for finishing a commit when the disk fills (see
 * release_reserve): enough to bring a day's gold rows up to its shard. */
#define RESERVE_BYTES (1024 * 1024)

static void close_shard_at(tarn_lake *lake, size_t i);

const char *tarn_lake_dir(const tarn_lake *lake)
{
	return lake->dir;
}

size_t tarn_lake_pending(const tarn_lake *lake)
{
	return lake->pending;
}

static int make_dir(const char *path, int mode)
{
	if (mkdir(path, (mode_t)mode) == 0) {
		tarn__fs_note(TARN__FS_CREATE, path);
		return tarn__fs_sync_parent(path); /* or a power cut may forget the folder */
	}
	if (errno == EEXIST)
		return TARN_OK;
	return tarn__error_set(errno == ENOSPC ? TARN_ENOSPC : TARN_EIO, "create folder %s: %s",
			       path, strerror(errno));
}

static int take_lock(tarn_lake *lake)
{
	char *path = tarn__path_join(lake->dir, "lake.lock");

	if (!path)
		return tarn__error_set(TARN_ENOMEM, "lock");
	lake->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lake->lock_fd < 0) {
		int rc = tarn__error_set(TARN_EIO, "%s: %s", path, strerror(errno));
		free(path);
		return rc;
	}
	tarn__fs_note(TARN__FS_CREATE, path);
	free(path);
	if (flock(lake->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			return tarn__error_set(TARN_EBUSY,
					       "%s: another tarn process is writing to this lake"
					       " (lake.lock is held); one writer at a time",
					       lake->dir);
		return tarn__error_set(TARN_EIO, "lock %s: %s", lake->dir, strerror(errno));
	}
	return TARN_OK;
}

/* Open one of the lake's own files, creating its schema for a writer. */
static int open_file(tarn_lake *lake, const char *name, const char *schema, sqlite3 **out)
{
	char *path = tarn__path_join(lake->dir, name);
	int rc;

	if (!path)
		return tarn__error_set(TARN_ENOMEM, "%s", name);
	rc = tarn__sql_open(out, path, lake->readonly, lake->readonly ? 0 : lake->file_mode);
	if (!rc && !lake->readonly) {
		rc = tarn__sql_exec(*out, "BEGIN IMMEDIATE", path);
		if (!rc)
			rc = tarn__sql_exec(*out, schema, path);
		if (!rc)
			rc = tarn__sql_stamp(*out, path);
		if (!rc)
			rc = tarn__sql_exec(*out, "COMMIT", path);
		else
			sqlite3_exec(*out, "ROLLBACK", NULL, NULL, NULL);
	}
	free(path);
	return rc;
}

/* Best effort: keep LAKE/reserve at RESERVE_BYTES. */
static void keep_reserve(tarn_lake *lake)
{
	char *path = tarn__path_join(lake->dir, "reserve");
	struct stat st;
	int fd;

	if (!path)
		return;
	if (stat(path, &st) == 0 && st.st_size >= RESERVE_BYTES) {
		free(path);
		return;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		tarn__fs_note(TARN__FS_CREATE, path);
		if (posix_fallocate(fd, 0, RESERVE_BYTES) != 0) {
			close(fd);
			unlink(path); /* no room for it now; try again next open */
			tarn__fs_note(TARN__FS_UNLINK, path);
			fd = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	free(path);
}

/* The disk is full in the middle of a commit: give the reserve back so
 * the gold catch-up can be written and the lake stays consistent. */
static void release_reserve(tarn_lake *lake)
{
	char *path = tarn__path_join(lake->dir, "reserve");

	if (path && unlink(path) == 0)
		tarn__fs_note(TARN__FS_UNLINK, path);
	free(path);
}

int tarn_lake_open(tarn_lake **out, const char *dir, unsigned flags)
{
	tarn_lake *lake;
	char catalog_schema[256];
	int rc;

	*out = NULL;
	if (!dir || !*dir)
		return tarn__error_set(TARN_EINVAL, "no lake folder given");
	lake = calloc(1, sizeof(*lake));
	if (!lake)
		return tarn__error_set(TARN_ENOMEM, "lake");
	lake->lock_fd = -1;
	lake->compact_after_s = 600;
	lake->readonly = (flags & TARN_LAKE_READONLY) != 0;
	lake->file_mode = flags & TARN_LAKE_GROUP_READABLE ? 0640 : 0600;
	lake->dir_mode = flags & TARN_LAKE_GROUP_READABLE ? 0750 : 0700;
	lake->dir = strdup(dir);
	if (!lake->dir) {
		free(lake);
		return tarn__error_set(TARN_ENOMEM, "lake");
	}
	if (lake->readonly) {
		char *p = tarn__path_join(dir, "lake.db");
		int exists = p && access(p, F_OK) == 0;
		free(p);
		if (!exists) {
			rc = tarn__error_set(TARN_ENOTFOUND, "%s: no lake here (no lake.db)", dir);
			goto fail;
		}
	} else {
		char *shards = tarn__path_join(dir, "shards");
		rc = make_dir(dir, lake->dir_mode);
		if (!rc)
			rc = shards ? make_dir(shards, lake->dir_mode) : TARN_ENOMEM;
		free(shards);
		if (!rc)
			rc = take_lock(lake);
		if (rc)
			goto fail;
	}
	snprintf(catalog_schema, sizeof(catalog_schema),
		 "CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value)"
		 " WITHOUT ROWID;"
		 "INSERT OR IGNORE INTO settings VALUES('format_version', %d),"
		 " ('created_at', strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', 'now'));",
		 TARN_LAKE_FORMAT_VERSION);
	rc = open_file(lake, "lake.db", catalog_schema, &lake->catalog);
	if (!rc)
		rc = tarn__lake_load_settings(lake);
	if (!rc)
		rc = open_file(lake, "gold.db", tarn__gold_schema, &lake->gold_db);
	if (!rc)
		rc = open_file(lake, "quarantine.db", tarn__lake_quarantine_schema, &lake->quar_db);
	if (rc)
		goto fail;
	/* the quarantine is only appended: it needs less than the default;
	 * gold's batch writes touch the day's recent minutes and its new
	 * users: 1 MB holds them */
	if (!lake->readonly) {
		sqlite3_exec(lake->quar_db, "PRAGMA cache_size=-256", NULL, NULL, NULL);
		sqlite3_exec(lake->gold_db, "PRAGMA cache_size=-1024", NULL, NULL, NULL);
	}
	rc = tarn__gold_attach(&lake->gold, lake->gold_db, 0);
	if (!rc && !lake->readonly)
		rc = tarn__sql_exec(lake->gold_db, tarn__aggregate_schema, "gold.db: aggregates");
	if (!rc && !lake->readonly)
		rc = tarn__gold_aggregates(lake->gold, "main", 0);
	if (!rc && !lake->readonly)
		rc = tarn__idindex_open(&lake->ids, dir, lake->file_mode);
	if (!rc && !lake->readonly)
		rc = tarn__sql_prepare(lake->quar_db,
				       "INSERT OR IGNORE INTO quarantine(reason, detail,"
				       " payload, payload_hash, key, headers, topic, partition,"
				       " kafka_offset, ingest_time) VALUES(?,?,?,?,?,?,?,?,?,?)",
				       &lake->quar_ins, "quarantine.db");
	if (!rc && !lake->readonly)
		rc = tarn__lake_repair_gold(lake);
	if (!rc && !lake->readonly)
		rc = tarn__aggregate_take_requests(lake);
	if (rc)
		goto fail;
	if (!lake->readonly)
		keep_reserve(lake);
	*out = lake;
	return TARN_OK;
fail:
	tarn_lake_close(lake);
	return rc;
}

void tarn_lake_close(tarn_lake *lake)
{
	size_t i;

	if (!lake)
		return;
	tarn_lake_rollback(lake);
	for (i = 0; i < lake->n_shards; i++)
		tarn__shard_close(lake->shards[i]);
	free(lake->shards);
	tarn__gold_detach(lake->gold);
	tarn__idindex_close(lake->ids);
	sqlite3_finalize(lake->quar_ins);
	sqlite3_close(lake->gold_db);
	sqlite3_close(lake->quar_db);
	sqlite3_close(lake->catalog);
	if (lake->lock_fd >= 0)
		close(lake->lock_fd); /* releases the flock */
	for (i = 0; i < N_FIELDS; i++)
		free(lake->fields[i]);
	free(lake->dir);
	free(lake);
}

/* Close the i-th open shard (not in a batch) and drop it from the list. */
static void close_shard_at(tarn_lake *lake, size_t i)
{
	if (lake->shards[i] == lake->last)
		lake->last = NULL;
	tarn__shard_close(lake->shards[i]);
	memmove(lake->shards + i, lake->shards + i + 1,
		(lake->n_shards - i - 1) * sizeof(*lake->shards));
	lake->n_shards--;
}

/* The index of the first open shard that holds none of the batch's
 * events (one that may be closed), or n_shards when every one does. */
static size_t first_clean_shard(const tarn_lake *lake)
{
	size_t i;

	for (i = 0; i < lake->n_shards; i++)
		if (!tarn__shard_dirty(lake->shards[i]))
			break;
	return i;
}

int tarn__lake_shards_full(const tarn_lake *lake)
{
	return lake->n_shards >= MAX_OPEN_SHARDS && first_clean_shard(lake) == lake->n_shards;
}

/* Close a shard of the open list (it is not in a batch). */
void tarn__lake_forget_shard(tarn_lake *lake, const char *date)
{
	size_t i;

	for (i = 0; i < lake->n_shards; i++) {
		if (strcmp(tarn__shard_date(lake->shards[i]), date) == 0) {
			close_shard_at(lake, i);
			return;
		}
	}
}

/* Find or open a shard, keeping at most MAX_OPEN_SHARDS open; shards in a
 * batch are never closed. */
int tarn__lake_open_shard(tarn_lake *lake, const char *date, tarn__shard **out)
{
	tarn__shard *s;
	size_t i;
	int rc;

	for (i = 0; i < lake->n_shards; i++) {
		if (strcmp(tarn__shard_date(lake->shards[i]), date) == 0) {
			*out = lake->shards[i];
			return TARN_OK;
		}
	}
	if (lake->n_shards >= MAX_OPEN_SHARDS) {
		i = first_clean_shard(lake);
		if (i < lake->n_shards)
			close_shard_at(lake, i);
	}
	rc = tarn__shard_open(&s, lake->dir, date, lake->readonly, lake->file_mode);
	if (rc)
		return rc;
	if (lake->n_shards % 16 == 0) {
		tarn__shard **n = realloc(lake->shards, (lake->n_shards + 16) * sizeof(*n));
		if (!n) {
			tarn__shard_close(s);
			return tarn__error_set(TARN_ENOMEM, "shards");
		}
		lake->shards = n;
	}
	lake->shards[lake->n_shards++] = s;
	if (lake->exec)
		tarn__shard_set_exec(s, lake->exec); /* a new handle: nothing in flight */
	*out = s;
	return TARN_OK;
}

int tarn__lake_gold_begin(tarn_lake *lake)
{
	int rc;

	if (lake->gold_txn)
		return TARN_OK;
	rc = tarn__sql_exec(lake->gold_db, "BEGIN IMMEDIATE", "gold.db");
	if (!rc)
		lake->gold_txn = 1;
	return rc;
}

int32_t tarn__lake_day_of(int64_t time_us)
{
	int64_t d = time_us / TARN_US_PER_DAY;

	if (time_us % TARN_US_PER_DAY < 0)
		d--;
	return (int32_t)d;
}

/* Give the id index the ids of the shard's blocks written after the last
 * one its runs hold (a crash, or a close that could not write them). A
 * damaged block is skipped here; verify names it. */
static int recover_ids(tarn_lake *lake, tarn__shard *s)
{
	const struct tarn__span *sp;
	size_t n = tarn__shard_spans(s, &sp), k;
	int64_t day0, covered;
	struct tarn__idloc loc;
	tarn__block b;
	int rc = TARN_OK;

	if (!lake->ids)
		return TARN_OK;
	tarn_time_parse_date(tarn__shard_date(s), &day0);
	loc.day = tarn__lake_day_of(day0);
	covered = tarn__idindex_covered(lake->ids, loc.day);
	tarn__block_init(&b);
	for (k = 0; !rc && k < n; k++) {
		uint32_t i;

		if (sp[k].block_id <= covered)
			continue;
		if (tarn__shard_read_block(s, sp[k].block_id, 0, &b) != TARN_OK)
			continue;
		loc.block_id = (uint32_t)sp[k].block_id;
		for (i = 0; !rc && i < b.n; i++) {
			const struct tarn__rec *r = &b.recs[i];
			rc = tarn__idindex_recover(
				lake->ids,
				tarn__id_hash(r->is_uuid, b.arena.p + r->id_off, r->id_len), loc);
		}
	}
	tarn__block_free(&b);
	return rc;
}

/* Bring every day's gold rows up to its shard: a day whose watermark is not
 * the shard's commit_seq (a crash between shard and gold commits) is
 * recomputed from the raw events. The id index catches up on the blocks
 * written since its last run. */
int tarn__lake_repair_gold(tarn_lake *lake)
{
	char(*dates)[11] = NULL;
	size_t n = 0, i;
	int rc;

	rc = tarn__shard_list(lake->dir, &dates, &n, NULL, NULL);
	for (i = 0; rc == TARN_OK && i < n; i++) {
		tarn__shard *s;
		int64_t seq, mark;

		rc = tarn__lake_open_shard(lake, dates[i], &s);
		if (rc == TARN_ECORRUPT) {
			/* a damaged shard does not stop other days; verify names it */
			rc = TARN_OK;
			continue;
		}
		if (!rc)
			rc = recover_ids(lake, s);
		if (!rc)
			rc = tarn__shard_seq(s, &seq);
		if (rc)
			break;
		rc = tarn__gold_watermark_get(lake->gold, dates[i], &mark);
		if (rc == TARN_ENOTFOUND)
			rc = TARN_OK;
		if (rc || mark == seq)
			continue;
		rc = tarn__lake_gold_begin(lake);
		if (!rc)
			rc = tarn__gold_recompute_day(lake->gold, s, &lake->extract);
	}
	free(dates);
	if (rc) {
		tarn_lake_rollback(lake);
		return rc;
	}
	if (lake->gold_txn) {
		rc = tarn__lake_prune_minutes(lake, lake->gold_db);
		if (!rc)
			rc = tarn__sql_exec(lake->gold_db, "COMMIT", "gold.db");
		if (rc)
			tarn_lake_rollback(lake);
		lake->gold_txn = 0;
	}
	return rc;
}

/* The shard of a day the id index names, or *out NULL when the lake has
 * no such shard (deleted by retention: what it held is forgotten). */
static int candidate_shard(tarn_lake *lake, int32_t day, tarn__shard **out)
{
	char date[11], name[32], *path;
	size_t i;
	int rc, exists;

	*out = NULL;
	rc = tarn_time_date((int64_t)day * TARN_US_PER_DAY, date);
	if (rc)
		return TARN_OK;
	for (i = 0; i < lake->n_shards; i++) {
		if (strcmp(tarn__shard_date(lake->shards[i]), date) == 0) {
			*out = lake->shards[i];
			return TARN_OK;
		}
	}
	snprintf(name, sizeof(name), "shards/%s.db", date);
	path = tarn__path_join(lake->dir, name);
	if (!path)
		return tarn__error_set(TARN_ENOMEM, "shard %s", date);
	exists = access(path, F_OK) == 0;
	free(path);
	return exists ? tarn__lake_open_shard(lake, date, out) : TARN_OK;
}

/* Is an event with ev's id stored anywhere in the lake? Every candidate
 * the id index names is checked: a recent one by its payload hash, others
 * by reading the block and comparing bytes. *where: the shard holding it
 * (NULL when that shard is gone). *phash: the payload's keyed hash. */
static int find_stored(tarn_lake *lake, uint64_t h, const tarn_event *ev, int *found,
		       tarn_add_result *res, tarn__shard **where, uint64_t *phash)
{
	const struct tarn__idcand *cands;
	struct tarn__idcand *copy;
	size_t n, i;
	int rc;

	*found = 0;
	*where = NULL;
	*phash = tarn__idindex_payload_hash(lake->ids, ev->payload, ev->payload_len);
	rc = tarn__idindex_lookup(lake->ids, h, &cands, &n);
	if (rc || n == 0)
		return rc;
	/* opening a shard below must not disturb the list */
	copy = malloc(n * sizeof(*copy));
	if (!copy)
		return tarn__error_set(TARN_ENOMEM, "id lookup");
	memcpy(copy, cands, n * sizeof(*copy));
	for (i = 0; !rc && !*found && i < n; i++) {
		tarn__shard *s;
		if (copy[i].has_payload_hash) {
			/* a shard deleted by retention took the id with it */
			rc = candidate_shard(lake, copy[i].loc.day, where);
			if (rc || !*where)
				continue;
			*found = 1;
			*res = copy[i].payload_hash == *phash ? TARN_ADD_DUPLICATE
							      : TARN_ADD_CONFLICT;
			break;
		}
		rc = candidate_shard(lake, copy[i].loc.day, &s);
		if (!rc && s)
			rc = tarn__shard_find(s, copy[i].loc.block_id, h, ev, found, res);
		if (!rc && *found)
			*where = s;
	}
	free(copy);
	return rc;
}

/* Is time_us on the day of the shard of the last event added? */
static int in_last_day(const tarn_lake *lake, int64_t time_us)
{
	return lake->last && time_us >= lake->last_day0 &&
	       time_us - lake->last_day0 < TARN_US_PER_DAY;
}

/* The shard of an event's date: events come in runs of one day, so the
 * last one is tried before formatting and looking up the date. */
static int target_shard(tarn_lake *lake, const tarn_event *ev, char date[11], tarn__shard **out)
{
	int rc;

	if (in_last_day(lake, ev->time_us)) {
		*out = lake->last;
		memcpy(date, tarn__shard_date(lake->last), 11);
		return TARN_OK;
	}
	rc = tarn_time_date(ev->time_us, date);
	if (!rc)
		rc = tarn__lake_open_shard(lake, date, out);
	if (!rc) {
		lake->last = *out;
		tarn_time_parse_date(date, &lake->last_day0);
	}
	return rc;
}

int tarn__lake_set_exec(tarn_lake *lake, const struct tarn__exec *exec)
{
	int rc = TARN_OK;
	size_t i;

	for (i = 0; i < lake->n_shards; i++) {
		int r = tarn__shard_set_exec(lake->shards[i], exec);
		if (!rc)
			rc = r;
	}
	lake->exec = exec;
	return rc;
}

void tarn__lake_prefetch(const tarn_lake *lake, const tarn_event *ev)
{
	if (lake->readonly || ev->id_len == 0 || (ev->id_is_uuid && ev->id_len != 16))
		return;
	tarn__idindex_prefetch(lake->ids, tarn__id_hash(ev->id_is_uuid, ev->id, ev->id_len));
	if (in_last_day(lake, ev->time_us))
		tarn__gold_prefetch(lake->gold, tarn__shard_date(lake->last), ev);
}

void tarn__lake_expect(tarn_lake *lake, uint64_t n)
{
	if (!lake->readonly && lake->ids)
		(void)tarn__idindex_expect(lake->ids, n);
}

int tarn__lake_aggpaths(tarn_lake *lake, struct tarn__aggpaths *p)
{
	return tarn__aggpaths_copy(tarn__gold_aggset(lake->gold), p);
}

void tarn__lake_aggregate_hint(tarn_lake *lake, const struct tarn__aggpre *pre)
{
	tarn__aggregate_hint(tarn__gold_aggset(lake->gold), pre);
}

int tarn_lake_add(tarn_lake *lake, const tarn_event *ev, tarn_add_result *result)
{
	tarn_add_result res = TARN_ADD_STORED;
	struct tarn__idloc loc;
	tarn__shard *s;
	int64_t block_id;
	uint64_t h, phash;
	char date[11];
	int rc, found;

	if (lake->readonly)
		return tarn__error_set(TARN_EINVAL, "%s: lake opened read-only", lake->dir);
	if (ev->id_len == 0 || (ev->id_is_uuid && ev->id_len != 16))
		return tarn__error_set(TARN_EINVAL, "event has no id");
	/* quarantined inputs are counted once, by tarn_lake_quarantine */
	if (ev->time_us < lake->horizon_us) {
		if (result)
			*result = TARN_ADD_EXPIRED;
		return tarn_lake_quarantine(lake, ev, TARN_REJECT_EXPIRED,
					    "event date before the retention horizon");
	}
	h = tarn__id_hash(ev->id_is_uuid, ev->id, ev->id_len);
	rc = tarn__lake_gold_begin(lake);
	if (!rc)
		rc = find_stored(lake, h, ev, &found, &res, &s, &phash);
	if (rc)
		return rc;
	if (found) {
		if (result)
			*result = res;
		if (res == TARN_ADD_CONFLICT)
			return tarn_lake_quarantine(lake, ev, TARN_REJECT_CONFLICTING_DUPLICATE,
						    "event id already stored with a different"
						    " payload");
		lake->pending++;
		return s ? tarn__shard_count_duplicate(s) : TARN_OK;
	}
	rc = target_shard(lake, ev, date, &s);
	if (!rc)
		rc = tarn__shard_append(s, h, ev, &block_id);
	if (rc)
		return rc;
	loc.day = tarn__lake_day_of(lake->last_day0);
	loc.block_id = (uint32_t)block_id;
	rc = tarn__idindex_add(lake->ids, h, phash, loc);
	if (rc)
		return rc;
	lake->pending++;
	if (result)
		*result = TARN_ADD_STORED;
	return tarn__gold_add(lake->gold, date, ev);
}

int tarn_lake_rollback(tarn_lake *lake)
{
	size_t i;

	for (i = 0; i < lake->n_shards; i++)
		tarn__shard_rollback(lake->shards[i]);
	tarn__gold_discard(lake->gold);
	tarn__idindex_rollback(lake->ids);
	if (lake->gold_txn)
		sqlite3_exec(lake->gold_db, "ROLLBACK", NULL, NULL, NULL);
	if (lake->quar_txn)
		sqlite3_exec(lake->quar_db, "ROLLBACK", NULL, NULL, NULL);
	lake->gold_txn = lake->quar_txn = 0;
	lake->pending = 0;
	return TARN_OK;
}

int tarn_lake_commit(tarn_lake *lake)
{
	size_t i;
	int rc = TARN_OK, shards_committed = 0;

	if (lake->readonly)
		return TARN_OK;
	/* Quarantine first: a re-delivered reject is absorbed by its unique
	 * index, so committing it early can never double it. */
	if (lake->quar_txn) {
		rc = tarn__sql_exec(lake->quar_db, "COMMIT", "quarantine.db");
		if (rc)
			goto fail;
		lake->quar_txn = 0;
	}
	/* Each shard's last block goes to the encoding thread first, and
	 * gold's rows are written (in gold's open transaction, which commits
	 * after every shard) while it is encoded. */
	for (i = 0; i < lake->n_shards; i++) {
		tarn__shard *s = lake->shards[i];
		int64_t seq;

		if (!tarn__shard_dirty(s)) {
			tarn__shard_trim(s); /* bounded memory with many days open */
			continue;
		}
		/* the batch commits as the committed commit_seq + 1 */
		rc = tarn__shard_flush(s);
		if (!rc)
			rc = tarn__shard_seq(s, &seq);
		if (!rc)
			rc = tarn__gold_watermark_set(lake->gold, tarn__shard_date(s), seq + 1);
		if (rc)
			goto fail;
	}
	for (i = 0; i < lake->n_shards; i++) {
		tarn__shard *s = lake->shards[i];
		int64_t seq;

		if (!tarn__shard_dirty(s))
			continue;
		rc = tarn__shard_commit(s, &seq);
		if (rc)
			goto fail;
		shards_committed = 1;
	}
	if (lake->gold_txn) {
		rc = tarn__lake_prune_minutes(lake, lake->gold_db);
		if (!rc)
			rc = tarn__sql_exec(lake->gold_db, "COMMIT", "gold.db");
		if (rc)
			goto fail;
		lake->gold_txn = 0;
	}
	tarn__idindex_commit(lake->ids);
	lake->pending = 0;
	/* The events are safe in their shards; if the index cannot write its
	 * run now (disk full), the ids stay in memory and the next commit, the
	 * close or the next open (from the blocks) writes them. */
	tarn__idindex_flush(lake->ids, 0);
	rc = tarn__lake_apply_keep_days(lake);
	if (!rc)
		rc = tarn__lake_auto_compact(lake);
	/* aggregates that tarn aggregate create asked for while this writer
	 * holds the lake: built now, between two batches, so the next batch
	 * maintains them (README, "Declare your own gold") */
	return rc ? rc : tarn__aggregate_take_requests(lake);
fail : {
	char msg[1024];
	snprintf(msg, sizeof(msg), "%s", tarn_error_last());
	tarn_lake_rollback(lake);
	/* Shards that did commit are ahead of gold now; catch gold up so
	 * the lake stays consistent, with the reserve's space if the
	 * disk is full. If that fails too, the next writer does it. */
	if (shards_committed && tarn__lake_repair_gold(lake) == TARN_ENOSPC) {
		release_reserve(lake);
		tarn__lake_repair_gold(lake);
	}
	tarn__error_set(rc, "%s", msg);
}
	return rc;
}

sqlite3 *tarn__lake_gold_db(tarn_lake *lake)
{
	return lake->gold_db;
}

int tarn__lake_reload_aggregates(tarn_lake *lake)
{
	return tarn__gold_aggregates(lake->gold, "main", 0);
}

int tarn__lake_idle(const tarn_lake *lake)
{
	return !lake->readonly && !(lake->pending || lake->gold_txn || lake->quar_txn);
}

int tarn__lake_settle(tarn_lake *lake)
{
	if (lake->readonly)
		return tarn__error_set(TARN_EINVAL, "%s: lake opened read-only", lake->dir);
	return tarn__lake_commit_pending(lake);
}

/* Work over the whole lake's gold (verify, rebuild) reads the shards through
 * the writer's own connections, which see a batch not yet committed while
 * gold.db does not have it yet: commit the batch first, so that both sides
 * are what is on disk. */
int tarn__lake_commit_pending(tarn_lake *lake)
{
	if (lake->readonly || !(lake->pending || lake->gold_txn || lake->quar_txn))
		return TARN_OK;
	return tarn_lake_commit(lake);
}
