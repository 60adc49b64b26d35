#!/usr/bin/env node
// check_duckdb.mjs DIR — validates every file listed in DIR/manifest.json
// with DuckDB: every value of every column (all columns materialized, in
// file row order) against DIR/expected.ndjson; the schema's physical and
// logical types (parquet_schema); per column chunk codec, encodings,
// min/max statistics and null counts (parquet_metadata); key-value
// metadata and created_by.  Exit status 1 on the first mismatch.
import { DuckDBInstance } from '@duckdb/node-api'
import { join } from 'node:path'
import { COLUMNS, load, compareRows, expectedStats, check } from './common.mjs'

const dir = process.argv[2]
const { manifest, expected } = load(dir)
const conn = await (await DuckDBInstance.create(':memory:')).connect()
const q = async sql => (await conn.runAndReadAll(sql)).getRowObjectsJson()
const lit = s => `'${s.replaceAll("'", "''")}'`

const wantTypes = {
  position: ['INT64', 'BIGINT', 'REQUIRED'], id: ['FIXED_LEN_BYTE_ARRAY', 'UUID', 'REQUIRED'],
  entity_id: ['BYTE_ARRAY', 'VARCHAR', 'REQUIRED'], event_type: ['BYTE_ARRAY', 'VARCHAR', 'REQUIRED'],
  tenant_id: ['BYTE_ARRAY', 'VARCHAR', 'REQUIRED'], timestamp: ['INT64', 'TIMESTAMP WITH TIME ZONE', 'REQUIRED'],
  version: ['INT64', 'BIGINT', 'REQUIRED'], payload: ['BYTE_ARRAY', 'JSON', 'REQUIRED'],
  metadata: ['BYTE_ARRAY', 'JSON', 'OPTIONAL']
}

let failed = 0; let passed = 0
for (const f of manifest.files) {
  const path = lit(join(dir, f.file))
  try {
    // 1. Every value, every column, fully materialized.
    const rows = await q(`SELECT position::VARCHAR AS position, id::VARCHAR AS id, entity_id, event_type,
        tenant_id, epoch_us(timestamp)::VARCHAR AS timestamp, version::VARCHAR AS version,
        payload::VARCHAR AS payload, metadata::VARCHAR AS metadata
      FROM read_parquet(${path}, file_row_number = true) ORDER BY file_row_number`)
    compareRows(f.file, 'duckdb', rows, expected)
    // 2. Schema.
    const schema = await q(`SELECT name, type, duckdb_type, repetition_type FROM parquet_schema(${path})`)
    check(schema.length === COLUMNS.length + 1, `duckdb ${f.file}: ${schema.length} schema elements`)
    for (const s of schema.slice(1)) {
      const w = wantTypes[s.name]
      check(w && s.type === w[0] && s.duckdb_type === w[1] && s.repetition_type === w[2],
        `duckdb ${f.file}: column ${s.name} is ${s.type}/${s.duckdb_type}/${s.repetition_type}, expected ${w}`)
    }
    // 3. Column chunks: codec, encodings, statistics.
    const meta = await q(`SELECT row_group_id, path_in_schema, compression, encodings, num_values,
        stats_null_count,
        CASE WHEN path_in_schema = 'timestamp' THEN epoch_us(stats_min_value::TIMESTAMPTZ)::VARCHAR ELSE stats_min_value END AS min,
        CASE WHEN path_in_schema = 'timestamp' THEN epoch_us(stats_max_value::TIMESTAMPTZ)::VARCHAR ELSE stats_max_value END AS max
      FROM parquet_metadata(${path}) ORDER BY row_group_id, column_id`)
    check(meta.length === manifest.row_groups * COLUMNS.length, `duckdb ${f.file}: ${meta.length} column chunks`)
    const rgRows = manifest.row_group_rows
    for (const m of meta) {
      const rg = Number(m.row_group_id); const col = m.path_in_schema
      check(m.compression === f.codec, `duckdb ${f.file}: rg ${rg} ${col}: codec ${m.compression}, expected ${f.codec}`)
      const dict = m.encodings.includes('RLE_DICTIONARY')
      check(dict === f.dictionary.includes(col), `duckdb ${f.file}: rg ${rg} ${col}: encodings ${m.encodings}`)
      const st = expectedStats(expected, rgRows, rg, col)
      check(String(st.nulls) === m.stats_null_count, `duckdb ${f.file}: rg ${rg} ${col}: null_count ${m.stats_null_count}, expected ${st.nulls}`)
      check(m.min === st.min && m.max === st.max,
        `duckdb ${f.file}: rg ${rg} ${col}: stats [${m.min}, ${m.max}], expected [${st.min}, ${st.max}]`)
    }
    // 4. Key-value metadata and created_by.
    const kv = Object.fromEntries((await q(`SELECT key::VARCHAR AS k, value::VARCHAR AS v FROM parquet_kv_metadata(${path})`)).map(r => [r.k, r.v]))
    check(kv['allsource.format'] === 'events-v1' && kv['allsource.writer'] === 'allsource 0.1.0' &&
      kv['allsource.first_position'] === manifest.first_position && kv['allsource.last_position'] === manifest.last_position,
    `duckdb ${f.file}: key-value metadata ${JSON.stringify(kv)}`)
    const fm = (await q(`SELECT created_by, num_rows::VARCHAR AS n, num_row_groups::VARCHAR AS g FROM parquet_file_metadata(${path})`))[0]
    check(fm.created_by === 'allsource version 0.1.0' && fm.n === String(manifest.rows) && fm.g === String(manifest.row_groups),
      `duckdb ${f.file}: file metadata ${JSON.stringify(fm)}`)
    console.log(`ok duckdb ${f.file}: ${rows.length} rows x ${COLUMNS.length} columns, schema, ${meta.length} chunks (codec, encodings, stats), kv`)
    passed++
  } catch (e) {
    console.log(`not ok duckdb ${f.file}: ${e.message}`)
    failed++
  }
}
console.log(`duckdb: ${passed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
