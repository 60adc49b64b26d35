/*
 * as_uuid.c — UUID text form and version-7 generation.
 */
#include "core/as_uuid.h"

#include <string.h>

#include "allsource.h"

void as_uuid_v7(as_rand *r, int64_t t_us, uint8_t out[16]) {
  uint64_t ms = (uint64_t)(t_us / 1000);
  uint64_t a = as_rand_next(r), b = as_rand_next(r);
  for (int i = 0; i < 6; i++) out[i] = (uint8_t)(ms >> (40 - 8 * i));
  out[6] = (uint8_t)(0x70 | (a & 0x0f));
  out[7] = (uint8_t)(a >> 8);
  out[8] = (uint8_t)(0x80 | ((b >> 56) & 0x3f));
  for (int i = 9; i < 16; i++) out[i] = (uint8_t)(b >> (8 * (i - 9)));
}

/* Layout: 48 bits of ms | version 7 | seq bits 47..36 (rand_a) | variant
 * 10 | seq bits 35..0 | 26 random bits: the counter sits in the leftmost
 * random bits (RFC 9562 section 6.2, method 1), so ids sort by time and
 * then by seq. */
void as_uuid_v7_seq(as_rand *r, int64_t t_us, uint64_t seq, uint8_t out[16]) {
  uint64_t ms = (uint64_t)(t_us / 1000);
  uint64_t a = as_rand_next(r);
  for (int i = 0; i < 6; i++) out[i] = (uint8_t)(ms >> (40 - 8 * i));
  out[6] = (uint8_t)(0x70 | ((seq >> 44) & 0x0f));
  out[7] = (uint8_t)(seq >> 36);
  out[8] = (uint8_t)(0x80 | ((seq >> 30) & 0x3f));
  out[9] = (uint8_t)(seq >> 22);
  out[10] = (uint8_t)(seq >> 14);
  out[11] = (uint8_t)(seq >> 6);
  out[12] = (uint8_t)(((seq & 0x3f) << 2) | (a & 0x03));
  out[13] = (uint8_t)(a >> 8);
  out[14] = (uint8_t)(a >> 16);
  out[15] = (uint8_t)(a >> 24);
}

uint64_t as_uuid_v7_seq_of(const uint8_t id[16]) {
  if ((id[6] >> 4) != 7 || (id[8] >> 6) != 2) return 0;
  return (uint64_t)(id[6] & 0x0f) << 44 | (uint64_t)id[7] << 36 |
         (uint64_t)(id[8] & 0x3f) << 30 | (uint64_t)id[9] << 22 |
         (uint64_t)id[10] << 14 | (uint64_t)id[11] << 6 | (uint64_t)(id[12] >> 2);
}

void as_uuid_format(const uint8_t id[16], char out[37]) {
  static const char hex[] = "0123456789abcdef";
  int o = 0;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
    out[o++] = hex[id[i] >> 4];
    out[o++] = hex[id[i] & 15];
  }
  out[o] = '\0';
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

as_err as_uuid_parse(const char *s, size_t len, uint8_t id[16]) {
  if (!s || (len != 36 && len != 32)) return AS_EINVAL;
  size_t j = 0;
  for (int i = 0; i < 16; i++) {
    if (len == 36 && (j == 8 || j == 13 || j == 18 || j == 23)) {
      if (s[j] != '-') return AS_EINVAL;
      j++;
    }
    int hi = hexval(s[j]), lo = hexval(s[j + 1]);
    if (hi < 0 || lo < 0) return AS_EINVAL;
    id[i] = (uint8_t)(hi << 4 | lo);
    j += 2;
  }
  return AS_OK;
}
