/* tests/powerloss/harness.c - what a lake keeps when the power is cut.
 *
 * A test VFS ("powerloss", a shim over SQLite's unix VFS, the default only
 * in this program) records, for each file under the workload's folder,
 * every write, truncate and sync, and every folder sync: SQLite's own
 * (the unix VFS fsyncs the folder on the first sync of a journal or WAL it
 * created, and on xDelete with syncDir) and tarn's, which tarn reports
 * through tarn__fs_hook together with the files and folders it creates or
 * deletes outside SQLite. Per file it keeps the durable image (the content
 * as of its last sync) and the writes since.
 *
 * At crash points (a seeded sample of the syncs, and the instant after
 * each commit the library reported done) it writes crash states of the
 * lake folder into fresh folders:
 *   a  every unsynced write dropped;
 *   b  a random subset of each file's unsynced writes applied, in random order;
 *   c  every unsynced write applied, the last one of each file torn at a
 *      512-byte boundary;
 *   d  as a, and each file or folder created or deleted since its folder
 *      was last fsynced may be missing (or back): here it is.
 * States b, c and d are written only where they differ from a.
 *
 * Six workloads, one a run in turn (run_workload): ingest from files with
 * late events, gold --rebuild + compact, an aggregate's backfill, prune,
 * replay with a checkpoint, and ingest from the embedded broker with its
 * offsets committed. Each moves `cur` (struct ack) the instant tarn
 * reports a step done: a batch committed, an offset committed to the
 * group, a checkpoint written, an aggregate created, a prune returned.
 *
 * Each state is then opened by tarn (a writer: its repairs run), verified,
 * and its events counted by id; then what the source would send again is
 * ingested (everything; for Kafka, from the committed offset) and it is
 * verified and counted once more. An acknowledged event must be stored
 * exactly once, an unacknowledged one at most once, verify (gold and the
 * declared aggregates equal their recomputation) must pass, and a replay
 * resumed from the stored checkpoint must send nothing it acknowledged.
 *
 * The last line: "N crash states, N acknowledged events checked, N lost,
 * N doubled, N gold mismatches".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tarn/tarn.h"
#include "sqlutil.h"

#define N_BATCHES    6
#define BATCH_EVENTS 40
#define N_IDS	     (N_BATCHES * BATCH_EVENTS)

/* ---- the model of the disk ---- */

struct op {
	int truncate; /* 0: a write of len bytes at off; 1: size set to off */
	int64_t off;
	size_t len;
	unsigned char *data;
};

struct pfile {
	char *path;
	int is_dir;
	int exists;
	unsigned char *dur; /* the durable image */
	size_t dur_len;
	struct op *ops; /* the writes and truncates since the last sync */
	size_t n_ops, cap_ops;
	uint64_t created_seq; /* 0: there before recording began */
	uint64_t deleted_seq; /* 0: not deleted */
	uint64_t dirsync_seq; /* folders: the last fsync */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct pfile *files;
static size_t n_files, cap_files;
static uint64_t seq;
static char root[512]; /* recording happens below it; "" = not recording */
static uint64_t rng_state = 1;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fprintf(stderr, "powerloss: out of memory\n");
		exit(2);
	}
	return p;
}

static int recorded(const char *path)
{
	size_t n = strlen(root);
	return path && n && strncmp(path, root, n) == 0 && path[n] == '/';
}

static struct pfile *find_file(const char *path)
{
	size_t i;
	for (i = 0; i < n_files; i++)
		if (strcmp(files[i].path, path) == 0)
			return &files[i];
	return NULL;
}

static struct pfile *parent_of(const struct pfile *f)
{
	char buf[1024];
	char *slash;

	snprintf(buf, sizeof(buf), "%s", f->path);
	slash = strrchr(buf, '/');
	if (!slash)
		return NULL;
	*slash = 0;
	return find_file(buf);
}

static void drop_ops(struct pfile *f)
{
	size_t i;
	for (i = 0; i < f->n_ops; i++)
		free(f->ops[i].data);
	f->n_ops = 0;
}

/* A file or folder appears (again): new, empty, its name not yet durable. */
static struct pfile *note_created(const char *path, int is_dir)
{
	struct pfile *f = find_file(path);

	if (f && f->exists)
		return f;
	if (!f) {
		if (n_files == cap_files) {
			cap_files = cap_files ? cap_files * 2 : 64;
			files = realloc(files, cap_files * sizeof(*files));
			if (!files)
				exit(2);
		}
		f = &files[n_files++];
		memset(f, 0, sizeof(*f));
		f->path = strdup(path);
	}
	drop_ops(f);
	free(f->dur);
	f->dur = NULL;
	f->dur_len = 0;
	f->is_dir = is_dir;
	f->exists = 1;
	f->created_seq = ++seq;
	f->deleted_seq = 0;
	return f;
}

static void add_op(struct pfile *f, int truncate, int64_t off, const void *data, size_t len)
{
	struct op *o;

	if (f->n_ops == f->cap_ops) {
		f->cap_ops = f->cap_ops ? f->cap_ops * 2 : 16;
		f->ops = realloc(f->ops, f->cap_ops * sizeof(*f->ops));
		if (!f->ops)
			exit(2);
	}
	o = &f->ops[f->n_ops++];
	o->truncate = truncate;
	o->off = off;
	o->len = len;
	o->data = NULL;
	if (!truncate) {
		o->data = xmalloc(len);
		memcpy(o->data, data, len);
	}
}

/* Apply one operation (or the first keep bytes of a write) to an image. */
static void apply_op(unsigned char **img, size_t *len, const struct op *o, size_t keep)
{
	size_t end = o->truncate ? (size_t)o->off : (size_t)o->off + keep;

	if (o->truncate) {
		if (end > *len) {
			*img = realloc(*img, end ? end : 1);
			memset(*img + *len, 0, end - *len);
		}
		*len = end;
		return;
	}
	if (end > *len) {
		*img = realloc(*img, end);
		memset(*img + *len, 0, end - *len);
		*len = end;
	}
	if (keep)
		memcpy(*img + o->off, o->data, keep);
}

static void make_durable(struct pfile *f)
{
	size_t i;
	for (i = 0; i < f->n_ops; i++)
		apply_op(&f->dur, &f->dur_len, &f->ops[i], f->ops[i].len);
	drop_ops(f);
}

/* ---- crash states ---- */

enum { ST_A, ST_B, ST_C, ST_D, N_KINDS };
static const char kind_name[N_KINDS] = { 'a', 'b', 'c', 'd' };

/* The workloads; each run of the harness does one, in turn. */
enum { WL_INGEST, WL_MAINT, WL_AGG, WL_PRUNE, WL_REPLAY, WL_KAFKA, N_WL };
static const char *const wl_name[N_WL] = { "ingest", "gold-rebuild+compact", "aggregate-backfill",
					   "prune",  "replay-checkpoint",    "kafka-offsets" };

/* What had been acknowledged at a crash point (the workload updates it,
 * under mu, the instant tarn reports each step done). */
struct ack {
	int wl;
	int acked;	    /* ids [0, acked) acknowledged: stored exactly once */
	int sent;	    /* ids [0, sent) handed to tarn: stored at most once */
	int prune;	    /* 1: prune of the first day under way, 2: it returned */
	int agg;	    /* 1: aggregate create under way, 2: it returned */
	int delivered;	    /* replay: events handed out so far */
	int ckpt;	    /* replay: events the last checkpoint written covers */
	int64_t kafka_next; /* Kafka: the committed offset (next to read), 0: none */
};

struct state {
	char *dir;
	int kind;
	struct ack a;
};

static int verbose;
static struct state *states;
static size_t n_states, cap_states;
static char states_dir[512];
static struct ack cur;
static int points_on = 1;    /* 0: the workload's set-up, no crash points */
static double crash_p = 0.5; /* a sync is a crash point with this chance */
static uint64_t n_syncs;

static int name_durable(const struct pfile *f)
{
	const struct pfile *p = parent_of(f);
	if (f->created_seq == 0)
		return 1;
	return p && p->dirsync_seq > f->created_seq;
}

static int deletion_durable(const struct pfile *f)
{
	const struct pfile *p = parent_of(f);
	return p && p->dirsync_seq > f->deleted_seq;
}

static int write_file(const char *path, const unsigned char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	size_t done = 0;

	if (fd < 0)
		return -1;
	while (done < len) {
		ssize_t w = write(fd, data + done, len - done);
		if (w <= 0) {
			close(fd);
			return -1;
		}
		done += (size_t)w;
	}
	return close(fd);
}

/* The content file f has in a state of this kind (malloc'd). */
static unsigned char *state_image(const struct pfile *f, int kind, size_t *len)
{
	unsigned char *img = xmalloc(f->dur_len);
	size_t i;

	if (f->dur_len)
		memcpy(img, f->dur, f->dur_len);
	*len = f->dur_len;
	if (!f->exists || kind == ST_A || kind == ST_D)
		return img;
	if (kind == ST_B) {
		size_t *order = xmalloc(f->n_ops * sizeof(*order)), n = 0;
		for (i = 0; i < f->n_ops; i++)
			if (rng() & 1)
				order[n++] = i;
		for (i = n; i > 1; i--) {
			size_t j = rng() % i, t = order[i - 1];
			order[i - 1] = order[j];
			order[j] = t;
		}
		for (i = 0; i < n; i++)
			apply_op(&img, len, &f->ops[order[i]], f->ops[order[i]].len);
		free(order);
		return img;
	}
	for (i = 0; i < f->n_ops; i++) {
		const struct op *o = &f->ops[i];
		size_t keep = o->len;
		if (i + 1 == f->n_ops && !o->truncate)
			keep = (size_t)(rng() % (o->len / 512 + 1)) * 512;
		if (keep > o->len)
			keep = o->len;
		apply_op(&img, len, o, keep);
	}
	return img;
}

static int state_differs(int kind)
{
	size_t i;
	for (i = 0; i < n_files; i++) {
		const struct pfile *f = &files[i];
		if ((kind == ST_B || kind == ST_C) && f->exists && f->n_ops)
			return 1;
		if (kind == ST_D && ((f->exists && !name_durable(f)) ||
				     (!f->exists && f->deleted_seq && !deletion_durable(f))))
			return 1;
	}
	return 0;
}

static void write_state(int kind)
{
	char dir[640];
	char *present = xmalloc(n_files);
	size_t i, rl = strlen(root);
	struct state *s;

	snprintf(dir, sizeof(dir), "%s/%06zu%c", states_dir, n_states, kind_name[kind]);
	if (mkdir(dir, 0700) != 0) {
		fprintf(stderr, "powerloss: mkdir %s: %s\n", dir, strerror(errno));
		exit(2);
	}
	/* files[] is in order of first appearance: a folder before its files */
	for (i = 0; i < n_files; i++) {
		const struct pfile *f = &files[i], *p = parent_of(f);
		char path[1400];
		int here = f->exists;

		if (kind == ST_D) {
			if (f->exists && !name_durable(f)) {
				here = 0;
				if (verbose > 1)
					fprintf(stderr, "powerloss: %s: %s missing\n", dir,
						f->path + rl);
			}
			if (!f->exists && f->deleted_seq && !deletion_durable(f) && name_durable(f))
				here = 1;
		}
		if (p && !present[p - files])
			here = 0;
		present[i] = (char)here;
		if (!here)
			continue;
		snprintf(path, sizeof(path), "%s%s", dir, f->path + rl);
		if (f->is_dir) {
			mkdir(path, 0700);
		} else {
			size_t len;
			unsigned char *img = state_image(f, kind, &len);
			if (write_file(path, img, len) != 0) {
				fprintf(stderr, "powerloss: write %s: %s\n", path, strerror(errno));
				exit(2);
			}
			free(img);
		}
	}
	free(present);
	if (n_states == cap_states) {
		cap_states = cap_states ? cap_states * 2 : 256;
		states = realloc(states, cap_states * sizeof(*states));
		if (!states)
			exit(2);
	}
	s = &states[n_states++];
	snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/lake");
	s->dir = strdup(dir);
	s->kind = kind;
	s->a = cur;
}

/* Called with mu held. */
static void crash_point(int forced)
{
	int k;

	if (!points_on || (!forced && (double)(rng() % 1000000) / 1e6 >= crash_p))
		return;
	write_state(ST_A);
	for (k = ST_B; k < N_KINDS; k++)
		if (state_differs(k))
			write_state(k);
}

static void on_sync_of(struct pfile *f)
{
	n_syncs++;
	crash_point(0);
	make_durable(f);
}

static void on_dir_sync(const char *dir)
{
	struct pfile *d = find_file(dir);
	if (!d && strcmp(dir, root) == 0)
		d = note_created(dir, 1), d->created_seq = 0;
	if (d)
		d->dirsync_seq = ++seq;
}

static void dir_of(const char *path, char *out, size_t n)
{
	char *slash;
	snprintf(out, n, "%s", path);
	slash = strrchr(out, '/');
	if (slash)
		*slash = 0;
}

/* ---- tarn's own file system work (tarn__fs_hook) ---- */

static void fs_hook(int op, const char *path)
{
	struct stat st;
	struct pfile *f;

	pthread_mutex_lock(&mu);
	if (!recorded(path) && !(op == TARN__FS_SYNC_DIR && root[0] && !strcmp(path, root))) {
		pthread_mutex_unlock(&mu);
		return;
	}
	if (op == TARN__FS_CREATE) {
		note_created(path, stat(path, &st) == 0 && S_ISDIR(st.st_mode));
	} else if (op == TARN__FS_UNLINK) {
		f = find_file(path);
		if (f && f->exists) {
			f->exists = 0;
			f->deleted_seq = ++seq;
		}
	} else if (op == TARN__FS_SYNC_DIR) {
		n_syncs++;
		crash_point(0);
		on_dir_sync(path);
	}
	pthread_mutex_unlock(&mu);
}

/* ---- the VFS shim ---- */

struct sfile {
	sqlite3_file base;
	sqlite3_file *real;
	struct pfile *pf; /* NULL: not recorded */
	int dirsync;	  /* as the unix VFS: fsync the folder on the first sync */
	char *path;
};

static sqlite3_vfs *unix_vfs;
static sqlite3_vfs shim_vfs;

#define REAL(f) (((struct sfile *)(f))->real)

static int s_close(sqlite3_file *f)
{
	struct sfile *s = (struct sfile *)f;
	int rc = s->real->pMethods->xClose(s->real);
	free(s->path);
	return rc;
}
static int s_read(sqlite3_file *f, void *b, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), b, n, off);
}
static int s_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 off)
{
	struct sfile *s = (struct sfile *)f;
	int rc = s->real->pMethods->xWrite(s->real, b, n, off);
	if (rc == SQLITE_OK && s->pf) {
		pthread_mutex_lock(&mu);
		add_op(s->pf, 0, off, b, (size_t)n);
		pthread_mutex_unlock(&mu);
	}
	return rc;
}
static int s_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct sfile *s = (struct sfile *)f;
	int rc = s->real->pMethods->xTruncate(s->real, size);
	if (rc == SQLITE_OK && s->pf) {
		pthread_mutex_lock(&mu);
		add_op(s->pf, 1, size, NULL, 0);
		pthread_mutex_unlock(&mu);
	}
	return rc;
}
static int s_sync(sqlite3_file *f, int flags)
{
	struct sfile *s = (struct sfile *)f;
	int rc;

	if (s->pf) {
		pthread_mutex_lock(&mu);
		on_sync_of(s->pf);
		pthread_mutex_unlock(&mu);
	}
	/* the model, not the disk, is what must be durable: no real fsync
	 * (the states are scratch), which keeps 1,000 states within a minute */
	(void)flags;
	rc = SQLITE_OK;
	if (rc == SQLITE_OK && s->pf && s->dirsync) {
		char dir[1024];
		dir_of(s->path, dir, sizeof(dir));
		pthread_mutex_lock(&mu);
		on_dir_sync(dir);
		pthread_mutex_unlock(&mu);
		s->dirsync = 0;
	}
	return rc;
}
static int s_size(sqlite3_file *f, sqlite3_int64 *out)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), out);
}
static int s_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int s_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int s_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int s_fcntl(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int s_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int s_devchar(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int s_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **pp)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, extend, pp);
}
static int s_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void s_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int s_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int s_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
	return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}
static int s_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods shim_methods = {
	3,	    s_close,	   s_read,	s_write, s_truncate, s_sync,	s_size,
	s_lock,	    s_unlock,	   s_reserved,	s_fcntl, s_sector,   s_devchar, s_shm_map,
	s_shm_lock, s_shm_barrier, s_shm_unmap, s_fetch, s_unfetch,
};

static int s_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	struct sfile *s = (struct sfile *)f;
	int type = flags & 0x0FFF00, rc;

	(void)vfs;
	memset(s, 0, sizeof(*s));
	s->real = (sqlite3_file *)(s + 1);
	rc = unix_vfs->xOpen(unix_vfs, name, s->real, flags, out_flags);
	if (rc != SQLITE_OK || !s->real->pMethods) {
		s->base.pMethods = NULL;
		return rc;
	}
	s->base.pMethods = &shim_methods;
	pthread_mutex_lock(&mu);
	if (recorded(name)) {
		s->pf = note_created(name, 0);
		s->path = strdup(name);
		s->dirsync = (flags & SQLITE_OPEN_CREATE) &&
			     (type == SQLITE_OPEN_MAIN_JOURNAL ||
			      type == SQLITE_OPEN_SUPER_JOURNAL || type == SQLITE_OPEN_WAL);
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

static int s_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	int rc = unix_vfs->xDelete(unix_vfs, name, sync_dir);

	(void)vfs;
	pthread_mutex_lock(&mu);
	if (rc == SQLITE_OK && recorded(name)) {
		struct pfile *f = find_file(name);
		if (f && f->exists) {
			f->exists = 0;
			f->deleted_seq = ++seq;
			drop_ops(f);
		}
		if (sync_dir) {
			char dir[1024];
			dir_of(name, dir, sizeof(dir));
			on_dir_sync(dir);
		}
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

static void shim_register(void)
{
	unix_vfs = sqlite3_vfs_find("unix");
	if (!unix_vfs) {
		fprintf(stderr, "powerloss: no unix VFS\n");
		exit(2);
	}
	shim_vfs = *unix_vfs;
	shim_vfs.zName = "powerloss";
	shim_vfs.szOsFile = (int)sizeof(struct sfile) + unix_vfs->szOsFile;
	shim_vfs.xOpen = s_open;
	shim_vfs.xDelete = s_delete;
	shim_vfs.pNext = NULL;
	if (sqlite3_vfs_register(&shim_vfs, 1) != SQLITE_OK) {
		fprintf(stderr, "powerloss: cannot register the VFS\n");
		exit(2);
	}
	tarn__fs_hook = fs_hook;
}

/* Everything written so far is on disk, every name durable: the state a
 * workload starts from when its set-up is not what it tests. */
static void settle_all(void)
{
	size_t i;

	pthread_mutex_lock(&mu);
	for (i = 0; i < n_files; i++) {
		make_durable(&files[i]);
		if (files[i].is_dir)
			files[i].dirsync_seq = ++seq;
	}
	pthread_mutex_unlock(&mu);
}

static void reset_model(void)
{
	size_t i;
	for (i = 0; i < n_files; i++) {
		drop_ops(&files[i]);
		free(files[i].ops);
		free(files[i].dur);
		free(files[i].path);
	}
	free(files);
	files = NULL;
	n_files = cap_files = 0;
}

/* ---- the workloads ---- */

/* The input line of event n: batch b holds n in [b*BATCH_EVENTS, ...);
 * its events fall on the batch's day, and every fifth one is late, on the
 * first day (a shard an earlier batch wrote). */
static int day_of_id(int n)
{
	return n % 5 == 4 ? 20 : 20 + (n / BATCH_EVENTS) % 3;
}

static int event_line(int n, char *buf, size_t len)
{
	static const char *const types[] = { "login", "page_view", "purchase" };

	return snprintf(buf, len,
			"{\"event_id\":\"e%05d\",\"user_id\":\"u%d\",\"event_type\":\"%s\","
			"\"page\":\"/p%d\",\"timestamp\":\"2026-11-%02dT%02d:%02d:00.000Z\","
			"\"source\":\"web\"}\n",
			n, n % 17, types[n % 3], n % 4, day_of_id(n), (n / 60) % 24, n % 60);
}

/* The inputs in the order a source sends them: batch b is its 40 events
 * then, re-sent, the first 8 of batch b - 1. msgs[k] is the id of input k
 * (of Kafka offset k). */
#define N_MSGS (N_IDS + (N_BATCHES - 1) * 8)
static int msgs[N_MSGS];
static int batch_start[N_BATCHES + 1]; /* index in msgs of each batch */

static void make_msgs(void)
{
	int b, i, k = 0;

	for (b = 0; b < N_BATCHES; b++) {
		batch_start[b] = k;
		for (i = 0; i < BATCH_EVENTS; i++)
			msgs[k++] = b * BATCH_EVENTS + i;
		for (i = 0; b > 0 && i < 8; i++)
			msgs[k++] = (b - 1) * BATCH_EVENTS + i;
	}
	batch_start[N_BATCHES] = k;
}

/* Ids [0, result) are those of inputs [0, n) (a batch's ids are new ones
 * in order, then re-sends of older ones). */
static int ids_covered(int64_t n)
{
	int64_t k;
	int top = 0;

	for (k = 0; k < n && k < N_MSGS; k++)
		if (msgs[k] + 1 > top)
			top = msgs[k] + 1;
	return top;
}

/* Ingest inputs [from, to) as one stream (one commit). */
static int ingest_msgs(tarn_lake *lake, int from, int to, const char *source)
{
	char *text = xmalloc((size_t)(to - from + 1) * 256), line[256];
	size_t len = 0;
	tarn_ingest_options o = TARN_INGEST_OPTIONS_INIT;
	FILE *in;
	int k, rc;

	for (k = from; k < to; k++) {
		int n = event_line(msgs[k], line, sizeof(line));
		memcpy(text + len, line, (size_t)n);
		len += (size_t)n;
	}
	in = fmemopen(text, len ? len : 1, "r");
	if (!in) {
		free(text);
		return TARN_EIO;
	}
	rc = len ? tarn_ingest_stream(lake, in, source, &o, NULL) : TARN_OK;
	fclose(in);
	free(text);
	return rc;
}

static void set_ack(int acked, int sent, int force)
{
	pthread_mutex_lock(&mu);
	if (acked >= 0)
		cur.acked = acked;
	if (sent >= 0)
		cur.sent = sent;
	if (force)
		crash_point(1); /* the instant after the acknowledgement */
	pthread_mutex_unlock(&mu);
}

/* Batches [from, to) from files, each one stream; a writer opens the lake
 * (and creates it) at batches 0 and 3. */
static int ingest_batches(tarn_lake **lake, const char *lake_dir, int from, int to)
{
	char source[32];
	int b, rc;

	for (b = from; b < to; b++) {
		if (b == 0 || b == 3) {
			tarn_lake_close(*lake);
			*lake = NULL;
			rc = tarn_lake_open(lake, lake_dir, 0);
			if (rc)
				return rc;
		}
		set_ack(-1, (b + 1) * BATCH_EVENTS, 0);
		snprintf(source, sizeof(source), "batch-%d", b);
		rc = ingest_msgs(*lake, batch_start[b], batch_start[b + 1], source);
		if (rc)
			return rc;
		set_ack((b + 1) * BATCH_EVENTS, -1, 1);
	}
	return TARN_OK;
}

/* The declared aggregate of WL_AGG and its recomputation from raw. */
static const tarn_aggregate_column agg_by[] = { { "u", "payload->>'$.user_id'" } };
static const tarn_aggregate_column agg_measures[] = {
	{ "n", "count(*)" }, { "pages", "count(DISTINCT payload->>'$.page')" }
};
#define AGG_RECOMPUTE                                                                              \
	"SELECT event_date, payload->>'$.user_id', count(*),"                                      \
	" count(DISTINCT payload->>'$.page') FROM events GROUP BY 1, 2"

static int create_aggregate(tarn_lake *lake)
{
	tarn_aggregate_def d;

	memset(&d, 0, sizeof(d));
	d.name = "pl_agg";
	d.every = TARN_WINDOW_DAY;
	d.by = agg_by;
	d.n_by = 1;
	d.measure = agg_measures;
	d.n_measures = 2;
	return tarn_aggregate_create(lake, &d);
}

/* ---- replay with a checkpoint ---- */

#define CKPT_EVERY 20
#define CKPT_NAME  "pl"

struct replay_sink {
	const char *dir;
	int ids[N_IDS + 1];
	tarn_replay_position last;
	int base; /* events in replay order before the checkpoint it resumed at */
	int n, stop_at, failed;
};

static int id_number(const tarn_event *ev)
{
	char id[16];

	if (ev->id_is_uuid || ev->id_len < 2 || ev->id_len > 10)
		return -1;
	memcpy(id, ev->id, ev->id_len);
	id[ev->id_len] = 0;
	return (int)strtol(id + 1, NULL, 10);
}

/* As tarn replay --checkpoint does with a file: hand the event out, and
 * every CKPT_EVERY events store the checkpoint at the last one. */
static int replay_emit(void *ctx, const tarn_event *ev)
{
	struct replay_sink *r = ctx;

	if (r->n == r->stop_at)
		return 1; /* the replay is interrupted here */
	if (r->n < N_IDS)
		r->ids[r->n] = id_number(ev);
	r->n++;
	tarn_replay_position_of(ev, &r->last);
	pthread_mutex_lock(&mu);
	if (r->base + r->n > cur.delivered)
		cur.delivered = r->base + r->n;
	pthread_mutex_unlock(&mu);
	if (r->n % CKPT_EVERY == 0) {
		if (tarn_replay_checkpoint_set(r->dir, CKPT_NAME, &r->last) != TARN_OK) {
			r->failed = 1;
			return 1;
		}
		pthread_mutex_lock(&mu);
		cur.ckpt = r->base + r->n;
		crash_point(1);
		pthread_mutex_unlock(&mu);
	}
	return 0;
}

/* One replay from the stored checkpoint (if any), as tarn replay does. */
static int replay_once(const char *dir, int stop_at)
{
	struct replay_sink *r = calloc(1, sizeof(*r));
	tarn_replay_options o = TARN_REPLAY_OPTIONS_INIT;
	tarn_replay_position after;
	tarn_lake *lake;
	int rc;

	if (!r)
		return TARN_ENOMEM;
	r->dir = dir;
	r->stop_at = stop_at;
	pthread_mutex_lock(&mu);
	r->base = cur.ckpt; /* the workload never crashes: the stored checkpoint */
	pthread_mutex_unlock(&mu);
	rc = tarn_replay_checkpoint_get(dir, CKPT_NAME, &after);
	if (rc == TARN_OK)
		o.after = &after;
	else if (rc != TARN_ENOTFOUND) {
		free(r);
		return rc;
	}
	rc = tarn_lake_open(&lake, dir, TARN_LAKE_READONLY);
	if (!rc) {
		rc = tarn_replay_scan(lake, &o, replay_emit, r, NULL);
		tarn_lake_close(lake);
	}
	if (rc == 1 && !r->failed)
		rc = TARN_OK;
	/* the end: the checkpoint at the last event handed out */
	if (!rc && r->n % CKPT_EVERY && r->n < stop_at) {
		rc = tarn_replay_checkpoint_set(dir, CKPT_NAME, &r->last);
		if (!rc) {
			pthread_mutex_lock(&mu);
			cur.ckpt = r->base + r->n;
			crash_point(1);
			pthread_mutex_unlock(&mu);
		}
	}
	free(r);
	return rc;
}

/* ---- Kafka: the embedded broker, offsets committed by ingest ---- */

static tarn_broker *broker;
static int64_t stored_next; /* what tarn_consumer_store was last given, + 1 */

/* The link wraps these (-Wl,--wrap, the Makefile): the acknowledgement of
 * a Kafka ingest is the offset commit the group coordinator accepted. */
int __real_tarn_consumer_store(tarn_consumer *c, const char *topic, int32_t partition,
			       int64_t offset);
int __real_tarn_consumer_commit(tarn_consumer *c);
int __wrap_tarn_consumer_store(tarn_consumer *c, const char *topic, int32_t partition,
			       int64_t offset);
int __wrap_tarn_consumer_commit(tarn_consumer *c);

int __wrap_tarn_consumer_store(tarn_consumer *c, const char *topic, int32_t partition,
			       int64_t offset)
{
	int rc = __real_tarn_consumer_store(c, topic, partition, offset);

	if (rc == TARN_OK)
		stored_next = offset + 1; /* one partition */
	return rc;
}

int __wrap_tarn_consumer_commit(tarn_consumer *c)
{
	int rc = __real_tarn_consumer_commit(c);

	if (rc != TARN_OK)
		return rc;
	pthread_mutex_lock(&mu);
	if (stored_next > cur.kafka_next) {
		cur.kafka_next = stored_next;
		if (ids_covered(stored_next) > cur.acked)
			cur.acked = ids_covered(stored_next);
		crash_point(1);
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

/* Ingest reported a batch committed to the lake: its inputs are acknowledged. */
static void on_kafka_progress(void *ctx, const tarn_ingest_counts *c)
{
	(void)ctx;
	pthread_mutex_lock(&mu);
	if (ids_covered((int64_t)c->read) > cur.acked)
		cur.acked = ids_covered((int64_t)c->read);
	crash_point(1);
	pthread_mutex_unlock(&mu);
}

static int kafka_produce(const char *topic)
{
	tarn_producer_options po = TARN_PRODUCER_OPTIONS_INIT;
	tarn_producer *p;
	char line[256];
	uint64_t acked, failed;
	int k, rc;

	if (!broker) {
		rc = tarn_broker_start(&broker, 1, 1);
		if (rc)
			return rc;
	}
	rc = tarn_broker_topic(broker, topic, 1);
	po.brokers = tarn_broker_bootstrap(broker);
	po.topic = topic;
	if (!rc)
		rc = tarn_producer_open(&p, &po);
	if (rc)
		return rc;
	for (k = 0; k < N_MSGS && !rc; k++) {
		int n = event_line(msgs[k], line, sizeof(line));
		rc = tarn_producer_send(p, line, (size_t)n - 1, NULL, 0, NULL, 0, -1);
	}
	if (!rc)
		rc = tarn_producer_flush(p, 30000, &acked, &failed);
	tarn_producer_close(p);
	return rc;
}

/* The consumer of the next Kafka run, subscribed ahead of it: the mock
 * cluster holds a new group's first join for 3 s (librdkafka 2.0), which
 * then passes while the other workloads run. */
static tarn_consumer *next_consumer;
static int n_topics;

static int kafka_prepare(void)
{
	tarn_consumer_options co = TARN_CONSUMER_OPTIONS_INIT;
	char topic[32];
	int rc;

	if (next_consumer)
		return TARN_OK;
	snprintf(topic, sizeof(topic), "pl-%d", n_topics++);
	rc = kafka_produce(topic);
	if (rc)
		return rc;
	co.brokers = tarn_broker_bootstrap(broker);
	co.topic = topic;
	co.group = topic;
	co.exit_at_end = 1;
	return tarn_consumer_open(&next_consumer, &co);
}

static int kafka_ingest(tarn_lake *lake)
{
	tarn_ingest_options o = TARN_INGEST_OPTIONS_INIT;
	tarn_consumer *c;
	int rc;

	o.batch_events = BATCH_EVENTS + 8;
	o.progress = on_kafka_progress;
	stored_next = 0;
	c = next_consumer;
	next_consumer = NULL;
	rc = tarn_ingest_kafka(lake, c, &o, NULL);
	tarn_consumer_close(c);
	return rc;
}

static int run_workload(int wl, const char *lake_dir)
{
	tarn_lake *lake = NULL;
	int rc = TARN_OK;

	memset(&cur, 0, sizeof(cur));
	cur.wl = wl;
	points_on = wl == WL_INGEST || wl == WL_KAFKA;
	switch (wl) {
	case WL_INGEST:
		/* late events (a fifth of each batch) go into the first day's shard */
		rc = ingest_batches(&lake, lake_dir, 0, N_BATCHES);
		break;
	case WL_MAINT:
		rc = ingest_batches(&lake, lake_dir, 0, N_BATCHES);
		points_on = 1;
		if (!rc)
			rc = tarn_gold_rebuild(lake);
		if (!rc) {
			tarn_compact_result cr;
			set_ack(-1, -1, 1); /* the rebuild returned */
			tarn_lake_set_compact_after(lake, 0);
			rc = tarn_lake_compact(lake, NULL, &cr);
		}
		if (!rc)
			set_ack(-1, -1, 1); /* the compaction returned */
		break;
	case WL_AGG:
		/* the backfill over a lake with history, then commits that keep it */
		rc = ingest_batches(&lake, lake_dir, 0, 3);
		points_on = 1;
		pthread_mutex_lock(&mu);
		cur.agg = 1;
		pthread_mutex_unlock(&mu);
		if (!rc)
			rc = create_aggregate(lake);
		if (!rc) {
			pthread_mutex_lock(&mu);
			cur.agg = 2;
			crash_point(1);
			pthread_mutex_unlock(&mu);
			rc = ingest_batches(&lake, lake_dir, 3, N_BATCHES);
		}
		break;
	case WL_PRUNE:
		rc = ingest_batches(&lake, lake_dir, 0, N_BATCHES);
		points_on = 1;
		if (!rc) {
			tarn_prune_options po = TARN_PRUNE_OPTIONS_INIT;
			tarn_prune_result pr;
			pthread_mutex_lock(&mu);
			cur.prune = 1;
			pthread_mutex_unlock(&mu);
			po.before = "2026-11-21";
			rc = tarn_lake_prune(lake, &po, &pr);
		}
		if (!rc) {
			pthread_mutex_lock(&mu);
			cur.prune = 2;
			crash_point(1);
			pthread_mutex_unlock(&mu);
			/* a source sends everything again: the first day is expired */
			rc = ingest_msgs(lake, 0, N_MSGS, "again");
		}
		break;
	case WL_REPLAY:
		rc = ingest_batches(&lake, lake_dir, 0, N_BATCHES);
		tarn_lake_close(lake);
		lake = NULL;
		/* the lake had long been on disk: what is tested is the
		 * checkpoint (and the mutant then loses checkpoints, not the lake) */
		settle_all();
		points_on = 1;
		/* interrupted after 130 events, then resumed from the checkpoint */
		if (!rc)
			rc = replay_once(lake_dir, 130);
		if (!rc)
			rc = replay_once(lake_dir, N_IDS + 1);
		break;
	case WL_KAFKA:
		rc = kafka_prepare();
		set_ack(-1, N_IDS, 0);
		if (!rc)
			rc = tarn_lake_open(&lake, lake_dir, 0);
		if (!rc)
			rc = kafka_ingest(lake);
		break;
	}
	tarn_lake_close(lake);
	return rc;
}

/* ---- checking a state ---- */

struct figures {
	uint64_t states, acked, lost, doubled, gold, other, unopenable, repaired_by_writer;
	uint64_t before_checked; /* states verified read-only first */
	uint64_t lost_committed; /* Kafka: lost, and below the committed offset */
	uint64_t by_kind[N_KINDS];
	uint64_t problems_before[8], problems_after[8]; /* per file kind */
};

static const char *const file_kinds[] = { "lake.db",	   "gold.db", "ids.db",
					  "quarantine.db", "shards",  "other" };
#define N_FILE_KINDS 6

static int file_kind(const char *file)
{
	int i;
	if (strstr(file, "shards/"))
		return 4;
	for (i = 0; i < 4; i++)
		if (strstr(file, file_kinds[i]))
			return i;
	return 5;
}

struct problems {
	uint64_t *per_kind;
	int verbose;
	const char *dir;
};

static void on_problem(void *ctx, const char *file, const char *problem)
{
	struct problems *p = ctx;
	p->per_kind[file_kind(file)]++;
	if (p->verbose)
		fprintf(stderr, "powerloss: %s: %s: %s\n", p->dir, file, problem);
}

static int on_count(void *ctx, int n, const char *const *names, const tarn_value *v)
{
	int *counts = ctx;
	char id[16];
	long k;

	(void)names;
	if (n < 2 || v[0].type != TARN_VALUE_TEXT || v[0].len < 2 || v[0].len > 10)
		return 0;
	memcpy(id, v[0].p, v[0].len);
	id[v[0].len] = 0;
	k = strtol(id + 1, NULL, 10);
	if (k >= 0 && k < N_IDS)
		counts[k] = (int)v[1].i;
	return 0;
}

static int on_int(void *ctx, int n, const char *const *names, const tarn_value *v)
{
	(void)names;
	if (n >= 1 && v[0].type == TARN_VALUE_INT)
		*(int64_t *)ctx = v[0].i;
	return 0;
}

static int count_ids(const char *dir, int *counts)
{
	tarn_query *q;
	int rc;

	memset(counts, 0, N_IDS * sizeof(*counts));
	rc = tarn_query_open(&q, dir);
	if (rc)
		return rc;
	rc = tarn_query_exec(q, "SELECT event_id, count(*) FROM events GROUP BY event_id", on_count,
			     counts, NULL);
	tarn_query_close(q);
	return rc;
}

/* The declared aggregate: -1 when it does not exist, else the rows in
 * which its table and the recomputation from raw differ. */
static int64_t aggregate_mismatch(const char *dir)
{
	tarn_query *q;
	int64_t n = -1;

	if (tarn_query_open(&q, dir) != TARN_OK)
		return -2;
	if (tarn_query_exec(q, "SELECT count(*) FROM aggregates WHERE name = 'pl_agg'", on_int, &n,
			    NULL) != TARN_OK)
		n = -2;
	else if (n == 0)
		n = -1;
	else if (tarn_query_exec(
			 q,
			 "SELECT (SELECT count(*) FROM (SELECT * FROM pl_agg EXCEPT " AGG_RECOMPUTE
			 ")) + (SELECT count(*) FROM (" AGG_RECOMPUTE
			 " EXCEPT SELECT * FROM pl_agg))",
			 on_int, &n, NULL) != TARN_OK)
		n = -2;
	if (n == -2 && verbose)
		fprintf(stderr, "powerloss: %s: aggregate: %s\n", dir, tarn_error_last());
	tarn_query_close(q);
	return n;
}

/* Counts the aggregate's failures: acknowledged and missing, or not equal
 * to the recomputation from raw. */
static uint64_t check_aggregate(const struct state *s)
{
	int64_t m = aggregate_mismatch(s->dir);

	if (m == -1)
		return s->a.agg == 2;
	if (m < 0 || (m > 0 && verbose))
		fprintf(stderr, "powerloss: %s: aggregate: %" PRId64 " rows differ\n", s->dir, m);
	return m < 0 ? 1 : (uint64_t)m;
}

/* Verify a lake; problems counted per file kind into per_kind, their
 * number into *n. TARN_OK also when it found problems. */
static int verify_lake(tarn_lake *lake, const char *dir, uint64_t *per_kind, uint64_t *n)
{
	struct problems p = { per_kind, verbose, dir };
	int rc = tarn_lake_verify(lake, on_problem, &p, n);

	return rc == TARN_ECORRUPT ? TARN_OK : rc;
}

static int verify_dir(const char *dir, unsigned flags, uint64_t *per_kind, uint64_t *n)
{
	tarn_lake *lake;
	int rc = tarn_lake_open(&lake, dir, flags);

	*n = 0;
	if (rc)
		return rc;
	rc = verify_lake(lake, dir, per_kind, n);
	tarn_lake_close(lake);
	return rc;
}

/* All events in replay order, and those a replay resumed from the stored
 * checkpoint hands out. */
static int collect(void *ctx, const tarn_event *ev)
{
	struct replay_sink *r = ctx;
	if (r->n < N_IDS)
		r->ids[r->n] = id_number(ev);
	r->n++;
	return 0;
}

/* A replay resumed from the checkpoint must hand out exactly what comes
 * after some point c with ckpt <= c <= delivered: below ckpt would send
 * again what the checkpoint acknowledged, beyond delivered would skip
 * events never sent. */
static void check_replay(const struct state *s, struct figures *fig)
{
	struct replay_sink *all = calloc(1, sizeof(*all)), *res = calloc(1, sizeof(*res));
	tarn_replay_options o = TARN_REPLAY_OPTIONS_INIT;
	tarn_replay_position after;
	tarn_lake *lake = NULL;
	int rc, c, i;

	fig->acked += (uint64_t)s->a.ckpt;
	rc = all && res ? tarn_replay_checkpoint_get(s->dir, CKPT_NAME, &after) : TARN_ENOMEM;
	if (rc == TARN_OK)
		o.after = &after;
	else if (rc == TARN_ENOTFOUND)
		rc = TARN_OK;
	if (!rc)
		rc = tarn_lake_open(&lake, s->dir, TARN_LAKE_READONLY);
	if (!rc)
		rc = tarn_replay_scan(lake, NULL, collect, all, NULL);
	if (!rc)
		rc = tarn_replay_scan(lake, &o, collect, res, NULL);
	tarn_lake_close(lake);
	if (rc || all->n != N_IDS) {
		fig->other++;
		if (verbose)
			fprintf(stderr, "powerloss: %s: replay: %d events: %s\n", s->dir,
				all ? all->n : 0, rc ? tarn_error_last() : "");
		goto out;
	}
	c = all->n - res->n;
	for (i = 0; i < res->n; i++)
		if (res->ids[i] != all->ids[c + i]) {
			fig->other++;
			goto out;
		}
	if (c < s->a.ckpt) {
		fig->doubled += (uint64_t)(s->a.ckpt - c);
		if (verbose)
			fprintf(stderr, "powerloss: %s: resumed at %d, checkpoint acked %d\n",
				s->dir, c, s->a.ckpt);
	}
	if (c > s->a.delivered)
		fig->lost += (uint64_t)(c - s->a.delivered);
out:
	free(all);
	free(res);
}

/* The first day's events may be gone once a prune began, and must be
 * gone once it returned. */
static int may_be_pruned(const struct state *s, int id)
{
	return s->a.prune && day_of_id(id) == 20;
}

static void check_state(const struct state *s, struct figures *fig, int before_too)
{
	int counts[N_IDS], i, rc, from;
	uint64_t before[8] = { 0 }, after[8] = { 0 }, n = 0, n_before = 0;
	int acked_ids = s->a.acked;
	tarn_lake *lake = NULL;

	fig->states++;
	fig->by_kind[s->kind]++;
	fig->acked += (uint64_t)acked_ids;
	if (s->a.wl == WL_REPLAY)
		check_replay(s, fig);
	/* what the files say before any writer touched them */
	if (before_too) {
		fig->before_checked++;
		if (verify_dir(s->dir, TARN_LAKE_READONLY, before, &n_before) != TARN_OK)
			n_before = 1;
		for (i = 0; i < 8; i++)
			fig->problems_before[i] += before[i];
	}
	/* a writer opens it (its repairs run: what tarn ingest does first)
	 * and verify runs */
	n = 0;
	rc = tarn_lake_open(&lake, s->dir, 0);
	if (!rc)
		rc = verify_lake(lake, s->dir, fig->problems_after, &n);
	if (rc) {
		tarn_lake_close(lake);
		fig->unopenable++;
		fig->lost += (uint64_t)acked_ids;
		if (verbose)
			fprintf(stderr, "powerloss: %s: cannot open: %s\n", s->dir,
				tarn_error_last());
		return;
	}
	if (n_before && !n)
		fig->repaired_by_writer++;
	if (count_ids(s->dir, counts) != TARN_OK) {
		tarn_lake_close(lake);
		fig->other++;
		return;
	}
	for (i = 0; i < N_IDS; i++) {
		if (i < acked_ids && counts[i] == 0 && !may_be_pruned(s, i)) {
			fig->lost++;
			if (i < ids_covered(s->a.kafka_next))
				fig->lost_committed++; /* never delivered again */
			if (verbose)
				fprintf(stderr, "powerloss: %s: e%05d lost (acked %d)\n", s->dir, i,
					s->a.acked);
		}
		if (counts[i] > 1)
			fig->doubled++;
		if (i >= s->a.sent && counts[i])
			fig->other++; /* stored, never sent */
		if (s->a.prune == 2 && day_of_id(i) == 20 && counts[i]) {
			fig->other++; /* pruned, and back */
			if (verbose)
				fprintf(stderr, "powerloss: %s: e%05d pruned and back\n", s->dir,
					i);
		}
	}
	if (s->a.wl == WL_AGG)
		fig->gold += check_aggregate(s);
	/* the source sends again what was not acknowledged: a Kafka consumer
	 * from the committed offset, any other source everything */
	from = s->a.wl == WL_KAFKA ? (int)s->a.kafka_next : 0;
	rc = ingest_msgs(lake, from, N_MSGS, "again");
	if (rc) {
		fig->other++;
		if (verbose)
			fprintf(stderr, "powerloss: %s: re-ingest: %s\n", s->dir,
				tarn_error_last());
	}
	n = 0;
	if (verify_lake(lake, s->dir, after, &n) != TARN_OK)
		fig->other++;
	tarn_lake_close(lake);
	fig->gold += after[1];
	fig->other += n - after[1];
	if (s->a.wl == WL_AGG)
		fig->gold += check_aggregate(s);
	if (count_ids(s->dir, counts) == TARN_OK) {
		for (i = 0; i < N_IDS; i++)
			if (counts[i] > 1)
				fig->doubled++;
			else if (counts[i] == 0 && !may_be_pruned(s, i))
				fig->other++;
	}
}

static void remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (!d) {
		unlink(path);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		char sub[1400];
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		remove_tree(sub);
	}
	closedir(d);
	rmdir(path);
}

static long arg_long(const char *s, long lo, long hi)
{
	char *end;
	long v;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi) {
		fprintf(stderr, "powerloss: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static void add_figures(struct figures *to, const struct figures *f)
{
	int i;

	to->states += f->states;
	to->acked += f->acked;
	to->lost += f->lost;
	to->doubled += f->doubled;
	to->gold += f->gold;
	to->other += f->other;
	to->unopenable += f->unopenable;
	to->repaired_by_writer += f->repaired_by_writer;
	to->before_checked += f->before_checked;
	to->lost_committed += f->lost_committed;
	for (i = 0; i < N_KINDS; i++)
		to->by_kind[i] += f->by_kind[i];
	for (i = 0; i < 8; i++) {
		to->problems_before[i] += f->problems_before[i];
		to->problems_after[i] += f->problems_after[i];
	}
}

static void print_figures(const struct figures *f)
{
	printf("%" PRIu64 " crash states, %" PRIu64 " acknowledged events checked, %" PRIu64
	       " lost, %" PRIu64 " doubled, %" PRIu64 " gold mismatches\n",
	       f->states, f->acked, f->lost, f->doubled, f->gold);
}

int main(int argc, char **argv)
{
	long want = 1000, seed = 1, per_run = 40, before_every = 4;
	const char *work = NULL;
	struct figures fig[N_WL], total;
	char tmpl[] = "/tmp/tarn-powerloss-XXXXXX";
	int i, run, only = -1;
	uint64_t checked = 0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--states") && i + 1 < argc)
			want = arg_long(argv[++i], 1, 100000000);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = arg_long(argv[++i], 0, 1L << 30);
		else if (!strcmp(argv[i], "--work") && i + 1 < argc)
			work = argv[++i];
		else if (!strcmp(argv[i], "--crash-p") && i + 1 < argc)
			crash_p = (double)arg_long(argv[++i], 0, 100) / 100.0;
		else if (!strcmp(argv[i], "--per-run") && i + 1 < argc)
			per_run = arg_long(argv[++i], 1, 1000000);
		else if (!strcmp(argv[i], "--before-every") && i + 1 < argc)
			before_every = arg_long(argv[++i], 0, 1000000);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = (int)arg_long(argv[++i], 0, N_WL - 1);
		else if (!strcmp(argv[i], "-v"))
			verbose++;
		else {
			fprintf(stderr, "usage: harness [--states N] [--seed S] [--work DIR]"
					" [--crash-p PERCENT] [--per-run N] [--before-every N]"
					" [--only WORKLOAD] [-v]\n");
			return 2;
		}
	}
	if (!work) {
		work = mkdtemp(tmpl);
		if (!work) {
			perror("powerloss: mkdtemp");
			return 2;
		}
	}
	shim_register();
	make_msgs();
	memset(fig, 0, sizeof(fig));
	for (run = 0; (long)checked < want; run++) {
		char lake_dir[600];
		size_t k, n_check;
		int rc, wl = only >= 0 ? only : run % N_WL;

		rng_state = (uint64_t)seed * 0x9E3779B97F4A7C15ull + (uint64_t)run + 1;
		snprintf(root, sizeof(root), "%s/run%d", work, run);
		snprintf(states_dir, sizeof(states_dir), "%s/states%d", work, run);
		if (mkdir(root, 0700) != 0 || mkdir(states_dir, 0700) != 0) {
			perror("powerloss: mkdir");
			return 2;
		}
		snprintf(lake_dir, sizeof(lake_dir), "%s/lake", root);
		pthread_mutex_lock(&mu);
		on_dir_sync(root); /* the folder the user gave is there */
		pthread_mutex_unlock(&mu);
		rc = TARN_OK;
		if (only < 0 && wl == 0)
			rc = kafka_prepare(); /* joins its group while runs 0..4 go */
		if (!rc)
			rc = run_workload(wl, lake_dir);
		pthread_mutex_lock(&mu);
		root[0] = 0;
		reset_model();
		pthread_mutex_unlock(&mu);
		if (rc) {
			fprintf(stderr, "powerloss: workload %s failed: %s\n", wl_name[wl],
				tarn_error_last());
			return 2;
		}
		/* at most per_run states of a run, spread evenly over it, so that
		 * every workload gets its share */
		n_check = n_states < (size_t)per_run ? n_states : (size_t)per_run;
		for (k = 0; k < n_check && (long)checked < want; k++) {
			size_t at = k * n_states / n_check;
			check_state(&states[at], &fig[wl],
				    before_every && checked % (uint64_t)before_every == 0);
			checked++;
		}
		for (k = 0; k < n_states; k++)
			free(states[k].dir);
		n_states = 0;
		remove_tree(states_dir); /* states0/NNNNNNk/lake */
		snprintf(lake_dir, sizeof(lake_dir), "%s/run%d", work, run);
		remove_tree(lake_dir);
	}
	free(states);
	tarn_consumer_close(next_consumer);
	tarn_broker_stop(broker);
	memset(&total, 0, sizeof(total));
	for (i = 0; i < N_WL; i++) {
		if (!fig[i].states)
			continue;
		add_figures(&total, &fig[i]);
		printf("%-21s other failures %" PRIu64 "; ", wl_name[i], fig[i].other);
		print_figures(&fig[i]);
		if (i == WL_KAFKA)
			printf("%-21s lost below the committed offset: %" PRIu64 "\n", "",
			       fig[i].lost_committed);
	}
	printf("states by kind: %" PRIu64 " a (unsynced writes dropped), %" PRIu64
	       " b (a subset, reordered), %" PRIu64 " c (last write torn), %" PRIu64
	       " d (names not yet fsynced missing)\n",
	       total.by_kind[ST_A], total.by_kind[ST_B], total.by_kind[ST_C], total.by_kind[ST_D]);
	printf("verify problems before a writer opened the state (read-only, %" PRIu64 " states):",
	       total.before_checked);
	for (i = 0; i < N_FILE_KINDS; i++)
		printf(" %s %" PRIu64, file_kinds[i], total.problems_before[i]);
	printf("\nverify problems after a writer opened it:");
	for (i = 0; i < N_FILE_KINDS; i++)
		printf(" %s %" PRIu64, file_kinds[i], total.problems_after[i]);
	printf("\nstates repaired by the writer's open: %" PRIu64 "; unopenable: %" PRIu64
	       "; other failures: %" PRIu64 "\n",
	       total.repaired_by_writer, total.unopenable, total.other);
	print_figures(&total);
	rmdir(work);
	return 0;
}
