from errand.evals import Checks, Grade, TaskResult

EXPECTED = [["South", "2", "310.50"], ["North", "3", "183.98"], ["East", "2", "41.00"]]


def _table(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        rows.append([c.strip().replace(",", "") for c in line.strip("|").split("|")])
    return rows


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    text = result.read("sales", "summary.md")
    checks.expect(text is not None, "summary.md was written")
    rows = _table(text or "")
    checks.expect(
        rows[:1] == [["Region", "Orders", "Revenue"]], "the header is Region, Orders, Revenue"
    )
    checks.expect(rows[1:] == EXPECTED, f"the rows are {EXPECTED}")
    return checks.grade()
