/* Retention: tarn prune and --keep-days delete whole old shard files
 * (their gold rows stay) and move the raw horizon. */
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

int tarn__lake_apply_keep_days(tarn_lake *lake)
{
	tarn_prune_options o = TARN_PRUNE_OPTIONS_INIT;
	char before[11];

	if (lake->keep_days <= 0)
		return TARN_OK;
	tarn__lake_days_ago(lake->keep_days - 1, before);
	if (!before[0] || strcmp(before, lake->raw_horizon) <= 0)
		return TARN_OK; /* done for this date already */
	o.keep_days = lake->keep_days;
	return tarn_lake_prune(lake, &o, NULL);
}

int tarn_lake_prune(tarn_lake *lake, const tarn_prune_options *o, tarn_prune_result *r)
{
	tarn_prune_result res;
	char(*dates)[11] = NULL, before[11] = "", horizon[11];
	uint64_t *sizes = NULL, total = 0;
	size_t n = 0, cut = 0, i;
	int rc;

	memset(&res, 0, sizeof(res));
	if (lake->readonly)
		return tarn__error_set(TARN_EINVAL, "%s: lake opened read-only", lake->dir);
	if (lake->pending || lake->gold_txn || lake->quar_txn)
		return tarn__error_set(TARN_EINVAL, "prune: commit the batch first");
	if (o && o->before) {
		if (tarn_time_parse_date(o->before, NULL) != TARN_OK)
			return tarn__error_set(TARN_EINVAL, "'%s' is not a YYYY-MM-DD date",
					       o->before);
		snprintf(before, sizeof(before), "%s", o->before);
	}
	if (o && o->keep_days > 0) {
		char k[11];
		tarn__lake_days_ago(o->keep_days - 1, k);
		if (strcmp(k, before) > 0)
			memcpy(before, k, sizeof(before));
	}
	rc = tarn__shard_list(lake->dir, &dates, &n, NULL, NULL);
	if (rc)
		return rc;
	sizes = calloc(n ? n : 1, sizeof(*sizes));
	if (!sizes) {
		free(dates);
		return tarn__error_set(TARN_ENOMEM, "prune");
	}
	for (i = 0; i < n; i++) {
		char name[32], *path;
		snprintf(name, sizeof(name), "shards/%s.db", dates[i]);
		path = tarn__path_join(lake->dir, name);
		sizes[i] = path ? tarn__lake_file_bytes(path) : 0;
		free(path);
		total += sizes[i];
	}
	while (cut < n && before[0] && strcmp(dates[cut], before) < 0)
		total -= sizes[cut++];
	while (cut < n && o && o->max_bytes && total > o->max_bytes)
		total -= sizes[cut++];
	/* The horizon first: from here on nothing older is stored again,
	 * even if a deletion below fails. */
	memcpy(horizon, before, sizeof(horizon));
	if (cut) {
		int64_t us;
		char next[11];
		tarn_time_parse_date(dates[cut - 1], &us);
		if (tarn_time_date(us + TARN_US_PER_DAY, next) == TARN_OK &&
		    strcmp(next, horizon) > 0)
			memcpy(horizon, next, sizeof(horizon));
	}
	if (horizon[0] && strcmp(horizon, lake->raw_horizon) > 0) {
		rc = tarn__lake_setting_set(lake, "raw_horizon", horizon, 0);
		if (!rc) {
			memcpy(lake->raw_horizon, horizon, sizeof(horizon));
			tarn_time_parse_date(horizon, &lake->horizon_us);
		}
	}
	for (i = 0; !rc && i < cut; i++) {
		tarn__shard *s;
		uint64_t events = 0, bytes;
		int64_t day0;
		if (tarn__lake_open_shard(lake, dates[i], &s) == TARN_OK)
			tarn__lake_shard_size(s, &events, &bytes);
		tarn__lake_forget_shard(lake, dates[i]);
		rc = tarn__shard_unlink(lake->dir, dates[i]);
		if (rc)
			break;
		tarn_time_parse_date(dates[i], &day0);
		tarn__idindex_forget_day(lake->ids, tarn__lake_day_of(day0));
		res.shards++;
		res.events += events;
		res.bytes += sizes[i];
		if (lake->progress)
			lake->progress(lake->progress_ctx, res.events, res.bytes, 0, 0);
	}
	if (!rc && o && o->quarantine_days > 0)
		rc = tarn__lake_prune_quarantine(lake, o->quarantine_days, &res.quarantine_rows);
	free(sizes);
	free(dates);
	memcpy(res.horizon, lake->raw_horizon, sizeof(res.horizon));
	if (r)
		*r = res;
	return rc;
}
