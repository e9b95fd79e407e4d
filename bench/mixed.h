/* Benchmark input that is not tarn's generator's, and the no-parse
 * SQLite baseline (issue 10). */
#ifndef TARN_BENCH_MIXED_H
#define TARN_BENCH_MIXED_H

#include <stdint.h>

/* The next number of the SplitMix64 sequence whose state is *state. */
uint64_t bench_splitmix64(uint64_t *state);

struct mixed_counts {
	uint64_t lines, events, late, redelivered, far, malformed, big, epoch_ms, int_ids;
};

/* Write n distinct events over `days` days from start_us as JSON lines:
 * 2% late arrivals (up to 500 events behind), 5% byte-identical
 * re-deliveries up to 1,000 lines later, 0.05% re-deliveries 100,000+
 * lines later, 0.1% malformed lines, and payloads of several shapes and
 * sizes (UUID, text and integer ids; RFC 3339 and epoch-ms times; 8% with
 * a nested object of 200 B to 2 KB). Deterministic. Returns lines. */
uint64_t mixed_input(const char *path, uint64_t n, int days, int64_t start_us,
		     struct mixed_counts *c);

/* The second baseline: a minimal SQLite program that finds the id and time
 * by string scanning (no JSON parse) and inserts uncompressed rows into a
 * rowid table with UNIQUE(time, id), synchronous=NORMAL, 100,000-row
 * transactions. Returns seconds; *stored gets the rows inserted. */
double noparse_baseline(const char *input, const char *db_path, uint64_t *stored);

#endif
