/* Private helpers of the tarn command. The command uses only the public
 * API in include/tarn/. */
#ifndef TARN_CLI_H
#define TARN_CLI_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tarn/tarn.h"

#define EXIT_USAGE 2

typedef int (*cli_cmd_fn)(int argc, char **argv);

int cmd_broker(int argc, char **argv);
int cmd_produce(int argc, char **argv);
int cmd_ingest(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_gold(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_compact(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_split(int argc, char **argv);
int cmd_aggregate(int argc, char **argv);

/* Print "tarn CMD: <what>: <last error>" and return 1 (runtime failure). */
int cli_fail(const char *cmd, const char *what, int rc);
/* Print "tarn CMD: <message>" and a hint, return 2 (usage error). */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict number parsing: the whole string, in range. Return 0 or -1. */
int cli_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int cli_double(const char *s, double min, double max, double *out);

/* --format text|json: *json set to 1 for json; returns 0, or prints the
 * usage error and returns 2. */
int cli_text_or_json(const char *cmd, const char *arg, int *json);
/* Print a command's summary object as one line of JSON on stdout and
 * free it (jansson's json_t; NULL prints nothing). */
struct json_t;
void cli_json_print(struct json_t *j);
/* One declared aggregate as `tarn aggregate list --format json` shows it:
 * {name, window, by: [{col, expr}], measures: [{col, expr}], rows, state,
 * where}. A new reference (NULL when out of memory). */
struct json_t *cli_aggregate_json(const tarn_aggregate_info *info);

/* 1 when t is one of the per-minute gold tables. */
int cli_is_minute_table(const char *t);
/* The SELECT that shows gold table t (a name from tarn_gold_tables, never
 * input) in key order; for a per-minute table with last_minutes > 0, only
 * its latest last_minutes windows. */
void cli_gold_sql(char *sql, size_t len, const char *t, int last_minutes);

/* Parse "--lake DIR [--format F] [--rebuild] [--progress|--no-progress]
 * [--help]" for the commands that read a lake. format NULL: no --format;
 * allow_csv: csv is accepted; rebuild NULL: no --rebuild; progress NULL:
 * no --progress / --no-progress (else set to 1 / 0; leave it -1 for the
 * default). Returns 0, -1 after printing help, or 2. */
int cli_lake_args(int argc, char **argv, const char *cmd, const char *help, const char **dir,
		  int *format, int allow_csv, int *rebuild, int *progress);
/* A tarn_lake_progress_cb that shows it with cli_progress_update; ctx is
 * a struct cli_progress. */
void cli_lake_progress(void *ctx, uint64_t events, uint64_t bytes, uint64_t total_events,
		       uint64_t total_bytes);

/* -X key=value strings collected from the command line. */
struct cli_conf {
	const char *kv[64];
	size_t n;
};
int cli_conf_add(struct cli_conf *c, const char *cmd, const char *kv);

/* --broker-timeout S: seconds (1..86400) into *ms; 0, or 2 after a usage
 * message. */
int cli_broker_timeout(const char *cmd, const char *arg, int *ms);
/* A tarn_kafka_wait_cb that prints "tarn CMD: msg" on stderr; ctx is the
 * command's name (a static string). */
void cli_kafka_wait(void *ctx, const char *msg);

/* SIGINT/SIGTERM set cli_stop; installed by cli_catch_signals. */
extern volatile sig_atomic_t cli_stop;
void cli_catch_signals(void);

/* Send a generated event to Kafka as `tarn produce` does: key user_id
 * (none when keyed is 0), headers event_id and event_name, timestamp =
 * event time (when stamp is 0: the time of sending, as a producer that
 * does not set one gets). *hdr / *hcap is a scratch header buffer the
 * caller frees. */
int cli_send_generated(tarn_producer *p, const tarn_gen_event *ev, int keyed, int stamp,
		       unsigned char **hdr, size_t *hcap);

/* Sleep so that event number `i` is sent no earlier than t0 + i / rate. */
void cli_pace(int64_t t0_us, uint64_t i, double rate);

/* ---- result output: table | csv | json ---- */

enum { OUT_TABLE, OUT_CSV, OUT_JSON };
int cli_format(const char *s, int allow_csv, int *out);

struct cli_out;
struct cli_out *cli_out_new(FILE *f, int format);
/* Start a named result set (several may follow each other). */
void cli_out_begin(struct cli_out *o, const char *title);
/* A tarn_row_cb: add one row. */
int cli_out_row(void *o, int n, const char *const *names, const tarn_value *v);
/* End the current result set (prints it in table format). */
void cli_out_end(struct cli_out *o);
/* Finish the document and free. */
void cli_out_free(struct cli_out *o);

/* ---- progress of long work on stderr (progress.c) ---- */

struct cli_progress {
	const char *cmd;
	int on, tty, shown;
	uint64_t total_bytes;	/* 0: unknown, no ETA */
	uint64_t events, bytes; /* the last counts reported */
	int64_t t0, last;	/* microseconds */
};
/* mode: -1 when stderr is a terminal (the default), 0 never (--no-progress),
 * 1 always (--progress). total_bytes: the input's size for an ETA, or 0. */
void cli_progress_init(struct cli_progress *p, const char *cmd, int mode, uint64_t total_bytes);
/* Show events, events/s, bytes and the ETA (rate-limited). */
void cli_progress_update(struct cli_progress *p, uint64_t events, uint64_t bytes);
/* Clear the terminal line before the summary is printed. */
void cli_progress_done(struct cli_progress *p);

/* ---- tarn serve: the dashboard's pages (dashboard.c) ---- */

/* Requests answered by status class, shown at /metrics. */
struct serve_counters {
	atomic_ullong ok, client_err, server_err;
};

struct dash_reply {
	char *body;	  /* malloc'd; the caller frees it */
	size_t len;	  /* bytes */
	const char *type; /* Content-Type, static */
	/* when the lake could not be read: the short reason the client got
	 * (static), and the detail for the server's log only (tarn_error_last:
	 * file paths, SQLite's message); otherwise NULL and "" */
	const char *reason;
	char detail[512];
};

/* Render the page at `path` ("/", "/panels", "/metrics", "/api/...",
 * "/api/aggregates[/NAME]") of the lake in dir, read now through
 * tarn_query_*, tarn_lake_stats_get and tarn_aggregate_list.
 * refresh_s: the page's refresh period in seconds. Returns the HTTP status
 * with *reply filled, or -1 when out of memory (*reply untouched): 200;
 * 404 for an unknown path or aggregate; when the lake cannot be read, 503 "lake busy"
 * (a lock held past the busy timeout), 503 "lake not found" (no lake in
 * dir yet) or 500 "lake unreadable" (a damaged, missing or unreadable
 * file), except "/", which stays 200 with the reason in the page so that
 * it keeps refreshing. No body carries a file path or a message of SQLite:
 * those go to reply->detail. Thread-safe: every call opens its own
 * read-only connections. */
int dash_render(const char *dir, const char *path, int refresh_s, const struct serve_counters *sc,
		struct dash_reply *reply);

#endif
