# Renders an attribute set as TOML, in pure Nix (builtins only), for
# Arca's config.toml: strings, integers, booleans, lists of those, and
# attribute sets as tables (one level of nesting is all Arca's config has
# room for, but deeper tables render too). null values are left out, so an
# option left at null means "Arca's own default". Floats are refused: no
# key of Arca's takes one, and Nix's float printing is lossy.
let
  inherit (builtins)
    attrNames concatStringsSep filter isAttrs isBool isFloat isInt isList isString
    replaceStrings stringLength substring throw toString typeOf;

  hexDigits = "0123456789ABCDEF";
  hex4 = n:
    let d = i: substring (builtins.div n (pow16 i) - 16 * builtins.div n (pow16 (i + 1))) 1 hexDigits;
    in d 3 + d 2 + d 1 + d 0;
  pow16 = i: if i == 0 then 1 else 16 * pow16 (i - 1);

  # Control characters (Nix strings cannot hold NUL); TOML basic strings must escape them.
  controls = builtins.genList (i: i + 1) 31;
  controlChars = map (i: builtins.fromJSON "\"\\u${hex4 i}\"") controls;
  controlEscapes = map (i:
    if i == 8 then "\\b" else if i == 9 then "\\t" else if i == 10 then "\\n"
    else if i == 12 then "\\f" else if i == 13 then "\\r" else "\\u${hex4 i}") controls;

  del = builtins.fromJSON "\"\\u007f\"";
  quote = s: "\"" + replaceStrings ([ "\\" "\"" del ] ++ controlChars)
    ([ "\\\\" "\\\"" "\\u007F" ] ++ controlEscapes) s + "\"";

  bareKey = k: builtins.match "[A-Za-z0-9_-]+" k != null;
  key = k: if bareKey k then k else quote k;

  value = path: v:
    if isBool v then (if v then "true" else "false")
    else if isInt v then toString v
    else if isString v then quote v
    else if isList v then "[" + concatStringsSep ", " (map (value path) v) + "]"
    else if isFloat v then throw "to_toml: ${path} is a float; Arca's config takes none"
    else throw "to_toml: ${path} is a ${typeOf v}, which TOML cannot hold here";

  isTable = v: isAttrs v && !(v ? outPath);
  # A non-empty list of tables is an array of tables ([[segments]]).
  isTables = v: isList v && v != [ ] && builtins.all isTable v;
  present = set: filter (k: set.${k} != null) (attrNames set);

  # Plain keys first, then each table under its header (TOML's order rule).
  render = prefix: set:
    let
      keys = present set;
      plain = filter (k: !isTable set.${k} && !isTables set.${k}) keys;
      tables = filter (k: isTable set.${k}) keys;
      arrays = filter (k: isTables set.${k}) keys;
      name = k: if prefix == "" then key k else "${prefix}.${key k}";
      line = k: "${key k} = ${value (name k) (if set.${k} ? outPath then "${set.${k}}" else set.${k})}\n";
      table = k: "\n[${name k}]\n" + render (name k) set.${k};
      array = k: concatStringsSep "" (map (t: "\n[[${name k}]]\n" + render (name k) t) set.${k});
    in concatStringsSep "" (map line plain) + concatStringsSep "" (map table tables)
      + concatStringsSep "" (map array arrays);
in
settings: render "" settings
