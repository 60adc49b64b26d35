# Generates src/services/as_jsonschema_meta.c (the built-in draft-07 and 2020-12
# meta-schemas, validation keywords only).  Run from the repository root:
#   python3 tools/jsonschema_meta_gen.py
import json
B="https://json-schema.org/draft/2020-12/"
S=B+"schema"
def vocab(*v): return {B+"vocab/"+x: True for x in v}
docs = {}
docs["http://json-schema.org/draft-07/schema"] = {
 "$schema":"http://json-schema.org/draft-07/schema#","$id":"http://json-schema.org/draft-07/schema#",
 "definitions":{
  "schemaArray":{"type":"array","minItems":1,"items":{"$ref":"#"}},
  "nonNegativeInteger":{"type":"integer","minimum":0},
  "nonNegativeIntegerDefault0":{"allOf":[{"$ref":"#/definitions/nonNegativeInteger"},{"default":0}]},
  "simpleTypes":{"enum":["array","boolean","integer","null","number","object","string"]},
  "stringArray":{"type":"array","items":{"type":"string"},"uniqueItems":True,"default":[]}},
 "type":["object","boolean"],
 "properties":{
  "$id":{"type":"string","format":"uri-reference"},
  "$schema":{"type":"string","format":"uri"},
  "$ref":{"type":"string","format":"uri-reference"},
  "$comment":{"type":"string"},
  "title":{"type":"string"},"description":{"type":"string"},"default":True,
  "readOnly":{"type":"boolean","default":False},"writeOnly":{"type":"boolean","default":False},
  "examples":{"type":"array","items":True},
  "multipleOf":{"type":"number","exclusiveMinimum":0},
  "maximum":{"type":"number"},"exclusiveMaximum":{"type":"number"},
  "minimum":{"type":"number"},"exclusiveMinimum":{"type":"number"},
  "maxLength":{"$ref":"#/definitions/nonNegativeInteger"},
  "minLength":{"$ref":"#/definitions/nonNegativeIntegerDefault0"},
  "pattern":{"type":"string","format":"regex"},
  "additionalItems":{"$ref":"#"},
  "items":{"anyOf":[{"$ref":"#"},{"$ref":"#/definitions/schemaArray"}],"default":True},
  "maxItems":{"$ref":"#/definitions/nonNegativeInteger"},
  "minItems":{"$ref":"#/definitions/nonNegativeIntegerDefault0"},
  "uniqueItems":{"type":"boolean","default":False},
  "contains":{"$ref":"#"},
  "maxProperties":{"$ref":"#/definitions/nonNegativeInteger"},
  "minProperties":{"$ref":"#/definitions/nonNegativeIntegerDefault0"},
  "required":{"$ref":"#/definitions/stringArray"},
  "additionalProperties":{"$ref":"#"},
  "definitions":{"type":"object","additionalProperties":{"$ref":"#"},"default":{}},
  "properties":{"type":"object","additionalProperties":{"$ref":"#"},"default":{}},
  "patternProperties":{"type":"object","additionalProperties":{"$ref":"#"},"propertyNames":{"format":"regex"},"default":{}},
  "dependencies":{"type":"object","additionalProperties":{"anyOf":[{"$ref":"#"},{"$ref":"#/definitions/stringArray"}]}},
  "propertyNames":{"$ref":"#"},
  "const":True,
  "enum":{"type":"array","items":True},
  "type":{"anyOf":[{"$ref":"#/definitions/simpleTypes"},{"type":"array","items":{"$ref":"#/definitions/simpleTypes"},"minItems":1,"uniqueItems":True}]},
  "format":{"type":"string"},
  "contentMediaType":{"type":"string"},"contentEncoding":{"type":"string"},
  "if":{"$ref":"#"},"then":{"$ref":"#"},"else":{"$ref":"#"},
  "allOf":{"$ref":"#/definitions/schemaArray"},"anyOf":{"$ref":"#/definitions/schemaArray"},
  "oneOf":{"$ref":"#/definitions/schemaArray"},"not":{"$ref":"#"}},
 "default":True}
def meta(name, vocabs, props, defs=None):
  d={"$schema":S,"$id":B+"meta/"+name,"$vocabulary":vocab(*vocabs),"$dynamicAnchor":"meta","type":["object","boolean"],"properties":props}
  if defs: d["$defs"]=defs
  docs[B+"meta/"+name]=d
M={"$dynamicRef":"#meta"}
docs[S]={"$schema":S,"$id":S,
 "$vocabulary":vocab("core","applicator","unevaluated","validation","meta-data","format-annotation","content"),
 "$dynamicAnchor":"meta",
 "allOf":[{"$ref":"meta/"+x} for x in ["core","applicator","unevaluated","validation","meta-data","format-annotation","content"]],
 "type":["object","boolean"],
 "properties":{
  "definitions":{"type":"object","additionalProperties":M,"deprecated":True,"default":{}},
  "dependencies":{"type":"object","additionalProperties":{"anyOf":[M,{"$ref":"meta/validation#/$defs/stringArray"}]},"deprecated":True,"default":{}},
  "$recursiveAnchor":{"$ref":"meta/core#/$defs/anchorString","deprecated":True},
  "$recursiveRef":{"$ref":"meta/core#/$defs/uriReferenceString","deprecated":True}}}
meta("core",["core"],{
  "$id":{"$ref":"#/$defs/uriReferenceString","pattern":"^[^#]*#?$"},
  "$schema":{"$ref":"#/$defs/uriString"},
  "$ref":{"$ref":"#/$defs/uriReferenceString"},
  "$anchor":{"$ref":"#/$defs/anchorString"},
  "$dynamicRef":{"$ref":"#/$defs/uriReferenceString"},
  "$dynamicAnchor":{"$ref":"#/$defs/anchorString"},
  "$vocabulary":{"type":"object","propertyNames":{"$ref":"#/$defs/uriString"},"additionalProperties":{"type":"boolean"}},
  "$comment":{"type":"string"},
  "$defs":{"type":"object","additionalProperties":M}},
 {"anchorString":{"type":"string","pattern":"^[A-Za-z_][-A-Za-z0-9._]*$"},
  "uriString":{"type":"string","format":"uri"},
  "uriReferenceString":{"type":"string","format":"uri-reference"}})
meta("applicator",["applicator"],{
  "prefixItems":{"$ref":"#/$defs/schemaArray"},"items":M,"contains":M,"additionalProperties":M,
  "properties":{"type":"object","additionalProperties":M,"default":{}},
  "patternProperties":{"type":"object","additionalProperties":M,"propertyNames":{"format":"regex"},"default":{}},
  "dependentSchemas":{"type":"object","additionalProperties":M,"default":{}},
  "propertyNames":M,"if":M,"then":M,"else":M,
  "allOf":{"$ref":"#/$defs/schemaArray"},"anyOf":{"$ref":"#/$defs/schemaArray"},"oneOf":{"$ref":"#/$defs/schemaArray"},"not":M},
 {"schemaArray":{"type":"array","minItems":1,"items":M}})
meta("unevaluated",["unevaluated"],{"unevaluatedItems":M,"unevaluatedProperties":M})
NN={"$ref":"#/$defs/nonNegativeInteger"}; NN0={"$ref":"#/$defs/nonNegativeIntegerDefault0"}
meta("validation",["validation"],{
  "type":{"anyOf":[{"$ref":"#/$defs/simpleTypes"},{"type":"array","items":{"$ref":"#/$defs/simpleTypes"},"minItems":1,"uniqueItems":True}]},
  "const":True,"enum":{"type":"array","items":True},
  "multipleOf":{"type":"number","exclusiveMinimum":0},
  "maximum":{"type":"number"},"exclusiveMaximum":{"type":"number"},"minimum":{"type":"number"},"exclusiveMinimum":{"type":"number"},
  "maxLength":NN,"minLength":NN0,"pattern":{"type":"string","format":"regex"},
  "maxItems":NN,"minItems":NN0,"uniqueItems":{"type":"boolean","default":False},
  "maxContains":NN,"minContains":{"$ref":"#/$defs/nonNegativeInteger","default":1},
  "maxProperties":NN,"minProperties":NN0,
  "required":{"$ref":"#/$defs/stringArray"},
  "dependentRequired":{"type":"object","additionalProperties":{"$ref":"#/$defs/stringArray"}}},
 {"nonNegativeInteger":{"type":"integer","minimum":0},
  "nonNegativeIntegerDefault0":{"$ref":"#/$defs/nonNegativeInteger","default":0},
  "simpleTypes":{"enum":["array","boolean","integer","null","number","object","string"]},
  "stringArray":{"type":"array","items":{"type":"string"},"uniqueItems":True,"default":[]}})
meta("meta-data",["meta-data"],{"title":{"type":"string"},"description":{"type":"string"},"default":True,
  "deprecated":{"type":"boolean","default":False},"readOnly":{"type":"boolean","default":False},
  "writeOnly":{"type":"boolean","default":False},"examples":{"type":"array","items":True}})
meta("format-annotation",["format-annotation"],{"format":{"type":"string"}})
meta("format-assertion",["format-assertion"],{"format":{"type":"string"}})
meta("content",["content"],{"contentEncoding":{"type":"string"},"contentMediaType":{"type":"string"},"contentSchema":M})
out=[]
out.append("""/*
 * as_jsonschema_meta.c — the meta-schemas of draft-07 and 2020-12 (the
 * dialect schema and its vocabulary schemas), built in so "$ref" to them
 * and "$schema" lookups work without any network access.  They carry the
 * validation keywords of the published meta-schemas; titles and comments
 * are left out.  Generated once from a JSON description; kept compact.
 */
#include <string.h>

#include "services/as_jsonschema_int.h"

typedef struct js_meta {
  const char *uri;
  const char *text;
} js_meta;

static const js_meta k_meta[] = {""")
for uri, d in docs.items():
  t=json.dumps(d,separators=(',',':'))
  cs=json.dumps(t)  # C-compatible escaping for this ASCII text
  chunks=[cs[1:-1][i:i+70] for i in range(0,len(cs)-2,70)]
  # avoid splitting escape sequences
  lines=[]; buf=""; s=cs[1:-1]; i=0
  while i < len(s):
    c=s[i]
    if c=='\\': buf+=s[i:i+2]; i+=2
    else: buf+=c; i+=1
    if len(buf)>=68: lines.append(buf); buf=""
  if buf: lines.append(buf)
  out.append('    {"%s",\n' % uri + "\n".join('     "%s"' % l for l in lines) + "},")
out.append("""};

const char *as__js_meta_text(const char *uri) {
  for (size_t i = 0; i < AS_ARRAY_LEN(k_meta); i++)
    if (strcmp(k_meta[i].uri, uri) == 0) return k_meta[i].text;
  return NULL;
}
""")
open("src/services/as_jsonschema_meta.c","w").write("\n".join(out))
