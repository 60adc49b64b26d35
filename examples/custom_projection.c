/*
 * custom_projection.c — using liballsource as an embedded library, with a
 * projection of your own.
 *
 * The projection keeps, per entity, the running total of the "amount" field
 * of "cart.item_added" events.  The engine feeds it every committed event in
 * position order on a background thread, serializes apply/get/clear, and
 * as_projection_get() waits until it has seen everything committed so far.
 *
 * Build: cc custom_projection.c -I include build/liballsource.a \
 *           -ljansson -lzstd -llz4 -lpcre2-8 -lpthread -lm
 * (or `cmake --build build --target custom_projection`).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allsource.h"

typedef struct total {
  char entity[64];
  double sum;
} total;

typedef struct carts {
  total t[128];
  int n;
} carts;

/* Finds "amount": <number> in a flat payload (a real projection would use a
 * JSON parser; the payload is already validated JSON). */
static double amount_of(const char *payload) {
  const char *p = strstr(payload, "\"amount\"");
  if (!p) return 0;
  p = strchr(p + 8, ':');
  return p ? strtod(p + 1, NULL) : 0;
}

static as_err carts_apply(void *ctx, const as_event *ev) {
  carts *c = ctx;
  if (strcmp(ev->event_type, "cart.item_added") != 0) return AS_OK;
  int i = 0;
  while (i < c->n && strcmp(c->t[i].entity, ev->entity_id) != 0) i++;
  if (i == c->n) {
    if (c->n == 128 || ev->entity_id_len >= sizeof c->t[0].entity) return AS_ELIMIT;
    memcpy(c->t[i].entity, ev->entity_id, ev->entity_id_len + 1);
    c->t[c->n++].sum = 0;
  }
  c->t[i].sum += amount_of(ev->payload);
  return AS_OK;
}

static as_err carts_get(void *ctx, const char *key, size_t len, char **json,
                        size_t *json_len) {
  carts *c = ctx;
  for (int i = 0; i < c->n; i++) {
    if (strlen(c->t[i].entity) != len || memcmp(c->t[i].entity, key, len) != 0) continue;
    char *out = as_malloc_public(64); /* the caller frees it with as_free() */
    if (!out) return AS_ENOMEM;
    *json_len = (size_t)snprintf(out, 64, "{\"total\":%.2f}", c->t[i].sum);
    *json = out;
    return AS_OK;
  }
  return AS_ENOTFOUND;
}

static void carts_clear(void *ctx) { ((carts *)ctx)->n = 0; }
static void carts_destroy(void *ctx) { free(ctx); }

static void add(as_db *db, const char *cart, const char *payload) {
  as_event_in ev;
  as_event_in_init(&ev);
  ev.entity_id = cart;
  ev.entity_id_len = strlen(cart);
  ev.event_type = "cart.item_added";
  ev.event_type_len = strlen(ev.event_type);
  ev.payload = payload;
  ev.payload_len = strlen(payload);
  as_error err;
  if (as_append(db, &ev, 1, NULL, &err) != AS_OK) {
    fprintf(stderr, "append: %s\n", err.message);
    exit(1);
  }
}

int main(void) {
  as_options opt;
  as_options_init(&opt);
  opt.durability = AS_DURABILITY_NONE; /* memory only for the example */
  as_db *db;
  as_error err;
  if (as_db_open(NULL, &opt, &db, &err) != AS_OK) {
    fprintf(stderr, "open: %s\n", err.message);
    return 1;
  }
  add(db, "cart-1", "{\"sku\":\"book\",\"amount\":12.5}");

  /* Registered after an event: it still sees it (replayed from position 1). */
  carts *c = calloc(1, sizeof *c);
  as_projection_ops ops = {"cart_totals", c, carts_apply, carts_get, carts_clear,
                           carts_destroy};
  if (as_projection_register(db, &ops) != AS_OK) return 1;

  add(db, "cart-1", "{\"sku\":\"pen\",\"amount\":2.25}");
  add(db, "cart-2", "{\"sku\":\"lamp\",\"amount\":30}");

  char *json;
  size_t len;
  int rc = 0;
  const char *want[] = {"{\"total\":14.75}", "{\"total\":30.00}"};
  const char *keys[] = {"cart-1", "cart-2"};
  for (int i = 0; i < 2; i++) {
    if (as_projection_get(db, "cart_totals", keys[i], strlen(keys[i]), &json, &len)) return 1;
    printf("%s: %s\n", keys[i], json);
    rc |= strcmp(json, want[i]) != 0;
    as_free(json);
  }
  as_db_close(db); /* calls carts_destroy */
  return rc;
}
