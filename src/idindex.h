/* Library-internal: the lake-wide index of event ids (docs/FORMAT.md,
 * "ids.db"). An event's identity is its event id across the whole lake,
 * whatever its time: this module tells a writer, for an id, which stored
 * blocks may hold it, so that only those are read to compare.
 *
 * Three parts, cheapest first:
 *  - a blocked Bloom filter over the upper 40 bits of the 64-bit hash of
 *    every stored id (what the runs keep), in memory (10 to 15 bits an
 *    id, one 64-byte line per id): "certainly new" for all but about 0.5%
 *    of new ids, with one cache miss;
 *  - the ids stored since the last flush (about TARN__IDS_MEM entries),
 *    and the last 16,384 flushed ones, in memory, each with its location
 *    (event date, block id) and a keyed hash of its payload, so that a
 *    recent re-delivery is decided without reading a block;
 *  - sorted runs of (40-bit hash, location) in LAKE/ids.db, bit-packed
 *    (docs/FORMAT.md), written whole at a flush and merged four into one
 *    as they accumulate (a log-structured merge): no random-order b-tree
 *    write per event. Each run has a sketch in memory (2 bits an id), so
 *    that a "maybe" reads the page of ~0.4 of the runs, not of all.
 * A location that the index returns is a candidate; the caller confirms it
 * by comparing the stored id byte for byte.
 *
 * Crash safety: ids.db records, per shard, the last block whose ids are in
 * its runs ("covered"). Opening the index for a lake re-reads only the
 * blocks written after that (tarn__idindex_recover), never every
 * block. */
#ifndef TARN_IDINDEX_H
#define TARN_IDINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "tarn/event.h"
#include "tarn/lake.h"

/* Entries kept in memory before they are written as a run. */
#define TARN__IDS_MEM (64u * 1024)
/* Upper bound of the filter's memory; beyond 64M ids its false-positive
 * rate grows instead (each false positive costs one lookup in the runs). */
#define TARN__IDFILTER_MAX_BYTES (64u * 1024 * 1024)
/* Upper bound of the runs' sketches (2 bits an id, about 64M ids); runs
 * past it have none, and a filter "maybe" reads their page every time. */
#define TARN__SKETCH_MAX_BYTES (16u * 1024 * 1024)

/* Where a stored event lives: its UTC event date (days since 1970-01-01)
 * and the block of that date's shard. */
struct tarn__idloc {
	int32_t day;
	uint32_t block_id;
};

typedef struct tarn__idindex tarn__idindex;

/* Open (creating with permission bits file_mode) LAKE/ids.db and load the
 * filter from its runs. TARN_ESQLITE, TARN_ECORRUPT, TARN_ENOMEM, TARN_EIO. */
int tarn__idindex_open(tarn__idindex **out, const char *lake_dir, int file_mode);
/* Write what is in memory as a run (when anything is), then close. NULL ok. */
void tarn__idindex_close(tarn__idindex *x);

/* The last block of the shard of `day` whose ids are in ids.db's runs
 * (0: none). Blocks after it must be fed to tarn__idindex_recover. */
int64_t tarn__idindex_covered(const tarn__idindex *x, int32_t day);

/* A candidate for an id: where an event with that id hash may be. For
 * an id stored since the last flush the keyed 64-bit hash of its payload is
 * known, so a re-delivery is told duplicate or conflicting without reading
 * its block (a different payload passes for the same with probability
 * 2^-64). */
struct tarn__idcand {
	struct tarn__idloc loc;
	int has_payload_hash;
	uint64_t payload_hash;
};

/* Candidates for the id with hash h (tarn__id_hash, hash.h): *cands is borrowed until the next
 * call; *n is 0 when the id is certainly not stored. */
int tarn__idindex_lookup(tarn__idindex *x, uint64_t h, const struct tarn__idcand **cands,
			 size_t *n);

/* A hint: start loading the filter line and the in-memory table slot that
 * a lookup and add of hash h will touch (random places in tables larger
 * than the CPU caches). */
void tarn__idindex_prefetch(const tarn__idindex *x, uint64_t h);

/* About `more` ids (a count) are about to be added, e.g. the lines of a
 * file of known size: size the filter now for the stored ids plus them
 * and a tenth, rather than rebuilding it from the runs at each 1.5x growth
 * as they come (five rebuilds between 1M and 10M ids: 0.3 s of a 10M-line
 * ingest, and a fuller filter, with more false "maybe"s, on average).
 * Only ever grows it, within TARN__IDFILTER_MAX_BYTES; an overestimate
 * costs memory (1.25 MB a million), never a wrong answer. TARN_ENOMEM,
 * TARN_ESQLITE, TARN_ECORRUPT (as tarn__idindex_open's rebuild); the
 * filter is then rebuilt at its usual size, or, without memory even for
 * that, left out (every lookup reads the runs: slower, never wrong). */
int tarn__idindex_expect(tarn__idindex *x, uint64_t more);

/* The index's keyed hash of a payload (for tarn__idcand.payload_hash). */
uint64_t tarn__idindex_payload_hash(const tarn__idindex *x, const void *p, size_t n);

/* Remember a stored id (in the open batch). TARN_ENOMEM. */
int tarn__idindex_add(tarn__idindex *x, uint64_t h, uint64_t payload_hash, struct tarn__idloc loc);
/* Remember an id of an already committed block found by recovery. */
int tarn__idindex_recover(tarn__idindex *x, uint64_t h, struct tarn__idloc loc);
/* The shard of `day` was deleted (retention): forget where its blocks end
 * and drop its ids from runs as they are merged. Best effort. */
void tarn__idindex_forget_day(tarn__idindex *x, int32_t day);
/* Every block of day's shard up to block_id is indexed (after compaction
 * gave the indexed events new block ids). Best effort. */
void tarn__idindex_set_covered(tarn__idindex *x, int32_t day, int64_t block_id);
/* The batch's shards committed: its ids are kept. */
void tarn__idindex_commit(tarn__idindex *x);
/* The batch rolled back: forget its ids. */
void tarn__idindex_rollback(tarn__idindex *x);
/* Write the committed in-memory ids as a run when there are at least
 * TARN__IDS_MEM of them (or any, when force), then merge runs. Call only
 * when no batch is open. TARN_ESQLITE / TARN_ENOSPC / TARN_ENOMEM. */
int tarn__idindex_flush(tarn__idindex *x, int force);

/* Counts for stats and tests: ids in runs, in memory, runs, filter bytes;
 * lookups, those the filter passed, those that went on to the runs (not
 * decided in memory), and the run pages those read. */
struct tarn__idindex_stats {
	uint64_t run_ids, mem_ids, runs, filter_bytes, lookups, filter_maybe, run_lookups,
		run_reads;
};
void tarn__idindex_stats(const tarn__idindex *x, struct tarn__idindex_stats *st);

#endif
