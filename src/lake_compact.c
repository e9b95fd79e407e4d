/* Compaction: rewrite the small blocks that a trickle of ingest leaves
 * into full ones, one transaction per shard; by hand or when idle. */
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

static int compact_shard(tarn_lake *lake, tarn__shard *s, tarn_compact_result *r);

/* Shards this writer wrote that have been quiet for compact_after_s. */
int tarn__lake_auto_compact(tarn_lake *lake)
{
	int64_t now = tarn_time_now_us();
	size_t i;
	int rc = TARN_OK;

	if (lake->compact_after_s <= 0)
		return TARN_OK;
	for (i = 0; rc == TARN_OK && i < lake->n_shards; i++) {
		tarn__shard *s = lake->shards[i];
		int64_t last = tarn__shard_last_commit_us(s);
		tarn_compact_result r;

		if (last == 0 || now - last < (int64_t)lake->compact_after_s * 1000000 ||
		    tarn__shard_idle_small(s) < 2)
			continue;
		memset(&r, 0, sizeof(r));
		rc = compact_shard(lake, s, &r);
	}
	return rc;
}

int tarn_lake_set_compact_after(tarn_lake *lake, int seconds)
{
	if (lake->readonly)
		return tarn__error_set(TARN_EINVAL, "%s: lake opened read-only", lake->dir);
	if (seconds < 0)
		return tarn__error_set(TARN_EINVAL, "compact after %d s: want >= 0", seconds);
	lake->compact_after_s = seconds;
	return TARN_OK;
}

static int compact_shard(tarn_lake *lake, tarn__shard *s, tarn_compact_result *r)
{
	struct tarn__compact_result cr;
	int64_t day0, covered;
	int32_t day;
	int rc;

	tarn_time_parse_date(tarn__shard_date(s), &day0);
	day = tarn__lake_day_of(day0);
	/* the index's runs first, so that its covered mark is the shard's end
	 * and can move past the new blocks below */
	tarn__idindex_flush(lake->ids, 1);
	covered = tarn__idindex_covered(lake->ids, day);
	r->bytes_before += tarn__lake_file_bytes(tarn__shard_path(s));
	rc = tarn__shard_compact(s, &cr);
	r->bytes_after += tarn__lake_file_bytes(tarn__shard_path(s));
	if (rc)
		return rc;
	if (cr.new_blocks && covered >= cr.old_max_block)
		tarn__idindex_set_covered(lake->ids, day, cr.new_max_block);
	r->shards += cr.old_blocks ? 1 : 0;
	r->old_blocks += cr.old_blocks;
	r->new_blocks += cr.new_blocks;
	r->events += cr.events;
	return TARN_OK;
}

int tarn_lake_compact(tarn_lake *lake, const char *date, tarn_compact_result *r)
{
	tarn_compact_result res;
	char(*dates)[11] = NULL;
	size_t n = 0, i;
	int rc;

	memset(&res, 0, sizeof(res));
	if (lake->readonly)
		return tarn__error_set(TARN_EINVAL, "%s: lake opened read-only", lake->dir);
	if (lake->pending || lake->gold_txn || lake->quar_txn)
		return tarn__error_set(TARN_EINVAL, "compact: commit the batch first");
	if (date && tarn_time_parse_date(date, NULL) != TARN_OK)
		return tarn__error_set(TARN_EINVAL, "'%s' is not a YYYY-MM-DD date", date);
	rc = tarn__shard_list(lake->dir, &dates, &n, NULL, NULL);
	for (i = 0; rc == TARN_OK && i < n; i++) {
		tarn__shard *s;
		if (date && strcmp(date, dates[i]) != 0)
			continue;
		rc = tarn__lake_open_shard(lake, dates[i], &s);
		if (!rc)
			rc = compact_shard(lake, s, &res);
		if (!rc && lake->progress)
			lake->progress(lake->progress_ctx, res.events, res.bytes_before, 0, 0);
		if (date)
			break;
	}
	if (!rc && date && (i == n))
		rc = tarn__error_set(TARN_ENOTFOUND, "%s: no shard of %s", lake->dir, date);
	free(dates);
	if (r)
		*r = res;
	return rc;
}
