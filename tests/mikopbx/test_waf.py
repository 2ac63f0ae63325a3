"""Core's WAF against every field of the link form (issue 9 item 9).

MikoPBX's nginx scans POST bodies with SQL patterns (unified-security.lua, ``sql_patterns``,
and a traversal check). The patterns are read from the pinned Core source (the rig's sources),
not copied. Each field of the link form gets texts built from each pattern; the module's own
validator (LinkValidator, in Core) says which it accepts, and the body the page posts is run
through the patterns as the Lua code does (form body URL-decoded, lower-cased). Whatever the
validator accepts but the scan would reject must be covered by the module's WAF exemption,
which has the shorthand format Core's WafRegistry reads from ConfigClass::getWafExemptions(),
on exactly the path the form posts to.
"""

from __future__ import annotations

import json
import re
import urllib.parse

from placed_module import place_module
from rig import Rig, ensure_sources

LUA = "src/Core/System/RootFS/etc/nginx/mikopbx/lua/unified-security.lua"
SAVE_URI = "/admin-cabinet/module-conference-link/module-conference-link/save"


def _lua_strings(text: str) -> list[str]:
    """The string literals of a Lua table body, with Lua's backslash escapes undone."""
    out = []
    for m in re.finditer(r'"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'', text):
        raw = m.group(1) if m.group(1) is not None else m.group(2)
        out.append(re.sub(r"\\(.)", r"\1", raw))
    return out


def lua_to_regex(pattern: str) -> re.Pattern[str]:
    """A Lua pattern (the subset the WAF uses) as a Python regex; anything else fails loudly."""
    classes = {"s": r"\s", "d": r"\d", "a": "[A-Za-z]", "w": "[A-Za-z0-9]", "z": r"\x00"}
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "%":
            nxt = pattern[i + 1]
            out.append(classes.get(nxt) or re.escape(nxt))
            if nxt.isalpha() and nxt not in classes:
                raise AssertionError(f"Lua class %{nxt} not supported by this test: {pattern!r}")
            i += 2
        elif c == "[":
            end = pattern.index("]", i + 1)
            body = pattern[i + 1:end]
            if "%" in body or "^" in body:
                raise AssertionError(f"Lua set not supported by this test: {pattern!r}")
            out.append("[" + "".join(re.escape(ch) for ch in body) + "]")
            i = end + 1
        elif c == ".":
            out.append(".")
            i += 1
        elif c in "*+?":
            out.append(c)
            i += 1
        elif c == "-":
            out.append("*?")
            i += 1
        elif c in "^$()":
            raise AssertionError(f"Lua anchor/capture not supported by this test: {pattern!r}")
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out), re.S)


def core_body_scan() -> tuple[list[str], list[str]]:
    """(sql_patterns, other body-scan patterns) from the pinned Core source."""
    text = (ensure_sources() / "core" / LUA).read_text()
    block = re.search(r"local sql_patterns = \{(.*?)\n\s*\}", text, re.S)
    assert block, f"sql_patterns not found in {LUA}"
    sql = _lua_strings(block.group(1))
    assert len(sql) >= 10 and "update%s+.*%s+set" in sql, sql
    others = [s for m in re.finditer(r"string\.match\(check_body, (\"(?:[^\"\\]|\\.)*\")\)", text)
              for s in _lua_strings(m.group(1))]
    assert others, "the body-scan traversal check not found"
    return sql, others


def sample(pattern: str) -> str:
    """A text that the Lua pattern matches, built from the pattern itself."""
    text = pattern.replace("%s+", " ").replace(".*", " the ").replace("%s", " ").replace("%z", "\x00")
    text = re.sub(r"%(.)", r"\1", text)
    text = re.sub(r"\[([^\]])[^\]]*\]", r"\1", text)
    return text


def lua_scan(body: str, patterns: list[re.Pattern[str]]) -> list[str]:
    """What unified-security.lua does with a form body: ngx.unescape_uri ('+' and %XX), lower."""
    decoded = urllib.parse.unquote_plus(body).lower()
    return [p.pattern for p in patterns if p.search(decoded)]


def form_body(fields: dict[str, str]) -> str:
    """The page's Form posts jQuery.param(): application/x-www-form-urlencoded, space as '+'."""
    return urllib.parse.urlencode(fields, quote_via=urllib.parse.quote_plus)


def test_every_field_against_cores_body_scan(rig: Rig) -> None:
    sql, others = core_body_scan()
    regexes = [lua_to_regex(p) for p in sql + others]
    samples = [f"weekly {sample(p)} by IT" for p in sql] + [sample(p) for p in sql + others] + [
        "weekly update with sales, set up by IT",  # the example
        "see ../notes for the PIN",
    ]
    for p in sql + others:
        assert lua_to_regex(p).search(sample(p).lower()), (p, sample(p))

    # The module's validator and hook class, inside Core.
    place_module(rig)
    got = rig.php_json(
        r"""
$samples = json_decode($argv[1], true);
$rooms = ['ROOM-1' => '354233'];
$providers = ['SIP-1' => 'SIP-1'];
$v = new Modules\ModuleConferenceLink\Lib\LinkValidator($rooms, $providers);
$base = ['id' => '', 'conference_uniqid' => 'ROOM-1', 'provider_uniqid' => 'SIP-1', 'dst_number' => '84957776675']
    + Modules\ModuleConferenceLink\Lib\LinkValidator::DEFAULTS;
$baseOk = $v->check($base);
$accepted = [];
foreach (Modules\ModuleConferenceLink\Lib\LinkValidator::FIELDS as $field) {
    foreach ($samples as $text) {
        $r = $v->check([$field => $text] + $base);
        if (!isset($r->errors[$field]) && ($r->values[$field] ?? null) === $text) {
            $accepted[] = [$field, $text];
        }
    }
}
return [
    'fields' => Modules\ModuleConferenceLink\Lib\LinkValidator::FIELDS,
    'base' => $baseOk->values, 'base_errors' => $baseOk->errors,
    'accepted' => $accepted,
    'exemptions' => (new Modules\ModuleConferenceLink\Lib\ConferenceLinkConf())->getWafExemptions(),
    'save_uri' => Modules\ModuleConferenceLink\Lib\WafExemptions::SAVE_URI,
];
""",
        json.dumps(samples),
    )
    assert got["base_errors"] == [], got["base_errors"]

    # An ordinary link (no free text) passes the scan: the exemption is not hiding a broken save.
    assert lua_scan(form_body(got["base"]), regexes) == []
    # The REST call controls stay scanned; their bodies are ids, flags and numbers.
    assert lua_scan(form_body({"force": "1", "seconds": "30"}), regexes) == []
    assert lua_scan(json.dumps({"force": True, "seconds": 30}), regexes) == []

    blocked: dict[str, list[str]] = {}
    for field, text in got["accepted"]:
        hits = lua_scan(form_body(dict(got["base"], **{field: text})), regexes)
        if hits:
            blocked.setdefault(field, []).append(f"{text!r} ({hits[0]})")
    # Core's own patterns reject texts the validator accepts (the bare 403 of the issue) …
    assert "description" in blocked, blocked
    assert any("weekly update with sales, set up by IT" in t for t in blocked["description"])
    assert set(blocked) <= set(got["fields"])
    # … so the save is exempt from the body scan, in the shorthand WafRegistry reads
    # (uri => list of scopes: an exact-match entry), on the path the form posts to.
    assert got["exemptions"] == {SAVE_URI: ["body-scan"]}, got["exemptions"]
    assert got["save_uri"] == SAVE_URI
    assert not any(uri.startswith("/pbxcore/api/v3/module-conference-link") for uri in got["exemptions"])
