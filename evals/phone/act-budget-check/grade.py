from errand.evals import Checks, Grade, TaskResult

# March groceries: 88.40 + 12.75 + 121.30 + 45.60 + 57.20 = 325.25, so 25.25 over.


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    note = result.read("money", "over-budget.md")
    checks.expect(note is not None, "over-budget.md was written (March groceries were 325.25)")
    checks.expect("25.25" in (note or ""), "the note says the overspend is 25.25")
    original = result.starting_files("money")["bank.csv"]
    checks.expect(result.files("money").get("bank.csv") == original, "bank.csv is unchanged")
    return checks.grade()
