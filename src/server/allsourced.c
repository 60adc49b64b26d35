/*
 * allsourced.c — the AllSource server: opens the store, serves the REST API
 * and shuts down gracefully on SIGTERM/SIGINT (stop accepting, finish the
 * requests in flight, sync, close).
 *
 * Every flag can also be set by an environment variable; flags win.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allsource.h"
#include "core/as_log.h"
#include "http/as_http.h"
#include "services/as_pipeline.h"
#include "services/as_registry.h"
#include "services/as_replay.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: allsourced [options]\n"
          "  --listen ADDR:PORT     listen address (ALLSOURCE_LISTEN; default 127.0.0.1:8080)\n"
          "  --data-dir DIR         data directory (ALLSOURCE_DATA_DIR; default ./data)\n"
          "  --durability MODE      sync | interval=MS | none (ALLSOURCE_DURABILITY; default sync)\n"
          "  --threads N            HTTP threads (ALLSOURCE_THREADS; default: CPUs - 1, at least 1)\n"
          "  --max-body BYTES       request body limit (ALLSOURCE_MAX_BODY; default 16777216)\n"
          "  --segment-bytes BYTES  seal the WAL tail into Parquet every BYTES\n"
          "                         (ALLSOURCE_SEGMENT_BYTES; default 67108864)\n"
          "  --segment-events N     ... or every N events (ALLSOURCE_SEGMENT_EVENTS; default off)\n"
          "  --compaction STRATEGY  sizebased | timebased | fullcompaction | off\n"
          "                         (ALLSOURCE_COMPACTION; default sizebased, hourly)\n"
          "  --snapshot-events N    automatic snapshot every N events of an entity, 0 = off\n"
          "                         (ALLSOURCE_SNAPSHOT_EVENTS; default 100)\n"
          "  --snapshot-seconds N   ... or after N seconds of event time (ALLSOURCE_SNAPSHOT_SECONDS;\n"
          "                         default 3600, 0 = off)\n"
          "  --snapshot-keep N      snapshots kept per entity (ALLSOURCE_SNAPSHOT_KEEP; default 10)\n"
          "  --schema-enforcement M off | warn | enforce: payload checks of event types that have\n"
          "                         a schema subject, unless the subject sets its own\n"
          "                         (ALLSOURCE_SCHEMA_ENFORCEMENT; default: the setting saved\n"
          "                         through the API, else enforce)\n"
          "  --schema-subject-suffix S  events of type T are checked against subject T+S\n"
          "                         (ALLSOURCE_SCHEMA_SUBJECT_SUFFIX; default empty)\n"
          "  --max-pipelines N      stream-processing pipelines allowed, 0 = pipelines off\n"
          "                         (ALLSOURCE_MAX_PIPELINES; default 100, at most 1000)\n"
          "  --max-replays N        replays running at once, 1-64 (ALLSOURCE_MAX_REPLAYS; default 4)\n"
          "  --max-replay-records N replay records kept, finished ones dropped oldest first;\n"
          "                         at least --max-replays (ALLSOURCE_MAX_REPLAY_RECORDS; default 100)\n"
          "  --log-level LEVEL      error | warn | info | debug (ALLSOURCE_LOG_LEVEL; default info)\n"
          "  --help, --version\n");
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
  char *end;
  if (!s || !*s || *s == '-') return -1;
  unsigned long long v = strtoull(s, &end, 10);
  if (*end || v < min || v > max) return -1;
  *out = v;
  return 0;
}

static int parse_durability(const char *s, as_options *o) {
  if (!strcmp(s, "sync")) {
    o->durability = AS_DURABILITY_SYNC;
  } else if (!strcmp(s, "none")) {
    o->durability = AS_DURABILITY_NONE;
  } else if (!strncmp(s, "interval", 8)) {
    uint64_t ms = 10;
    if (s[8] == '=' && parse_u64(s + 9, 1, 60000, &ms)) return -1;
    if (s[8] && s[8] != '=') return -1;
    o->durability = AS_DURABILITY_INTERVAL;
    o->sync_interval_ms = (uint32_t)ms;
  } else {
    return -1;
  }
  return 0;
}

static int parse_level(const char *s, as_log_level *l) {
  static const char *names[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; i++)
    if (!strcmp(s, names[i])) {
      *l = (as_log_level)i;
      return 0;
    }
  return -1;
}

int main(int argc, char **argv) {
  as_options opt;
  as_options_init(&opt);
  as_server_config cfg;
  as_server_config_init(&cfg);
  const char *data_dir = "./data";
  const char *durability = "sync";
  const char *env;
  uint64_t v;

  /* Environment first, flags override. */
  if ((env = getenv("ALLSOURCE_LISTEN"))) cfg.listen = env;
  if ((env = getenv("ALLSOURCE_DATA_DIR"))) data_dir = env;
  if ((env = getenv("ALLSOURCE_DURABILITY"))) durability = env;
  const char *threads = getenv("ALLSOURCE_THREADS");
  const char *max_body = getenv("ALLSOURCE_MAX_BODY");
  const char *seg = getenv("ALLSOURCE_SEGMENT_BYTES");
  const char *seg_events = getenv("ALLSOURCE_SEGMENT_EVENTS");
  const char *compaction = getenv("ALLSOURCE_COMPACTION");
  const char *level = getenv("ALLSOURCE_LOG_LEVEL");
  const char *snap_events = getenv("ALLSOURCE_SNAPSHOT_EVENTS");
  const char *snap_secs = getenv("ALLSOURCE_SNAPSHOT_SECONDS");
  const char *snap_keep = getenv("ALLSOURCE_SNAPSHOT_KEEP");
  const char *schema_enf = getenv("ALLSOURCE_SCHEMA_ENFORCEMENT");
  const char *schema_suffix = getenv("ALLSOURCE_SCHEMA_SUBJECT_SUFFIX");
  const char *max_pipelines = getenv("ALLSOURCE_MAX_PIPELINES");
  const char *max_replays = getenv("ALLSOURCE_MAX_REPLAYS");
  const char *max_replay_records = getenv("ALLSOURCE_MAX_REPLAY_RECORDS");

  static const struct option longopts[] = {
      {"listen", required_argument, 0, 'l'},
      {"data-dir", required_argument, 0, 'd'},
      {"durability", required_argument, 0, 'D'},
      {"threads", required_argument, 0, 't'},
      {"max-body", required_argument, 0, 'b'},
      {"segment-bytes", required_argument, 0, 's'},
      {"segment-size", required_argument, 0, 's'},
      {"segment-events", required_argument, 0, 'e'},
      {"compaction", required_argument, 0, 'c'},
      {"log-level", required_argument, 0, 'L'},
      {"snapshot-events", required_argument, 0, 'S'},
      {"snapshot-seconds", required_argument, 0, 'T'},
      {"snapshot-keep", required_argument, 0, 'K'},
      {"schema-enforcement", required_argument, 0, 'E'},
      {"schema-subject-suffix", required_argument, 0, 'X'},
      {"max-pipelines", required_argument, 0, 'P'},
      {"max-replays", required_argument, 0, 'R'},
      {"max-replay-records", required_argument, 0, 'Q'},
      {"help", no_argument, 0, 'h'},
      {"version", no_argument, 0, 'V'},
      {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
      case 'l': cfg.listen = optarg; break;
      case 'd': data_dir = optarg; break;
      case 'D': durability = optarg; break;
      case 't': threads = optarg; break;
      case 'b': max_body = optarg; break;
      case 's': seg = optarg; break;
      case 'e': seg_events = optarg; break;
      case 'c': compaction = optarg; break;
      case 'L': level = optarg; break;
      case 'S': snap_events = optarg; break;
      case 'T': snap_secs = optarg; break;
      case 'K': snap_keep = optarg; break;
      case 'E': schema_enf = optarg; break;
      case 'X': schema_suffix = optarg; break;
      case 'P': max_pipelines = optarg; break;
      case 'R': max_replays = optarg; break;
      case 'Q': max_replay_records = optarg; break;
      case 'h': usage(stdout); return 0;
      case 'V': printf("allsourced %s\n", AS_VERSION_STRING); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "allsourced: unexpected argument '%s'\n", argv[optind]);
    usage(stderr);
    return 2;
  }
  if (parse_durability(durability, &opt)) {
    fprintf(stderr, "allsourced: bad durability '%s' (sync, interval=MS or none)\n", durability);
    return 2;
  }
  if (threads) {
    if (parse_u64(threads, 1, 256, &v)) {
      fprintf(stderr, "allsourced: bad thread count '%s' (1-256)\n", threads);
      return 2;
    }
    cfg.threads = (unsigned)v;
  }
  if (max_body) {
    if (parse_u64(max_body, 1024, (uint64_t)1 << 30, &v)) {
      fprintf(stderr, "allsourced: bad body limit '%s' (1024 .. 1073741824)\n", max_body);
      return 2;
    }
    cfg.max_body = v;
  }
  if (seg) {
    if (parse_u64(seg, 1 << 16, (uint64_t)1 << 32, &v)) {
      fprintf(stderr, "allsourced: bad segment size '%s'\n", seg);
      return 2;
    }
    opt.segment_bytes = v;
  }
  if (seg_events) {
    if (parse_u64(seg_events, 1, (uint64_t)1 << 40, &v)) {
      fprintf(stderr, "allsourced: bad segment event count '%s'\n", seg_events);
      return 2;
    }
    opt.segment_events = v;
  }
  if (compaction) {
    if (!strcmp(compaction, "off")) opt.compaction.auto_compact = false;
    else if (!strcmp(compaction, "sizebased")) opt.compaction.strategy = AS_COMPACT_SIZE_BASED;
    else if (!strcmp(compaction, "timebased")) opt.compaction.strategy = AS_COMPACT_TIME_BASED;
    else if (!strcmp(compaction, "fullcompaction")) opt.compaction.strategy = AS_COMPACT_FULL;
    else {
      fprintf(stderr, "allsourced: bad compaction strategy '%s'\n", compaction);
      return 2;
    }
  }
  struct { const char *s, *name; uint64_t lo, hi; uint32_t *dst; } u32s[] = {
      {snap_events, "snapshot-events", 0, 1u << 30, &opt.snapshot_every_events},
      {snap_secs, "snapshot-seconds", 0, 1u << 30, &opt.snapshot_every_seconds},
      {snap_keep, "snapshot-keep", 1, 100000, &opt.snapshot_max_per_entity}};
  for (size_t i = 0; i < sizeof u32s / sizeof *u32s; i++) {
    if (!u32s[i].s) continue;
    if (parse_u64(u32s[i].s, u32s[i].lo, u32s[i].hi, &v)) {
      fprintf(stderr, "allsourced: bad --%s '%s'\n", u32s[i].name, u32s[i].s);
      return 2;
    }
    *u32s[i].dst = (uint32_t)v;
  }
  if (level && parse_level(level, &opt.log_level)) {
    fprintf(stderr, "allsourced: bad log level '%s'\n", level);
    return 2;
  }
  as_registry_config rcfg;
  as_registry_config_init(&rcfg);
  rcfg.log_level = opt.log_level;
  rcfg.subject_suffix = schema_suffix;
  if (schema_enf) {
    if (as_enforce_mode_parse(schema_enf, strlen(schema_enf), &rcfg.enforcement)) {
      fprintf(stderr, "allsourced: bad schema enforcement '%s' (off, warn or enforce)\n",
              schema_enf);
      return 2;
    }
    rcfg.pin_enforcement = true;
  }
  as_pipelines_config pcfg;
  as_pipelines_config_init(&pcfg);
  pcfg.log_level = opt.log_level;
  if (max_pipelines) {
    if (parse_u64(max_pipelines, 0, AS_PIPELINE_HARD_MAX, &v)) {
      fprintf(stderr, "allsourced: bad --max-pipelines '%s' (0-%u)\n", max_pipelines,
              AS_PIPELINE_HARD_MAX);
      return 2;
    }
    pcfg.max_pipelines = (uint32_t)v;
  }
  as_replay_config ycfg;
  as_replay_config_init(&ycfg);
  ycfg.log_level = opt.log_level;
  if (max_replays) {
    if (parse_u64(max_replays, 1, AS_REPLAY_MAX_RUNNING_LIMIT, &v)) {
      fprintf(stderr, "allsourced: bad --max-replays '%s' (1-%u)\n", max_replays,
              AS_REPLAY_MAX_RUNNING_LIMIT);
      return 2;
    }
    ycfg.max_running = (uint32_t)v;
    if (ycfg.max_records < ycfg.max_running) ycfg.max_records = ycfg.max_running;
  }
  if (max_replay_records) {
    if (parse_u64(max_replay_records, ycfg.max_running, AS_REPLAY_MAX_RECORDS_LIMIT, &v)) {
      fprintf(stderr, "allsourced: bad --max-replay-records '%s' (%u-%u, at least --max-replays)\n",
              max_replay_records, ycfg.max_running, AS_REPLAY_MAX_RECORDS_LIMIT);
      return 2;
    }
    ycfg.max_records = (uint32_t)v;
  }
  as_logger log = {NULL, NULL, opt.log_level};

  /* Block the shutdown signals before any thread starts, so they all
   * inherit the mask and only sigwait() below receives them. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  as_db *db;
  as_error err;
  as__log(&log, AS_LOG_INFO, "allsourced %s starting: data dir %s, durability %s",
          AS_VERSION_STRING,
          opt.durability == AS_DURABILITY_NONE ? "(none: memory only)" : data_dir,
          durability);
  as_err rc = as_db_open(opt.durability == AS_DURABILITY_NONE ? NULL : data_dir, &opt,
                         &db, &err);
  if (rc) {
    as__log(&log, AS_LOG_ERROR, "cannot open the store: %s (%s)", err.message,
            as_errname(rc));
    return 1;
  }
  /* The schema registry: replayed from the meta store, then checking every
   * append (as_registry.h). */
  as_registry *reg;
  rc = as_registry_open(db, &rcfg, &reg, &err);
  if (rc) {
    as__log(&log, AS_LOG_ERROR, "cannot open the schema registry: %s (%s)", err.message,
            as_errname(rc));
    as_db_close(db);
    return rc == AS_EINVAL ? 2 : 1; /* EINVAL: a bad flag (the suffix) */
  }
  as_db_set_validator(db, as_registry_check_event, reg);
  cfg.registry = reg;
  /* Pipelines: definitions replayed from the meta store, state rebuilt from
   * the log by their worker (as_pipeline.h).  Freed before the store. */
  as_pipelines *pipes = NULL;
  if (pcfg.max_pipelines) {
    as_pipeline_error perr;
    rc = as_pipelines_open(db, &pcfg, &pipes, &perr);
    if (rc) {
      as__log(&log, AS_LOG_ERROR, "cannot open the pipelines: %s (%s)", perr.message,
              as_errname(rc));
      as_db_close(db);
      as_registry_free(reg);
      return 1;
    }
  }
  cfg.pipelines = pipes;
  /* Replays run on their own worker threads; closed before the store. */
  as_replay_mgr *replay;
  rc = as_replay_open(db, &ycfg, &replay);
  if (rc) {
    as__log(&log, AS_LOG_ERROR, "cannot start the replay manager: %s", as_strerror(rc));
    as_pipelines_free(pipes);
    as_db_close(db);
    as_registry_free(reg);
    return 1;
  }
  cfg.replay = replay;
  as_server *srv;
  rc = as_server_start(db, &cfg, &srv, &err);
  if (rc) {
    as__log(&log, AS_LOG_ERROR, "%s", err.message);
    as_replay_close(replay);
    as_pipelines_free(pipes);
    as_db_close(db);
    as_registry_free(reg);
    return 1;
  }
  as_stats st;
  as_db_stats(db, &st);
  as__log(&log, AS_LOG_INFO,
          "listening on %s (port %u, %u HTTP thread%s, body limit %" PRIu64
          " bytes); %" PRIu64 " events",
          cfg.listen, as_server_port(srv), cfg.threads, cfg.threads == 1 ? "" : "s", cfg.max_body,
          st.total_events);

  int sig = 0;
  sigwait(&set, &sig);
  as__log(&log, AS_LOG_INFO, "received %s: shutting down",
          sig == SIGTERM ? "SIGTERM" : "SIGINT");
  as_server_stop(srv, 10000);
  as_replay_close(replay); /* cancels running replays, joins their workers */
  as_pipelines_free(pipes);
  as_db_close(db);
  as_registry_free(reg);
  as__log(&log, AS_LOG_INFO, "stopped");
  return 0;
}
