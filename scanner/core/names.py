"""The one way a DNS name is shown in every output: escaped presentation format.

Names come from outside: PTR names are chosen by whoever owns the IP block,
NS names by the zone's owner, expected names from mail logs (HELO). They reach
CSV files that spreadsheets open, JSONL that scripts read and the terminal. So
every name in every output goes through `present()`:

- the name is in DNS presentation format (RFC 1035 section 5.1), as c-ares
  and kdig print it: its escapes (`\\.`, `\\\\`, `\\DDD`, `\\@`) are kept as
  they are; `"`, `(`, `)`, `@` and `$` are escaped wherever they stand;
- a byte a terminal or a spreadsheet would act on is written `\\DDD`: control
  characters (NUL, BEL, ESC, TAB, CR, LF...), space, DEL and every byte of a
  non-ASCII character (its UTF-8 bytes), as dnspython and kdig write them;
- a `;` is written `\\059`, never `\\;`: spreadsheets split cells on `;`
  whatever stands before it, so a name holds none and `;` only ever
  separates the values of a cell;
- a label that starts with a character that starts a spreadsheet formula
  (`= + -`; `@` is escaped anyway) or with `'` (the spreadsheet guard
  itself) gets it escaped:
  `\\=1+1.example`. So no name, and no `;`-separated part of a cell of names,
  starts a formula, and the escapes still read back to the exact bytes.
"""

from __future__ import annotations

import re

# Names that need no change: letters, digits, '_', and '-' inside a label.
_PLAIN = re.compile(r"(?:[A-Za-z0-9_][A-Za-z0-9_-]*\.)*[A-Za-z0-9_][A-Za-z0-9_-]*\.?|\.?")
_LABEL_START_ESCAPED = frozenset("=+-'")
# Escaped anywhere, as dnspython and c-ares write them.
_ESCAPED = frozenset('"()@$')
_SEMICOLON = "\\059"  # not \; (see the module's rule)


def present(name: str) -> str:
    """`name` (presentation format) as every output shows it; see the module's rule."""
    if _PLAIN.fullmatch(name):
        return name
    out: list[str] = []
    start = True  # at the start of a label
    index, end = 0, len(name)
    while index < end:
        char = name[index]
        if char == "\\":
            digits = name[index + 1 : index + 4]
            if len(digits) == 3 and digits.isdigit() and int(digits) < 256:
                out.append(name[index : index + 4])
                index += 4
            elif index + 1 < end and _printable(name[index + 1]):
                out.append(_SEMICOLON if name[index + 1] == ";" else name[index : index + 2])
                index += 2
            else:  # a lone backslash, or one before a byte that must be escaped itself
                out.append("\\092")
                index += 1
            start = False
            continue
        if char == ".":
            out.append(char)
            start = True
        elif not _printable(char):
            out.append("".join(f"\\{byte:03d}" for byte in char.encode("utf-8", "surrogatepass")))
            start = False
        elif char == ";":
            out.append(_SEMICOLON)
            start = False
        elif char in _ESCAPED or (start and char in _LABEL_START_ESCAPED):
            out.append("\\" + char)
            start = False
        else:
            out.append(char)
            start = False
        index += 1
    return "".join(out)


def _printable(char: str) -> bool:
    return "!" <= char <= "~"  # printable ASCII, space excluded


def normal_name(name: str) -> str:
    """Lower case, without the root's final dot (an escaped final dot, `\\.`, is the name's).

    The root itself is `.` (c-ares writes it as an empty name): a PTR record
    may point to it, and an empty name would be read as no name at all.
    """
    if not name:
        return "."
    if name.endswith(".") and len(name) > 1 and (len(name) - len(name[:-1].rstrip("\\"))) % 2:
        name = name[:-1]
    return name.lower()


def parent_names(name: str) -> list[str]:
    """The names above `name` (presentation format), nearest first, the root left out.

    Labels are cut at unescaped dots only: `a\\.b.example` is two labels, and
    its only parent is `example`.
    """
    cuts, index, end = [], 0, len(name)
    while index < end:
        if name[index] == "\\":
            index += 2
            continue
        if name[index] == "." and index + 1 < end:
            cuts.append(index + 1)
        index += 1
    return [name[cut:] for cut in cuts]


# Characters of an input's text a message quotes: a 50 MB line is not echoed.
QUOTED = 80


def printable(text: str, limit: int = QUOTED) -> str:
    """Foreign text (a library's error message, which may quote the input) for a
    message: every non-printable character escaped, cut to `limit` characters."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:limit])
    if len(text) > limit:
        shown += f"... ({len(text):,} characters)"
    return shown


def quoted(text: str, limit: int = QUOTED) -> str:
    """`text` from an input file or argument, for a message: quoted, every
    non-printable character escaped (nothing raw reaches a terminal), cut to
    `limit` characters with the length said."""
    shown = repr(text[:limit])
    if len(text) > limit:
        shown += f"... ({len(text):,} characters)"
    return shown


def name_problem(name: str) -> str:
    """Why `name` cannot be a host name at all; '' if it can."""
    if not name.isprintable():  # a space may be in a DNS label; a NUL or a CR not in a file's
        return "it holds a control character"
    name = normal_name(name)
    if len(name) > 253:
        return "longer than 253 characters"
    # A dot escaped inside a label (`a\.b`) only makes the pieces shorter.
    if any(len(label) > 63 for label in name.split(".")):
        return "a label longer than 63 characters"
    if name == "." or name.startswith(".") or ".." in name:
        return "an empty label"
    return ""
