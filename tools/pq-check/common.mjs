// common.mjs — shared helpers of the Parquet checkers: the manifest and the
// expected rows written by tests/parquet/pq_gen.c, and value comparison.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

export const COLUMNS = ['position', 'id', 'entity_id', 'event_type', 'tenant_id',
  'timestamp', 'version', 'payload', 'metadata']

export function load (dir) {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'))
  const expected = readFileSync(join(dir, 'expected.ndjson'), 'utf8')
    .split('\n').filter(l => l.length > 0).map(l => JSON.parse(l))
  if (expected.length !== manifest.rows) throw new Error(`expected.ndjson has ${expected.length} rows, manifest says ${manifest.rows}`)
  return { manifest, expected }
}

// Compares rows (objects with string / null values per column) and throws
// on the first difference, naming file, row and column.
export function compareRows (file, reader, got, expected) {
  if (got.length !== expected.length) throw new Error(`${reader} ${file}: ${got.length} rows, expected ${expected.length}`)
  for (let i = 0; i < expected.length; i++) {
    for (const c of COLUMNS) {
      const a = got[i][c]; const b = expected[i][c]
      if (a !== b) {
        const show = v => v === null ? 'null' : JSON.stringify(String(v).slice(0, 120))
        throw new Error(`${reader} ${file}: row ${i} column ${c}: got ${show(a)}, expected ${show(b)}`)
      }
    }
  }
}

// Unsigned byte order of UTF-8 strings (Parquet's order for byte arrays).
export function byteCmp (a, b) {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

// Expected min/max per row group and column (strings, or null when the
// writer omits them: all null, or a value longer than 4096 bytes).
export function expectedStats (expected, rgRows, rg, col) {
  const rows = expected.slice(rg * rgRows, (rg + 1) * rgRows).map(r => r[col]).filter(v => v !== null)
  if (rows.length === 0) return { min: null, max: null, nulls: rgRowsNulls(expected, rgRows, rg, col) }
  let cmp = byteCmp
  if (['position', 'timestamp', 'version'].includes(col)) cmp = (a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0)
  let min = rows[0]; let max = rows[0]
  for (const v of rows) { if (cmp(v, min) < 0) min = v; if (cmp(v, max) > 0) max = v }
  const nulls = rgRowsNulls(expected, rgRows, rg, col)
  if (Buffer.byteLength(min) > 4096 || Buffer.byteLength(max) > 4096) return { min: null, max: null, nulls }
  return { min, max, nulls }
}

function rgRowsNulls (expected, rgRows, rg, col) {
  return expected.slice(rg * rgRows, (rg + 1) * rgRows).filter(r => r[col] === null).length
}

export function check (cond, msg) {
  if (!cond) throw new Error(msg)
}
