/*
 * as_jsonschema_regex.c — ECMA-262 regular expressions on top of PCRE2.
 *
 * JSON Schema patterns are ECMA-262 regular expressions.  PCRE2 is close
 * but not the same, so each pattern is translated before it is compiled
 * (once, at schema compile time):
 *
 *   ECMA-262                     PCRE2 translation
 *   .                            [^\n\r\x{2028}\x{2029}]
 *   \s, \S (outside [...])       [\s<Unicode spaces>], [^\s<Unicode spaces>]
 *   \s (inside [...])            \s<Unicode spaces>
 *   \uXXXX, \u{X..}, surrogates  \x{...} (pairs combined)
 *   \v                           \x{0b} (PCRE: any vertical space)
 *   \0                           \x{0}
 *   [^]  /  []                   [\s\S]  /  (?!)
 *   [ inside a class             \[ (PCRE would read [:alpha:])
 *   \/                           /
 *
 * and compiled with PCRE2_UTF (matching by code point), DOLLAR_ENDONLY ($
 * does not match before a final newline), MATCH_UNSET_BACKREF and without
 * UCP (so \d, \w, \b are ASCII-only as in ECMA-262).  Constructs that are
 * PCRE-only and syntax errors in ECMA-262 are rejected: inline flags and
 * other "(?" groups besides (?: (?= (?! (?<= (?<! (?<name>, possessive
 * quantifiers, and escapes such as \A \Z \z \G \h \R \X \Q \K \e \a.
 * Remaining differences are listed in docs/jsonschema.md.
 */
#include <stdio.h>
#include <string.h>

#include "core/as_alloc.h"
#include "services/as_jsonschema_int.h"

#define PCRE2_COMPILE_ERROR_NOMEMORY 121 /* "failed to allocate heap memory" */

#define ECMA_SPACES \
  "\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}" \
  "\\x{205f}\\x{3000}\\x{feff}"

static int hexv(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Reads \uXXXX at s[i] (s[i] == '\\', s[i+1] == 'u'); returns the code
 * unit or -1. */
static long read_u4(const char *s, size_t len, size_t i) {
  if (i + 6 > len) return -1;
  long v = 0;
  for (size_t k = 2; k < 6; k++) {
    int h = hexv(s[i + k]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

/* ECMA-262 General_Category long names and their PCRE2 short forms. */
static const char *const k_gc[][2] = {
    {"Letter", "L"}, {"Cased_Letter", "LC"}, {"Uppercase_Letter", "Lu"},
    {"Lowercase_Letter", "Ll"}, {"Titlecase_Letter", "Lt"},
    {"Modifier_Letter", "Lm"}, {"Other_Letter", "Lo"}, {"Mark", "M"},
    {"Combining_Mark", "M"}, {"Nonspacing_Mark", "Mn"},
    {"Spacing_Mark", "Mc"}, {"Enclosing_Mark", "Me"}, {"Number", "N"},
    {"Decimal_Number", "Nd"}, {"digit", "Nd"}, {"Letter_Number", "Nl"},
    {"Other_Number", "No"}, {"Punctuation", "P"}, {"punct", "P"},
    {"Connector_Punctuation", "Pc"}, {"Dash_Punctuation", "Pd"},
    {"Open_Punctuation", "Ps"}, {"Close_Punctuation", "Pe"},
    {"Initial_Punctuation", "Pi"}, {"Final_Punctuation", "Pf"},
    {"Other_Punctuation", "Po"}, {"Symbol", "S"}, {"Math_Symbol", "Sm"},
    {"Currency_Symbol", "Sc"}, {"Modifier_Symbol", "Sk"},
    {"Other_Symbol", "So"}, {"Separator", "Z"}, {"Space_Separator", "Zs"},
    {"Line_Separator", "Zl"}, {"Paragraph_Separator", "Zp"},
    {"Other", "C"}, {"Control", "Cc"}, {"cntrl", "Cc"}, {"Format", "Cf"},
    {"Surrogate", "Cs"}, {"Private_Use", "Co"}, {"Unassigned", "Cn"}};

/* Emits \p{...} for an ECMA property body (name, name=value). */
static int translate_property(as_buf *o, char pe, const char *b, size_t n) {
  const char *eq = memchr(b, '=', n);
  const char *val = b;
  size_t vlen = n;
  const char *prefix = "";
  for (size_t i = 0; i < n; i++) {
    char ch = b[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '_' || ch == '='))
      return -1;
  }
  if (eq) {
    size_t klen = (size_t)(eq - b);
    val = eq + 1;
    vlen = n - klen - 1;
    if ((klen == 16 && memcmp(b, "General_Category", 16) == 0) ||
        (klen == 2 && memcmp(b, "gc", 2) == 0)) {
      prefix = "";
    } else if ((klen == 6 && memcmp(b, "Script", 6) == 0) ||
               (klen == 2 && memcmp(b, "sc", 2) == 0)) {
      prefix = "sc:";
    } else if ((klen == 17 && memcmp(b, "Script_Extensions", 17) == 0) ||
               (klen == 3 && memcmp(b, "scx", 3) == 0)) {
      prefix = "scx:";
    } else {
      return -1;
    }
  }
  for (size_t i = 0; i < AS_ARRAY_LEN(k_gc); i++) {
    if (strlen(k_gc[i][0]) == vlen && memcmp(k_gc[i][0], val, vlen) == 0 &&
        prefix[0] == '\0') {
      val = k_gc[i][1];
      vlen = strlen(val);
      break;
    }
  }
  as_buf_printf(o, "\\%c{%s%.*s}", pe, prefix, (int)vlen, val);
  return 0;
}

/* Translates; returns AS_EINVAL with `msg` for invalid ECMA syntax. */
static as_err translate(const char *s, size_t len, as_buf *o, char *msg,
                        size_t msg_len) {
  bool in_class = false;
  bool after_quant = false; /* just emitted a quantifier */
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    bool quant = false;
    if (c == '\\') {
      if (i + 1 >= len) {
        snprintf(msg, msg_len, "trailing backslash");
        return AS_EINVAL;
      }
      char e = s[++i];
      switch (e) {
        case 'd': case 'D': case 'w': case 'W': case 'b': case 'B':
        case 'f': case 'n': case 'r': case 't':
        case '1': case '2': case '3': case '4': case '5': case '6':
        case '7': case '8': case '9':
          if (in_class && (e == 'b' || e == 'B')) {
            if (e == 'b') {
              as_buf_puts(o, "\\x{08}");
              break;
            }
            snprintf(msg, msg_len, "invalid escape \\B in class");
            return AS_EINVAL;
          }
          as_buf_putc(o, '\\');
          as_buf_putc(o, e);
          break;
        case 's':
          as_buf_puts(o, in_class ? "\\s" ECMA_SPACES : "[\\s" ECMA_SPACES "]");
          break;
        case 'S':
          as_buf_puts(o, in_class ? "\\S" : "[^\\s" ECMA_SPACES "]");
          break;
        case 'v':
          as_buf_puts(o, "\\x{0b}");
          break;
        case '0':
          if (i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9') {
            snprintf(msg, msg_len, "invalid octal escape");
            return AS_EINVAL;
          }
          as_buf_puts(o, "\\x{0}");
          break;
        case 'c':
          if (i + 1 < len && ((s[i + 1] >= 'a' && s[i + 1] <= 'z') ||
                              (s[i + 1] >= 'A' && s[i + 1] <= 'Z'))) {
            as_buf_printf(o, "\\x{%x}", (unsigned)(s[i + 1] % 32));
            i++;
            break;
          }
          snprintf(msg, msg_len, "invalid \\c escape");
          return AS_EINVAL;
        case 'x':
          if (i + 2 < len && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
            as_buf_printf(o, "\\x{%c%c}", s[i + 1], s[i + 2]);
            i += 2;
            break;
          }
          snprintf(msg, msg_len, "invalid \\x escape");
          return AS_EINVAL;
        case 'u': {
          if (i + 1 < len && s[i + 1] == '{') {
            size_t j = i + 2;
            unsigned long v = 0;
            while (j < len && hexv(s[j]) >= 0 && v <= 0x10FFFF)
              v = v * 16 + (unsigned long)hexv(s[j++]);
            if (j >= len || s[j] != '}' || j == i + 2 || v > 0x10FFFF) {
              snprintf(msg, msg_len, "invalid \\u{} escape");
              return AS_EINVAL;
            }
            as_buf_printf(o, "\\x{%lx}", v);
            i = j;
            break;
          }
          long v = read_u4(s, len, i - 1);
          if (v < 0) {
            snprintf(msg, msg_len, "invalid \\u escape");
            return AS_EINVAL;
          }
          i += 4;
          if (v >= 0xD800 && v <= 0xDBFF && i + 2 < len && s[i + 1] == '\\' &&
              s[i + 2] == 'u') {
            long lo = read_u4(s, len, i + 1);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
              v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
              i += 6;
            }
          }
          if (v >= 0xD800 && v <= 0xDFFF) {
            snprintf(msg, msg_len, "lone surrogate \\u%04lx", v);
            return AS_EINVAL;
          }
          as_buf_printf(o, "\\x{%lx}", v);
          break;
        }
        case 'p': case 'P': {
          size_t j = i + 1;
          if (j >= len || s[j] != '{') {
            snprintf(msg, msg_len, "invalid property escape");
            return AS_EINVAL;
          }
          size_t st = j + 1;
          while (j < len && s[j] != '}') j++;
          if (j >= len) {
            snprintf(msg, msg_len, "unterminated property escape");
            return AS_EINVAL;
          }
          if (translate_property(o, e, s + st, j - st) < 0) {
            snprintf(msg, msg_len, "unknown Unicode property \\%c{%.*s}", e,
                     (int)AS_MIN(j - st, 40), s + st);
            return AS_EINVAL;
          }
          i = j;
          break;
        }
        case 'k':
          as_buf_puts(o, "\\k");
          break;
        case '/':
          as_buf_putc(o, '/');
          break;
        case '^': case '$': case '\\': case '.': case '*': case '+':
        case '?': case '(': case ')': case '[': case ']': case '{':
        case '}': case '|': case '-':
          as_buf_putc(o, '\\');
          as_buf_putc(o, e);
          break;
        default:
          if ((unsigned char)e >= 0x80 || (e >= 'a' && e <= 'z') ||
              (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9') || e == '_') {
            snprintf(msg, msg_len, "invalid escape \\%c", e);
            return AS_EINVAL;
          }
          as_buf_putc(o, '\\');
          as_buf_putc(o, e);
          break;
      }
    } else if (in_class) {
      if (c == ']') in_class = false;
      if (c == '[') as_buf_putc(o, '\\');
      as_buf_putc(o, c);
    } else {
      switch (c) {
        case '[':
          if (i + 1 < len && s[i + 1] == ']') {
            as_buf_puts(o, "(?!)");
            i += 1;
          } else if (i + 2 < len && s[i + 1] == '^' && s[i + 2] == ']') {
            as_buf_puts(o, "[\\s\\S]");
            i += 2;
          } else {
            in_class = true;
            as_buf_putc(o, '[');
            if (i + 1 < len && s[i + 1] == '^') {
              as_buf_putc(o, '^');
              i++;
            }
          }
          break;
        case '.':
          as_buf_puts(o, "[^\\n\\r\\x{2028}\\x{2029}]");
          break;
        case '(':
          if (i + 1 < len && s[i + 1] == '?') {
            const char *t = s + i + 2;
            size_t rest = len - i - 2;
            if (!(rest >= 1 && (t[0] == ':' || t[0] == '=' || t[0] == '!')) &&
                !(rest >= 2 && t[0] == '<' &&
                  (t[1] == '=' || t[1] == '!' ||
                   (t[1] != '=' && t[1] != '!' &&
                    ((t[1] >= 'a' && t[1] <= 'z') ||
                     (t[1] >= 'A' && t[1] <= 'Z') || t[1] == '_' ||
                     t[1] == '$'))))) {
              snprintf(msg, msg_len, "unsupported group syntax \"(?\"");
              return AS_EINVAL;
            }
          }
          as_buf_putc(o, '(');
          break;
        case '*': case '+': case '?':
          if (after_quant && (c == '+' || c == '*' ||
                              (c == '?' && i > 0 && s[i - 1] == '?'))) {
            snprintf(msg, msg_len, "nothing to repeat before '%c'", c);
            return AS_EINVAL;
          }
          quant = c != '?' || !after_quant;
          as_buf_putc(o, c);
          break;
        case '}': {
          /* A '}' closing a {n,m} quantifier counts as a quantifier. */
          size_t j = i;
          while (j > 0 && ((s[j - 1] >= '0' && s[j - 1] <= '9') ||
                           s[j - 1] == ','))
            j--;
          if (j > 0 && j < i && s[j - 1] == '{' &&
              (j < 2 || s[j - 2] != '\\'))
            quant = true;
          as_buf_putc(o, c);
          break;
        }
        default:
          as_buf_putc(o, c);
          break;
      }
    }
    after_quant = quant;
  }
  if (in_class) {
    snprintf(msg, msg_len, "missing ]");
    return AS_EINVAL;
  }
  return as_buf_error(o);
}

static as_err compile_pcre(const char *src, size_t len,
                           pcre2_general_context *gctx, pcre2_code **out,
                           char *msg, size_t msg_len) {
  as_err rc = AS_OK;
  as_buf o;
  as_buf_init(&o, 1u << 20);
  pcre2_compile_context *cctx = NULL;
  *out = NULL;
  rc = translate(src, len, &o, msg, msg_len);
  if (rc == AS_ENOMEM || rc == AS_ELIMIT) {
    snprintf(msg, msg_len, "pattern too large");
    goto out;
  }
  if (rc < 0) goto out;
  cctx = pcre2_compile_context_create(gctx);
  if (!cctx) AS_FAIL(AS_ENOMEM);
  pcre2_set_max_pattern_length(cctx, 1u << 16);
  pcre2_set_parens_nest_limit(cctx, 64);
  int ecode = 0;
  PCRE2_SIZE eoff = 0;
  *out = pcre2_compile((PCRE2_SPTR)(o.data ? o.data : ""), o.len,
                       PCRE2_UTF | PCRE2_DOLLAR_ENDONLY |
                           PCRE2_MATCH_UNSET_BACKREF | PCRE2_NEVER_BACKSLASH_C,
                       &ecode, &eoff, cctx);
  if (!*out && ecode == PCRE2_COMPILE_ERROR_NOMEMORY) AS_FAIL(AS_ENOMEM);
  if (!*out) {
    PCRE2_UCHAR text[160];
    pcre2_get_error_message(ecode, text, sizeof text);
    if (msg_len) { /* bounded copy; the message may be cut */
      size_t n = strlen((const char *)text);
      if (n >= msg_len) n = msg_len - 1;
      memcpy(msg, text, n);
      msg[n] = '\0';
    }
    AS_FAIL(AS_EINVAL);
  }
out:
  pcre2_compile_context_free(cctx);
  as_buf_free(&o);
  return rc;
}

as_err as__js_regex_compile(js_regex *re, const char *src, size_t len,
                            pcre2_general_context *gctx, char *msg,
                            size_t msg_len) {
  as_err rc = AS_OK;
  char dummy[8];
  if (!msg) {
    msg = dummy;
    msg_len = sizeof dummy;
  }
  msg[0] = '\0';
  re->code = NULL;
  re->source = as_strndup(src, len);
  if (!re->source) AS_FAIL(AS_ENOMEM);
  AS_CHECK(compile_pcre(src, len, gctx, &re->code, msg, msg_len));
  (void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE); /* optional */
out:
  if (rc < 0) as__js_regex_free(re);
  return rc;
}

void as__js_regex_free(js_regex *re) {
  pcre2_code_free(re->code);
  as_free(re->source);
  re->code = NULL;
  re->source = NULL;
}

int as__js_regex_match(const js_regex *re, const char *s, size_t len,
                       pcre2_match_data *md, pcre2_match_context *mctx) {
  int r = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, md, mctx);
  if (r >= 0) return 1;
  if (r == PCRE2_ERROR_NOMATCH) return 0;
  return -1;
}

bool as__js_regex_valid(const char *src, size_t len) {
  char msg[64];
  pcre2_code *code = NULL;
  as_err rc = compile_pcre(src, len, NULL, &code, msg, sizeof msg);
  pcre2_code_free(code);
  return rc == AS_OK;
}
