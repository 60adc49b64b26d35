#!/usr/bin/env node
// check_hyparquet.mjs DIR — validates every file listed in DIR/manifest.json
// with hyparquet (+ hyparquet-compressors for ZSTD / LZ4_RAW): every value
// of every column against DIR/expected.ndjson (JSON columns kept as their
// exact bytes, timestamps as raw microseconds), plus the footer: row count,
// row groups, codecs, created_by and key-value metadata.
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'
import { join } from 'node:path'
import { COLUMNS, load, compareRows, check } from './common.mjs'

const dir = process.argv[2]
const { manifest, expected } = load(dir)
const dec = new TextDecoder('utf-8', { fatal: true })
const parsers = {
  timestampFromMicroseconds: us => String(us),
  jsonFromBytes: b => (b === undefined || b === null) ? null : dec.decode(b),
  stringFromBytes: b => (b === undefined || b === null) ? null : dec.decode(b)
}
const norm = v => (v === undefined || v === null) ? null : typeof v === 'bigint' ? String(v) : v

let failed = 0; let passed = 0
for (const f of manifest.files) {
  try {
    const file = await asyncBufferFromFile(join(dir, f.file))
    const meta = await parquetMetadataAsync(file)
    check(meta.num_rows === BigInt(manifest.rows), `hyparquet ${f.file}: num_rows ${meta.num_rows}`)
    check(meta.row_groups.length === manifest.row_groups, `hyparquet ${f.file}: ${meta.row_groups.length} row groups`)
    check(meta.created_by === 'allsource version 0.1.0', `hyparquet ${f.file}: created_by ${meta.created_by}`)
    for (const rg of meta.row_groups) {
      for (const c of rg.columns) {
        check(c.meta_data.codec === f.codec, `hyparquet ${f.file}: codec ${c.meta_data.codec}`)
      }
    }
    const kv = Object.fromEntries((meta.key_value_metadata || []).map(e => [e.key, e.value]))
    check(kv['allsource.format'] === 'events-v1' && kv['allsource.first_position'] === manifest.first_position &&
      kv['allsource.last_position'] === manifest.last_position, `hyparquet ${f.file}: kv ${JSON.stringify(kv)}`)
    const raw = await parquetReadObjects({ file, compressors, parsers, metadata: meta })
    const rows = raw.map(r => Object.fromEntries(COLUMNS.map(c => [c, norm(r[c])])))
    compareRows(f.file, 'hyparquet', rows, expected)
    console.log(`ok hyparquet ${f.file}: ${rows.length} rows x ${COLUMNS.length} columns, footer, kv`)
    passed++
  } catch (e) {
    console.log(`not ok hyparquet ${f.file}: ${e.message}`)
    failed++
  }
}
console.log(`hyparquet: ${passed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
