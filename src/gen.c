/* The synthetic producer: deterministic, realistic user events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uuid/uuid.h>

#include "tarn/gen.h"
#include "tarn/time.h"
#include "error_internal.h"
#include "hash.h"

#define RESEND_SLOTS 512 /* re-sends wait here; bounds memory for any count */
#define PAYLOAD_MAX  320

struct pending {
	uint64_t due; /* emit after this many originals */
	char payload[PAYLOAD_MAX];
	size_t len;
	char event_id[37];
	char user_id[24];
	char event_type[10];
	int64_t time_us;
};

struct tarn_gen {
	tarn_gen_options o;
	uint64_t rng;
	uint64_t made;	 /* originals emitted */
	int64_t span_us; /* start .. start + days */
	struct pending resend[RESEND_SLOTS];
	size_t n_resend;
	struct pending cur;
};

/* splitmix64 (a counter stepped by the golden increment, then mixed):
 * small, fast, and the same on every platform. */
static uint64_t next_u64(tarn_gen *g)
{
	return tarn__hash_mix64(g->rng += TARN__HASH_GOLDEN);
}

static double uniform(tarn_gen *g)
{
	return (double)(next_u64(g) >> 11) / 9007199254740992.0;
}

int tarn_gen_new(tarn_gen **out, const tarn_gen_options *opts)
{
	tarn_gen_options defaults = TARN_GEN_OPTIONS_INIT;
	tarn_gen *g;

	*out = NULL;
	if (!opts)
		opts = &defaults;
	if (opts->days < 1 || opts->days > 3650)
		return tarn__error_set(TARN_EINVAL, "days must be 1..3650");
	if (!(opts->dup_rate >= 0.0 && opts->dup_rate <= 1.0))
		return tarn__error_set(TARN_EINVAL, "dup rate must be 0..1");
	if (opts->count == 0)
		return tarn__error_set(TARN_EINVAL, "count must be at least 1");
	g = calloc(1, sizeof(*g));
	if (!g)
		return tarn__error_set(TARN_ENOMEM, "generator");
	g->o = *opts;
	g->span_us = (int64_t)opts->days * TARN_US_PER_DAY;
	if (g->o.start_us == 0) {
		int64_t now = tarn_time_now_us();
		g->o.start_us = now - now % TARN_US_PER_DAY - g->span_us;
	}
	if (g->o.start_us < TARN_TIME_MIN_US || g->o.start_us > TARN_TIME_MAX_US - g->span_us) {
		free(g);
		return tarn__error_set(TARN_EINVAL, "start is outside the time range");
	}
	g->rng = opts->seed;
	*out = g;
	return TARN_OK;
}

void tarn_gen_free(tarn_gen *gen)
{
	free(gen);
}

/* The user base grows from 100 on the first day to about 100 + 5 per day
 * (at least 110 by the end); a core of 20 active users makes most events. */
static int pick_user(tarn_gen *g, double progress)
{
	int grown = (int)(5.0 * g->o.days * progress);
	int n_users = 100 + (grown < 10 ? (int)(10 * progress) : grown);

	if (uniform(g) < 0.7)
		return 1 + (int)(uniform(g) * 20);
	return 1 + (int)(uniform(g) * n_users);
}

static const char *pick_type(tarn_gen *g)
{
	double u = uniform(g);

	if (u < 0.50)
		return "click";
	if (u < 0.70)
		return "login";
	if (u < 0.85)
		return "logout";
	return "purchase";
}

static const char *pick_page(tarn_gen *g, const char *type)
{
	static const char *const pages[] = { "/",	"/products", "/products/42", "/products/7",
					     "/search", "/cart",     "/checkout",    "/account" };
	static const char *const buy_pages[] = { "/checkout", "/products/42", "/cart" };

	if (strcmp(type, "purchase") == 0)
		return buy_pages[next_u64(g) % 3];
	return pages[next_u64(g) % 8];
}

static void make_event(tarn_gen *g, struct pending *e)
{
	double progress = (double)g->made / (double)g->o.count;
	/* evenly spread and non-decreasing: the k-th of count events */
	int64_t t = g->o.start_us + (int64_t)((double)g->span_us * progress);
	int user = pick_user(g, progress);
	const char *type = pick_type(g);
	const char *source = uniform(g) < 0.65 ? "web" : "mobile";
	char ts[28];
	uuid_t u;
	uint64_t a = next_u64(g), b = next_u64(g);
	int i;

	t -= t % 1000; /* milliseconds, as the timestamp field is written */
	for (i = 0; i < 8; i++) {
		u[i] = (unsigned char)(a >> (8 * i));
		u[8 + i] = (unsigned char)(b >> (8 * i));
	}
	u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* version 4, RFC 4122 4.4 */
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* variant 10 */
	uuid_unparse_lower(u, e->event_id);
	/* about a third of the users ever buy; the others browse instead */
	if (strcmp(type, "purchase") == 0 && user % 3 != 0)
		type = "click";
	snprintf(e->user_id, sizeof(e->user_id), "user_%04d", user);
	snprintf(e->event_type, sizeof(e->event_type), "%s", type);
	tarn_time_format(t, ts);
	memcpy(ts + 23, "Z", 2); /* keep milliseconds: YYYY-MM-DDTHH:MM:SS.mmmZ */
	e->time_us = t;
	if (g->o.headers_only)
		e->len = (size_t)snprintf(e->payload, sizeof(e->payload),
					  "{\"user_id\":\"%s\",\"event_type\":\"%s\","
					  "\"page\":\"%s\",\"source\":\"%s\"}",
					  e->user_id, type, pick_page(g, type), source);
	else
		e->len = (size_t)snprintf(e->payload, sizeof(e->payload),
					  "{\"event_id\":\"%s\",\"user_id\":\"%s\","
					  "\"event_type\":\"%s\",\"page\":\"%s\","
					  "\"timestamp\":\"%s\",\"source\":\"%s\"}",
					  e->event_id, e->user_id, type, pick_page(g, type), ts,
					  source);
}

static void fill(const struct pending *e, int dup, tarn_gen_event *ev)
{
	ev->payload = e->payload;
	ev->payload_len = e->len;
	ev->event_id = e->event_id;
	ev->user_id = e->user_id;
	ev->event_type = e->event_type;
	ev->time_us = e->time_us;
	ev->is_duplicate = dup;
}

int tarn_gen_next(tarn_gen *g, tarn_gen_event *ev)
{
	size_t i;

	/* a re-send that is due goes first */
	for (i = 0; i < g->n_resend; i++) {
		if (g->resend[i].due <= g->made || g->made >= g->o.count) {
			g->cur = g->resend[i];
			g->resend[i] = g->resend[--g->n_resend];
			fill(&g->cur, 1, ev);
			return TARN_OK;
		}
	}
	if (g->made >= g->o.count)
		return TARN_ENOTFOUND;
	make_event(g, &g->cur);
	g->made++;
	/* a re-send is due within 300 originals, so at most ~300 wait and
	 * RESEND_SLOTS is never reached */
	if (g->o.dup_rate > 0 && uniform(g) < g->o.dup_rate && g->n_resend < RESEND_SLOTS) {
		struct pending *p = &g->resend[g->n_resend++];
		*p = g->cur;
		p->due = g->made + 1 + next_u64(g) % 300;
	}
	fill(&g->cur, 0, ev);
	return TARN_OK;
}
