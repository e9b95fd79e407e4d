#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"

volatile sig_atomic_t cli_stop;

int cli_fail(const char *cmd, const char *what, int rc)
{
	const char *detail = tarn_error_last();

	fprintf(stderr, "tarn %s: %s: %s\n", cmd, what, *detail ? detail : tarn_strerror(rc));
	if (rc == TARN_ENOSPC)
		fprintf(stderr,
			"tarn %s: disk full: nothing stored was lost; free space and run the"
			" same command again\n",
			cmd);
	return 1;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tarn %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see 'tarn %s --help')\n", cmd);
	return EXIT_USAGE;
}

int cli_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int cli_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !(v >= min && v <= max))
		return -1;
	*out = v;
	return 0;
}

int cli_conf_add(struct cli_conf *c, const char *cmd, const char *kv)
{
	if (c->n == sizeof(c->kv) / sizeof(c->kv[0]))
		return cli_usage(cmd, "too many -X settings");
	if (!strchr(kv, '=') || kv[0] == '=')
		return cli_usage(cmd, "-X wants key=value");
	c->kv[c->n++] = kv;
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	cli_stop = 1;
}

void cli_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

void cli_pace(int64_t t0_us, uint64_t i, double rate)
{
	int64_t due, now;

	if (rate <= 0)
		return;
	due = t0_us + (int64_t)((double)i * 1e6 / rate);
	now = tarn_time_now_us();
	if (due > now) {
		struct timespec ts = { (time_t)((due - now) / 1000000),
				       (long)((due - now) % 1000000) * 1000 };
		nanosleep(&ts, NULL);
	}
}

int cli_format(const char *s, int allow_csv, int *out)
{
	if (strcmp(s, "table") == 0)
		*out = OUT_TABLE;
	else if (strcmp(s, "json") == 0)
		*out = OUT_JSON;
	else if (allow_csv && strcmp(s, "csv") == 0)
		*out = OUT_CSV;
	else
		return -1;
	return 0;
}

int cli_text_or_json(const char *cmd, const char *arg, int *json)
{
	if (strcmp(arg, "json") != 0 && strcmp(arg, "text") != 0)
		return cli_usage(cmd, "--format wants text or json");
	*json = strcmp(arg, "json") == 0;
	return 0;
}

void cli_json_print(struct json_t *j)
{
	if (!j)
		return;
	json_dumpf(j, stdout, JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(j);
}

int cli_is_minute_table(const char *t)
{
	const char *const *m;

	for (m = tarn_gold_minute_tables(); *m; m++)
		if (strcmp(*m, t) == 0)
			return 1;
	return 0;
}

void cli_gold_sql(char *sql, size_t len, const char *t, int last_minutes)
{
	if (!cli_is_minute_table(t)) {
		/* daily_active_users has two columns; the others' keys are the
		 * first two */
		snprintf(sql, len, "SELECT * FROM %s ORDER BY 1, 2", t);
	} else if (last_minutes <= 0) {
		snprintf(sql, len, "SELECT * FROM %s ORDER BY 1, 2%s", t,
			 strcmp(t, "purchases_per_minute") == 0 ? "" : ", 3");
	} else {
		snprintf(sql, len,
			 "SELECT * FROM %s WHERE window_start >= (SELECT ifnull(min(w), '') FROM"
			 " (SELECT DISTINCT window_start AS w FROM %s ORDER BY 1 DESC LIMIT %d))"
			 " ORDER BY 1, 2%s",
			 t, t, last_minutes, strcmp(t, "purchases_per_minute") == 0 ? "" : ", 3");
	}
}

int cli_lake_args(int argc, char **argv, const char *cmd, const char *help, const char **dir,
		  int *format, int allow_csv, int *rebuild, int *progress)
{
	static const struct option opts[] = { { "lake", required_argument, NULL, 'L' },
					      { "format", required_argument, NULL, 'f' },
					      { "rebuild", no_argument, NULL, 'R' },
					      { "progress", no_argument, NULL, 'P' },
					      { "no-progress", no_argument, NULL, 'N' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'L': *dir = optarg; break;
		case 'f':
			if (!format || cli_format(optarg, allow_csv, format))
				return cli_usage(cmd, allow_csv
							      ? "--format wants table, csv or json"
							      : "--format wants table or json");
			break;
		case 'R':
			if (!rebuild)
				return cli_usage(cmd, "bad option --rebuild");
			*rebuild = 1;
			break;
		case 'P':
		case 'N':
			if (!progress)
				return cli_usage(cmd, "bad option --%sprogress",
						 opt == 'N' ? "no-" : "");
			*progress = opt == 'P';
			break;
		case 'h': fputs(help, stdout); return -1;
		default: return cli_usage(cmd, "bad option");
		}
	}
	if (!*dir)
		return cli_usage(cmd, "--lake DIR is required");
	return 0;
}

int cli_send_generated(tarn_producer *p, const tarn_gen_event *ev, int keyed, int stamp,
		       unsigned char **hdr, size_t *hcap)
{
	size_t hlen = 0;
	int rc;

	rc = tarn_headers_append(hdr, &hlen, hcap, "event_id", 8, ev->event_id, 36);
	if (!rc)
		rc = tarn_headers_append(hdr, &hlen, hcap, "event_name", 10, ev->event_type,
					 strlen(ev->event_type));
	if (!rc)
		rc = tarn_producer_send(p, ev->payload, ev->payload_len, keyed ? ev->user_id : NULL,
					keyed ? strlen(ev->user_id) : 0, *hdr, hlen,
					stamp ? ev->time_us : -1);
	return rc;
}

int cli_broker_timeout(const char *cmd, const char *arg, int *ms)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 1 || v > 86400)
		return cli_usage(cmd, "--broker-timeout wants seconds, 1..86400, got '%s'", arg);
	*ms = (int)v * 1000;
	return 0;
}

void cli_kafka_wait(void *ctx, const char *msg)
{
	fprintf(stderr, "tarn %s: %s\n", (const char *)ctx, msg);
}
