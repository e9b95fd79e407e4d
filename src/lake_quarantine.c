/* The quarantine (quarantine.db): inputs that cannot be stored, with a
 * reason, absorbed once each; and its own retention. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "tarn/time.h"
#include "aggregate.h"
#include "error_internal.h"
#include "hash.h"
#include "lake.h"
#include "sqlutil.h"

const char tarn__lake_quarantine_schema[] =
	"CREATE TABLE IF NOT EXISTS quarantine(id INTEGER PRIMARY KEY,"
	" reason TEXT NOT NULL, detail TEXT, payload BLOB NOT NULL,"
	" payload_hash INTEGER NOT NULL, key BLOB, headers BLOB, topic TEXT,"
	" partition INTEGER, kafka_offset INTEGER, ingest_time INTEGER NOT NULL);"
	"CREATE UNIQUE INDEX IF NOT EXISTS quarantine_source ON quarantine("
	" ifnull(topic, ''), ifnull(partition, -1), ifnull(kafka_offset, -1),"
	" reason, payload_hash);";

int tarn_lake_quarantine(tarn_lake *lake, const tarn_event *ev, tarn_reject reason,
			 const char *detail)
{
	sqlite3_stmt *st = lake->quar_ins;
	int rc;

	if (lake->readonly)
		return tarn__error_set(TARN_EINVAL, "%s: lake opened read-only", lake->dir);
	if (ev->payload_len > INT32_MAX)
		return tarn__error_set(TARN_EINVAL, "input over 2 GiB cannot be kept");
	if (!lake->quar_txn) {
		rc = tarn__sql_exec(lake->quar_db, "BEGIN IMMEDIATE", "quarantine.db");
		if (rc)
			return rc;
		lake->quar_txn = 1;
	}
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, tarn_reject_name(reason), -1, SQLITE_STATIC);
	if (detail)
		sqlite3_bind_text(st, 2, detail, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_blob(st, 3, ev->payload_len ? ev->payload : "", (int)ev->payload_len,
			  SQLITE_STATIC);
	/* FNV-1a only keeps the re-delivery index small; being persisted, it
	 * stays FNV-1a (hash.h) */
	sqlite3_bind_int64(st, 4, (int64_t)tarn__hash_fnv1a64(ev->payload, ev->payload_len));
	if (ev->key)
		sqlite3_bind_blob(st, 5, ev->key_len ? ev->key : "", (int)ev->key_len,
				  SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 5);
	if (ev->headers && ev->headers_len)
		sqlite3_bind_blob(st, 6, ev->headers, (int)ev->headers_len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
	tarn__bind_provenance(st, 7, ev);
	sqlite3_bind_int64(st, 10, ev->ingest_us ? ev->ingest_us : tarn_time_now_us());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return tarn__error_sqlite(lake->quar_db, "quarantine.db: insert");
	lake->pending++;
	return TARN_OK;
}

int tarn__lake_prune_quarantine(tarn_lake *lake, int days, uint64_t *rows)
{
	sqlite3_stmt *st;
	int rc;

	rc = tarn__sql_prepare(lake->quar_db, "DELETE FROM quarantine WHERE ingest_time < ?", &st,
			       "quarantine.db");
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, tarn_time_now_us() - (int64_t)days * TARN_US_PER_DAY);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tarn__error_sqlite(lake->quar_db, "quarantine.db: prune");
	else if (rows)
		*rows = (uint64_t)sqlite3_changes(lake->quar_db);
	sqlite3_finalize(st);
	return rc;
}
