/* test_index.c — arena, position index, position lists, single-writer maps,
 * RCU, the byte-string map and the shallow merge. */
#include <pthread.h>

#include "as_test.h"
#include "core/as_hash.h"
#include "core/as_map.h"
#include "core/as_rcu.h"
#include "engine/as_merge.h"
#include "index/as_arena.h"
#include "index/as_plist.h"
#include "index/as_posidx.h"
#include "index/as_swmap.h"
#include <sched.h>
#include <string.h>

AS_TEST(arena_allocations_are_aligned_and_stable) {
  as_arena a;
  as_arena_init(&a, 1024);
  char *prev = NULL;
  for (int i = 0; i < 1000; i++) {
    char *p = as_arena_alloc(&a, (size_t)(i % 37) + 1);
    REQUIRE(p);
    CHECK(((uintptr_t)p & 7) == 0);
    memset(p, 0xab, (size_t)(i % 37) + 1);
    prev = p;
  }
  char *big = as_arena_alloc(&a, 5000);
  REQUIRE(big);
  memset(big, 1, 5000);
  CHECK(prev != NULL);
  void *adopt = as_malloc(100);
  CHECK_OK(as_arena_adopt(&a, adopt, 100));
  as_arena_destroy(&a);
}

AS_TEST(posidx_maps_positions) {
  as_posidx ix;
  REQUIRE(as_posidx_init(&ix) == AS_OK);
  static int vals[3];
  CHECK_OK(as_posidx_set(&ix, 1, &vals[0]));
  CHECK_OK(as_posidx_set(&ix, 65536, &vals[1]));
  CHECK_OK(as_posidx_set(&ix, 65537, &vals[2]));
  CHECK(as_posidx_get(&ix, 1) == &vals[0]);
  CHECK(as_posidx_get(&ix, 65536) == &vals[1]);
  CHECK(as_posidx_get(&ix, 65537) == &vals[2]);
  CHECK_EQ_INT(as_posidx_set(&ix, 0, NULL), AS_ELIMIT);
  CHECK_EQ_INT(as_posidx_set(&ix, AS_POSIDX_MAX, NULL), AS_ELIMIT);
  as_posidx_destroy(&ix);
}

/* Every position across the boundary of the first array and of the first
 * blocks maps to its own record; a store that stays within the first array
 * maps no pages (no top array, no blocks) and reports only that array. */
AS_TEST(posidx_first_array_and_blocks) {
  as_posidx ix;
  REQUIRE(as_posidx_init(&ix) == AS_OK);
  enum { N = 3 * 65536 + 10 };
  static uint64_t vals[N + 1];
  for (uint64_t p = 1; p <= AS_POSIDX_FIRST; p++) CHECK_OK(as_posidx_set(&ix, p, &vals[p]));
  CHECK(ix.top == NULL);
  CHECK_EQ_INT(ix.blocks, 0);
  CHECK_EQ_INT(as_posidx_bytes(&ix), AS_POSIDX_FIRST * sizeof(void *));
  for (uint64_t p = AS_POSIDX_FIRST + 1; p <= N; p++)
    CHECK_OK(as_posidx_set(&ix, p, &vals[p]));
  CHECK(ix.top != NULL);
  CHECK_EQ_INT(ix.blocks, 4);
  for (uint64_t p = 1; p <= N; p++)
    if (as_posidx_get(&ix, p) != &vals[p]) {
      CHECK(as_posidx_get(&ix, p) == &vals[p]);
      break;
    }
  CHECK_EQ_INT(as_posidx_bytes(&ix),
               (AS_POSIDX_FIRST + 65536 + 4 * 65536) * sizeof(void *));
  as_posidx_destroy(&ix);
}

AS_TEST(plist_appends_seeks_and_searches) {
  as_plist l;
  as_plist_init(&l);
  /* three chunks of the largest size: 2 inline + 65,532 in growing chunks
   * + 65,536 x 2 + the rest */
  for (uint64_t i = 0; i < 200000; i++) CHECK_OK(as_plist_append(&l, i * 3 + 5));
  uint64_t n = as_plist_count(&l);
  CHECK_EQ_INT(n, 200000);
  as_plist_cur c;
  as_plist_seek(&c, &l, 0);
  for (uint64_t i = 0; i < n; i++) {
    if (as_plist_cur_get(&c) != i * 3 + 5) {
      CHECK(0);
      break;
    }
    if (i + 1 < n) as_plist_cur_next(&c);
  }
  for (uint64_t i = n; i-- > 0;) {
    if (as_plist_cur_get(&c) != i * 3 + 5) {
      CHECK(0);
      break;
    }
    as_plist_cur_prev(&c);
  }
  uint64_t probes[] = {0, 5, 6, 7, 8, 11, 1000, 299999, 300002, 300003, 400000,
                       196607, 196608, 589999, 600002, 700000};
  for (size_t k = 0; k < sizeof probes / sizeof *probes; k++) {
    uint64_t want = 0;
    while (want < n && want * 3 + 5 < probes[k]) want++;
    CHECK_EQ_INT(as_plist_lower_bound(&l, n, probes[k]), want);
  }
  CHECK_EQ_INT(as_plist_lower_bound(&l, 1, 100), 1);
  as_plist_seek(&c, &l, 77777);
  CHECK_EQ_INT(as_plist_cur_get(&c), 77777 * 3 + 5);
  as_plist_seek(&c, &l, 131070); /* first entry of the second 64 Ki chunk */
  CHECK_EQ_INT(as_plist_cur_get(&c), 131070 * 3 + 5);
  CHECK(as_plist_bytes(&l) >= 8 * (200000 - 2));
  as_plist_destroy(&l);
}

typedef struct obj {
  uint64_t h;
  int key;
} obj;

static uint64_t obj_hash(const void *o, const void *ctx) {
  return ((const obj *)o)->h;
}
static bool obj_eq(const void *o, const void *k) {
  return ((const obj *)o)->key == *(const int *)k;
}

/* n objects keyed 0..n-1, hashed with key {k0, k1}; as_free() them. */
static obj *make_objs(int n, uint64_t k0, uint64_t k1) {
  obj *objs = as_malloc(sizeof *objs * (size_t)n);
  as_hash_key hk = {k0, k1};
  for (int i = 0; objs && i < n; i++) {
    objs[i].key = i;
    objs[i].h = as_hash(&hk, &i, sizeof i);
  }
  return objs;
}

typedef struct reader_arg {
  as_swmap *m;
  obj *objs;
  _Atomic int *inserted;
  _Atomic int stop;
  int misses;
} reader_arg;

static void *swmap_reader(void *p) {
  reader_arg *a = p;
  while (!atomic_load(&a->stop)) {
    int n = atomic_load(a->inserted);
    for (int i = 0; i < n; i += 7) {
      if (as_swmap_find(a->m, a->objs[i].h, obj_eq, &a->objs[i].key) != &a->objs[i])
        a->misses++;
    }
  }
  return NULL;
}

AS_TEST(threads_swmap_readers_during_growth) {
  as_rcu rcu;
  as_rcu_init(&rcu);
  as_swmap m;
  REQUIRE(as_swmap_init(&m, &rcu, obj_hash, NULL, 4) == AS_OK);
  enum { N = 50000 };
  obj *objs = make_objs(N, 1, 2);
  REQUIRE(objs);
  _Atomic int inserted = 0;
  reader_arg ra = {&m, objs, &inserted, 0, 0};
  pthread_t th;
  pthread_create(&th, NULL, swmap_reader, &ra);
  for (int i = 0; i < N; i++) {
    CHECK_OK(as_swmap_insert(&m, objs[i].h, &objs[i]));
    atomic_store(&inserted, i + 1);
  }
  atomic_store(&ra.stop, 1);
  pthread_join(th, NULL);
  CHECK_EQ_INT(ra.misses, 0);
  int absent = N + 5;
  as_hash_key hk = {1, 2};
  CHECK(as_swmap_find(&m, as_hash(&hk, &absent, sizeof absent), obj_eq, &absent) == NULL);
  as_swmap_destroy(&m);
  as_free(objs);
}

/* foreach during incremental growth: every object inserted before the walk
 * is visited exactly once, no object twice. */
typedef struct walk {
  int n;
  unsigned char *seen;
  int dup;
} walk;

static int walk_visit(void *arg, void *o) {
  walk *w = arg;
  int k = ((obj *)o)->key;
  if (w->seen[k]++) w->dup++;
  w->n++;
  return 0;
}

typedef struct walker_arg {
  as_swmap *m;
  _Atomic int *inserted;
  _Atomic int stop;
  _Atomic int walks;
  int missing, dups;
  int nobj;
} walker_arg;

static void *swmap_walker(void *p) {
  walker_arg *a = p;
  unsigned char *seen = as_malloc((size_t)a->nobj);
  while (!atomic_load(&a->stop)) {
    int before = atomic_load(a->inserted);
    memset(seen, 0, (size_t)a->nobj);
    walk w = {0, seen, 0};
    as_swmap_foreach(a->m, walk_visit, &w);
    for (int i = 0; i < before; i++) a->missing += seen[i] == 0;
    a->dups += w.dup;
    atomic_fetch_add(&a->walks, 1);
  }
  as_free(seen);
  return NULL;
}

AS_TEST(swmap_foreach_once_during_growth) {
  as_rcu rcu;
  as_rcu_init(&rcu);
  as_swmap m;
  REQUIRE(as_swmap_init(&m, &rcu, obj_hash, NULL, 4) == AS_OK);
  enum { N = 40000 };
  obj *objs = make_objs(N, 3, 4);
  REQUIRE(objs);
  /* single-threaded: walk right after every insert (mid-move included) */
  unsigned char *seen = as_malloc(N);
  for (int i = 0; i < 3000; i++) {
    CHECK_OK(as_swmap_insert(&m, objs[i].h, &objs[i]));
    memset(seen, 0, N);
    walk w = {0, seen, 0};
    as_swmap_foreach(&m, walk_visit, &w);
    if (w.n != i + 1 || w.dup) {
      CHECK_EQ_INT(w.n, i + 1);
      CHECK_EQ_INT(w.dup, 0);
      break;
    }
    int k = objs[i / 2].key;
    if (as_swmap_find(&m, objs[i / 2].h, obj_eq, &k) != &objs[i / 2]) {
      CHECK(0);
      break;
    }
  }
  as_free(seen);
  /* concurrent: a walker while the writer grows the map several times */
  _Atomic int inserted = 3000;
  walker_arg wa = {&m, &inserted, 0, 0, 0, 0, N};
  pthread_t th;
  pthread_create(&th, NULL, swmap_walker, &wa);
  for (int i = 3000; i < N; i++) {
    CHECK_OK(as_swmap_insert(&m, objs[i].h, &objs[i]));
    atomic_store(&inserted, i + 1);
    if (i % 1000 == 0) { /* let walks interleave with every stage of growth */
      int w0 = atomic_load(&wa.walks);
      while (atomic_load(&wa.walks) == w0) sched_yield();
    }
  }
  atomic_store(&wa.stop, 1);
  pthread_join(th, NULL);
  CHECK(atomic_load(&wa.walks) >= (N - 3000) / 1000);
  CHECK_EQ_INT(wa.missing, 0);
  CHECK_EQ_INT(wa.dups, 0);
  as_swmap_destroy(&m);
  as_free(objs);
}

/* Growing never rehashes the whole map in one insert: each insert hashes
 * at most MIGRATE_STEP (8) moved objects.  (A one-shot rehash of 4 M ids
 * stalled the writer for ~80 ms.) */
static _Thread_local int g_hash_calls;
static uint64_t counting_hash(const void *o, const void *ctx) {
  (void)ctx;
  g_hash_calls++;
  return ((const obj *)o)->h;
}

AS_TEST(swmap_growth_is_incremental) {
  as_rcu rcu;
  as_rcu_init(&rcu);
  as_swmap m;
  REQUIRE(as_swmap_init(&m, &rcu, counting_hash, NULL, 16) == AS_OK);
  enum { N = 100000 };
  obj *objs = make_objs(N, 5, 6);
  REQUIRE(objs);
  int worst = 0;
  for (int i = 0; i < N; i++) {
    g_hash_calls = 0;
    CHECK_OK(as_swmap_insert(&m, objs[i].h, &objs[i]));
    if (g_hash_calls > worst) worst = g_hash_calls;
  }
  CHECK(worst <= 8);
  for (int i = 0; i < N; i += 97)
    CHECK(as_swmap_find(&m, objs[i].h, obj_eq, &objs[i].key) == &objs[i]);
  as_swmap_destroy(&m);
  as_free(objs);
}

AS_TEST(map_put_get_delete) {
  as_map m;
  as_map_init(&m);
  char k[32];
  for (int i = 0; i < 1000; i++) {
    int n = snprintf(k, sizeof k, "key-%d", i);
    CHECK_OK(as_map_put(&m, k, (size_t)n, (void *)(uintptr_t)(i + 1), NULL));
  }
  CHECK_EQ_INT(as_map_count(&m), 1000);
  for (int i = 0; i < 1000; i += 2) {
    int n = snprintf(k, sizeof k, "key-%d", i);
    CHECK(as_map_del(&m, k, (size_t)n) == (void *)(uintptr_t)(i + 1));
  }
  for (int i = 0; i < 1000; i++) {
    int n = snprintf(k, sizeof k, "key-%d", i);
    void *v = as_map_get(&m, k, (size_t)n);
    CHECK(v == ((i % 2) ? (void *)(uintptr_t)(i + 1) : NULL));
  }
  void *old;
  CHECK_OK(as_map_put(&m, "key-1", 5, (void *)7, &old));
  CHECK(old == (void *)2);
  size_t it = 0, seen = 0;
  while (as_map_next(&m, &it)) seen++;
  CHECK_EQ_INT(seen, 500);
  as_map_destroy(&m, NULL);
}

static char *emit(as_merge *m) {
  as_buf b;
  as_buf_init(&b, 0);
  as_merge_emit(m, &b);
  return as_buf_detach(&b, NULL);
}

AS_TEST(merge_overwrites_keys_in_first_seen_order) {
  as_merge m;
  as_merge_init(&m);
  const char *docs[] = {"{\"a\":1,\"b\":{\"x\":1}}", "{\"b\":[2],\"c\":null}",
                        "{\"\\u0061\":\"A\"}"};
  for (int i = 0; i < 3; i++)
    CHECK_OK(as_merge_object(&m, as_json_root(docs[i], strlen(docs[i]))));
  char *s = emit(&m);
  CHECK_EQ_STR(s, "{\"a\":\"A\",\"b\":[2],\"c\":null}");
  as_free(s);
  as_merge_destroy(&m);
  /* many keys: the index path */
  as_merge_init(&m);
  char big[4096];
  size_t o = 0;
  big[o++] = '{';
  for (int i = 0; i < 100; i++) o += (size_t)snprintf(big + o, sizeof big - o, "%s\"k%d\":%d", i ? "," : "", i, i);
  big[o++] = '}';
  CHECK_OK(as_merge_object(&m, as_json_root(big, o)));
  const char *upd = "{\"k50\":\"x\",\"k99\":\"y\",\"new\":1}";
  CHECK_OK(as_merge_object(&m, as_json_root(upd, strlen(upd))));
  CHECK_EQ_INT(m.n, 101);
  s = emit(&m);
  CHECK(strstr(s, "\"k50\":\"x\"") != NULL);
  CHECK(strstr(s, "\"k99\":\"y\",\"new\":1}") != NULL);
  as_free(s);
  as_merge_destroy(&m);
}

/* Keys repeated in order, reordered, duplicated within one object, or
 * spelled with escapes: the merge equals a naive model (last value of each
 * decoded key, in first-seen order).  The keys a..e with values 0..9 are
 * drawn from a fixed sequence; escaped spellings of "b" and duplicates
 * exercise the in-order shortcut's fallbacks. */
AS_TEST(merge_matches_a_model_for_any_key_order) {
  static const char *spell[] = {"a", "\\u0062", "c", "d", "e", "b"};
  static const char dec[] = {'a', 'b', 'c', 'd', 'e', 'b'};
  unsigned seed = 12345;
  for (int round = 0; round < 200; round++) {
    as_merge m;
    as_merge_init(&m);
    char model_k[8];
    int model_v[8], nk = 0;
    char docs[20][256];
    for (int d = 0; d < 20; d++) {
      size_t o = 0;
      docs[d][o++] = '{';
      int members = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 7;
      for (int j = 0; j < members; j++) {
        seed = seed * 1103515245u + 12345u;
        /* mostly the same order as before, sometimes any key */
        int key = (seed >> 20) % 4 == 0 ? (int)((seed >> 8) % 6) : j % 6;
        int val = (int)((seed >> 12) % 10);
        o += (size_t)snprintf(docs[d] + o, sizeof docs[d] - o, "%s\"%s\":%d",
                              j ? "," : "", spell[key], val);
        int at = 0;
        while (at < nk && model_k[at] != dec[key]) at++;
        if (at == nk) model_k[nk++] = dec[key];
        model_v[at] = val;
      }
      docs[d][o++] = '}';
      docs[d][o] = '\0';
      CHECK_OK(as_merge_object(&m, as_json_root(docs[d], o)));
    }
    char want[256], *got = emit(&m);
    size_t o = 0;
    want[o++] = '{';
    for (int i = 0; i < nk; i++)
      o += (size_t)snprintf(want + o, sizeof want - o, "%s\"%c\":%d", i ? "," : "",
                            model_k[i], model_v[i]);
    want[o++] = '}';
    want[o] = '\0';
    /* emitted keys keep their first spelling: compare decoded forms */
    char norm[256];
    size_t w = 0;
    for (const char *p = got; *p; p++) {
      if (strncmp(p, "\\u0062", 6) == 0) {
        norm[w++] = 'b';
        p += 5;
      } else {
        norm[w++] = *p;
      }
    }
    norm[w] = '\0';
    CHECK_EQ_STR(norm, want);
    as_free(got);
    as_merge_destroy(&m);
  }
}

AS_TEST_MAIN()
