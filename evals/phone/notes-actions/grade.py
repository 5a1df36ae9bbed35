import csv
import io

from errand.evals import Checks, Grade, TaskResult

EXPECTED = [
    ["owner", "task"],
    ["Adam", "book the hall"],
    ["Adam", "buy seeds"],
    ["Zoe", "send the minutes"],
]


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    text = result.read("out", "actions.csv")
    checks.expect(text is not None, "out/actions.csv was written")
    rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO(text or "")) if r]
    checks.expect(rows[:1] == EXPECTED[:1], "the header is owner,task")
    checks.expect(rows == EXPECTED, "the rows are the three action items, sorted")
    return checks.grade()
