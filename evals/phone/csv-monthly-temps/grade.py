import csv
import io

from errand.evals import Checks, Grade, TaskResult

EXPECTED = [["month", "average"], ["2025-01", "0.5"], ["2025-02", "5.2"], ["2025-03", "10.0"]]


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    text = result.read("weather", "monthly.csv")
    checks.expect(text is not None, "monthly.csv was written")
    rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO(text or "")) if r]
    checks.expect(rows[:1] == EXPECTED[:1], "the header is month,average")
    checks.expect(rows[1:2] == EXPECTED[1:2], "January's average skips the missing reading: 0.5")
    checks.expect(
        rows[2:] in (EXPECTED[2:], [["2025-02", "5.3"], ["2025-03", "10.0"]]),
        "February and March are 5.2 (or 5.3) and 10.0",
    )
    return checks.grade()
