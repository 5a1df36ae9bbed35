from errand.evals import Checks, Grade, TaskResult

EXPECTED = [
    "renew the passport",
    "book the car service",
    "buy compost",
    "call grandma on Sunday",
]


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    text = result.read("notes", "todo.md") or ""
    items = [line[6:].strip() for line in text.splitlines() if line.startswith("- [ ] ")]
    checks.expect(bool(text), "todo.md was written")
    checks.expect(items == EXPECTED, f"todo.md lists exactly {EXPECTED} in order")
    before = result.starting_files("notes")
    after = result.files("notes")
    checks.expect(
        all(after.get(name) == data for name, data in before.items()),
        "the existing notes are unchanged",
    )
    return checks.grade()
