/* Progress of long work on stderr: on a terminal one line rewritten in
 * place (at most 4 times a second), forced on elsewhere one line a second;
 * the library only reports counts through callbacks, the command prints. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

void cli_progress_init(struct cli_progress *p, const char *cmd, int mode, uint64_t total_bytes)
{
	memset(p, 0, sizeof(*p));
	p->cmd = cmd;
	p->tty = isatty(STDERR_FILENO);
	p->on = mode < 0 ? p->tty : mode;
	p->total_bytes = total_bytes;
	p->t0 = p->last = tarn_time_now_us();
}

static void human_bytes(char *s, size_t n, double b)
{
	static const char *const unit[] = { "B", "kB", "MB", "GB", "TB" };
	int u = 0;

	while (b >= 1000 && u < 4) {
		b /= 1000;
		u++;
	}
	snprintf(s, n, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
}

static void show(struct cli_progress *p, int64_t now, uint64_t events, uint64_t bytes)
{
	double secs = (double)(now - p->t0) / 1e6, rate;
	char b[32], eta[48] = "";

	p->last = now;
	rate = secs > 0 ? (double)events / secs : 0;
	human_bytes(b, sizeof(b), (double)bytes);
	if (p->total_bytes && bytes && bytes < p->total_bytes)
		snprintf(eta, sizeof(eta), ", ETA %.0f s",
			 secs * (double)(p->total_bytes - bytes) / (double)bytes);
	fprintf(stderr, "%starn %s: %llu events, %.0f events/s, %s%s%s", p->tty ? "\r" : "", p->cmd,
		(unsigned long long)events, rate, b, eta, p->tty ? "\033[K" : "\n");
	p->shown = 1;
}

void cli_progress_update(struct cli_progress *p, uint64_t events, uint64_t bytes)
{
	int64_t now = tarn_time_now_us();

	p->events = events;
	p->bytes = bytes;
	if (!p->on || now - p->last < (p->tty ? 250000 : 1000000))
		return;
	show(p, now, events, bytes);
}

void cli_lake_progress(void *ctx, uint64_t events, uint64_t bytes, uint64_t total_events,
		       uint64_t total_bytes)
{
	struct cli_progress *p = ctx;

	(void)total_events;
	p->total_bytes = total_bytes;
	cli_progress_update(p, events, bytes);
}

void cli_progress_done(struct cli_progress *p)
{
	/* forced on (--progress) but done within the first second: one line
	 * with the final counts, so the output never depends on timing */
	if (p->on && !p->tty && !p->shown && p->events)
		show(p, tarn_time_now_us(), p->events, p->bytes);
	if (p->on && p->tty && p->shown)
		fputs("\r\033[K", stderr);
}
