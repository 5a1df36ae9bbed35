import csv
import io

from errand.evals import Checks, Grade, TaskResult

EXPECTED = [["currency", "per_euro"], ["USD", "1.1352"], ["GBP", "0.8431"], ["HUF", "403.25"]]


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    checks.expect(any(r.path == "/rates.html" for r in result.site_requests), "the page was read")
    text = result.read("money", "rates.csv")
    rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO(text or "")) if r]
    checks.expect(rows == EXPECTED, f"rates.csv is {EXPECTED}")
    return checks.grade()
