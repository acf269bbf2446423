"""Friendly syntax errors: example mistakes mapped to messages, and readable token names.

Lark's ``match_examples`` replays each example and picks the message whose example
fails in the same parser state as the analyst's text; ``{token}`` in a message is
replaced by the unexpected token.
"""

from __future__ import annotations

from collections.abc import Iterable

_TOKEN_NAMES = {
    "NAME": "a name",
    "STRING": "a string",
    "INT": "a whole number",
    "DECIMAL": "a number",
    "DURATION": "a duration such as 10m or 1h",
    "VERSION": "a version such as 1.0.0",
    "DATE": "a date such as 2026-12-31",
    "VERDICT": "allow, review or block",
    "OUTCOME": "approve, review or block",
    "SEVERITY": "low, medium, high or critical",
    "PRIORITY": "low, normal, high or urgent",
    "MODEL_KIND": "classifier or anomaly",
    "COMP_OP": "a comparison (== != < <= > >=)",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "MUL_OP": "'*', '/' or '%'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "COMMA": "','",
    "COLON": "':'",
    "EQUAL": "'='",
    "DOT": "'.'",
    "$END": "the end of the file",
}

_STATEMENTS = "rule, let, list, on, model, outcome, risk or test"

# keys are messages, values are snippets that fail in the state the message describes
_ITEM_EXAMPLES: dict[str, list[str]] = {
    "a rule needs a name after 'rule'; found '{token}'": ["rule when", "rule 5", 'rule "x"'],
    "a clause of a rule starts with a keyword (when, then, score, severity, tags, case, notify, mode, id, explain); found '{token}'": [
        "rule r foo",
        "rule r score 5 foo",
    ],
    "unexpected '{token}' after an expression: join conditions with 'and' / 'or', or start the next clause with its keyword": [
        "rule r when a > 1 foo",
        "outcome block when score > 1 foo",
    ],
    "'then' takes a verdict: allow, review or block; found '{token}'": [
        "rule r then approve",
        "rule r then x",
    ],
    "'severity' takes low, medium, high or critical; found '{token}'": [
        "rule r severity urgent",
        "rule r severity 5",
    ],
    "'score' takes a number; found '{token}'": ["rule r score high", "rule r score x"],
    "expected an expression after 'when'; found '{token}'": ["rule r when then", "rule r when score 5"],
    "expected an expression after this operator; found '{token}'": [
        "rule r when a and then",
        "rule r when a or then",
        "rule r when a > then",
        "rule r when a + then",
        "rule r when not then",
        "let x = a and",
    ],
    "comparisons do not chain: write 'a < b and b < c'; found '{token}'": [
        "rule r when a < b < c",
        "let x = a == b == c",
    ],
    "a 'case' clause reads 'case queue \"name\"'; found '{token}'": ["rule r case cards", 'rule r case "q"'],
    "'priority' takes low, normal, high or urgent; found '{token}'": [
        'rule r case queue "q" priority critical'
    ],
    "'=' only names a let or a list; to compare use '=='": [
        "rule r when a = 1",
        "outcome block when score = 1",
    ],
    "a 'let' reads 'let name = expression'; found '{token}'": ["let = 1", "let x 1", "let x == 1"],
    "a 'list' reads 'list name = [..]' or 'list name = managed \"key\"'; found '{token}'": [
        "list x",
        "list x = 1",
        "list x = managed y",
    ],
    "an 'outcome' line starts with approve, review or block; found '{token}'": [
        "outcome allow",
        "outcome block when score > 1 allow",
    ],
    "'matches' takes a regular expression in a string; found '{token}'": ["let x = a matches b"],
    "unclosed '(': expected ')' or an operator; found '{token}'": ["let x = (a and b", "let x = f(a"],
    "unclosed '[': expected ']' or ','; found '{token}'": ["let x = [1, 2", "list x = [1 2]"],
    "'on' takes event kinds separated by commas; found '{token}'": ["on 5", "on payment login"],
    "a test needs a name in double quotes; found '{token}'": ["test x", "test 5"],
    "a clause of a test starts with given, lists or expect; found '{token}'": [
        'test "t" foo',
        'test "t" when',
    ],
    "'expect' takes approve, review, block, 'hits a, b', 'no hits' or 'score >= N'; found '{token}'": [
        'test "t" expect allow',
        'test "t" expect x',
    ],
    "'given' takes an event kind, 'model' or 'ref'; found '{token}'": [
        'test "t" given 5 5',
        'test "t" given {',
    ],
    "a field in a test reads 'name: value'; found '{token}'": ['test "t" given payment { amount 5 }'],
}

EXAMPLES: dict[str, dict[str, list[str]]] = {
    "item": _ITEM_EXAMPLES,
    "start": {},
    "pack_header": {
        "a pack starts with 'pack NAME VERSION \"title\"', e.g. 'pack cards 1.0.0'; found '{token}'": [
            "pack",
            "pack 5",
            "pack cards",
            "pack cards x",
            "pack cards 1.0",
        ],
    },
}


def describe_expected(expected: Iterable[str]) -> str:
    """A readable list of what the parser would have accepted."""
    names: list[str] = []
    keywords: list[str] = []
    for terminal in sorted(set(expected)):
        if terminal in _TOKEN_NAMES:
            names.append(_TOKEN_NAMES[terminal])
        elif terminal.isupper() and not terminal.startswith("__"):
            keywords.append(terminal.lower())
    words = sorted(set(keywords)) + sorted(set(names))
    if not words:
        return "something else"
    if len(words) > 12:
        return ", ".join(words[:12]) + ", ..."
    return ", ".join(words[:-1]) + (" or " if len(words) > 1 else "") + words[-1]


__all__ = ["EXAMPLES", "describe_expected"]
