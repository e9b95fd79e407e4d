// DuckDB's side of bench/duckdb.sh: one process opens a database, runs the
// given SQL statements in order and closes it; the rows of the last one go
// to stdout as CSV lines without a header, written as `tarn query --format
// csv` writes them (NULL as an empty field; a field holding a comma, quote
// or line break in double quotes, its quotes doubled), so that the caller
// can time and measure the whole process and compare its rows with tarn's.
//
// usage: node bench/duckdb.mjs MODULES DB THREADS SQL...
//   MODULES  the folder that npm installed @duckdb/node-api into
//            (it holds node_modules/)
//   DB       a database file, or :memory:
//   THREADS  DuckDB's threads setting
import { createRequire } from 'node:module';
import path from 'node:path';

const [modules, db, threads, ...statements] = process.argv.slice(2);
if (!modules || !db || !threads || statements.length === 0) {
  process.stderr.write('usage: node duckdb.mjs MODULES DB THREADS SQL...\n');
  process.exit(2);
}

const require = createRequire(path.join(path.resolve(modules), 'package.json'));
const { DuckDBInstance } = require('@duckdb/node-api');

function field(v) {
  if (v === null || v === undefined)
    return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? '"' + s.replaceAll('"', '""') + '"' : s;
}

try {
  const instance = await DuckDBInstance.create(db, { threads });
  const connection = await instance.connect();
  let reader = null;
  for (const sql of statements)
    reader = await connection.runAndReadAll(sql);
  const out = reader.getRows().map((row) => row.map(field).join(',')).join('\n');
  if (out.length > 0)
    process.stdout.write(out + '\n');
  connection.closeSync();
  instance.closeSync();
} catch (e) {
  process.stderr.write(`duckdb.mjs: ${e.message}\n`);
  process.exit(1);
}
