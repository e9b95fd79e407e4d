/* Replay: read stored events back in event-time order, shard by shard. */
#include <stdlib.h>
#include <string.h>

#include "tarn/replay.h"
#include "tarn/time.h"
#include "error_internal.h"
#include "lake_internal.h"

struct filter {
	const tarn_replay_options *opts;
	tarn_replay_cb cb;
	void *ctx;
	uint64_t n;
};

static int keep(void *ctx, const tarn_event *ev)
{
	struct filter *f = ctx;
	size_t i;

	if (f->opts->n_names) {
		if (!ev->has_name)
			return 0;
		for (i = 0; i < f->opts->n_names; i++)
			if (strcmp(f->opts->names[i], ev->name) == 0)
				break;
		if (i == f->opts->n_names)
			return 0;
	}
	f->n++;
	return f->cb(f->ctx, ev);
}

int tarn_replay_scan(tarn_lake *lake, const tarn_replay_options *opts,
		     tarn_replay_cb cb, void *ctx, uint64_t *n_events)
{
	tarn_replay_options defaults = TARN_REPLAY_OPTIONS_INIT;
	struct filter f = { opts ? opts : &defaults, cb, ctx, 0 };
	char (*dates)[11] = NULL;
	char lo[11] = "0000-00-00", hi[11] = "9999-99-99";
	size_t n = 0, i;
	int rc;

	if (f.opts->since_us > TARN_TIME_MIN_US && f.opts->since_us <= TARN_TIME_MAX_US)
		tarn_time_date(f.opts->since_us, lo);
	if (f.opts->until_us > TARN_TIME_MIN_US && f.opts->until_us <= TARN_TIME_MAX_US)
		tarn_time_date(f.opts->until_us - 1, hi);
	rc = tarn__shard_list(tarn_lake_dir(lake), &dates, &n, NULL, NULL);
	for (i = 0; rc == TARN_OK && i < n; i++) {
		tarn__shard *s;

		/* shard names are dates, so string order is time order */
		if (strcmp(dates[i], lo) < 0 || strcmp(dates[i], hi) > 0)
			continue;
		rc = tarn__shard_open(&s, tarn_lake_dir(lake), dates[i], 1);
		if (rc)
			break;
		rc = tarn__shard_scan(s, f.opts->since_us, f.opts->until_us, 1, keep,
				      &f, NULL);
		tarn__shard_close(s);
	}
	free(dates);
	if (n_events)
		*n_events = f.n;
	return rc;
}
