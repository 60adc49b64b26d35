/*
 * as_sha1.h — SHA-1 (RFC 3174) and base64, for the WebSocket handshake
 * (Sec-WebSocket-Accept).  Not for security.
 */
#ifndef AS_SHA1_H
#define AS_SHA1_H

#include <stddef.h>
#include <stdint.h>

void as_sha1(const void *data, size_t len, uint8_t out[20]);
/** Writes the base64 of data (with padding) plus a NUL into out, which must
 *  hold 4 * ((len + 2) / 3) + 1 bytes.  Returns the length. */
size_t as_base64(const uint8_t *data, size_t len, char *out);

#endif /* AS_SHA1_H */
