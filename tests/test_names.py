"""The representation rule for names: exact bytes back, nothing a spreadsheet or terminal runs."""

from __future__ import annotations

import random

import dns.name
import pytest

from scanner.core.names import parent_names, present

TRIGGERS = ("=", "+", "-", "@", "'", "\t", "\r")


def random_label(rng: random.Random) -> bytes:
    alphabet = [*b"=+-@';,.\\\" ()$\t\r\n\x00\x07\x1b\x7f", *b"az09_-", 0xC3, 0xA9, 0xFF]
    return bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 12)))


def test_every_byte_reads_back_and_no_part_of_a_name_list_starts_a_formula():
    rng = random.Random(11)
    for _ in range(5000):
        labels = [random_label(rng) for _ in range(rng.randrange(1, 4))] + [b"example"]
        # As c-ares and kdig print a name: presentation format, escapes and all.
        written = dns.name.Name(labels).to_text(omit_final_dot=True)
        shown = present(written)
        assert dns.name.from_text(shown, origin=None).labels == tuple(labels), (labels, shown)
        assert present(shown) == shown  # shown once is shown for good (diff relies on it)
        assert shown.isascii() and shown.isprintable() and " " not in shown
        assert ";" not in shown  # so a ';'-joined cell splits only between names
        for label in shown_labels(shown):
            assert not label.startswith(TRIGGERS), (labels, shown)


def shown_labels(shown: str) -> list[str]:
    """Split at the dots that separate labels, not at escaped ones (`\\.`)."""
    labels, current, index = [], "", 0
    while index < len(shown):
        if shown[index] == "\\":
            current += shown[index : index + 2]
            index += 2
        elif shown[index] == ".":
            labels.append(current)
            current, index = "", index + 1
        else:
            current += shown[index]
            index += 1
    return [*labels, current]


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("mail.example", "mail.example"),
        ("mail.example.", "mail.example."),
        ("=1+1.example", "\\=1+1.example"),
        ("a\\;b.example", "a\\059b.example"),  # c-ares' escape of ';'
        ("helo.example;=1+1", "helo.example\\059=1+1"),  # raw, from --helo
        ("mail.example\r=1+1", "mail.example\\013=1+1"),
        ("bel\x07\x1b[2J.example", "bel\\007\\027[2J.example"),
        ("sp ace.example", "sp\\032ace.example"),
        ("été.example", "\\195\\169t\\195\\169.example"),
        ("x.-lead.example", "x.\\-lead.example"),
        ("'quoted.example", "\\'quoted.example"),
        ("host.test\\.", "host.test\\."),  # an escaped final dot is the name's
        ("trailing\\", "trailing\\092"),
    ],
)
def test_names_as_shown(name, shown):
    assert present(name) == shown


@pytest.mark.parametrize(
    ("name", "parents"),
    [
        ("5.0.18.198.in-addr.arpa", ["0.18.198.in-addr.arpa", "18.198.in-addr.arpa",
                                     "198.in-addr.arpa", "in-addr.arpa", "arpa"]),
        ("a\\.b.example", ["example"]),  # an escaped dot is inside a label
        ("a\\\\.b.example", ["b.example", "example"]),  # an escaped backslash, then a dot
        ("a\\046b.example", ["example"]),
        ("example", []),
        (".", []),
    ],
)  # fmt: skip
def test_parent_names_cut_at_unescaped_dots_only(name, parents):
    assert parent_names(name) == parents
