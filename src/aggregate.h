/* Library-internal: the declared-aggregate engine (aggregate.c) that gold
 * (gold.c) drives in its batches, and that create, verify and rebuild use.
 *
 * A set holds the compiled declarations of one SQLite connection (gold.db,
 * or verify's in-memory copy): events added to it wait in the connection's
 * TEMP table tarn_batch (the events view's columns) until their day is
 * flushed, which applies them to every aggregate's state and table in the
 * caller's open transaction. */
#ifndef TARN_AGGREGATE_INTERNAL_H
#define TARN_AGGREGATE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "tarn/aggregate.h"
#include "tarn/event.h"
#include "event_scan.h"

typedef struct tarn__aggset tarn__aggset;

/* The payload paths that a set's native declarations read, copied so that
 * another thread can read them ahead (ingest's reader thread): the set
 * then skips its own parse of the payload. id names the list: a set's
 * changes give it a new one, so values read for another list are never
 * taken. */
typedef struct tarn__aggpaths {
	uint64_t id; /* 0: no paths */
	int n;
	char *dotted[TARN__JPATHS_MAX]; /* "a.b.c", owned */
	tarn__jpath jp[TARN__JPATHS_MAX];
} tarn__aggpaths;

#define TARN__AGGPRE_ASK 0xff /* the value is not in the payload as is */

/* One payload's values at a tarn__aggpaths list, as tarn__json_lookup
 * gives them: each a tarn__jtype (or TARN__AGGPRE_ASK: a string with
 * escapes, left for SQLite to read) and, for a string or a number, its
 * bytes [off, off + len) of the payload. */
typedef struct tarn__aggpre {
	uint64_t id; /* the list's; 0: nothing read (else extraction accepted
			the payload: it is JSON) */
	unsigned char type[TARN__JPATHS_MAX];
	uint32_t off[TARN__JPATHS_MAX], len[TARN__JPATHS_MAX];
} tarn__aggpre;

/* Make *p a copy of a's list of paths (a NULL or a set without native
 * paths: an empty one); nothing to do when p already has it. *p starts
 * zeroed and is freed with tarn__aggpaths_free. TARN_OK, TARN_ENOMEM. */
int tarn__aggpaths_copy(const tarn__aggset *a, tarn__aggpaths *p);
void tarn__aggpaths_free(tarn__aggpaths *p);
/* tarn_event_extract (tarn/event.h: the same arguments, results and
 * errors), and in the same parse ev's payload values at p's paths into
 * *out (its id 0 when it did not read them). Thread-safe for distinct
 * ev and out. */
int tarn__aggpaths_extract(const tarn__aggpaths *p, tarn_event *ev,
			   const tarn_extract_options *opts, tarn_reject *why, char *detail,
			   size_t detail_len, tarn__aggpre *out);
/* The values of the next event given to tarn__aggregate_add, read ahead
 * (borrowed until then; NULL: none). Taken only when pre's id is the set's
 * list's; a caller sets it before each add and clears it after. */
void tarn__aggregate_hint(tarn__aggset *a, const tarn__aggpre *pre);

/* Schema of the catalog table `aggregates` (part of gold.db's schema). */
extern const char tarn__aggregate_schema[];

/* An empty set on db (which stays the caller's): registers the engine's
 * SQL functions on db and creates TEMP table tarn_batch. TARN_OK,
 * TARN_ESQLITE, TARN_ENOMEM. */
int tarn__aggregate_open(tarn__aggset **out, sqlite3 *db);
/* Add every ready declaration of catalog `schema`.aggregates ("main", or
 * an attached name; no table there: none). create_tables: create their
 * tables and state in main (verify's recomputation). TARN_OK,
 * TARN_ECORRUPT (a catalog row that does not compile), TARN_ESQLITE,
 * TARN_ENOMEM. */
int tarn__aggregate_load(tarn__aggset *a, const char *schema, int create_tables);
/* Add one declaration (checked first, as tarn_aggregate_check). */
int tarn__aggregate_push(tarn__aggset *a, const tarn_aggregate_def *d, int create_tables);
/* Buffer one stored event of shard date `date` (nothing when the set is
 * empty). ev: as tarn_lake_add or tarn__shard_scan give it; copied. */
int tarn__aggregate_add(tarn__aggset *a, const char *date, const tarn_event *ev);
/* Apply the buffered events of date to every aggregate (the caller's
 * transaction), then forget them. Errors: TARN_ESQLITE (an integer sum out
 * of range says "integer overflow"), TARN_ENOMEM. */
int tarn__aggregate_flush(tarn__aggset *a, const char *date);
/* Delete every aggregate's rows and state of date, and its buffer. */
int tarn__aggregate_clear_day(tarn__aggset *a, const char *date);
/* Forget every buffered event (the batch was rolled back). */
void tarn__aggregate_discard(tarn__aggset *a);
/* How many aggregates; the name of the i-th (borrowed). */
size_t tarn__aggregate_count(const tarn__aggset *a);
const char *tarn__aggregate_name(const tarn__aggset *a, size_t i);
/* NULL is allowed. */
void tarn__aggregate_close(tarn__aggset *a);

/* Build the aggregates that tarn_aggregate_request asked for: each in its
 * own gold.db transaction (tables, backfill from every shard, state
 * 'ready'), then reload the lake's set so that the next batch maintains
 * them. Does nothing unless lake is a writer's between batches
 * (tarn__lake_idle). A request that fails to build becomes
 * 'failed: <reason>'; one that cannot start now (gold.db busy) stays for
 * the next call. Returns TARN_OK, or the reload's error (TARN_ESQLITE,
 * TARN_ECORRUPT, TARN_ENOMEM). */
int tarn__aggregate_take_requests(tarn_lake *lake);

#endif
