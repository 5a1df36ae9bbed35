import csv
import io

from errand.evals import Checks, Grade, TaskResult

EXPECTED = [["product", "units"], ["sticker", "11"], ["mug", "7"], ["tote bag", "6"]]


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    text = result.read("shop", "top3.csv")
    checks.expect(text is not None, "top3.csv was written")
    rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO(text or "")) if r]
    checks.expect(rows == EXPECTED, f"top3.csv is {EXPECTED}")
    return checks.grade()
