/* tarn/tarn.h - the whole public API of tarn, an event lake.
 *
 * ingest -> event -> shard store (lake) -> gold -> replay; see each header. */
#ifndef TARN_TARN_H
#define TARN_TARN_H

#define TARN_VERSION "0.1.0"

#include "tarn/error.h"
#include "tarn/time.h"
#include "tarn/headers.h"
#include "tarn/event.h"
#include "tarn/gen.h"
#include "tarn/kafka.h"
#include "tarn/lake.h"
#include "tarn/aggregate.h"
#include "tarn/ingest.h"
#include "tarn/replay.h"
#include "tarn/query.h"
#include "tarn/split.h"

#endif
