/* tarn benchmark: each line measures tarn and a baseline in the same run
 * and prints their ratio. Deterministic input from tarn's generator.
 *
 *   bench [--events N] [--dir DIR] [--skip-kafka]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "tarn/tarn.h"

struct row {
	const char *what;
	const char *unit;
	double tarn, base;
	const char *base_name;
	int higher_is_better;
};

static struct row rows[16];
static int n_rows;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void add_row(const char *what, const char *unit, double t, double b,
		    const char *base_name, int higher_is_better)
{
	rows[n_rows++] = (struct row){ what, unit, t, b, base_name, higher_is_better };
	fprintf(stderr, "  %-34s tarn %12.1f  %-26s %12.1f %s\n", what, t, base_name, b, unit);
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench: %s: %s (%s)\n", what, tarn_strerror(rc), tarn_error_last());
	exit(1);
}

static int run(const char *cmd)
{
	int rc = system(cmd);

	if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
		fprintf(stderr, "bench: command failed: %s\n", cmd);
		exit(1);
	}
	return 0;
}

static unsigned long long dir_bytes(const char *dir)
{
	char cmd[1200];
	unsigned long long n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "du -sb --apparent-size '%s' | cut -f1", dir);
	p = popen(cmd, "r");
	if (p && fscanf(p, "%llu", &n) != 1)
		n = 0;
	if (p)
		pclose(p);
	return n;
}

/* Input: N unique generated events, 5% re-deliveries, 0.1% malformed lines. */
static uint64_t make_input(const char *path, uint64_t n, uint64_t *unique)
{
	tarn_gen_options o = TARN_GEN_OPTIONS_INIT;
	tarn_gen_event ev;
	tarn_gen *g;
	uint64_t lines = 0;
	FILE *f = fopen(path, "w");
	int rc;

	if (!f) {
		perror(path);
		exit(1);
	}
	o.seed = 42;
	o.count = n;
	o.days = 3;
	o.dup_rate = 0.05;
	o.start_us = 1795132800000000LL; /* 2026-11-20T00:00:00Z */
	rc = tarn_gen_new(&g, &o);
	if (rc)
		die("generator", rc);
	while ((rc = tarn_gen_next(g, &ev)) == TARN_OK) {
		fwrite(ev.payload, 1, ev.payload_len, f);
		fputc('\n', f);
		if (++lines % 1000 == 0)
			fprintf(f, "{\"event_id\": \"broken-%llu\", \"timestamp\": \n",
				(unsigned long long)lines);
	}
	tarn_gen_free(g);
	fclose(f);
	*unique = n;
	return lines + lines / 1000;
}

/* The baseline: the same lines parsed with the same JSON library and
 * inserted uncompressed with INSERT OR IGNORE into a plain rowid table with
 * UNIQUE(event_time, event_id) — the fastest plain layout measured — with
 * no gold, no quarantine, no compression. */
static double baseline_ingest(const char *input, const char *db_path, uint64_t *stored)
{
	sqlite3 *db;
	sqlite3_stmt *ins;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	uint64_t n = 0;
	double t0;
	FILE *f = fopen(input, "r");

	unlink(db_path);
	if (!f || sqlite3_open(db_path, &db) != SQLITE_OK)
		exit(1);
	sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
		     "CREATE TABLE events(event_time INTEGER NOT NULL, event_id BLOB NOT NULL,"
		     " payload BLOB NOT NULL, UNIQUE(event_time, event_id))", NULL, NULL, NULL);
	sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO events VALUES(?,?,?)", -1, &ins, NULL);
	t0 = now_s();
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	while ((len = getline(&line, &cap, f)) > 0) {
		json_t *j = json_loadb(line, (size_t)len, 0, NULL);
		const char *id, *ts;
		int64_t us;

		if (!j)
			continue;
		id = json_string_value(json_object_get(j, "event_id"));
		ts = json_string_value(json_object_get(j, "timestamp"));
		if (id && ts && tarn_time_parse(ts, strlen(ts), &us) == TARN_OK) {
			sqlite3_bind_int64(ins, 1, us);
			sqlite3_bind_text(ins, 2, id, -1, SQLITE_TRANSIENT);
			sqlite3_bind_blob(ins, 3, line, (int)len - 1, SQLITE_STATIC);
			sqlite3_step(ins);
			sqlite3_reset(ins);
			n += (uint64_t)sqlite3_changes(db);
		}
		json_decref(j);
		if (n % 20000 == 0) {
			sqlite3_exec(db, "COMMIT; BEGIN", NULL, NULL, NULL);
		}
	}
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	t0 = now_s() - t0;
	sqlite3_finalize(ins);
	sqlite3_close(db);
	free(line);
	fclose(f);
	*stored = n;
	return t0;
}

static double tarn_ingest_file(const char *input, const char *lake_dir,
			       tarn_ingest_counts *c)
{
	tarn_lake *lake;
	FILE *f = fopen(input, "r");
	double t0;
	int rc;

	memset(c, 0, sizeof(*c));
	rc = tarn_lake_open(&lake, lake_dir, 0);
	if (rc || !f)
		die("open lake", rc);
	t0 = now_s();
	rc = tarn_ingest_stream(lake, f, input, NULL, c);
	t0 = now_s() - t0;
	if (rc)
		die("ingest", rc);
	tarn_lake_close(lake);
	fclose(f);
	return t0;
}

struct replay_ctx {
	tarn_producer *p;
	FILE *out;
	uint64_t n;
};

static int to_kafka(void *ctx, const tarn_event *ev)
{
	struct replay_ctx *r = ctx;

	r->n++;
	return tarn_producer_send_event(r->p, ev);
}

static void bench_kafka(const char *work, const char *input, const char *lake_dir,
			uint64_t lines)
{
	const char *conf[] = { "queue.buffering.max.messages=1000000" };
	tarn_producer_options po = TARN_PRODUCER_OPTIONS_INIT;
	tarn_consumer_options co = TARN_CONSUMER_OPTIONS_INIT;
	tarn_ingest_counts c = { 0 };
	struct replay_ctx r = { 0 };
	tarn_broker *b;
	tarn_consumer *cons;
	tarn_lake *lake;
	char cmd[2000], lake2[600];
	int parts = (int)(lines / 40000) + 4, rc;
	double t_kcat, t_tarn;
	uint64_t acked = 0, failed = 0;

	rc = tarn_broker_start(&b, 1, parts);
	if (rc)
		die("broker", rc);
	tarn_broker_topic(b, "bench_in", parts);
	tarn_broker_topic(b, "bench_replay", parts);
	tarn_broker_topic(b, "bench_kcat", parts);
	/* load the input topic with kcat (one message per line) */
	snprintf(cmd, sizeof(cmd),
		 "kcat -b %s -P -t bench_in -X sticky.partitioning.linger.ms=0 -l '%s'",
		 tarn_broker_bootstrap(b), input);
	run(cmd);
	/* baseline: kcat reads the topic to its end */
	snprintf(cmd, sizeof(cmd), "kcat -b %s -C -t bench_in -e -q -o beginning > /dev/null",
		 tarn_broker_bootstrap(b));
	t_kcat = now_s();
	run(cmd);
	t_kcat = now_s() - t_kcat;
	/* tarn: consumer group to a fresh lake */
	snprintf(lake2, sizeof(lake2), "%s/lake-kafka", work);
	rc = tarn_lake_open(&lake, lake2, 0);
	if (rc)
		die("open lake", rc);
	co.brokers = tarn_broker_bootstrap(b);
	co.topic = "bench_in";
	co.group = "bench";
	co.exit_at_end = 1;
	rc = tarn_consumer_open(&cons, &co);
	if (rc)
		die("consumer", rc);
	t_tarn = now_s();
	rc = tarn_ingest_kafka(lake, cons, NULL, &c);
	t_tarn = now_s() - t_tarn;
	if (rc)
		die("ingest kafka", rc);
	tarn_consumer_close(cons);
	tarn_lake_close(lake);
	add_row("Kafka -> lake (events/s)", "ev/s", (double)c.read / t_tarn,
		(double)lines / t_kcat, "kcat -C -e > /dev/null", 1);

	/* replay: lake -> Kafka vs kcat -P -l of the same events from a file */
	rc = tarn_lake_open(&lake, lake_dir, TARN_LAKE_READONLY);
	if (rc)
		die("open lake", rc);
	po.brokers = tarn_broker_bootstrap(b);
	po.topic = "bench_replay";
	po.n_conf = 1;
	po.conf = conf;
	rc = tarn_producer_open(&r.p, &po);
	if (rc)
		die("producer", rc);
	t_tarn = now_s();
	rc = tarn_replay_scan(lake, NULL, to_kafka, &r, NULL);
	if (!rc)
		rc = tarn_producer_flush(r.p, 60000, &acked, &failed);
	t_tarn = now_s() - t_tarn;
	if (rc)
		die("replay", rc);
	tarn_producer_close(r.p);
	tarn_lake_close(lake);
	snprintf(cmd, sizeof(cmd),
		 "kcat -b %s -P -t bench_kcat -X sticky.partitioning.linger.ms=0 -l '%s'",
		 tarn_broker_bootstrap(b), input);
	t_kcat = now_s();
	run(cmd);
	t_kcat = now_s() - t_kcat;
	add_row("lake -> Kafka replay (events/s)", "ev/s", (double)acked / t_tarn,
		(double)lines / t_kcat, "kcat -P -l (plain file)", 1);
	tarn_broker_stop(b);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "events", required_argument, NULL, 'n' },
		{ "dir", required_argument, NULL, 'd' },
		{ "skip-kafka", no_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 }
	};
	char work[512] = "", input[600], lake_dir[600], base_db[600], cmd[2000];
	uint64_t n = 1000000, unique, lines, base_stored;
	tarn_ingest_counts c;
	double t_tarn, t_base;
	int opt, skip_kafka = 0, i;
	struct rusage ru;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		char *end;
		switch (opt) {
		case 'n':
			errno = 0;
			n = strtoull(optarg, &end, 10);
			if (errno || *end || n == 0) {
				fprintf(stderr, "bench: --events wants a positive count\n");
				return 2;
			}
			break;
		case 'd':
			snprintf(work, sizeof(work), "%s", optarg);
			break;
		case 'k':
			skip_kafka = 1;
			break;
		default:
			return 2;
		}
	}
	if (!work[0]) {
		snprintf(work, sizeof(work), "/tmp/tarn-bench-XXXXXX");
		if (!mkdtemp(work)) {
			perror("mkdtemp");
			return 1;
		}
	}
	snprintf(input, sizeof(input), "%s/input.jsonl", work);
	snprintf(lake_dir, sizeof(lake_dir), "%s/lake", work);
	snprintf(base_db, sizeof(base_db), "%s/baseline.db", work);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'*", lake_dir, base_db);
	run(cmd);
	fprintf(stderr, "bench: generating %llu events (5%% re-deliveries, 0.1%% malformed) in %s\n",
		(unsigned long long)n, work);
	lines = make_input(input, n, &unique);

	t_tarn = tarn_ingest_file(input, lake_dir, &c);
	t_base = baseline_ingest(input, base_db, &base_stored);
	if (c.stored != base_stored)
		fprintf(stderr, "bench: WARNING tarn stored %llu, baseline %llu\n",
			(unsigned long long)c.stored, (unsigned long long)base_stored);
	add_row("file ingest (input lines/s)", "lines/s", (double)c.read / t_tarn,
		(double)c.read / t_base, "plain SQLite INSERT OR IGNORE", 1);
	{
		unsigned long long lake_b = dir_bytes(lake_dir), z = 0;
		FILE *p;

		snprintf(cmd, sizeof(cmd), "zstd -3 -q -c '%s' | wc -c", input);
		p = popen(cmd, "r");
		if (!p || fscanf(p, "%llu", &z) != 1)
			z = 0;
		if (p)
			pclose(p);
		add_row("bytes on disk per stored event", "B/ev", (double)lake_b / (double)c.stored,
			(double)z / (double)c.stored, "input through zstd -3", 0);
	}
	if (!skip_kafka)
		bench_kafka(work, input, lake_dir, lines);
	getrusage(RUSAGE_SELF, &ru);

	printf("\ntarn bench: %llu unique events, %llu input lines, %llu stored, %llu duplicates, %llu quarantined\n",
	       (unsigned long long)unique, (unsigned long long)c.read,
	       (unsigned long long)c.stored, (unsigned long long)c.duplicates,
	       (unsigned long long)c.quarantined);
	printf("| %-34s | %14s | %-30s | %14s | %7s |\n", "measure", "tarn", "baseline (same run)",
	       "baseline", "ratio");
	printf("|%s|%s|%s|%s|%s|\n", "------------------------------------",
	       "----------------", "--------------------------------", "----------------",
	       "---------");
	for (i = 0; i < n_rows; i++) {
		double ratio = rows[i].base > 0 ? rows[i].tarn / rows[i].base : 0;
		printf("| %-34s | %14.1f | %-30s | %14.1f | %6.2fx |\n", rows[i].what, rows[i].tarn,
		       rows[i].base_name, rows[i].base, ratio);
	}
	printf("peak RSS of the bench process: %ld MB (includes the embedded broker)\n",
	       ru.ru_maxrss / 1024);
	return 0;
}
