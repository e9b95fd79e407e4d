/* Input and declarations for the declared-aggregate lines of the bench
 * (issue 21): events with nested objects and decimal amounts, and ten
 * `tarn aggregate create` declarations over their nested paths. */
#ifndef TARN_BENCH_DECLARED_H
#define TARN_BENCH_DECLARED_H

#include <stdint.h>

/* Write n distinct events over `days` days from start_us as JSON lines, 3%
 * of them re-delivered byte for byte a few lines later: the producer's
 * top-level fields (so that the default gold has its usual work) plus
 * ctx.geo.{country,region}, ctx.device.{os,app.version} and, for
 * purchases and one other event in five, order.{amount (two decimals),
 * qty, currency}. Deterministic. Returns lines. */
uint64_t declared_input(const char *path, uint64_t n, int days, int64_t start_us);

/* One declaration: its name, what kind of work it adds, and the arguments
 * of `tarn aggregate create` after "--lake DIR", NULL-terminated. */
struct declared {
	const char *name;
	const char *kind;
	const char *const *args;
};

/* The ten declarations (day, hour and minute windows; decimal sums, avg,
 * min/max, distinct counts, FILTER; one to three --by columns). */
extern const struct declared declared_ten[10];

#endif
