import re

from errand.evals import Checks, Grade, TaskResult

EXPECTED = [
    ("eating out", "23.00"),
    ("groceries", "67.50"),
    ("transport", "5.00"),
    ("Total", "95.50"),
]


def _rows(html: str) -> list[tuple[str, str]]:
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S | re.I):
        cells = [
            re.sub(r"<[^>]+>", "", c).strip()
            for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S | re.I)
        ]
        if len(cells) >= 2:
            amount = re.sub(r"[^0-9.]", "", cells[-1])
            rows.append((cells[0], amount))
    return rows


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    html = result.read("money", "report.html")
    checks.expect(html is not None, "report.html was written")
    rows = [r for r in _rows(html or "") if r[1]]
    checks.expect(rows[:-1] == EXPECTED[:-1], "one row per category with its total, by name")
    checks.expect(rows[-1:] == EXPECTED[-1:], "the last row is the total, 95.50")
    return checks.grade()
