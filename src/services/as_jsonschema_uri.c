/*
 * as_jsonschema_uri.c — URI-reference resolution (RFC 3986 section 5.2,
 * with dot-segment removal), fragment splitting with percent-decoding, and
 * JSON pointers (RFC 6901) for "$ref" fragments and error locations.
 *
 * URIs are treated as opaque strings apart from the five RFC 3986
 * components; no scheme is special (http, urn, file, tag all work).
 */
#include <string.h>

#include "core/as_alloc.h"
#include "services/as_jsonschema_int.h"

typedef struct uri_parts {
  const char *scheme; size_t scheme_len; bool has_scheme;
  const char *auth;   size_t auth_len;   bool has_auth;
  const char *path;   size_t path_len;
  const char *query;  size_t query_len;  bool has_query;
  const char *frag;   size_t frag_len;   bool has_frag;
} uri_parts;

/* ^(([^:/?#]+):)?(//([^/?#]*))?([^?#]*)(\?([^#]*))?(#(.*))? */
static void uri_parse(const char *s, uri_parts *u) {
  memset(u, 0, sizeof *u);
  const char *p = s;
  const char *q = p;
  while (*q && *q != ':' && *q != '/' && *q != '?' && *q != '#') q++;
  if (*q == ':' && q > p) {
    u->has_scheme = true;
    u->scheme = p;
    u->scheme_len = (size_t)(q - p);
    p = q + 1;
  }
  if (p[0] == '/' && p[1] == '/') {
    p += 2;
    q = p;
    while (*q && *q != '/' && *q != '?' && *q != '#') q++;
    u->has_auth = true;
    u->auth = p;
    u->auth_len = (size_t)(q - p);
    p = q;
  }
  q = p;
  while (*q && *q != '?' && *q != '#') q++;
  u->path = p;
  u->path_len = (size_t)(q - p);
  p = q;
  if (*p == '?') {
    p++;
    q = p;
    while (*q && *q != '#') q++;
    u->has_query = true;
    u->query = p;
    u->query_len = (size_t)(q - p);
    p = q;
  }
  if (*p == '#') {
    u->has_frag = true;
    u->frag = p + 1;
    u->frag_len = strlen(p + 1);
  }
}

/* RFC 3986 5.2.4, on a NUL-terminated scratch copy, in place. */
static void remove_dots(char *in) {
  char *out = in; /* output is never longer than the input consumed */
  char *r = in;
  size_t olen = 0;
  while (*r) {
    if (strncmp(r, "../", 3) == 0) {
      r += 3;
    } else if (strncmp(r, "./", 2) == 0) {
      r += 2;
    } else if (strncmp(r, "/./", 3) == 0) {
      r += 2;
    } else if (strcmp(r, "/.") == 0) {
      r[1] = '\0';  /* becomes "/" */
    } else if (strncmp(r, "/../", 4) == 0 || strcmp(r, "/..") == 0) {
      if (r[3] == '/') r += 3;
      else { r += 2; *r = '/'; }
      while (olen > 0 && out[olen - 1] != '/') olen--;
      if (olen > 0) olen--;
    } else if (strcmp(r, ".") == 0 || strcmp(r, "..") == 0) {
      r += strlen(r);
    } else {
      size_t n = 0;
      if (r[0] == '/') n = 1;
      while (r[n] && r[n] != '/') n++;
      memmove(out + olen, r, n);
      olen += n;
      r += n;
    }
  }
  out[olen] = '\0';
}

char *as__js_uri_resolve(const char *base, const char *ref) {
  uri_parts b, r;
  uri_parse(base ? base : "", &b);
  uri_parse(ref, &r);
  size_t cap = strlen(base ? base : "") + strlen(ref) + 8;
  char *path = as_malloc(cap);
  as_buf out;
  as_buf_init(&out, 0);
  if (!path) return NULL;
  path[0] = '\0';
  const uri_parts *auth = &b, *query = &r;
  const uri_parts *scheme = r.has_scheme ? &r : &b;
  if (r.has_scheme || r.has_auth) {
    auth = &r;
    memcpy(path, r.path, r.path_len);
    path[r.path_len] = '\0';
    remove_dots(path);
  } else if (r.path_len == 0) {
    memcpy(path, b.path, b.path_len);
    path[b.path_len] = '\0';
    if (!r.has_query) query = &b;
  } else if (r.path[0] == '/') {
    memcpy(path, r.path, r.path_len);
    path[r.path_len] = '\0';
    remove_dots(path);
  } else {
    size_t n = 0;
    if (b.has_auth && b.path_len == 0) {
      path[n++] = '/';
    } else {
      size_t keep = b.path_len;
      while (keep > 0 && b.path[keep - 1] != '/') keep--;
      memcpy(path, b.path, keep);
      n = keep;
    }
    memcpy(path + n, r.path, r.path_len);
    path[n + r.path_len] = '\0';
    remove_dots(path);
  }
  if (scheme->has_scheme) {
    as_buf_append(&out, scheme->scheme, scheme->scheme_len);
    as_buf_putc(&out, ':');
  }
  if (auth->has_auth) {
    as_buf_puts(&out, "//");
    as_buf_append(&out, auth->auth, auth->auth_len);
  }
  as_buf_puts(&out, path);
  if (query->has_query) {
    as_buf_putc(&out, '?');
    as_buf_append(&out, query->query, query->query_len);
  }
  if (r.has_frag && r.frag_len > 0) {
    as_buf_putc(&out, '#');
    as_buf_append(&out, r.frag, r.frag_len);
  }
  as_free(path);
  if (as_buf_error(&out) != AS_OK) {
    as_buf_free(&out);
    return NULL;
  }
  return as_buf_detach(&out, NULL);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char *as__js_pct_decode(const char *s, size_t len) {
  char *out = as_malloc(len + 1);
  if (!out) return NULL;
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 &&
        hexval(s[i + 2]) >= 0) {
      out[n++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
      i += 2;
    } else {
      out[n++] = s[i];
    }
  }
  out[n] = '\0';
  return out;
}

as_err as__js_uri_split(const char *uri, char **nofrag, char **frag) {
  const char *h = strchr(uri, '#');
  size_t n = h ? (size_t)(h - uri) : strlen(uri);
  *nofrag = as_strndup(uri, n);
  if (frag) *frag = NULL;
  if (!*nofrag) return AS_ENOMEM;
  if (h && frag) {
    *frag = as__js_pct_decode(h + 1, strlen(h + 1));
    if (!*frag) {
      as_free(*nofrag);
      *nofrag = NULL;
      return AS_ENOMEM;
    }
  }
  return AS_OK;
}

const json_t *as__js_pointer_get(const json_t *root, const char *ptr,
                                 void (*on_step)(void *, const json_t *),
                                 void *ctx) {
  const json_t *cur = root;
  if (on_step) on_step(ctx, cur);
  if (*ptr == '\0') return cur;
  if (*ptr != '/') return NULL;
  const char *p = ptr + 1;
  char tok[512];
  for (;;) {
    size_t n = 0;
    while (*p && *p != '/') {
      char c = *p++;
      if (c == '~') {
        if (*p == '0') c = '~';
        else if (*p == '1') c = '/';
        else return NULL;
        p++;
      }
      if (n + 1 >= sizeof tok) return NULL;
      tok[n++] = c;
    }
    tok[n] = '\0';
    if (json_is_object(cur)) {
      cur = json_object_getn(cur, tok, n);
    } else if (json_is_array(cur)) {
      if (n == 0 || (n > 1 && tok[0] == '0')) return NULL;
      size_t idx = 0;
      for (size_t i = 0; i < n; i++) {
        if (tok[i] < '0' || tok[i] > '9' || idx > (SIZE_MAX - 9) / 10)
          return NULL;
        idx = idx * 10 + (size_t)(tok[i] - '0');
      }
      cur = json_array_get(cur, idx);
    } else {
      return NULL;
    }
    if (!cur) return NULL;
    if (on_step) on_step(ctx, cur);
    if (*p == '\0') return cur;
    p++; /* '/' */
  }
}

void as__js_ptr_append(as_buf *b, const char *tok, size_t len) {
  as_buf_putc(b, '/');
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    if (tok[i] == '~' || tok[i] == '/') {
      as_buf_append(b, tok + start, i - start);
      as_buf_puts(b, tok[i] == '~' ? "~0" : "~1");
      start = i + 1;
    }
  }
  as_buf_append(b, tok + start, len - start);
}
